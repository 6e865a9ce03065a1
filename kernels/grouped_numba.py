"""numba grouped convolution computed directly, for few channels per group (depthwise: one).

Same contract as kernels/grouped.py (the reference they are tested against). With few
channels per group, im2col + GEMM wastes its time: the col matrix is KH*KW times the input and
the products are too thin for BLAS. These loops read the input where it lies instead; each
multiply-add is done once, so the cost falls with the number of groups. The inner loop runs
along an output row (contiguous in memory); the bounds test keeps padding out and lets LLVM
drop numba's negative-index wraparound. Set NUMBA_DISABLE_JIT=1 to step through them.
"""
import numpy as np
from numba import njit, prange

from minicnn.kernels.windows import conv_output_size


def _forward(x, W, SH, SW, PT, PL, y):
    """y[n, o] = sum over the group's channels c and taps (i, j) of W[o, c, i, j] * x."""
    N, C, H, Wd = x.shape
    OC, Cg, KH, KW = W.shape
    _, _, OH, OW = y.shape
    OCg = OC // (C // Cg)
    for t in prange(N * OC):  # each (n, o) writes only y[n, o]
        n, o = t // OC, t % OC
        y[n, o] = 0.0
        for c in range(Cg):
            cin = (o // OCg) * Cg + c
            for i in range(KH):
                for oh in range(OH):
                    h = oh * SH - PT + i
                    if h < 0 or h >= H:
                        continue
                    for j in range(KW):
                        weight = W[o, c, i, j]
                        for ow in range(OW):
                            w = ow * SW - PL + j
                            if 0 <= w < Wd:
                                y[n, o, oh, ow] += weight * x[n, cin, h, w]


def _backward_input(gy, W, SH, SW, PT, PL, gx):
    """gx[n, cin] = sum over the group's outputs o and taps of W[o, c, i, j] * gy[n, o]."""
    N, C, H, Wd = gx.shape
    OC, Cg, KH, KW = W.shape
    _, _, OH, OW = gy.shape
    OCg = OC // (C // Cg)
    for t in prange(N * C):  # each (n, cin) writes only gx[n, cin]
        n, cin = t // C, t % C
        g, c = cin // Cg, cin % Cg
        gx[n, cin] = 0.0
        for o in range(g * OCg, (g + 1) * OCg):
            for i in range(KH):
                for oh in range(OH):
                    h = oh * SH - PT + i
                    if h < 0 or h >= H:
                        continue
                    for j in range(KW):
                        weight = W[o, c, i, j]
                        for ow in range(OW):
                            w = ow * SW - PL + j
                            if 0 <= w < Wd:
                                gx[n, cin, h, w] += weight * gy[n, o, oh, ow]


def _backward_weight(gy, x, SH, SW, PT, PL, gW):
    """gW[o, c, i, j] = sum over n, oh, ow of gy[n, o, oh, ow] * x[n, cin, h, w]."""
    N, C, H, Wd = x.shape
    OC, Cg, KH, KW = gW.shape
    _, _, OH, OW = gy.shape
    OCg = OC // (C // Cg)
    for o in prange(OC):  # each o writes only gW[o]
        for c in range(Cg):
            cin = (o // OCg) * Cg + c
            for i in range(KH):
                for j in range(KW):
                    total = 0.0
                    for n in range(N):
                        for oh in range(OH):
                            h = oh * SH - PT + i
                            if h < 0 or h >= H:
                                continue
                            for ow in range(OW):
                                w = ow * SW - PL + j
                                if 0 <= w < Wd:
                                    total += gy[n, o, oh, ow] * x[n, cin, h, w]
                    gW[o, c, i, j] = total


_forward_jit = njit(parallel=True, cache=True)(_forward)
_backward_input_jit = njit(parallel=True, cache=True)(_backward_input)
# these fastmath flags let LLVM vectorise the sum (another order: rounding only); they leave
# out "no NaN / no inf", so NaN and infinities still propagate as in PyTorch
_backward_weight_jit = njit(parallel=True, cache=True,
                            fastmath={"reassoc", "contract"})(_backward_weight)


def grouped_conv_forward(x, W, SH, SW, pads):
    """numba: x (N, C, H, W), W (OC, Cg, KH, KW) -> y (N, OC, OH, OW)."""
    PT, PB, PL, PR = pads
    OH = conv_output_size(x.shape[2], W.shape[2], SH, PT, PB)
    OW = conv_output_size(x.shape[3], W.shape[3], SW, PL, PR)
    y = np.empty((x.shape[0], W.shape[0], OH, OW), dtype=x.dtype)
    _forward_jit(np.ascontiguousarray(x), np.ascontiguousarray(W, dtype=x.dtype), SH, SW,
                 PT, PL, y)
    return y


def grouped_conv_backward_input(gy, W, x_shape, SH, SW, pads):
    """numba: gy (N, OC, OH, OW) -> gx (N, C, H, W)."""
    gx = np.empty(x_shape, dtype=gy.dtype)
    _backward_input_jit(np.ascontiguousarray(gy), np.ascontiguousarray(W, dtype=gy.dtype),
                        SH, SW, pads[0], pads[2], gx)
    return gx


def grouped_conv_backward_weight(gy, x, W_shape, SH, SW, pads):
    """numba: gy (N, OC, OH, OW), x (N, C, H, W) -> gW (OC, Cg, KH, KW)."""
    gW = np.empty(W_shape, dtype=gy.dtype)
    _backward_weight_jit(np.ascontiguousarray(gy), np.ascontiguousarray(x, dtype=gy.dtype),
                         SH, SW, pads[0], pads[2], gW)
    return gW
