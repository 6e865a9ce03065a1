"""numba Winograd tile transforms for NumPy arrays, F(2x2, 3x3) and F(4x4, 3x3) (checked
against winograd.py).

Each 2-D transform is a 1-D transform applied to the rows of a tile, then to its columns. The
1-D transforms are written out as additions, the matrices' 0 and +-1 entries folded away (Lavin
& Gray 2016, section 4.1; for F(4x4, 3x3) the factoring of NNPACK, with the common sums named).
Each reads alpha (or m) values src[s], src[s + ss], ... and stores dst[d], dst[d + ds], ...,
so one function serves a row of a tile and a column. (A version looping over the matrices'
entries measured 1.5-2x slower, and F(4x4, 3x3)'s transforms then cost more than F(2x2,
3x3)'s on less data.)

The kernels work one row of tiles at a time: the row step combines whole image rows, so its
inner loop runs along contiguous memory. The input-side kernels run in parallel over channels
(each thread writes only its channel's rows of V or its channel of gx, so the overlapping
tiles of gx add without races); the output-side ones over output channels. Set
NUMBA_DISABLE_JIT=1 to step through them.
"""
import numpy as np
from numba import njit, prange

from minicnn.kernels.winograd import input_tiles, tile_side, tiles

inline = njit(inline="always")
# F(4x4, 3x3)'s factors as float32: a plain 4 is an int64 to numba, and int64 * float32 is
# float64; float32 * float32 stays float32 and float32 * float64 is float64 (all exact).
TWO, FOUR, FIVE, EIGHT = (np.float32(factor) for factor in (2, 4, 5, 8))


# ----- F(2x2, 3x3): B^T, A^T and the adjoints B (accumulating, for gx), A -------------------
@inline
def _b_t_2(src, s, ss, dst, d, ds):
    d0, d1, d2, d3 = src[s], src[s + ss], src[s + 2 * ss], src[s + 3 * ss]
    dst[d], dst[d + ds], dst[d + 2 * ds], dst[d + 3 * ds] = d0 - d2, d1 + d2, d2 - d1, d1 - d3


@inline
def _b_add_2(src, s, ss, dst, d, ds):
    v0, v1, v2, v3 = src[s], src[s + ss], src[s + 2 * ss], src[s + 3 * ss]
    dst[d] += v0
    dst[d + ds] += v1 - v2 + v3
    dst[d + 2 * ds] += v1 + v2 - v0
    dst[d + 3 * ds] -= v3


@inline
def _a_t_2(src, s, ss, dst, d, ds):
    m0, m1, m2, m3 = src[s], src[s + ss], src[s + 2 * ss], src[s + 3 * ss]
    dst[d], dst[d + ds] = m0 + m1 + m2, m1 - m2 - m3


@inline
def _a_2(src, s, ss, dst, d, ds):
    y0, y1 = src[s], src[s + ss]
    dst[d], dst[d + ds], dst[d + 2 * ds], dst[d + 3 * ds] = y0, y0 + y1, y0 - y1, -y1


# ----- F(4x4, 3x3) ----------------------------------------------------------------------------
@inline
def _b_t_4(src, s, ss, dst, d, ds):
    d0, d1, d2 = src[s], src[s + ss], src[s + 2 * ss]
    d3, d4, d5 = src[s + 3 * ss], src[s + 4 * ss], src[s + 5 * ss]
    dst[d] = FOUR * d0 - FIVE * d2 + d4
    dst[d + ds] = d3 + d4 - FOUR * (d1 + d2)
    dst[d + 2 * ds] = d4 - d3 + FOUR * (d1 - d2)
    dst[d + 3 * ds] = d4 - d2 + TWO * (d3 - d1)
    dst[d + 4 * ds] = d4 - d2 - TWO * (d3 - d1)
    dst[d + 5 * ds] = FOUR * d1 - FIVE * d3 + d5


@inline
def _b_add_4(src, s, ss, dst, d, ds):
    v0, v1, v2 = src[s], src[s + ss], src[s + 2 * ss]
    v3, v4, v5 = src[s + 3 * ss], src[s + 4 * ss], src[s + 5 * ss]
    dst[d] += FOUR * v0
    dst[d + ds] += FOUR * (v2 - v1 + v5) + TWO * (v4 - v3)
    dst[d + 2 * ds] -= FIVE * v0 + FOUR * (v1 + v2) + v3 + v4
    dst[d + 3 * ds] += v1 - v2 + TWO * (v3 - v4) - FIVE * v5
    dst[d + 4 * ds] += v0 + v1 + v2 + v3 + v4
    dst[d + 5 * ds] += v5


@inline
def _a_t_4(src, s, ss, dst, d, ds):
    m0, m5 = src[s], src[s + 5 * ss]
    s12, d12 = src[s + ss] + src[s + 2 * ss], src[s + ss] - src[s + 2 * ss]
    s34, d34 = src[s + 3 * ss] + src[s + 4 * ss], src[s + 3 * ss] - src[s + 4 * ss]
    dst[d] = m0 + s12 + s34
    dst[d + ds] = d12 + TWO * d34
    dst[d + 2 * ds] = s12 + FOUR * s34
    dst[d + 3 * ds] = d12 + EIGHT * d34 + m5


@inline
def _a_4(src, s, ss, dst, d, ds):
    g0, g1, g2, g3 = src[s], src[s + ss], src[s + 2 * ss], src[s + 3 * ss]
    even, odd = g0 + g2, g1 + g3              # the sums at +1 and -1
    even4, odd4 = g0 + FOUR * g2, TWO * g1 + EIGHT * g3  # at +2 and -2
    dst[d], dst[d + ds], dst[d + 2 * ds] = g0, even + odd, even - odd
    dst[d + 3 * ds], dst[d + 4 * ds], dst[d + 5 * ds] = even4 + odd4, even4 - odd4, g3


def _compile(m, b_t, b_add, a_t, a):
    """The four transform kernels of F(m x m, 3x3), built on its 1-D transforms."""
    alpha = m + 2

    def input_transform(x, PT, PL, TH, TW, V):
        """x (N, C, H, W) -> V (alpha^2, C, T): B^T d B of every tile d (0 outside x)."""
        N, C, H, W = x.shape
        T, width = V.shape[2], m * TW + 2
        V_flat = V.reshape(-1)                       # V[k, c, t] is V_flat[(k*C + c)*T + t]
        for c in prange(C):
            rows = np.zeros((alpha, width), dtype=x.dtype)   # the tile row's padded input rows
            mixed = np.empty((alpha, width), dtype=x.dtype)  # B^T rows
            rows_flat, mixed_flat = rows.reshape(-1), mixed.reshape(-1)
            for n in range(N):
                for th in range(TH):
                    for i in range(alpha):
                        h = m * th - PT + i
                        if 0 <= h < H:
                            rows[i, PL:PL + W] = x[n, c, h]  # the padding columns stay 0
                        else:
                            rows[i, :] = 0.0
                    for w in range(width):
                        b_t(rows_flat, w, width, mixed_flat, w, width)
                    first = (n * TH + th) * TW
                    for k in range(alpha):
                        out = (alpha * k * C + c) * T + first   # V[alpha*k + b, c, first + tw]
                        for tw in range(TW):
                            b_t(mixed_flat, k * width + m * tw, 1, V_flat, out + tw, C * T)

    def output_transform(M, bias, TH, TW, y):
        """M (alpha^2, OC, T) -> y (N, OC, OH, OW): A^T m A of every tile, plus bias[o]."""
        N, OC, OH, OW = y.shape
        T, width = M.shape[2], m * TW
        M_flat = M.reshape(-1)
        for o in prange(OC):
            mixed = np.empty((alpha, width), dtype=M.dtype)  # m A for a row of tiles
            rows = np.empty((m, width), dtype=M.dtype)       # A^T m A: m output rows
            mixed_flat, rows_flat = mixed.reshape(-1), rows.reshape(-1)
            for n in range(N):
                for th in range(TH):
                    first = (n * TH + th) * TW
                    for k in range(alpha):
                        at = (alpha * k * OC + o) * T + first
                        for tw in range(TW):
                            a_t(M_flat, at + tw, OC * T, mixed_flat, k * width + m * tw, 1)
                    for w in range(width):
                        a_t(mixed_flat, w, width, rows_flat, w, width)
                    for i in range(min(m, OH - m * th)):
                        for w in range(OW):
                            y[n, o, m * th + i, w] = rows[i, w] + bias[o]

    def output_grad_transform(gy, TH, TW, gM):
        """gy (N, OC, OH, OW) -> gM (alpha^2, OC, T): A gY A^T of every tile (gY 0 outside)."""
        N, OC, OH, OW = gy.shape
        T, width = gM.shape[2], m * TW
        gM_flat = gM.reshape(-1)
        for o in prange(OC):
            rows = np.zeros((m, width), dtype=gy.dtype)       # the tile row's m rows of gy
            mixed = np.empty((alpha, width), dtype=gy.dtype)  # A gY
            rows_flat, mixed_flat = rows.reshape(-1), mixed.reshape(-1)
            for n in range(N):
                for th in range(TH):
                    for i in range(m):
                        if m * th + i < OH:
                            rows[i, :OW] = gy[n, o, m * th + i]
                        else:
                            rows[i, :] = 0.0
                    for w in range(width):
                        a(rows_flat, w, width, mixed_flat, w, width)
                    first = (n * TH + th) * TW
                    for k in range(alpha):
                        out = (alpha * k * OC + o) * T + first
                        for tw in range(TW):
                            a(mixed_flat, k * width + m * tw, 1, gM_flat, out + tw, OC * T)

    def input_grad_transform(gV, PT, PL, TH, TW, gx):
        """Add B gV B^T of every tile into gx (N, C, H, W) (zeroed by the caller)."""
        N, C, H, W = gx.shape
        T, width = gV.shape[2], m * TW + 2
        gV_flat = gV.reshape(-1)
        for c in prange(C):
            mixed = np.empty((alpha, width), dtype=gV.dtype)  # gV B^T, overlapping tiles added
            rows = np.empty((alpha, width), dtype=gV.dtype)   # B gV B^T: padded rows of gd
            mixed_flat, rows_flat = mixed.reshape(-1), rows.reshape(-1)
            for n in range(N):
                for th in range(TH):
                    mixed[:, :] = 0.0
                    first = (n * TH + th) * TW
                    for k in range(alpha):
                        at = (alpha * k * C + c) * T + first
                        for tw in range(TW):
                            b_add(gV_flat, at + tw, C * T, mixed_flat, k * width + m * tw, 1)
                    rows[:, :] = 0.0
                    for w in range(width):
                        b_add(mixed_flat, w, width, rows_flat, w, width)
                    for i in range(alpha):  # padded row m*th + i, if it is a row of x
                        h = m * th - PT + i
                        if 0 <= h < H:
                            gx[n, c, h] += rows[i, PL:PL + W]

    jit = njit(parallel=True, cache=True)
    return tuple(jit(kernel) for kernel in (input_transform, output_transform,
                                            output_grad_transform, input_grad_transform))


_KERNELS = {2: _compile(2, _b_t_2, _b_add_2, _a_t_2, _a_2),
            4: _compile(4, _b_t_4, _b_add_4, _a_t_4, _a_4)}


def input_transform(x, pads, out=None, m=2):
    """x (N, C, H, W) -> V ((m+2)^2, C, N*TH*TW); see `winograd.input_transform`.

    out: an optional C-contiguous array of that shape and x's dtype to fill (and return).
    """
    N, C = x.shape[:2]
    TH, TW = input_tiles(x.shape, pads, m)
    V = np.empty(((m + 2) ** 2, C, N * TH * TW), dtype=x.dtype) if out is None else out
    _KERNELS[m][0](np.ascontiguousarray(x), pads[0], pads[2], TH, TW, V)
    return V


def output_transform(M, N, OH, OW, b=None):
    """M (alpha^2, OC, N*TH*TW) -> y (N, OC, OH, OW) (+ bias b (OC,)); see `winograd.py`."""
    OC, m = M.shape[1], tile_side(M)
    TH, TW = tiles(OH, OW, m)
    y = np.empty((N, OC, OH, OW), dtype=M.dtype)
    bias = np.zeros(OC, dtype=M.dtype) if b is None else np.asarray(b, dtype=M.dtype)
    _KERNELS[m][1](np.ascontiguousarray(M), bias, TH, TW, y)
    return y


def output_grad_transform(gy, m=2):
    """gy (N, OC, OH, OW) -> gM ((m+2)^2, OC, N*TH*TW); see `winograd.output_grad_transform`."""
    N, OC, OH, OW = gy.shape
    TH, TW = tiles(OH, OW, m)
    gM = np.empty(((m + 2) ** 2, OC, N * TH * TW), dtype=gy.dtype)
    _KERNELS[m][2](np.ascontiguousarray(gy), TH, TW, gM)
    return gM


def input_grad_transform(gV, x_shape, pads):
    """gV (alpha^2, C, N*TH*TW) -> gx (N, C, H, W); see `winograd.input_grad_transform`."""
    m = tile_side(gV)
    TH, TW = input_tiles(x_shape, pads, m)
    gx = np.zeros(x_shape, dtype=gV.dtype)
    _KERNELS[m][3](np.ascontiguousarray(gV), pads[0], pads[2], TH, TW, gx)
    return gx
