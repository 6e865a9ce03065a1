"""numba versions of im2col / col2im for NumPy arrays on the CPU.

Same contract as `kernels/windows.py` (the reference they are tested against): col is
(C*KH*KW, N*OH*OW). For one kernel tap (c, i, j) and one output row oh, the entries of col are
the input row h = oh*SH - PT + i read every SW-th pixel, so the inner loop copies a run of an
image row into a run of col (a memcpy when SW == 1). Outputs whose window pixel falls in the
padding get 0; no padded copy of x is made. im2col runs in parallel over the rows of col
(each thread writes long contiguous runs: parallel over the batch instead, every thread wrote
short runs into all C*KH*KW rows and ran 3-8x slower, benchmarks/NOTES.md); col2im runs in
parallel over the channels, so no two threads add into the same gx entry.
Set NUMBA_DISABLE_JIT=1 to step through them as plain Python.
"""
import numpy as np
from numba import njit, prange

from minicnn.kernels.windows import conv_output_size


def _im2col(x, KH, KW, SH, SW, PT, PL, OH, OW, col):
    """x (N, C, H, W) -> col (C*KH*KW, N*OH*OW); padding entries are 0."""
    N, C, H, W = x.shape
    for k in prange(C * KH * KW):  # each tap k = (c, i, j) fills its own row of col
        c = k // (KH * KW)
        i = (k // KW) % KH
        j = k % KW
        for n in range(N):
            for oh in range(OH):
                h = oh * SH - PT + i
                start = (n * OH + oh) * OW
                h_inside = 0 <= h < H
                for ow in range(OW):
                    w = ow * SW - PL + j
                    if h_inside and 0 <= w < W:  # the test also lets LLVM drop the
                        col[k, start + ow] = x[n, c, h, w]  # negative-index wraparound
                    else:
                        col[k, start + ow] = 0.0


def _col2im(col, KH, KW, SH, SW, PT, PL, OH, OW, gx):
    """Add col (C*KH*KW, N*OH*OW) back into gx (N, C, H, W) (zeroed by the caller)."""
    N, C, H, W = gx.shape
    for c in prange(C):  # all taps of channel c add into gx[:, c] only: no races
        for i in range(KH):
            for j in range(KW):
                k = (c * KH + i) * KW + j
                for n in range(N):
                    for oh in range(OH):
                        h = oh * SH - PT + i
                        if h < 0 or h >= H:
                            continue
                        start = (n * OH + oh) * OW
                        for ow in range(OW):
                            w = ow * SW - PL + j
                            if 0 <= w < W:
                                gx[n, c, h, w] += col[k, start + ow]


def _tap_range(size, n_out, stride, pad, k):
    """[lo, hi): the outputs o of n_out whose tap k reads inside, 0 <= o*stride - pad + k < size.

    One range per tap replaces a bounds test per element: loops over range(lo, hi) touch no
    padding and need no branch. Empty (lo == hi) where the tap reads only padding.
    """
    lo = max(0, -((k - pad) // stride))  # ceil((pad - k) / stride): the first o inside
    hi = min(n_out, (size - 1 + pad - k) // stride + 1)  # one past the last o inside
    return lo, max(lo, hi)


# inlined into the caller (its loops and fastmath flags), so the call costs nothing. numba's
# cache (cache=True) checks only the caller's own file: after editing this, clear __pycache__
tap_range = njit(inline="always")(_tap_range)


_im2col_jit = njit(parallel=True, cache=True)(_im2col)
_col2im_jit = njit(parallel=True, cache=True)(_col2im)


def output_size(x_shape, KH, KW, SH, SW, pads):
    """(OH, OW) of a KHxKW window op with strides (SH, SW) and pads (PT, PB, PL, PR)."""
    PT, PB, PL, PR = pads
    return (conv_output_size(x_shape[2], KH, SH, PT, PB),
            conv_output_size(x_shape[3], KW, SW, PL, PR))


def im2col(x, KH, KW, SH, SW, pads, out=None):
    """numba im2col: (N, C, H, W) -> (C*KH*KW, N*OH*OW); pads = (PT, PB, PL, PR).

    out: an optional C-contiguous array of that shape and x's dtype to fill (and return).
    """
    N, C = x.shape[:2]
    PT, PB, PL, PR = pads
    OH, OW = output_size(x.shape, KH, KW, SH, SW, pads)
    col = np.empty((C * KH * KW, N * OH * OW), dtype=x.dtype) if out is None else out
    _im2col_jit(np.ascontiguousarray(x), KH, KW, SH, SW, PT, PL, OH, OW, col)
    return col


def col2im(col, x_shape, KH, KW, SH, SW, pads):
    """numba col2im: (C*KH*KW, N*OH*OW) -> (N, C, H, W), overlapping entries summed."""
    PT, PB, PL, PR = pads
    OH, OW = output_size(x_shape, KH, KW, SH, SW, pads)
    gx = np.zeros(x_shape, dtype=col.dtype)
    _col2im_jit(np.ascontiguousarray(col), KH, KW, SH, SW, PT, PL, OH, OW, gx)
    return gx
