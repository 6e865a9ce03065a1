"""numba Winograd F(2x2, 3x3) tile transforms for NumPy arrays (checked against winograd.py).

Each transform is a 1-D transform applied to the 4 (or 2) rows of a tile, then to its columns,
written out with the matrices' 0 and +-1 entries as additions (Lavin & Gray 2016, section 4.1):

    B^T: (d0 - d2, d1 + d2, d2 - d1, d1 - d3)   adjoint B: (v0, v1 - v2 + v3, v1 + v2 - v0, -v3)
    A^T: (m0 + m1 + m2, m1 - m2 - m3)           adjoint A: (y0, y0 + y1, y0 - y1, -y1)

The input-side kernels run in parallel over channels (each thread writes only its channel's
rows of V or its channel of gx, so the overlapping tiles of gx add without races); the
output-side ones over output channels. Set NUMBA_DISABLE_JIT=1 to step through them.
"""
import numpy as np
from numba import njit, prange

from minicnn.kernels.winograd import input_tiles, tiles


def _b_t(d0, d1, d2, d3):
    return d0 - d2, d1 + d2, d2 - d1, d1 - d3


def _b(v0, v1, v2, v3):
    return v0, v1 - v2 + v3, v1 + v2 - v0, -v3


def _a_t(m0, m1, m2, m3):
    return m0 + m1 + m2, m1 - m2 - m3


def _a(y0, y1):
    return y0, y0 + y1, y0 - y1, -y1


_b_t_jit = njit(inline="always")(_b_t)
_b_jit = njit(inline="always")(_b)
_a_t_jit = njit(inline="always")(_a_t)
_a_jit = njit(inline="always")(_a)


def _input_transform(x, PT, PL, TH, TW, V):
    """x (N, C, H, W) -> V (16, C, N*TH*TW): B^T d B of every 4x4 tile d (0 outside x).

    One row of tiles at a time: B^T combines the 4 input rows along the whole width, then B
    combines each tile's 4 columns, so both inner loops run along contiguous memory.
    """
    N, C, H, W = x.shape
    for c in prange(C):
        rows = np.zeros((4, 2 * TW + 2), dtype=x.dtype)  # the tile row's padded input rows
        mixed = np.empty((4, 2 * TW + 2), dtype=x.dtype)  # B^T rows
        for n in range(N):
            for th in range(TH):
                for i in range(4):
                    h = 2 * th - PT + i
                    if 0 <= h < H:
                        rows[i, PL:PL + W] = x[n, c, h]  # the padding columns stay 0
                    else:
                        rows[i, :] = 0.0
                for w in range(2 * TW + 2):
                    mixed[0, w], mixed[1, w], mixed[2, w], mixed[3, w] = _b_t_jit(
                        rows[0, w], rows[1, w], rows[2, w], rows[3, w])
                first = (n * TH + th) * TW
                for a in range(4):
                    for tw in range(TW):
                        v0, v1, v2, v3 = _b_t_jit(mixed[a, 2 * tw], mixed[a, 2 * tw + 1],
                                                  mixed[a, 2 * tw + 2], mixed[a, 2 * tw + 3])
                        V[4 * a, c, first + tw] = v0
                        V[4 * a + 1, c, first + tw] = v1
                        V[4 * a + 2, c, first + tw] = v2
                        V[4 * a + 3, c, first + tw] = v3


def _output_transform(M, b, TH, TW, y):
    """M (16, OC, N*TH*TW) -> y (N, OC, OH, OW): A^T m A of every tile, plus b[o]."""
    N, OC, OH, OW = y.shape
    for o in prange(OC):
        mixed = np.empty((4, 2 * TW), dtype=M.dtype)  # m A for a row of tiles
        for n in range(N):
            for th in range(TH):
                first = (n * TH + th) * TW
                for a in range(4):
                    for tw in range(TW):
                        t = first + tw
                        mixed[a, 2 * tw], mixed[a, 2 * tw + 1] = _a_t_jit(
                            M[4 * a, o, t], M[4 * a + 1, o, t], M[4 * a + 2, o, t],
                            M[4 * a + 3, o, t])
                for w in range(OW):
                    top, bottom = _a_t_jit(mixed[0, w], mixed[1, w], mixed[2, w], mixed[3, w])
                    y[n, o, 2 * th, w] = top + b[o]
                    if 2 * th + 1 < OH:
                        y[n, o, 2 * th + 1, w] = bottom + b[o]


def _output_grad_transform(gy, TH, TW, gM):
    """gy (N, OC, OH, OW) -> gM (16, OC, N*TH*TW): A gY A^T of every tile (gY 0 outside)."""
    N, OC, OH, OW = gy.shape
    for o in prange(OC):
        rows = np.zeros((2, 2 * TW), dtype=gy.dtype)   # the tile row's two rows of gy
        mixed = np.empty((4, 2 * TW), dtype=gy.dtype)  # A gY
        for n in range(N):
            for th in range(TH):
                rows[0, :OW] = gy[n, o, 2 * th]
                if 2 * th + 1 < OH:
                    rows[1, :OW] = gy[n, o, 2 * th + 1]
                else:
                    rows[1, :] = 0.0
                for w in range(2 * TW):
                    mixed[0, w], mixed[1, w], mixed[2, w], mixed[3, w] = _a_jit(rows[0, w],
                                                                                rows[1, w])
                first = (n * TH + th) * TW
                for a in range(4):
                    for tw in range(TW):
                        v0, v1, v2, v3 = _a_jit(mixed[a, 2 * tw], mixed[a, 2 * tw + 1])
                        gM[4 * a, o, first + tw] = v0
                        gM[4 * a + 1, o, first + tw] = v1
                        gM[4 * a + 2, o, first + tw] = v2
                        gM[4 * a + 3, o, first + tw] = v3


def _input_grad_transform(gV, PT, PL, TH, TW, gx):
    """Add B gV B^T of every tile into gx (N, C, H, W) (zeroed by the caller)."""
    N, C, H, W = gx.shape
    for c in prange(C):
        mixed = np.empty((4, 2 * TW + 2), dtype=gV.dtype)  # gV B^T, overlapping tiles added
        for n in range(N):
            for th in range(TH):
                mixed[:, :] = 0.0
                first = (n * TH + th) * TW
                for a in range(4):
                    for tw in range(TW):
                        t = first + tw
                        d0, d1, d2, d3 = _b_jit(gV[4 * a, c, t], gV[4 * a + 1, c, t],
                                                gV[4 * a + 2, c, t], gV[4 * a + 3, c, t])
                        mixed[a, 2 * tw] += d0
                        mixed[a, 2 * tw + 1] += d1
                        mixed[a, 2 * tw + 2] += d2
                        mixed[a, 2 * tw + 3] += d3
                h = 2 * th - PT  # B on the columns: padded rows h .. h+3 of the tile row
                for w in range(W):
                    g0, g1, g2, g3 = _b_jit(mixed[0, w + PL], mixed[1, w + PL], mixed[2, w + PL],
                                            mixed[3, w + PL])
                    if 0 <= h < H:
                        gx[n, c, h, w] += g0
                    if 0 <= h + 1 < H:
                        gx[n, c, h + 1, w] += g1
                    if 0 <= h + 2 < H:
                        gx[n, c, h + 2, w] += g2
                    if 0 <= h + 3 < H:
                        gx[n, c, h + 3, w] += g3


_input_transform_jit = njit(parallel=True, cache=True)(_input_transform)
_output_transform_jit = njit(parallel=True, cache=True)(_output_transform)
_output_grad_transform_jit = njit(parallel=True, cache=True)(_output_grad_transform)
_input_grad_transform_jit = njit(parallel=True, cache=True)(_input_grad_transform)


def input_transform(x, pads, out=None):
    """x (N, C, H, W) -> V (16, C, N*TH*TW); see `winograd.input_transform`.

    out: an optional C-contiguous array of that shape and x's dtype to fill (and return).
    """
    N, C = x.shape[:2]
    TH, TW = input_tiles(x.shape, pads)
    V = np.empty((16, C, N * TH * TW), dtype=x.dtype) if out is None else out
    _input_transform_jit(np.ascontiguousarray(x), pads[0], pads[2], TH, TW, V)
    return V


def output_transform(M, N, OH, OW, b=None):
    """M (16, OC, N*TH*TW) -> y (N, OC, OH, OW) (+ bias b (OC,)); see `winograd.py`."""
    OC = M.shape[1]
    TH, TW = tiles(OH, OW)
    y = np.empty((N, OC, OH, OW), dtype=M.dtype)
    bias = np.zeros(OC, dtype=M.dtype) if b is None else np.asarray(b, dtype=M.dtype)
    _output_transform_jit(np.ascontiguousarray(M), bias, TH, TW, y)
    return y


def output_grad_transform(gy):
    """gy (N, OC, OH, OW) -> gM (16, OC, N*TH*TW); see `winograd.output_grad_transform`."""
    N, OC, OH, OW = gy.shape
    TH, TW = tiles(OH, OW)
    gM = np.empty((16, OC, N * TH * TW), dtype=gy.dtype)
    _output_grad_transform_jit(np.ascontiguousarray(gy), TH, TW, gM)
    return gM


def input_grad_transform(gV, x_shape, pads):
    """gV (16, C, N*TH*TW) -> gx (N, C, H, W); see `winograd.input_grad_transform`."""
    TH, TW = input_tiles(x_shape, pads)
    gx = np.zeros(x_shape, dtype=gV.dtype)
    _input_grad_transform_jit(np.ascontiguousarray(gV), pads[0], pads[2], TH, TW, gx)
    return gx
