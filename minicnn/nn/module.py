"""`Module` and `Parameter`: the PyTorch-like way of holding weights and sub-layers."""
from collections import OrderedDict

import numpy as np

from minicnn import backend
from minicnn.core import Tensor, is_grad_enabled
from minicnn.errors import DTypeError, ShapeError
from minicnn.hooks import BackwardHookCall, add_hook


class Parameter(Tensor):
    """A Tensor that is a learnable weight: requires_grad=True, registered by `Module`."""

    def __init__(self, data):
        super().__init__(data, requires_grad=True)


class Module:
    """Base class of layers and models.

    Assigning a `Parameter` or a `Module` as an attribute registers it, so `parameters()` and
    `state_dict()` find it; `register_buffer` registers non-learnable arrays (BatchNorm's running
    statistics). Subclasses implement `forward`.
    """

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_forward_pre_hooks", OrderedDict())
        object.__setattr__(self, "_forward_hooks", OrderedDict())
        object.__setattr__(self, "_backward_hooks", OrderedDict())

    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}.__init__ must call super().__init__() "
                                 f"before assigning attributes")
        if name in self._buffers and not isinstance(value, (Parameter, Module)):
            object.__setattr__(self, name, value)  # `bn.running_mean = array` stays a buffer
            return
        for registry in (self._parameters, self._modules, self._buffers):
            registry.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        object.__setattr__(self, name, value)

    def register_buffer(self, name, array):
        """Register a non-learnable array (saved in state_dict, moved by `to`)."""
        object.__setattr__(self, name, array)
        self._buffers[name] = True

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must implement forward()")

    def __call__(self, *args, **kwargs):
        if not (self._forward_pre_hooks or self._forward_hooks or self._backward_hooks):
            return self.forward(*args, **kwargs)  # the usual path: no hooks, no cost
        for hook in list(self._forward_pre_hooks.values()):
            replaced = hook(self, args)
            if replaced is not None:  # a pre-hook may replace the inputs
                args = replaced if isinstance(replaced, tuple) else (replaced,)
        backward_call = None
        if self._backward_hooks and is_grad_enabled():
            backward_call = BackwardHookCall(self, self._backward_hooks)
            args = backward_call.wrap_inputs(args)
        output = self.forward(*args, **kwargs)
        for hook in list(self._forward_hooks.values()):
            replaced = hook(self, args, output)
            if replaced is not None:  # a forward hook may replace the output
                output = replaced
        if backward_call is not None:
            output = backward_call.wrap_output(output)
        return output

    # ----- hooks (PyTorch's names and meaning) ----------------------------------------------
    def register_forward_pre_hook(self, hook):
        """Call `hook(module, inputs)` before each forward; `inputs` is the tuple of positional
        arguments. A hook that returns a value (a tuple, or one input) replaces the inputs.
        Returns a handle whose `.remove()` unregisters the hook."""
        return add_hook(self._forward_pre_hooks, hook)

    def register_forward_hook(self, hook):
        """Call `hook(module, inputs, output)` after each forward; a hook that returns a value
        replaces the output. Returns a handle whose `.remove()` unregisters the hook."""
        return add_hook(self._forward_hooks, hook)

    def register_full_backward_hook(self, hook):
        """Call `hook(module, grad_input, grad_output)` during backward, once the gradients with
        respect to the module's inputs are known. grad_input holds the gradient w.r.t. each
        positional input (summed over every use inside the module: both paths of a ResNet
        block), grad_output the gradient w.r.t. the output; both are tuples of arrays (None
        where no gradient is needed). A hook returning a tuple replaces grad_input (modules with
        one input). Returns a handle whose `.remove()` unregisters the hook."""
        return add_hook(self._backward_hooks, hook)

    # ----- walking the tree -----------------------------------------------------------------
    def named_children(self):
        return iter(self._modules.items())

    def children(self):
        return (module for _, module in self.named_children())

    def named_modules(self, prefix="", memo=None):
        """(name, module) for this module and every descendant; a shared module once."""
        memo = set() if memo is None else memo
        if id(self) in memo:
            return
        memo.add(id(self))
        yield prefix, self
        for name, child in self._modules.items():
            yield from child.named_modules(_join(prefix, name), memo)

    def modules(self):
        return (module for _, module in self.named_modules())

    def named_parameters(self):
        seen = set()  # a Parameter assigned twice (weight sharing) is listed once
        for prefix, module in self.named_modules():
            for name, param in module._parameters.items():
                if id(param) not in seen:
                    seen.add(id(param))
                    yield _join(prefix, name), param

    def parameters(self):
        return (param for _, param in self.named_parameters())

    def named_buffers(self):
        for prefix, module in self.named_modules():
            for name in module._buffers:
                yield _join(prefix, name), getattr(module, name)

    def buffers(self):
        return (buffer for _, buffer in self.named_buffers())

    # ----- modes, gradients, devices --------------------------------------------------------
    def train(self, mode=True):
        """Training mode (dropout active, BatchNorm uses batch statistics)."""
        for module in self.modules():
            object.__setattr__(module, "training", mode)
        return self

    def eval(self):
        return self.train(False)

    def zero_grad(self):
        for param in self.parameters():
            param.grad = None

    def to(self, device=None, dtype=None):
        """Move every parameter and buffer to `device` ('cpu' or 'gpu') and/or cast it to the
        floating `dtype` (e.g. "float64"), in place; returns self. `model.to("gpu")` moves,
        `model.to(dtype="float64")` casts. Gradients are dropped; make optimizers afterwards
        (they keep their own state arrays)."""
        if dtype is not None:
            dtype = np.dtype(dtype)
            if dtype.kind != "f":
                raise DTypeError(f"Module.to: dtype must be a floating type such as float32 or "
                                 f"float64, got {dtype}")
        if device is None and dtype is None:
            return self
        for module in self.modules():
            for param in module._parameters.values():
                param.data = _convert(param.data, device, dtype)
                param.grad = None
            for name in module._buffers:
                object.__setattr__(module, name, _convert(getattr(module, name), device, dtype))
        return self

    # ----- saving and loading ---------------------------------------------------------------
    def state_dict(self):
        """name -> NumPy array copy, for every parameter and buffer."""
        state = OrderedDict()
        for name, param in self.named_parameters():
            state[name] = backend.asnumpy(param.data).copy()
        for name, buffer in self.named_buffers():
            state[name] = backend.asnumpy(buffer).copy()
        return state

    def load_state_dict(self, state, strict=True):
        """Copy arrays from `state` into the parameters and buffers (in place, same shapes)."""
        targets = dict(self._state_targets())
        missing = [name for name in targets if name not in state]
        unexpected = [name for name in state if name not in targets]
        if strict and (missing or unexpected):
            raise KeyError(f"load_state_dict: missing keys {missing}, unexpected keys "
                           f"{unexpected}; is the checkpoint from the same model and options?")
        for name, (get, put) in targets.items():
            if name not in state:
                continue
            current = get()
            value = np.asarray(state[name])
            if value.shape != current.shape:
                raise ShapeError(f"load_state_dict: {name} has shape {value.shape} in the "
                                 f"state but {current.shape} in the model")
            put(backend.to_device(value.astype(current.dtype), backend.device_of(current)))

    def _state_targets(self):
        """name -> (getter, setter) for every parameter and buffer."""
        for prefix, module in self.named_modules():
            for name, param in module._parameters.items():
                yield _join(prefix, name), (lambda p=param: p.data, _param_setter(param))
            for name in module._buffers:
                yield _join(prefix, name), (lambda m=module, n=name: getattr(m, n),
                                            _buffer_setter(module, name))

    def __repr__(self):
        lines = [f"{type(self).__name__}({self.extra_repr()}"]
        for name, child in self._modules.items():
            child_repr = repr(child).replace("\n", "\n  ")
            lines.append(f"  ({name}): {child_repr}")
        return lines[0] + ")" if len(lines) == 1 else "\n".join(lines) + "\n)"

    def extra_repr(self):
        return ""


def _join(prefix, name):
    return f"{prefix}.{name}" if prefix else name


def _convert(array, device, dtype):
    """`array` on `device` with `dtype` (None keeps what it has)."""
    if dtype is not None:
        array = array.astype(dtype, copy=False)
    if device is not None:
        array = backend.to_device(array, device)
    return array


def _param_setter(param):
    def put(value):
        param.data[...] = value  # in place, so optimizers holding the parameter still see it
    return put


def _buffer_setter(module, name):
    def put(value):
        getattr(module, name)[...] = value
    return put
