"""The autograd core: `Tensor`, `Function`, `no_grad` and the backward pass.

A `Tensor` wraps a backend array (`.data`) and remembers the `Function` that produced it
(`.grad_fn`). A `Function` works on raw arrays: `forward(*arrays)` returns arrays and
`backward(gy)` returns one array gradient per input. `Tensor.backward()` walks the graph from the
output in reverse topological order and adds up each tensor's gradient, so a tensor used twice
(a ResNet skip) receives the sum of both paths.

It is one file, longer than the others, on purpose: the whole define-by-run idea (the graph,
its backward walk, the second-backward rule, hooks and the trace's two call-points) reads in
one sitting, as DeZero's `core.py` does; the ops themselves live in `minicnn.ops`.
"""
import contextlib

import numpy as np

from minicnn import backend
from minicnn.errors import DeviceError, DTypeError, ShapeError

DEFAULT_DTYPE = np.float32
_grad_enabled = True
_tracer = None  # the recorder of `minicnn.trace.trace(...)` while one is active, else None


@contextlib.contextmanager
def no_grad():
    """Inside this block ops build no graph (evaluation, optimizer updates)."""
    global _grad_enabled
    previous = _grad_enabled
    _grad_enabled = False
    try:
        yield
    finally:
        _grad_enabled = previous


def is_grad_enabled():
    return _grad_enabled


def as_array(data, dtype=None):
    """A backend array of `data`: lists and Python numbers become float32 unless `dtype` says.

    NumPy/CuPy arrays and NumPy scalars keep their dtype (integer label arrays stay integers).
    """
    if isinstance(data, Tensor):
        data = data.data
    xp = backend.get_array_module(data)
    if isinstance(data, xp.ndarray):
        return data if dtype is None else data.astype(dtype, copy=False)
    if isinstance(data, np.generic):  # a NumPy scalar (e.g. from x.sum()) keeps its dtype
        return np.asarray(data) if dtype is None else np.asarray(data, dtype=dtype)
    array = np.asarray(data)
    if dtype is not None:
        return array.astype(dtype, copy=False)
    if array.dtype.kind in "fiub":
        return array.astype(DEFAULT_DTYPE)  # Python lists and numbers: float32 (docs/api.md)
    return array


class Tensor:
    """An n-dimensional array that records the ops applied to it, for `backward()`.

    Args:
        data: array-like or backend ndarray. NumPy/CuPy arrays keep their dtype; lists and
            Python numbers become float32.
        requires_grad: if True, `backward()` fills `.grad` with d(output)/d(this tensor).
    """

    __array_priority__ = 200  # make `ndarray * Tensor` call Tensor.__rmul__
    _hooks = None  # {id: fn(grad)} once `register_hook` is called

    def __init__(self, data, requires_grad=False):
        self.data = as_array(data)
        self.grad = None
        self.requires_grad = bool(requires_grad)
        self.grad_fn = None
        self.name = None
        self._retain_grad = False

    # ----- array-like properties ------------------------------------------------------------
    @property
    def shape(self):
        return self.data.shape

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def size(self):
        return self.data.size

    @property
    def device(self):
        return backend.device_of(self.data)

    def __len__(self):
        return len(self.data)

    def __repr__(self):
        body = str(backend.asnumpy(self.data)).replace("\n", "\n       ")
        extra = ", requires_grad=True" if self.requires_grad else ""
        if self.grad_fn is not None:
            extra = f", grad_fn={self.grad_fn.name}"
        return f"Tensor({body}, dtype={self.dtype}{extra})"

    def numpy(self):
        """The data as a NumPy array (copied from the GPU if needed)."""
        return backend.asnumpy(self.data)

    def item(self):
        return self.data.item()

    def detach(self):
        """The same data, cut from the graph."""
        return Tensor(self.data)

    def retain_grad(self):
        """Keep `.grad` on this non-leaf tensor after `backward()` (leaves always keep it)."""
        self._retain_grad = True
        return self

    def to(self, device):
        """A copy on 'cpu' or 'gpu' (the same tensor if already there)."""
        if device == self.device:
            return self
        return Tensor(backend.to_device(self.data, device), requires_grad=self.requires_grad)

    def zero_grad(self):
        self.grad = None

    def register_hook(self, hook):
        """Call `hook(grad)` when this tensor's gradient is complete in `backward()`; a hook that
        returns an array replaces the gradient. Returns a handle whose `.remove()` unregisters it.
        """
        from minicnn.hooks import add_hook
        if not self.requires_grad:
            raise RuntimeError("register_hook: this tensor does not require grad, so backward "
                               "never computes its gradient; create it with requires_grad=True")
        if self._hooks is None:
            self._hooks = {}
        return add_hook(self._hooks, hook)

    # ----- backward -------------------------------------------------------------------------
    def backward(self, grad=None, retain_graph=False):
        """Compute gradients of this tensor w.r.t. every tensor that led to it.

        Args:
            grad: the upstream gradient, shaped like this tensor; may be omitted for a scalar
                (it is then 1).
            retain_graph: keep what each op saved for its backward, so that a second
                `backward()` through the same graph works (PyTorch's rule). By default each op
                frees it, and a second pass raises a RuntimeError saying so.
        """
        if not self.requires_grad:
            raise RuntimeError("backward: this tensor does not require grad (it was computed "
                               "under no_grad(), or from inputs without requires_grad=True)")
        if grad is None:
            if self.size != 1:
                raise ShapeError(f"backward: grad can be omitted only for a scalar output, "
                                 f"but this tensor has shape {self.shape}; pass grad=...")
            grad = backend.get_array_module(self.data).ones_like(self.data)
        grad = as_array(grad, dtype=self.dtype)
        if grad.shape != self.shape:
            raise ShapeError(f"backward: grad shape {grad.shape} != tensor shape {self.shape}")
        grads = {id(self): grad}
        if _tracer is not None:
            _tracer.on_backward_start(self)
        for tensor in _reverse_topological_order(self):
            gy = grads.pop(id(tensor), None)
            if gy is None:
                continue
            if tensor._hooks:
                gy = _run_tensor_hooks(tensor._hooks, gy)
            if tensor.grad_fn is None or tensor._retain_grad:
                tensor.grad = gy if tensor.grad is None else tensor.grad + gy
            if tensor.grad_fn is not None:
                _propagate(tensor.grad_fn, gy, grads, retain_graph)

    # ----- operators (the ops live in minicnn.ops; imported lazily to avoid a cycle) -------
    def __add__(self, other):
        return _ops().add(self, other)

    def __radd__(self, other):
        return _ops().add(other, self)

    def __sub__(self, other):
        return _ops().sub(self, other)

    def __rsub__(self, other):
        return _ops().sub(other, self)

    def __mul__(self, other):
        return _ops().mul(self, other)

    def __rmul__(self, other):
        return _ops().mul(other, self)

    def __truediv__(self, other):
        return _ops().div(self, other)

    def __rtruediv__(self, other):
        return _ops().div(other, self)

    def __matmul__(self, other):
        return _ops().matmul(self, other)

    def __rmatmul__(self, other):
        return _ops().matmul(other, self)

    def __neg__(self):
        return _ops().neg(self)

    def __pow__(self, exponent):
        return _ops().pow(self, exponent)

    def __getitem__(self, index):
        return _ops().getitem(self, index)

    def sum(self, axis=None, keepdims=False):
        return _ops().sum(self, axis, keepdims)

    def mean(self, axis=None, keepdims=False):
        return _ops().mean(self, axis, keepdims)

    def reshape(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return _ops().reshape(self, shape)

    def transpose(self, *axes):
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return _ops().transpose(self, axes or None)

    def exp(self):
        return _ops().exp(self)

    def log(self):
        return _ops().log(self)


def _ops():
    from minicnn.ops import basic
    return basic


def _reverse_topological_order(root):
    """Tensors from `root` back to the leaves, each after every tensor that uses it."""
    return reversed(topological_order(root))


def topological_order(root, keep=lambda tensor: tensor.requires_grad):
    """The tensors `root` was made from (those `keep` accepts), each after all of its inputs:
    leaves first, `root` last. The backward pass walks it in reverse; pictures of the graph
    pass keep=lambda t: True to show the images and labels too."""
    order, visited = [], set()
    stack = [(root, False)]
    while stack:  # iterative DFS: deep nets would overflow Python's recursion limit
        tensor, children_done = stack.pop()
        if children_done:
            order.append(tensor)
            continue
        if id(tensor) in visited:
            continue
        visited.add(id(tensor))
        stack.append((tensor, True))
        if tensor.grad_fn is not None:
            for parent in tensor.grad_fn.inputs:
                if parent is not None and keep(parent) and id(parent) not in visited:
                    stack.append((parent, False))
    return order


def _run_tensor_hooks(hooks, gy):
    """Pass the gradient through each `Tensor.register_hook` function; one may replace it."""
    for hook in list(hooks.values()):
        replaced = hook(gy)
        if replaced is not None:
            gy = as_array(replaced, dtype=gy.dtype)
    return gy


def _propagate(function, gy, grads, retain_graph=False):
    """Run `function.backward(gy)` and add each input's gradient into `grads`.

    Unless `retain_graph`, the function then frees the arrays its forward saved (PyTorch's rule:
    memory goes as soon as it is no longer needed, and a second pass is an error, not garbage).
    """
    if function.freed:
        raise RuntimeError(f"{function.name}: the graph was freed by an earlier backward(); pass "
                           f"retain_graph=True to the first backward() to go through it twice")
    gxs = function.backward(gy)
    if not isinstance(gxs, tuple):
        gxs = (gxs,)
    if _tracer is not None:
        _tracer.on_backward(function, gy, gxs)  # before the saved arrays go: a zoom reads them
    if not retain_graph:
        function.free_saved_arrays()
    for tensor, gx in zip(function.inputs, gxs):
        if gx is None or tensor is None or not tensor.requires_grad:
            continue
        if gx.shape != tensor.shape:
            raise ShapeError(f"{function.name}.backward returned a gradient of shape {gx.shape} "
                             f"for an input of shape {tensor.shape}")
        key = id(tensor)
        grads[key] = gx if key not in grads else grads[key] + gx


class Function:
    """A differentiable op. Subclasses implement `forward(*arrays)` and `backward(gy)`.

    `forward` receives backend arrays (not Tensors) and returns an array; `backward` receives the
    upstream gradient array and returns one gradient array (or None) per input. Whatever
    `backward` needs is saved on `self` during `forward`. `self.needs_input_grad` (one bool per
    input, set before `forward`) lets an op skip gradients nobody asked for.
    """

    name = "function"  # the op's name: "conv2d", "max_pool2d", ... (grad_fn=..., errors)
    freed = False      # set by backward() once the saved arrays are gone

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "name" not in cls.__dict__:  # a Function written without a name: its class, lower
            cls.name = cls.__name__.lower()

    def __call__(self, *inputs):
        tensors = [x if isinstance(x, Tensor) else None for x in inputs]
        reference = next((t for t in tensors if t is not None), None)
        arrays = [_input_array(x, reference) for x in inputs]
        self._check_devices(arrays)
        arrays = self._promote_integers(arrays)
        self._check_dtypes(arrays)
        # which inputs want a gradient: backward may skip the others (conv on raw images)
        self.needs_input_grad = tuple(
            _grad_enabled and t is not None and t.requires_grad for t in tensors)
        output = Tensor(self.forward(*arrays))
        needs_grad = any(self.needs_input_grad)
        if needs_grad:
            # plain arrays become constant tensors; a None input (no bias) stays None
            self.inputs = [t if t is not None or a is None else Tensor(a)
                           for t, a in zip(tensors, arrays)]
            output.requires_grad = True
            output.grad_fn = self
        if _tracer is not None:
            _tracer.on_forward(self, inputs, arrays, output)
        return output

    def forward(self, *xs):
        raise NotImplementedError

    def backward(self, gy):
        raise NotImplementedError

    @property
    def op_name(self):
        """The same as `name` (kept for code written before every op had one)."""
        return self.name

    def free_saved_arrays(self):
        """Drop every array that forward saved on `self` (the graph's links stay)."""
        for key, value in list(vars(self).items()):
            if hasattr(value, "shape") and hasattr(value, "dtype") and key != "inputs":
                delattr(self, key)
        self.freed = True

    def _check_devices(self, arrays):
        devices = {backend.device_of(a) for a in arrays if a is not None}
        if len(devices) > 1:
            shapes = [getattr(a, "shape", None) for a in arrays]
            raise DeviceError(f"{self.name}: inputs are on different devices "
                              f"({', '.join(sorted(devices))}; shapes {shapes}); "
                              f"move them with tensor.to('cpu') or tensor.to('gpu')")

    def _promote_integers(self, arrays):
        """Ops compute in floating point: integer and bool inputs take the float dtype of the
        other inputs, or float32 (e.g. integer logits in softmax_cross_entropy)."""
        floats = [a.dtype for a in arrays if a is not None and a.dtype.kind == "f"]
        target = floats[0] if floats else DEFAULT_DTYPE
        return [a.astype(target) if a is not None and a.dtype.kind in "iub" else a
                for a in arrays]

    def _check_dtypes(self, arrays):
        for a in arrays:
            if a is not None and a.dtype not in (np.float32, np.float64):
                raise DTypeError(f"{self.name}: dtype {a.dtype} is not supported (shape "
                                 f"{a.shape}); use float32 or float64, e.g. "
                                 f"Tensor(x.astype('float32'))")
        floats = {a.dtype for a in arrays if a is not None and a.dtype.kind == "f"}
        if len(floats) > 1:
            shapes = [getattr(a, "shape", None) for a in arrays]
            raise DTypeError(f"{self.name}: mixed float dtypes {sorted(map(str, floats))} "
                             f"(shapes {shapes}); convert with Tensor(x.data.astype(...)) so all "
                             f"inputs share one dtype")


def _input_array(x, reference):
    """The array of an op input; plain numbers/arrays take the dtype of the first Tensor."""
    if x is None:
        return None
    if isinstance(x, Tensor):
        return x.data
    if reference is not None and reference.dtype.kind == "f":
        xp = backend.get_array_module(reference.data)
        array = x if isinstance(x, xp.ndarray) else xp.asarray(x)
        if array.dtype.kind in "fiub":
            return array.astype(reference.dtype, copy=False)
        return array
    return as_array(x)
