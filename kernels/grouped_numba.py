"""numba grouped convolution computed directly, for few channels per group (depthwise: one).

Same contract as kernels/grouped.py (the reference they are tested against). With few
channels per group, im2col + GEMM wastes its time: the col matrix is KH*KW times the input and
the products are too thin for BLAS. These loops read the input where it lies instead; each
multiply-add is done once, so the cost falls with the number of groups. One walk, _tap,
serves all three passes: a kernel tap joins the same (output, input) pixel pairs in the
forward pass, the input gradient (its transpose) and the weight gradient. It runs along an
output row (contiguous in memory) over only the outputs whose input pixel is inside
(windows_numba.tap_range), so no bounds test is left in the loop and LLVM vectorises it.
Set NUMBA_DISABLE_JIT=1 to step through them.
"""
import numpy as np
from numba import njit, prange

from minicnn.kernels.windows import conv_output_size
from minicnn.kernels.windows_numba import tap_range

FORWARD, INPUT_GRAD, WEIGHT_GRAD = 0, 1, 2  # what _tap does with each pair of pixels
index = np.uint64  # an array index known to be >= 0


def _tap(out, inp, weight, i, j, SH, SW, PT, PL, mode):
    """Kernel tap (i, j) between an output plane out (OH, OW) and an input plane inp (H, W).

    The tap joins output pixel (oh, ow) to input pixel (oh*SH - PT + i, ow*SW - PL + j); pairs
    whose input pixel lies in the padding are skipped. The three passes of a convolution walk
    the same pairs: FORWARD adds weight * inp into out, INPUT_GRAD adds weight * out into inp
    (the transpose), WEIGHT_GRAD returns the sum of out * inp (weight unused).
    """
    OH, OW = out.shape
    H, W = inp.shape
    oh_lo, oh_hi = tap_range(H, OH, SH, PT, i)
    ow_lo, ow_hi = tap_range(W, OW, SW, PL, j)
    total = 0.0
    for oh in range(oh_lo, oh_hi):
        for ow in range(ow_lo, ow_hi):
            # both pixels are inside, so no index is negative: unsigned, they spare numba's
            # negative-index wraparound, which kept LLVM from vectorising this loop (2-3x)
            out_px = (index(oh), index(ow))
            in_px = (index(oh * SH - PT + i), index(ow * SW - PL + j))
            if mode == FORWARD:
                out[out_px] += weight * inp[in_px]
            elif mode == INPUT_GRAD:
                inp[in_px] += weight * out[out_px]
            else:
                total += out[out_px] * inp[in_px]
    return total


def _convolve(x, W, SH, SW, PT, PL, y, mode):
    """Every tap between the planes of a group: FORWARD y += W * x, INPUT_GRAD x += W^T * y.

    x (N, C, H, W), W (OC, Cg, KH, KW), y (N, OC, OH, OW); the one written starts at zero.
    """
    N, C = x.shape[:2]
    OC, Cg, KH, KW = W.shape
    G = C // Cg  # groups; group g joins inputs g*Cg.. to outputs g*OCg..
    OCg = OC // G
    for t in prange(N * G):  # each (n, g) writes only its own group's planes: no races
        n, g = t // G, t % G
        for o in range(g * OCg, (g + 1) * OCg):
            for c in range(Cg):
                for i in range(KH):
                    for j in range(KW):
                        _tap(y[n, o], x[n, g * Cg + c], W[o, c, i, j], i, j, SH, SW, PT, PL,
                             mode)


def _forward(x, W, SH, SW, PT, PL, y):
    """y (N, OC, OH, OW), zeroed, += the convolution of x (N, C, H, W) with W."""
    _convolve(x, W, SH, SW, PT, PL, y, FORWARD)


def _backward_input(gy, W, SH, SW, PT, PL, gx):
    """gx (N, C, H, W), zeroed, += the transposed convolution of gy (N, OC, OH, OW) with W."""
    _convolve(gx, W, SH, SW, PT, PL, gy, INPUT_GRAD)


def _backward_weight(gy, x, SH, SW, PT, PL, gW):
    """gW[o, c, i, j] = sum over n, oh, ow of gy[n, o, oh, ow] * x[n, cin, h, w]."""
    N, C = x.shape[:2]
    OC, Cg, KH, KW = gW.shape
    OCg = OC // (C // Cg)
    for o in prange(OC):  # each o writes only gW[o]
        cin0 = (o // OCg) * Cg  # the group's first input channel
        for c in range(Cg):
            for i in range(KH):
                for j in range(KW):
                    total = 0.0
                    for n in range(N):
                        total += _tap(gy[n, o], x[n, cin0 + c], 0.0, i, j, SH, SW, PT, PL,
                                      WEIGHT_GRAD)
                    gW[o, c, i, j] = total


# inlined: each pass gets its own copy, with its mode folded away
_tap = njit(inline="always")(_tap)
_convolve = njit(inline="always")(_convolve)
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
    y = np.zeros((x.shape[0], W.shape[0], OH, OW), dtype=x.dtype)
    _forward_jit(np.ascontiguousarray(x), np.ascontiguousarray(W, dtype=x.dtype), SH, SW,
                 PT, PL, y)
    return y


def grouped_conv_backward_input(gy, W, x_shape, SH, SW, pads):
    """numba: gy (N, OC, OH, OW) -> gx (N, C, H, W)."""
    gx = np.zeros(x_shape, dtype=gy.dtype)
    _backward_input_jit(np.ascontiguousarray(gy), np.ascontiguousarray(W, dtype=gy.dtype),
                        SH, SW, pads[0], pads[2], gx)
    return gx


def grouped_conv_backward_weight(gy, x, W_shape, SH, SW, pads):
    """numba: gy (N, OC, OH, OW), x (N, C, H, W) -> gW (OC, Cg, KH, KW)."""
    gW = np.empty(W_shape, dtype=gy.dtype)
    _backward_weight_jit(np.ascontiguousarray(gy), np.ascontiguousarray(x, dtype=gy.dtype),
                         SH, SW, pads[0], pads[2], gW)
    return gW
