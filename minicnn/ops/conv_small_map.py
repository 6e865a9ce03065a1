"""conv2d's small-map path: on a map of few pixels a convolution is one dense product.

Output pixel p (of P = OH*OW) reads input pixel q (of Q = H*W) through at most one tap,
t(p, q), or through none when q lies outside p's window. Gathering W[o, c, t(p, q)] into one
matrix D, with 0 where no tap joins p and q, turns the convolution into a fully connected
layer on each image's Q*C inputs:

    forward:  y (N, OC*P) = x_t (N, Q*C) @ D^T,   D (OC*P, Q*C), x_t = x with its pixels first
    backward: gx_t = gy @ D,   gD = gy^T @ x_t,
              gW[o, c, t] = the sum of gD over the pairs (p, q) that tap t joins

That is N*OC*P*Q*C multiply-adds against im2col's N*OC*P*C*KH*KW, and no col: fewer where the
map has fewer pixels than the kernel has taps (Q < KH*KW). A 3x3 kernel on a 2x2 map joins
16 pairs, not 36; on a 1x1 map only its centre tap meets a pixel, and D is W[:, :, 1, 1].
"""
import numpy as np

from minicnn import backend
from minicnn.kernels import conv_output_size


def tap_index(x_shape, KH, KW, stride, pads):
    """t(p, q) (P, Q): the tap i*KW + j through which output pixel p reads input pixel q, or
    KH*KW where none does (q outside p's window)."""
    (SH, SW), (PT, _, PL, _) = stride, pads
    H, W = x_shape[2:]
    OH = conv_output_size(H, KH, SH, pads[0], pads[1])
    OW = conv_output_size(W, KW, SW, pads[2], pads[3])
    i = np.arange(H)[None, :] - np.arange(OH)[:, None] * SH + PT  # (OH, H): tap row
    j = np.arange(W)[None, :] - np.arange(OW)[:, None] * SW + PL  # (OW, W): tap column
    i_in, j_in = (i >= 0) & (i < KH), (j >= 0) & (j < KW)
    taps = i[:, None, :, None] * KW + j[None, :, None, :]         # (OH, OW, H, W)
    inside = i_in[:, None, :, None] & j_in[None, :, None, :]
    return np.where(inside, taps, KH * KW).reshape(OH * OW, H * W)


def unrolled_weight(W, taps):
    """W (OC, C, KH, KW), taps (P, Q) -> D (OC*P, Q*C): D[(o, p), (q, c)] = W[o, c, t(p, q)],
    0 where t(p, q) is no tap."""
    xp = backend.get_array_module(W)
    OC, C, KH, KW = W.shape
    W_taps = xp.zeros((OC, KH * KW + 1, C), dtype=W.dtype)  # the last tap: the zero
    W_taps[:, :-1, :] = W.reshape(OC, C, KH * KW).transpose(0, 2, 1)
    P, Q = taps.shape
    return W_taps[:, taps.ravel(), :].reshape(OC * P, Q * C)


def forward(x, W, b, stride, pads):
    """x (N, C, H, W), W (OC, C, KH, KW), b (OC,) or None -> (y (N, OC, OH, OW), x_t, D).

    x_t (N, Q*C) and D are kept for `backward`."""
    xp = backend.get_array_module(x)
    N, C, H, Wd = x.shape
    OC, _, KH, KW = W.shape
    taps = tap_index(x.shape, KH, KW, stride, pads)
    D = unrolled_weight(W, taps)
    x_t = xp.ascontiguousarray(x.reshape(N, C, H * Wd).transpose(0, 2, 1)).reshape(N, -1)
    y = x_t @ D.T                                              # (N, OC*P)
    if b is not None:
        y.reshape(N, OC, -1)[...] += b.reshape(OC, 1)
    OH = conv_output_size(H, KH, stride[0], pads[0], pads[1])
    return y.reshape(N, OC, OH, -1), x_t, D


def backward(gy, x_shape, W_shape, x_t, D, stride, pads, need_gx):
    """gy (N, OC, OH, OW) and forward's x_t, D -> (gx (N, C, H, W) or None, gW)."""
    xp = backend.get_array_module(gy)
    N, C, H, Wd = x_shape
    OC, _, KH, KW = W_shape
    gy2 = gy.reshape(N, -1)                                    # (N, OC*P)
    gx = None
    if need_gx:
        gx_t = (gy2 @ D).reshape(N, H * Wd, C)                 # (N, Q, C)
        gx = xp.ascontiguousarray(gx_t.transpose(0, 2, 1)).reshape(x_shape)
    taps = tap_index(x_shape, KH, KW, stride, pads).ravel()    # (P*Q,)
    gD = (gy2.T @ x_t).reshape(OC, taps.size, C)               # (OC, P*Q, C)
    gW = xp.zeros((OC, KH * KW, C), dtype=gD.dtype)
    for t in range(KH * KW):  # each tap's gradient: the sum over the pairs it joins
        pairs = np.flatnonzero(taps == t)
        if pairs.size:
            gW[:, t, :] = gD[:, pairs, :].sum(axis=1)
    return gx, xp.ascontiguousarray(gW.transpose(0, 2, 1)).reshape(W_shape)
