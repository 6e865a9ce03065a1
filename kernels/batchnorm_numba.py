"""numba batch-normalisation kernels: the formulas of batchnorm.py in two passes over memory.

NumPy needs about four passes for the statistics and eight for the backward pass, each
writing a full-size temporary. Here every channel is one parallel task: one pass sums what is
needed (in float64), the next writes the result. x is viewed as (N, C, L), L = H*W (1 for
(N, C) input). The fastmath flags let LLVM vectorise the sums (it may add in another order);
they leave out "no NaN / no inf", so NaN and infinities still propagate as in PyTorch.
"""
import numpy as np
from numba import njit, prange


def _stats(x, mean, var):
    """mean[c], var[c] (biased) over n and l of x (N, C, L); two passes, the data in cache."""
    N, C, L = x.shape
    for c in prange(C):
        total = 0.0
        for n in range(N):
            for i in range(L):
                total += x[n, c, i]
        m = total / (N * L)
        squares = 0.0
        for n in range(N):
            for i in range(L):
                d = x[n, c, i] - m
                squares += d * d
        mean[c] = m
        var[c] = squares / (N * L)


def _forward(x, mean, inv_std, gamma, beta, xhat, y):
    """xhat = (x - mean) * inv_std; y = gamma * xhat + beta, per channel."""
    N, C, L = x.shape
    for c in prange(C):
        for n in range(N):
            for i in range(L):
                value = (x[n, c, i] - mean[c]) * inv_std[c]
                xhat[n, c, i] = value
                y[n, c, i] = gamma[c] * value + beta[c]


def _backward(gy, x, shift, x_scale, inv_std, gamma, training, gx, ggamma, gbeta):
    """gbeta, ggamma: the channel sums; gx as in batchnorm.py's docstring. xhat is
    (x - shift[c]) * x_scale[c], computed as it is read: shift = mean and x_scale = inv_std
    from the input itself, or 0 and 1 when x is xhat already."""
    N, C, L = gy.shape
    for c in prange(C):
        sum_gy = 0.0
        sum_gy_xhat = 0.0
        for n in range(N):
            for i in range(L):
                sum_gy += gy[n, c, i]
                sum_gy_xhat += gy[n, c, i] * ((x[n, c, i] - shift[c]) * x_scale[c])
        gbeta[c] = sum_gy
        ggamma[c] = sum_gy_xhat
        scale = gamma[c] * inv_std[c]
        if not training:  # running statistics are constants: gx does not depend on xhat
            for n in range(N):
                for i in range(L):
                    gx[n, c, i] = scale * gy[n, c, i]
            continue
        mean_gy = sum_gy / (N * L)
        mean_gy_xhat = sum_gy_xhat / (N * L)
        for n in range(N):
            for i in range(L):
                xhat = (x[n, c, i] - shift[c]) * x_scale[c]
                gx[n, c, i] = scale * (gy[n, c, i] - mean_gy - xhat * mean_gy_xhat)


SUM_FLAGS = {"reassoc", "contract"}  # reorder and fuse sums; no "nnan"/"ninf" assumptions
_stats_jit = njit(parallel=True, cache=True, fastmath=SUM_FLAGS)(_stats)
_forward_jit = njit(parallel=True, cache=True)(_forward)
_backward_jit = njit(parallel=True, cache=True, fastmath=SUM_FLAGS)(_backward)


def _as3d(x):
    """(N, C, ...) -> contiguous (N, C, L); explicit L, so an empty batch (N = 0) works too."""
    L = int(np.prod(x.shape[2:], dtype=np.int64))
    return np.ascontiguousarray(x).reshape(x.shape[0], x.shape[1], L)


def _per_channel(values, C, dtype, default):
    """A contiguous (C,) array of `values` (any shape holding C numbers), or `default`s."""
    if values is None:
        return np.full(C, default, dtype=dtype)
    return np.ascontiguousarray(values, dtype=dtype).reshape(C)


def batch_norm_stats(x):
    """numba: per-channel mean and biased variance, each (C,), in x's dtype."""
    C = x.shape[1]
    mean, var = np.empty(C, dtype=np.float64), np.empty(C, dtype=np.float64)
    _stats_jit(_as3d(x), mean, var)
    return mean.astype(x.dtype), var.astype(x.dtype)


def batch_norm_forward(x, mean, inv_std, gamma=None, beta=None, need_xhat=True):
    """numba: (xhat, y), both shaped like x; xhat is None when need_xhat is False."""
    C, dtype = x.shape[1], x.dtype
    y = np.empty_like(x)
    # without gamma and beta, xhat is y; and an xhat nobody needs is written into y first
    # (the kernel stores xhat, then y, element by element), so no second array is made
    separate = need_xhat and not (gamma is None and beta is None)
    xhat = np.empty_like(x) if separate else y
    _forward_jit(_as3d(x), _per_channel(mean, C, dtype, 0), _per_channel(inv_std, C, dtype, 1),
                 _per_channel(gamma, C, dtype, 1), _per_channel(beta, C, dtype, 0),
                 xhat.reshape(_as3d(x).shape), y.reshape(_as3d(x).shape))
    return (xhat if need_xhat else None), y


def batch_norm_backward(gy, xhat, inv_std, gamma=None, training=True, mean=None):
    """numba: (gx, ggamma, gbeta). With `mean`, the second argument is the input x, and xhat
    is computed as it is read (no full-size xhat is written)."""
    C, dtype = gy.shape[1], gy.dtype
    gx = np.empty(gy.shape, dtype=dtype)
    ggamma, gbeta = np.empty(C, dtype=dtype), np.empty(C, dtype=dtype)
    inv_std = _per_channel(inv_std, C, dtype, 1)
    shift = _per_channel(mean, C, dtype, 0)                # 0: the second argument is xhat
    x_scale = inv_std if mean is not None else np.ones(C, dtype=dtype)
    _backward_jit(_as3d(gy), _as3d(xhat), shift, x_scale, inv_std,
                  _per_channel(gamma, C, dtype, 1), bool(training), gx.reshape(_as3d(gy).shape),
                  ggamma, gbeta)
    return gx, ggamma, gbeta
