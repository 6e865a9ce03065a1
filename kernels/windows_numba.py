"""numba versions of im2col / col2im for NumPy arrays on the CPU.

Same contract as `kernels/windows.py` (the reference they are tested against), but they read
the input directly with bounds checks instead of building a padded copy, and parallelise over
the batch. Set NUMBA_DISABLE_JIT=1 to step through them as plain Python.
"""
import numpy as np
from numba import njit, prange

from minicnn.kernels.windows import conv_output_size


def _im2col(x, KH, KW, SH, SW, PT, PL, OH, OW, col):
    """x (N, C, H, W) -> col (N*OH*OW, C*KH*KW); out-of-range (padding) entries are 0."""
    N, C, H, W = x.shape
    for n in prange(N):
        for oh in range(OH):
            for ow in range(OW):
                row = (n * OH + oh) * OW + ow
                for c in range(C):
                    for i in range(KH):
                        h = oh * SH - PT + i
                        for j in range(KW):
                            w = ow * SW - PL + j
                            k = (c * KH + i) * KW + j
                            if 0 <= h < H and 0 <= w < W:
                                col[row, k] = x[n, c, h, w]
                            else:
                                col[row, k] = 0.0


def _col2im(col, KH, KW, SH, SW, PT, PL, OH, OW, gx):
    """Add col (N*OH*OW, C*KH*KW) back into gx (N, C, H, W) (zeroed by the caller)."""
    N, C, H, W = gx.shape
    for n in prange(N):  # each n writes only gx[n]: no races
        for oh in range(OH):
            for ow in range(OW):
                row = (n * OH + oh) * OW + ow
                for c in range(C):
                    for i in range(KH):
                        h = oh * SH - PT + i
                        if h < 0 or h >= H:
                            continue
                        for j in range(KW):
                            w = ow * SW - PL + j
                            if 0 <= w < W:
                                gx[n, c, h, w] += col[row, (c * KH + i) * KW + j]


_im2col_jit = njit(parallel=True, cache=True)(_im2col)
_col2im_jit = njit(parallel=True, cache=True)(_col2im)


def output_size(x_shape, KH, KW, SH, SW, pads):
    """(OH, OW) of a KHxKW window op with strides (SH, SW) and pads (PT, PB, PL, PR)."""
    PT, PB, PL, PR = pads
    return (conv_output_size(x_shape[2], KH, SH, PT, PB),
            conv_output_size(x_shape[3], KW, SW, PL, PR))


def im2col(x, KH, KW, SH, SW, pads):
    """numba im2col: (N, C, H, W) -> (N*OH*OW, C*KH*KW); pads = (PT, PB, PL, PR)."""
    N, C = x.shape[:2]
    PT, PB, PL, PR = pads
    OH, OW = output_size(x.shape, KH, KW, SH, SW, pads)
    col = np.empty((N * OH * OW, C * KH * KW), dtype=x.dtype)
    _im2col_jit(np.ascontiguousarray(x), KH, KW, SH, SW, PT, PL, OH, OW, col)
    return col


def col2im(col, x_shape, KH, KW, SH, SW, pads):
    """numba col2im: (N*OH*OW, C*KH*KW) -> (N, C, H, W), overlapping entries summed."""
    PT, PB, PL, PR = pads
    OH, OW = output_size(x_shape, KH, KW, SH, SW, pads)
    gx = np.zeros(x_shape, dtype=col.dtype)
    _col2im_jit(np.ascontiguousarray(col), KH, KW, SH, SW, PT, PL, OH, OW, gx)
    return gx
