"""Reference ReLU kernels (NumPy or CuPy): the forward keeps a mask of the blocked inputs.

    y = max(x, 0)                 blocked = x <= 0   (NaN is not <= 0: NaN passes, as in torch)
    gx = 0 where blocked, else gy
"""
from minicnn import backend


def relu_forward(x):
    """x (any shape) -> (y, blocked): y = max(x, 0), blocked = x <= 0 (bool, x's shape)."""
    xp = backend.get_array_module(x)
    blocked = x <= 0
    return xp.maximum(x, 0).astype(x.dtype, copy=False), blocked  # maximum propagates NaN


def relu_backward(gy, blocked):
    """gy (any shape), blocked (bool, same shape) -> gx: gy with the blocked entries set to 0."""
    xp = backend.get_array_module(gy)
    return xp.where(blocked, 0, gy).astype(gy.dtype, copy=False)
