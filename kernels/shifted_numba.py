"""numba stride-1 convolution as shifts of the flat padded image, for thin layers.

Same contract as the stride-1, one-group case of kernels/grouped.py (the reference they are
tested against). The idea: store a zero-padded input plane (Hp, Wp) row by row as one flat vector.
Output pixel (oh, ow) reads, under kernel tap (i, j), the padded pixel (oh + i, ow + j), whose
flat index is (oh*Wp + ow) + (i*Wp + j). So one tap is one shift of the whole plane: with the
output also laid out on rows of Wp,

    acc[f] += W[o, c, i, j] * x_flat[f + i*Wp + j]    for f in 0 .. L-1,  L = (OH-1)*Wp + OW

and the convolution is C*KH*KW long vector multiply-adds per output plane, with no im2col
matrix and no bounds test: LLVM vectorises every loop. The Wp - OW columns between output rows
compute values that are thrown away (KW-1 per row: 4 of 32 for LeNet-5's first layer).

These loops are bound by memory reads and writes, not by arithmetic, so they are arranged
to share them: each pass over acc adds TAPS_PER_PASS taps (one load and store of acc per four
multiply-adds), and two output planes are computed together from the same reads of x. Each
length is rounded up to a multiple of LANES so that LLVM's vector loop covers all of it.

For layers with few output channels and not too many taps per output (a network's first
layers: C*KH*KW up to a couple of hundred) the im2col products are too thin for BLAS (6 x 25
@ 25 x 200,704 runs at ~25 GFLOP/s) and col is KH*KW times the input, so this is faster:
LeNet-5's first layer, forward and weight gradient, 9.5 -> 3.3 ms (benchmarks/NOTES.md 23),
then 2.9 -> 2.4 ms with the shared reads (section 25). With many output channels, im2col + BLAS
wins.

The weight gradient is one dot product per (image, output channel, tap) of the output
gradient laid out on rows of Wp (zeros in the thrown-away columns) with the shifted input.
On short planes those products are a few vectors long and their horizontal sums cost as much
as the products, so there the images are first laid out in blocks of 32, innermost, and each
dot product runs over a whole block (`_backward_weight_blocked`). The input gradient is the
same shifted sum as the forward, over the zero-bordered output gradient with the kernel
flipped. An infinite or NaN input pixel can therefore make a
weight-gradient entry NaN where the exact sum would not (0 * inf): minicnn.kernels then
recomputes gW from the exact pairs (likewise the input gradient for non-finite weights).
Finite inputs give the exact sums, in another order.
Set NUMBA_DISABLE_JIT=1 to step through them as plain Python.
"""
import numba
import numpy as np
from numba import njit, prange

from minicnn.kernels.windows import pad_input

LANES = 16  # flat lengths are rounded up to a multiple of this (one 512-bit vector of float32),
#             so LLVM's vector loop covers them with no scalar remainder (benchmarks/NOTES.md 25)
TAPS_PER_PASS = 4  # taps summed in one pass: one load and store of acc carries four
#                    multiply-adds, and one read of gy_rows four dot products (the loops
#                    below are written out for four)
IMAGES_PER_BLOCK = 32  # the weight gradient's blocked layout: 32 images innermost
BLOCKED_MAX_LENGTH = 256  # flat planes L up to this long take the blocked weight gradient,
#                           where per-image dot products of a few vectors end in horizontal
#                           sums: LeNet-5's second layer (L = 136) 2.6 -> 1.5 ms; at L = 286
#                           3.5 -> 3.2; at 1,086 (32x32 maps) slower, 2.7 -> 3.3
#                           (benchmarks/NOTES.md 29)


def _flat_length(OH, OW, Wp):
    """L: the flat positions from output (0, 0) to (OH-1, OW-1) on rows of Wp."""
    return (OH - 1) * Wp + OW


def _rounded(L):
    """L rounded up to a multiple of LANES."""
    return (L + LANES - 1) // LANES * LANES


def _pair(k, count):
    """The k-th pair of planes (2k, 2k+1); the last plane twice when count is odd."""
    return 2 * k, min(2 * k + 1, count - 1)


def _length_at(start, Lr, flat, last_offset):
    """Lr, or less where the last tap's slice from start would run past the end of flat.

    Between L and Lr a slice reads on into the next channel or image: outputs thrown away
    (forward) or multiplied by the zeros of gy_rows (weight gradient). The last image has no
    next one, so there it stops at L, which is never past the end.
    """
    return min(Lr, flat.shape[0] - (start + last_offset))


def _shifted_sums(acc_a, acc_b, src, start, offsets, weights_a, weights_b, length):
    """acc_a[f] += sum over taps t of weights_a[t] * src[start + offsets[t] + f], f < length,
    and likewise acc_b with weights_b: two output planes from the same reads of src."""
    T = offsets.shape[0]
    T4 = T - T % TAPS_PER_PASS
    for t in range(0, T4, TAPS_PER_PASS):
        a0, a1, a2, a3 = weights_a[t], weights_a[t + 1], weights_a[t + 2], weights_a[t + 3]
        b0, b1, b2, b3 = weights_b[t], weights_b[t + 1], weights_b[t + 2], weights_b[t + 3]
        s0 = src[start + offsets[t]:]
        s1 = src[start + offsets[t + 1]:]
        s2 = src[start + offsets[t + 2]:]
        s3 = src[start + offsets[t + 3]:]
        for f in range(length):
            v0, v1, v2, v3 = s0[f], s1[f], s2[f], s3[f]
            acc_a[f] += a0 * v0 + a1 * v1 + a2 * v2 + a3 * v3
            acc_b[f] += b0 * v0 + b1 * v1 + b2 * v2 + b3 * v3
    for t in range(T4, T):  # the last T % TAPS_PER_PASS taps, one at a time
        a0, b0, s0 = weights_a[t], weights_b[t], src[start + offsets[t]:]
        for f in range(length):
            acc_a[f] += a0 * s0[f]
            acc_b[f] += b0 * s0[f]


def _on_padded_rows(plane, Wp, out):
    """Copy plane (OH, OW) onto out laid out on rows of Wp; the other entries stay."""
    OH, OW = plane.shape
    for oh in range(OH):
        for ow in range(OW):
            out[oh * Wp + ow] = plane[oh, ow]


def _off_padded_rows(flat, Wp, first, plane):
    """plane (H, W) = the entries of flat laid out on rows of Wp, from index first."""
    H, W = plane.shape
    for h in range(H):
        plane[h] = flat[first + h * Wp:first + h * Wp + W]


def _add_four(row, t, d0, d1, d2, d3):
    """row[t:t + 4] += (d0, d1, d2, d3)."""
    row[t] += d0
    row[t + 1] += d1
    row[t + 2] += d2
    row[t + 3] += d3


def _forward(x_flat, W_taps, offsets, b, Wp, y):
    """y (N, OC, OH, OW) = the padded batch x_flat (N*C*Hp*Wp,) convolved with W_taps
    (OC, C*KH*KW), plus b (OC,). Tap t = (c, i, j) starts at offsets[t] = c*Hp*Wp + i*Wp + j."""
    N, OC, OH, OW = y.shape
    image = x_flat.shape[0] // N  # C*Hp*Wp
    Lr = _rounded(_flat_length(OH, OW, Wp))
    pairs = (OC + 1) // 2
    for task in prange(N * pairs):  # each (n, pair) writes only its own output planes
        n, (o_a, o_b) = task // pairs, _pair(task % pairs, OC)
        acc_a, acc_b = np.empty(Lr, dtype=y.dtype), np.empty(Lr, dtype=y.dtype)
        acc_a[:], acc_b[:] = b[o_a], b[o_b]
        length = _length_at(n * image, Lr, x_flat, offsets[-1])
        _shifted_sums(acc_a, acc_b, x_flat, n * image, offsets, W_taps[o_a], W_taps[o_b],
                      length)
        _off_padded_rows(acc_a, Wp, 0, y[n, o_a])  # keep the OW real columns of each row
        _off_padded_rows(acc_b, Wp, 0, y[n, o_b])


def _backward_weight(gy, x_flat, offsets, Wp, gW_parts, gb_parts):
    """Per image block p: gW_parts[p] (OC, C*KH*KW) and gb_parts[p] (OC,) of its images.

    gW[o, t] = sum over n, f of gy_rows[n, o, f] * x_flat[n*image + offsets[t] + f]: a dot
    product per tap, for TAPS_PER_PASS taps and two output channels from the same reads.
    """
    N, OC, OH, OW = gy.shape
    P = gW_parts.shape[0]
    image = x_flat.shape[0] // N
    Lr = _rounded(_flat_length(OH, OW, Wp))
    zero = np.zeros(1, dtype=gy.dtype)[0]  # a 0.0 start would sum float32 in float64
    for p in prange(P):  # each block of images sums into its own part: no races
        g_a = np.zeros(Lr, dtype=gy.dtype)  # gy[n, o] on rows of Wp; gaps and tail stay 0
        g_b = np.zeros(Lr, dtype=gy.dtype)
        for n in range(p * N // P, (p + 1) * N // P):
            start = n * image
            length = _length_at(start, Lr, x_flat, offsets[-1])
            for k in range((OC + 1) // 2):
                o_a, o_b = _pair(k, OC)
                second = o_b != o_a  # an odd OC's last plane is counted once
                _on_padded_rows(gy[n, o_a], Wp, g_a)
                _on_padded_rows(gy[n, o_b], Wp, g_b)
                gb_parts[p, o_a] += g_a.sum()
                gb_parts[p, o_b] += g_b.sum() if second else zero
                _tap_dot_products(g_a, g_b, x_flat, start, 1, offsets, length, gW_parts[p, o_a],
                                  gW_parts[p, o_b], second)


def _tap_dot_products(g_a, g_b, src, start, step, offsets, length, gW_a, gW_b, second):
    """gW_a[t] += sum over f < length of g_a[f] * src[start + offsets[t] * step + f] for every
    tap t, likewise gW_b with g_b when `second`: TAPS_PER_PASS taps and two output channels
    from the same reads (eight dot products per pass). step: the entries per flat position
    (1, or IMAGES_PER_BLOCK in the blocked layout)."""
    T = offsets.shape[0]
    T4 = T - T % TAPS_PER_PASS
    zero = np.zeros(1, dtype=gW_a.dtype)[0]  # a 0.0 start would sum float32 in float64
    for t in range(0, T4, TAPS_PER_PASS):
        s0 = src[start + offsets[t] * step:]
        s1 = src[start + offsets[t + 1] * step:]
        s2 = src[start + offsets[t + 2] * step:]
        s3 = src[start + offsets[t + 3] * step:]
        a0 = a1 = a2 = a3 = b0 = b1 = b2 = b3 = zero
        for f in range(length):
            v0, v1, v2, v3 = s0[f], s1[f], s2[f], s3[f]
            a0 += g_a[f] * v0
            a1 += g_a[f] * v1
            a2 += g_a[f] * v2
            a3 += g_a[f] * v3
            b0 += g_b[f] * v0
            b1 += g_b[f] * v1
            b2 += g_b[f] * v2
            b3 += g_b[f] * v3
        _add_four(gW_a, t, a0, a1, a2, a3)
        if second:
            _add_four(gW_b, t, b0, b1, b2, b3)
    for t in range(T4, T):
        s0, a0, b0 = src[start + offsets[t] * step:], zero, zero
        for f in range(length):
            a0 += g_a[f] * s0[f]
            b0 += g_b[f] * s0[f]
        gW_a[t] += a0
        if second:
            gW_b[t] += b0


def _images_innermost(x_flat, N, S, out):
    """out (B, S*IMAGES_PER_BLOCK): out[b, s*NB + k] = image b*NB + k's entry s of x_flat
    (N*S,), 0 past the last image. Each image is read in order; the writes, NB apart, stay
    in a block's cache-sized part."""
    NB = IMAGES_PER_BLOCK
    parts = 16  # parts of an image per parallel task
    for task in prange(out.shape[0] * parts):
        b, part = task // parts, task % parts
        row = out[b]
        first, last = part * S // parts, (part + 1) * S // parts
        for k in range(NB):
            n = b * NB + k
            if n < N:
                for s in range(first, last):
                    row[s * NB + k] = x_flat[n * S + s]
            else:
                for s in range(first, last):
                    row[s * NB + k] = 0.0


def _gy_rows_images_innermost(gy, Wp, out):
    """out (B, OC, L*IMAGES_PER_BLOCK): gy (N, OC, OH, OW) on rows of Wp (0 in the thrown-away
    columns and past the last image), the images of each block innermost."""
    NB = IMAGES_PER_BLOCK
    N, OC, OH, OW = gy.shape
    for task in prange(out.shape[0] * OC):
        b, o = task // OC, task % OC
        row = out[b, o]
        row[:] = 0.0
        for k in range(min(NB, N - b * NB)):
            plane = gy[b * NB + k, o]
            for oh in range(OH):
                for ow in range(OW):
                    row[(oh * Wp + ow) * NB + k] = plane[oh, ow]


def _backward_weight_blocked(g_blocks, x_blocks, offsets, L, gW_parts, gb_parts):
    """`_backward_weight` on the blocked layout: per thread p, gW_parts[p] (OC, C*KH*KW) and
    gb_parts[p] (OC,) of its blocks.

    With a block's images innermost, tap t's input for every flat position f and image k,
    x_blocks[b, (offsets[t] + f)*NB + k], is one run of L*NB entries, as is gy's: each dot
    product is L*NB long (4,608 on LeNet-5's second layer) where the per-image one is L (136),
    and its horizontal sum at the end costs nothing.
    """
    B, OC, _ = g_blocks.shape
    P = gW_parts.shape[0]
    for p in prange(P):  # each thread's blocks sum into its own part: no races
        for b in range(p * B // P, (p + 1) * B // P):
            for k in range((OC + 1) // 2):
                o_a, o_b = _pair(k, OC)
                g_a, g_b = g_blocks[b, o_a], g_blocks[b, o_b]
                gb_parts[p, o_a] += g_a.sum()
                if o_b != o_a:
                    gb_parts[p, o_b] += g_b.sum()
                _tap_dot_products(g_a, g_b, x_blocks[b], 0, IMAGES_PER_BLOCK, offsets,
                                  L * IMAGES_PER_BLOCK, gW_parts[p, o_a], gW_parts[p, o_b],
                                  o_b != o_a)


def _backward_input(gy, W_by_input, offsets, Lbig, PT, PL, Hp, Wp, gx):
    """gx (N, C, H, W) = the transposed convolution of gy (N, OC, OH, OW), as a gather.

    The forward adds W[o, c, i, j] * x_pad[q + i*Wp + j] into output position q, so
        gx_pad[c, p] = sum over o, i, j of W[o, c, i, j] * gy_rows[o, p - (i*Wp + j)].
    Each output channel's gy_rows lies D = (KH-1)*Wp + KW-1 into its own zeroed block of
    `big` (Lbig long), so every term reads forward, from o*Lbig + D - (i*Wp + j) + p: the
    padded gy convolved with the flipped kernel, the same shifted sums as the forward.
    W_by_input (C, OC*KH*KW) and offsets (OC*KH*KW,) hold each (o, i, j)'s weight and start.
    """
    N, OC, OH, OW = gy.shape
    C = gx.shape[1]
    KH, KW = Hp - OH + 1, Wp - OW + 1
    D = (KH - 1) * Wp + KW - 1
    Lr = _rounded(Hp * Wp)
    for n in prange(N):  # each image writes only its own input gradient
        big = np.zeros(OC * Lbig, dtype=gy.dtype)
        for o in range(OC):
            _on_padded_rows(gy[n, o], Wp, big[o * Lbig + D:])
        acc_a, acc_b = np.empty(Lr, dtype=gx.dtype), np.empty(Lr, dtype=gx.dtype)
        for k in range((C + 1) // 2):  # two input channels' padded planes at a time
            c_a, c_b = _pair(k, C)
            acc_a[:], acc_b[:] = 0.0, 0.0
            _shifted_sums(acc_a, acc_b, big, 0, offsets, W_by_input[c_a], W_by_input[c_b],
                          Lr)
            _off_padded_rows(acc_a, Wp, PT * Wp + PL, gx[n, c_a])  # drop the padding's
            _off_padded_rows(acc_b, Wp, PT * Wp + PL, gx[n, c_b])  # gradient


_flat_length = njit(inline="always")(_flat_length)
_rounded = njit(inline="always")(_rounded)
_pair = njit(inline="always")(_pair)
_length_at = njit(inline="always")(_length_at)
_shifted_sums = njit(inline="always")(_shifted_sums)
_on_padded_rows = njit(inline="always")(_on_padded_rows)
_off_padded_rows = njit(inline="always")(_off_padded_rows)
_add_four = njit(inline="always")(_add_four)
_tap_dot_products = njit(inline="always")(_tap_dot_products)
_forward_jit = njit(parallel=True, cache=True)(_forward)
# these fastmath flags let LLVM vectorise the dot products' sums (another order: rounding
# only; they leave out "no NaN / no inf", so NaN and infinities still propagate)
_backward_weight_jit = njit(parallel=True, cache=True,
                            fastmath={"reassoc", "contract"})(_backward_weight)
_backward_input_jit = njit(parallel=True, cache=True)(_backward_input)
_images_innermost_jit = njit(parallel=True, cache=True)(_images_innermost)
_gy_rows_images_innermost_jit = njit(parallel=True, cache=True)(_gy_rows_images_innermost)
_backward_weight_blocked_jit = njit(parallel=True, cache=True,
                                    fastmath={"reassoc", "contract"})(_backward_weight_blocked)


def _tap_offsets(C, KH, KW, plane, Wp):
    """(C*KH*KW,) int64: tap (c, i, j) starts c*plane + i*Wp + j into an image's flat data."""
    c = np.arange(C, dtype=np.int64).reshape(C, 1, 1)
    i = np.arange(KH, dtype=np.int64).reshape(1, KH, 1)
    j = np.arange(KW, dtype=np.int64).reshape(1, 1, KW)
    return (c * plane + i * Wp + j).reshape(-1)


def shifted_conv_forward(x, W, b, pads):
    """Stride 1: x (N, C, H, W), W (OC, C, KH, KW), b (OC,) or None -> (y, x_pad).

    y is (N, OC, OH, OW); x_pad (N, C, Hp, Wp) is the padded input backward needs.
    """
    x_pad = np.ascontiguousarray(pad_input(x, pads))
    N, C, Hp, Wp = x_pad.shape
    OC, _, KH, KW = W.shape
    y = np.empty((N, OC, Hp - KH + 1, Wp - KW + 1), dtype=x.dtype)
    bias = np.zeros(OC, dtype=x.dtype) if b is None else b.astype(x.dtype, copy=False)
    W_taps = np.ascontiguousarray(W.reshape(OC, -1), dtype=x.dtype)
    _forward_jit(x_pad.reshape(-1), W_taps, _tap_offsets(C, KH, KW, Hp * Wp, Wp), bias, Wp, y)
    return y, x_pad


def shifted_conv_backward_weight(gy, x_pad, W_shape):
    """gy (N, OC, OH, OW), x_pad (N, C, Hp, Wp) -> (gW (OC, C, KH, KW), gb (OC,)).

    For short flat planes (L <= BLOCKED_MAX_LENGTH) gy and x_pad are first laid out with
    blocks of IMAGES_PER_BLOCK images innermost (`_backward_weight_blocked`), else per image.
    """
    N, C, Hp, Wp = x_pad.shape
    OC, _, KH, KW = W_shape
    parts = max(1, min(N, numba.get_num_threads()))  # one partial sum per thread
    gW_parts = np.zeros((parts, OC, C * KH * KW), dtype=gy.dtype)
    gb_parts = np.zeros((parts, OC), dtype=gy.dtype)
    offsets = _tap_offsets(C, KH, KW, Hp * Wp, Wp)
    gy, x_flat = np.ascontiguousarray(gy), np.ascontiguousarray(x_pad).reshape(-1)
    L = _flat_length.py_func(gy.shape[2], gy.shape[3], Wp)
    if L <= BLOCKED_MAX_LENGTH:
        B = -(-N // IMAGES_PER_BLOCK)
        x_blocks = np.empty((B, C * Hp * Wp * IMAGES_PER_BLOCK), dtype=gy.dtype)
        _images_innermost_jit(x_flat, N, C * Hp * Wp, x_blocks)
        g_blocks = np.empty((B, OC, L * IMAGES_PER_BLOCK), dtype=gy.dtype)
        _gy_rows_images_innermost_jit(gy, Wp, g_blocks)
        _backward_weight_blocked_jit(g_blocks, x_blocks, offsets, L, gW_parts, gb_parts)
    else:
        _backward_weight_jit(gy, x_flat, offsets, Wp, gW_parts, gb_parts)
    return gW_parts.sum(axis=0).reshape(W_shape), gb_parts.sum(axis=0)


def shifted_conv_backward_input(gy, W, x_shape, pads):
    """gy (N, OC, OH, OW) -> gx (N, C, H, W) of the stride-1 convolution padded by pads."""
    PT, PB, PL, PR = pads
    OC, C, KH, KW = W.shape
    Hp, Wp = x_shape[2] + PT + PB, x_shape[3] + PL + PR
    D = (KH - 1) * Wp + KW - 1
    Lbig = D + _rounded.py_func(Hp * Wp)  # gy_rows' block: D zeros, gy, zeros
    # tap (o, i, j) of the gather starts o*Lbig + D - (i*Wp + j) into big
    offsets = (Lbig * np.arange(OC).reshape(OC, 1) + D
               - _tap_offsets(1, KH, KW, 0, Wp).reshape(1, KH * KW)).reshape(-1)
    W_by_input = np.ascontiguousarray(W.transpose(1, 0, 2, 3).reshape(C, -1), dtype=gy.dtype)
    gx = np.empty(x_shape, dtype=gy.dtype)
    _backward_input_jit(np.ascontiguousarray(gy), W_by_input, offsets, Lbig, PT, PL, Hp, Wp,
                        gx)
    return gx
