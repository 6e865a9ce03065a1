"""numba stride-1 convolution as shifts of the flat padded image, for few input taps.

Same contract as the stride-1, one-group case of kernels/grouped.py (the reference they are
tested against). The idea: store a zero-padded input plane (Hp, Wp) row by row as one flat vector.
Output pixel (oh, ow) reads, under kernel tap (i, j), the padded pixel (oh + i, ow + j), whose
flat index is (oh*Wp + ow) + (i*Wp + j). So one tap is one shift of the whole plane: with the
output also laid out on rows of Wp,

    acc[f] += W[o, c, i, j] * x_flat[f + i*Wp + j]    for f in 0 .. L-1,  L = (OH-1)*Wp + OW

and the convolution is KH*KW long vector multiply-adds per input channel, with no im2col
matrix and no bounds test: LLVM vectorises every loop. The Wp - OW columns between output rows
compute values that are thrown away (KW-1 per row: 4 of 32 for LeNet-5's first layer).

For layers with few taps per output (C*KH*KW up to a few dozen: a network's first layer) the
im2col product is too thin for BLAS (6 x 25 @ 25 x 200,704 runs at ~25 GFLOP/s) and col is
KH*KW times the input, so this is faster: LeNet-5's first layer, forward and weight gradient,
9.5 -> 3.3 ms (benchmarks/NOTES.md 23). With many taps, im2col + BLAS wins.

The weight gradient is one dot product per (image, output channel, tap) of the output
gradient laid out on rows of Wp (zeros in the thrown-away columns) with the shifted input. An
infinite or NaN input pixel can therefore make a weight-gradient entry NaN where the exact sum
would not (0 * inf): minicnn.kernels then recomputes gW from the exact pairs (likewise the
input gradient for non-finite weights). Finite inputs give the exact sums, in another order.
Set NUMBA_DISABLE_JIT=1 to step through them as plain Python.
"""
import numba
import numpy as np
from numba import njit, prange

from minicnn.kernels.windows import pad_input


def _flat_length(OH, OW, Wp):
    """L: the flat positions from output (0, 0) to (OH-1, OW-1) on rows of Wp."""
    return (OH - 1) * Wp + OW


def _on_padded_rows(plane, Wp, out):
    """Copy plane (OH, OW) onto out (L,) laid out on rows of Wp; the other entries stay."""
    OH, OW = plane.shape
    for oh in range(OH):
        for ow in range(OW):
            out[oh * Wp + ow] = plane[oh, ow]


def _dot(a, b):
    """sum of a[f] * b[f], in the arrays' own precision (a 0.0 start would add in float64)."""
    total = a[0] * b[0]
    for f in range(1, a.shape[0]):
        total += a[f] * b[f]
    return total


def _forward(x_flat, W, b, Wp, y):
    """y (N, OC, OH, OW) = the convolution of x_flat (N, C, Hp*Wp) with W, plus b (OC,)."""
    N, C = x_flat.shape[:2]
    OC, _, KH, KW = W.shape
    OH, OW = y.shape[2:]
    L = _flat_length(OH, OW, Wp)
    for t in prange(N * OC):  # each (n, o) writes only its own output plane
        n, o = t // OC, t % OC
        acc = np.empty(L, dtype=y.dtype)
        acc[:] = b[o]
        for c in range(C):
            for i in range(KH):
                for j in range(KW):
                    w = W[o, c, i, j]
                    shifted = x_flat[n, c, i * Wp + j:i * Wp + j + L]
                    for f in range(L):
                        acc[f] += w * shifted[f]
        for oh in range(OH):  # keep the OW real columns of each row
            y[n, o, oh] = acc[oh * Wp:oh * Wp + OW]


def _backward_weight(gy, x_flat, Wp, gW_parts, gb_parts):
    """Per image block p: gW_parts[p] (OC, C, KH, KW) and gb_parts[p] (OC,) of its images.

    gW[o, c, i, j] = sum over n, f of gy_rows[n, o, f] * x_flat[n, c, f + i*Wp + j].
    """
    N, OC, OH, OW = gy.shape
    P, _, C, KH, KW = gW_parts.shape
    L = _flat_length(OH, OW, Wp)
    for p in prange(P):  # each block of images sums into its own part: no races
        gy_rows = np.zeros(L, dtype=gy.dtype)  # gy[n, o] on rows of Wp; gaps stay 0
        for n in range(p * N // P, (p + 1) * N // P):
            for o in range(OC):
                _on_padded_rows(gy[n, o], Wp, gy_rows)
                gb_parts[p, o] += gy_rows.sum()
                for c in range(C):
                    for i in range(KH):
                        for j in range(KW):
                            shifted = x_flat[n, c, i * Wp + j:i * Wp + j + L]
                            gW_parts[p, o, c, i, j] += _dot(gy_rows, shifted)


def _backward_input(gy, W, PT, PL, Wp, gx):
    """gx (N, C, H, W) = the transposed convolution of gy (N, OC, OH, OW) with W."""
    N, OC, OH, OW = gy.shape
    C, H, W_in = gx.shape[1:]
    KH, KW = W.shape[2:]
    L = _flat_length(OH, OW, Wp)
    Hp = OH + KH - 1  # the padded height (stride 1)
    for n in prange(N):  # each image writes only its own input gradient
        gy_rows = np.zeros((OC, L), dtype=gy.dtype)  # gy[n] on rows of Wp; gaps stay 0
        for o in range(OC):
            _on_padded_rows(gy[n, o], Wp, gy_rows[o])
        gx_flat = np.empty(Hp * Wp, dtype=gx.dtype)  # one padded plane's gradient
        for c in range(C):
            gx_flat[:] = 0.0
            for o in range(OC):
                for i in range(KH):
                    for j in range(KW):
                        w = W[o, c, i, j]
                        shifted = gx_flat[i * Wp + j:i * Wp + j + L]
                        for f in range(L):
                            shifted[f] += w * gy_rows[o, f]
            for h in range(H):  # drop the padding's gradient
                gx[n, c, h] = gx_flat[(h + PT) * Wp + PL:(h + PT) * Wp + PL + W_in]


_flat_length = njit(inline="always")(_flat_length)
_on_padded_rows = njit(inline="always")(_on_padded_rows)
_dot = njit(inline="always")(_dot)
_forward_jit = njit(parallel=True, cache=True)(_forward)
# these fastmath flags let LLVM vectorise _dot's sum (another order: rounding only; an inlined
# function takes its caller's flags); they leave out "no NaN / no inf", so NaN and infinities
# still propagate
_backward_weight_jit = njit(parallel=True, cache=True,
                            fastmath={"reassoc", "contract"})(_backward_weight)
_backward_input_jit = njit(parallel=True, cache=True)(_backward_input)


def shifted_conv_forward(x, W, b, pads):
    """Stride 1: x (N, C, H, W), W (OC, C, KH, KW), b (OC,) or None -> (y, x_pad).

    y is (N, OC, OH, OW); x_pad (N, C, Hp, Wp) is the padded input backward needs.
    """
    x_pad = np.ascontiguousarray(pad_input(x, pads))
    N, C, Hp, Wp = x_pad.shape
    OC, _, KH, KW = W.shape
    y = np.empty((N, OC, Hp - KH + 1, Wp - KW + 1), dtype=x.dtype)
    bias = np.zeros(OC, dtype=x.dtype) if b is None else b.astype(x.dtype, copy=False)
    _forward_jit(x_pad.reshape(N, C, Hp * Wp), np.ascontiguousarray(W, dtype=x.dtype), bias,
                 Wp, y)
    return y, x_pad


def shifted_conv_backward_weight(gy, x_pad, W_shape):
    """gy (N, OC, OH, OW), x_pad (N, C, Hp, Wp) -> (gW (OC, C, KH, KW), gb (OC,))."""
    N, C, Hp, Wp = x_pad.shape
    blocks = max(1, min(N, numba.get_num_threads()))  # one block of images per thread
    gW_parts = np.zeros((blocks,) + tuple(W_shape), dtype=gy.dtype)
    gb_parts = np.zeros((blocks, W_shape[0]), dtype=gy.dtype)
    _backward_weight_jit(np.ascontiguousarray(gy), x_pad.reshape(N, C, Hp * Wp), Wp, gW_parts,
                         gb_parts)
    return gW_parts.sum(axis=0), gb_parts.sum(axis=0)


def shifted_conv_backward_input(gy, W, x_shape, pads):
    """gy (N, OC, OH, OW) -> gx (N, C, H, W) of the stride-1 convolution padded by pads."""
    PT, _, PL, PR = pads
    gx = np.empty(x_shape, dtype=gy.dtype)
    Wp = x_shape[3] + PL + PR
    _backward_input_jit(np.ascontiguousarray(gy), np.ascontiguousarray(W, dtype=gy.dtype),
                        PT, PL, Wp, gx)
    return gx
