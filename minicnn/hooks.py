"""Handles for registered hooks (`handle.remove()` takes the hook out again, PyTorch's names), and
the machinery of full backward hooks on modules.

A hook registry is a plain ordered dict `{hook id: function}` owned by a Module or a Tensor;
registering returns a `RemovableHandle` that knows its registry and its id.
"""
import itertools

_next_id = itertools.count()


class RemovableHandle:
    """Returned by every `register_*_hook`; `remove()` unregisters the hook (idempotent).

    Also a context manager: `with module.register_forward_hook(fn): ...` removes it on exit.
    """

    def __init__(self, registry):
        self.registry = registry
        self.id = next(_next_id)

    def remove(self):
        self.registry.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


def add_hook(registry, hook):
    """Put `hook` into `registry` (an ordered dict) and return its handle."""
    if not callable(hook):
        raise TypeError(f"a hook must be callable, got {type(hook).__name__}")
    handle = RemovableHandle(registry)
    registry[handle.id] = hook
    return handle


def _identity_op(on_grad):
    """An identity op whose backward hands the gradient to `on_grad` (which may replace it).

    The class is made here, not at import time: minicnn.core imports this module."""
    from minicnn.core import Function

    class BackwardHook(Function):
        """y = x; backward reports the gradient of y (the sum over all its uses)."""
        name = "backward_hook"

        def forward(self, x):
            return x

        def backward(self, gy):
            replaced = on_grad(gy)
            return gy if replaced is None else replaced

    return BackwardHook()


class BackwardHookCall:
    """One call of a module with full backward hooks (PyTorch's `register_full_backward_hook`).

    Each tensor input and the output pass through an identity op. The output's identity receives
    grad_output, the gradient w.r.t. the module's output; each input's identity receives the
    gradient w.r.t. that input summed over every use inside the module (both paths of a ResNet
    block, all four branches of an Inception module). When the last input gradient arrives the
    hooks run as `hook(module, grad_input, grad_output)` (tuples of arrays, None where an input
    needs no gradient); a hook may return a replacement grad_input for a one-input module.
    """

    def __init__(self, module, hooks):
        self.module, self.hooks = module, hooks
        self.grad_output = None
        self.grad_input = []
        self.waiting = 0

    def wrap_inputs(self, args):
        from minicnn.core import Tensor
        self.grad_input = [None] * len(args)
        wrapped = []
        for i, x in enumerate(args):
            if isinstance(x, Tensor) and x.requires_grad:
                self.waiting += 1
                x = _identity_op(lambda g, i=i: self._input_grad(i, g))(x)
            wrapped.append(x)
        return tuple(wrapped)

    def wrap_output(self, output):
        from minicnn.core import Tensor
        if isinstance(output, Tensor) and output.requires_grad:
            output = _identity_op(self._output_grad)(output)
        return output

    def _output_grad(self, gy):
        self.grad_output = (gy,)
        if self.waiting == 0:  # no input needs a gradient (the first layer on raw images)
            self._run_hooks()

    def _input_grad(self, i, g):
        self.grad_input[i] = g
        self.waiting -= 1
        if self.waiting == 0:
            replaced = self._run_hooks()
            if replaced is not None:
                return replaced[i]
        return None

    def _run_hooks(self):
        grad_input, replaced = tuple(self.grad_input), None
        for hook in list(self.hooks.values()):
            result = hook(self.module, grad_input, self.grad_output)
            if result is not None:
                if sum(g is not None for g in grad_input) > 1:
                    raise RuntimeError(f"{type(self.module).__name__}: a full backward hook may "
                                       f"replace grad_input only for a module with one input "
                                       f"that needs a gradient")
                replaced = result if isinstance(result, tuple) else (result,)
                grad_input = replaced
        return replaced
