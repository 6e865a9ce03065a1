"""numba versions of the max/avg pooling kernels (checked against `kernels/pooling.py`)."""
import numpy as np
from numba import njit, prange

from minicnn.kernels.windows_numba import output_size


def _max_pool_forward(x, KH, KW, SH, SW, PT, PL, y, argmax):
    N, C, H, W = x.shape
    OH, OW = y.shape[2:]
    for n in prange(N):
        for c in range(C):
            for oh in range(OH):
                for ow in range(OW):
                    best = -np.inf
                    # the window's first real input, not padding: where an all -inf window's
                    # gradient goes (torch's rule)
                    best_k = max(0, PT - oh * SH) * KW + max(0, PL - ow * SW)
                    for i in range(KH):
                        h = oh * SH - PT + i
                        if h < 0 or h >= H:
                            continue
                        for j in range(KW):
                            w = ow * SW - PL + j
                            if w < 0 or w >= W:
                                continue
                            value = x[n, c, h, w]
                            # the first NaN wins and stays (NaN > best is always False)
                            if value > best or (value != value and best == best):
                                best = value
                                best_k = i * KW + j
                    y[n, c, oh, ow] = best
                    argmax[n, c, oh, ow] = best_k


def _max_pool_backward(gy, argmax, KW, SH, SW, PT, PL, gx):
    N, C, OH, OW = gy.shape
    for n in prange(N):
        for c in range(C):
            for oh in range(OH):
                for ow in range(OW):
                    k = argmax[n, c, oh, ow]
                    h = oh * SH - PT + k // KW
                    w = ow * SW - PL + k % KW
                    gx[n, c, h, w] += gy[n, c, oh, ow]


_max_pool_forward_jit = njit(parallel=True, cache=True)(_max_pool_forward)
_max_pool_backward_jit = njit(parallel=True, cache=True)(_max_pool_backward)


def max_pool_forward(x, KH, KW, SH, SW, pads):
    """(N, C, H, W) -> y (N, C, OH, OW), argmax (N, C, OH, OW) in [0, KH*KW)."""
    N, C = x.shape[:2]
    OH, OW = output_size(x.shape, KH, KW, SH, SW, pads)
    y = np.empty((N, C, OH, OW), dtype=x.dtype)
    argmax = np.empty((N, C, OH, OW), dtype=np.int64)
    _max_pool_forward_jit(np.ascontiguousarray(x), KH, KW, SH, SW, pads[0], pads[2], y, argmax)
    return y, argmax


def max_pool_backward(gy, argmax, x_shape, KH, KW, SH, SW, pads):
    """Route gy (N, C, OH, OW) to each window's maximum; returns gx (N, C, H, W)."""
    gx = np.zeros(x_shape, dtype=gy.dtype)
    _max_pool_backward_jit(np.ascontiguousarray(gy), argmax, KW, SH, SW, pads[0], pads[2], gx)
    return gx
