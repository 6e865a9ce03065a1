"""Tensor arithmetic, reductions and reshaping, with broadcasting-aware gradients.

One file for every small op `Tensor` exposes as a method or operator: each is a few lines (a
Function class with its forward and backward, the lowercase wrapper right under it), and
`sum_to`, which all the broadcasting ops share, sits at the top.
"""
import itertools

import numpy as np

from minicnn import backend
from minicnn.core import Function, Tensor
from minicnn.errors import ShapeError
from minicnn.ops.utils import normalize_axis


def sum_to(gx, shape):
    """Sum a broadcast gradient `gx` back down to `shape` (the operand's original shape)."""
    if gx.shape == shape:
        return gx
    lead = gx.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, size in enumerate(shape) if size == 1 and gx.shape[lead + i] != 1)
    gx = gx.sum(axis=axes, keepdims=True)
    return gx.reshape(shape)


def _broadcast_shape(name, a, b):
    try:
        return np.broadcast_shapes(a.shape, b.shape)  # shapes only: NumPy serves CuPy too
    except ValueError:
        raise ShapeError(f"{name}: cannot broadcast shapes {a.shape} and {b.shape}") from None


class _Binary(Function):
    """Elementwise binary op with NumPy broadcasting; saves the operand shapes."""

    def forward(self, a, b):
        _broadcast_shape(self.op_name, a, b)
        self.a_shape, self.b_shape = a.shape, b.shape
        return self.compute(a, b)


class Add(_Binary):
    name = "add"

    def compute(self, a, b):
        return a + b

    def backward(self, gy):
        return sum_to(gy, self.a_shape), sum_to(gy, self.b_shape)


def add(a, b):
    return Add()(a, b)


class Sub(_Binary):
    name = "sub"

    def compute(self, a, b):
        return a - b

    def backward(self, gy):
        return sum_to(gy, self.a_shape), sum_to(-gy, self.b_shape)


def sub(a, b):
    return Sub()(a, b)


class Mul(_Binary):
    name = "mul"

    def compute(self, a, b):
        self.a, self.b = a, b
        return a * b

    def backward(self, gy):
        return sum_to(gy * self.b, self.a_shape), sum_to(gy * self.a, self.b_shape)


def mul(a, b):
    return Mul()(a, b)


class Div(_Binary):
    name = "div"

    def compute(self, a, b):
        self.a, self.b = a, b
        return a / b

    def backward(self, gy):
        ga = gy / self.b
        gb = -gy * self.a / (self.b * self.b)
        return sum_to(ga, self.a_shape), sum_to(gb, self.b_shape)


def div(a, b):
    return Div()(a, b)


class Neg(Function):
    name = "neg"

    def forward(self, x):
        return -x

    def backward(self, gy):
        return -gy


def neg(x):
    return Neg()(x)


class Pow(Function):
    """x ** c for a constant scalar c."""
    name = "pow"

    def __init__(self, exponent):
        self.exponent = exponent

    def forward(self, x):
        self.x = x
        return x ** self.exponent

    def backward(self, gy):
        c = self.exponent
        return gy * c * self.x ** (c - 1)


def pow(x, exponent):
    if isinstance(exponent, Tensor):
        raise TypeError("pow: only a constant (Python number) exponent is supported")
    return Pow(exponent)(x)


class Exp(Function):
    name = "exp"

    def forward(self, x):
        self.y = backend.get_array_module(x).exp(x)
        return self.y

    def backward(self, gy):
        return gy * self.y


def exp(x):
    return Exp()(x)


class Log(Function):
    name = "log"

    def forward(self, x):
        self.x = x
        return backend.get_array_module(x).log(x)

    def backward(self, gy):
        return gy / self.x


def log(x):
    return Log()(x)


class MatMul(Function):
    """(..., M, K) @ (..., K, N); 2-D operands are the common case (linear layers)."""
    name = "matmul"

    def forward(self, a, b):
        if a.ndim < 2 or b.ndim < 2 or a.shape[-1] != b.shape[-2]:
            raise ShapeError(f"matmul: shapes {a.shape} and {b.shape} do not line up "
                             f"(need (..., M, K) @ (..., K, N))")
        self.a, self.b = a, b
        return a @ b

    def backward(self, gy):
        xp = backend.get_array_module(gy)
        ga = gy @ xp.swapaxes(self.b, -1, -2)
        gb = xp.swapaxes(self.a, -1, -2) @ gy
        return sum_to(ga, self.a.shape), sum_to(gb, self.b.shape)


def matmul(a, b):
    return MatMul()(a, b)


class Sum(Function):
    name = "sum"

    def __init__(self, axis, keepdims):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        self.x_shape = x.shape
        if self.axis is not None:
            self.axis = tuple(normalize_axis(a, x.ndim, "sum") for a in self.axis)
        return x.sum(axis=self.axis, keepdims=self.keepdims)

    def backward(self, gy):
        xp = backend.get_array_module(gy)
        if not self.keepdims and self.axis is not None:
            axes = self.axis if isinstance(self.axis, tuple) else (self.axis,)
            axes = sorted(a % len(self.x_shape) for a in axes)
            for a in axes:
                gy = xp.expand_dims(gy, a)
        return xp.broadcast_to(gy, self.x_shape).copy()


def sum(x, axis=None, keepdims=False):
    return Sum(_axis_tuple(axis), keepdims)(x)


def mean(x, axis=None, keepdims=False):
    """Mean over `axis` (all axes when None)."""
    x = x if isinstance(x, Tensor) else Tensor(x)
    axis = _axis_tuple(axis)
    axes = range(x.ndim) if axis is None else axis
    count = 1
    for a in axes:
        count *= x.shape[normalize_axis(a, x.ndim, "mean")]
    scale = 1.0 / count if count else float("nan")  # the mean of nothing is nan, as in torch
    return sum(x, axis, keepdims) * scale


class Reshape(Function):
    name = "reshape"

    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        self.x_shape = x.shape
        try:
            return x.reshape(self.shape)
        except ValueError:
            raise ShapeError(f"reshape: cannot reshape {x.shape} ({x.size} elements) "
                             f"into {self.shape}") from None

    def backward(self, gy):
        return gy.reshape(self.x_shape)


def reshape(x, shape):
    return Reshape(tuple(shape))(x)


def flatten(x):
    """(N, ...) -> (N, prod(...)): the bridge from convolutions to fully connected layers."""
    features = 1
    for size in x.shape[1:]:
        features *= size  # not -1: reshape cannot infer it when the batch is empty (N = 0)
    return reshape(x, (x.shape[0], features))


class Transpose(Function):
    name = "transpose"

    def __init__(self, axes):
        self.axes = axes

    def forward(self, x):
        if self.axes is not None:
            axes = tuple(normalize_axis(a, x.ndim, "transpose") for a in self.axes)
            if sorted(axes) != list(range(x.ndim)):
                raise ShapeError(f"transpose: axes {self.axes} are not a permutation of the "
                                 f"{x.ndim} axes of shape {x.shape}")
            self.axes = axes  # non-negative, so argsort below inverts the permutation
        return x.transpose(self.axes)

    def backward(self, gy):
        if self.axes is None:
            return gy.transpose()
        return gy.transpose(np.argsort(self.axes).tolist())  # the inverse permutation


def transpose(x, axes=None):
    return Transpose(None if axes is None else tuple(axes))(x)


class GetItem(Function):
    name = "getitem"

    def __init__(self, index):
        self.index = index

    def forward(self, x):
        self.x_shape = x.shape
        return x[self.index]

    def backward(self, gy):
        xp = backend.get_array_module(gy)
        gx = xp.zeros(self.x_shape, dtype=gy.dtype)
        xp.add.at(gx, self.index, gy)  # repeated indices accumulate
        return gx


def getitem(x, index):
    if isinstance(index, Tensor):
        index = index.data
    return GetItem(index)(x)


class Concat(Function):
    """Join tensors along `axis`; the backward splits the gradient back into pieces."""
    name = "concat"

    def __init__(self, axis):
        self.axis = axis

    def forward(self, *xs):
        self.axis = normalize_axis(self.axis, xs[0].ndim, "concat")
        _check_concat_shapes(xs, self.axis)
        xp = backend.get_array_module(*xs)
        self.sizes = [x.shape[self.axis] for x in xs]
        return xp.concatenate(xs, axis=self.axis)

    def backward(self, gy):
        xp = backend.get_array_module(gy)
        cuts = list(itertools.accumulate(self.sizes[:-1]))
        return tuple(xp.split(gy, cuts, axis=self.axis))


def concat(tensors, axis=1):
    """Join `tensors` along `axis` (channels by default, as Inception and Fire modules do)."""
    if len(tensors) == 0:
        raise ShapeError("concat: needs at least one tensor")
    return Concat(axis)(*tensors)


def _check_concat_shapes(xs, axis):
    first = xs[0].shape
    for x in xs[1:]:
        other = list(x.shape)
        expected = list(first)
        if len(other) != len(expected):
            raise ShapeError(f"concat: all inputs need the same rank, got "
                             f"{[t.shape for t in xs]}")
        other[axis] = expected[axis] = None
        if other != expected:
            raise ShapeError(f"concat: shapes {[t.shape for t in xs]} differ outside "
                             f"axis {axis}")


def _axis_tuple(axis):
    if axis is None or isinstance(axis, tuple):
        return axis
    if isinstance(axis, list):
        return tuple(axis)
    return (axis,)
