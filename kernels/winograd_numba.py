"""numba Winograd tile transforms for NumPy arrays, F(2x2, 3x3) and F(4x4, 3x3) (checked
against winograd.py).

Each 2-D transform is a 1-D transform applied to the rows of a tile, then to its columns. The
1-D transforms are written out as additions, the matrices' 0 and +-1 entries folded away (Lavin
& Gray 2016, section 4.1; for F(4x4, 3x3), section 4.2, with the common sums named).
Each reads alpha (or m) values src[s], src[s + ss], ... and stores dst[d], dst[d + ds], ...,
so one function serves a row of a tile and a column. (A version looping over the matrices'
entries measured 1.5-2x slower, and F(4x4, 3x3)'s transforms then cost more than F(2x2,
3x3)'s on less data.)

The kernels work one row of tiles at a time, in parallel over (image, tile row), with the
channels innermost: V, M, gM and gV are stored as (alpha^2, T, C) (the public functions return
the (alpha^2, C, T) transposed views, the reference's shape), so each 1-D transform runs as a
contiguous loop over channels (benchmarks/NOTES.md section 14). The input-gradient kernel runs
in parallel over images, whose overlapping tile rows add into the same rows of gx. Set
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
    """The four transform kernels of F(m x m, 3x3), built on its 1-D transforms.

    Each works on one row of tiles (image n, tile row th) per parallel step, with the channels
    innermost: a tile row's buffers are (rows, width, C), and V, M, gM, gV are stored as
    (alpha^2, T, C) ("Vt"), so every 1-D transform runs as a contiguous loop over channels.
    The NCHW images are transposed on the way in and out, one plane at a time.
    """
    alpha = m + 2

    @inline
    def rows_then_tiles(f, rows_flat, mixed_flat, width, C, out_flat, T, first, TW):
        """f down the columns of a row of tiles ((rows, width, C) -> mixed (alpha, width, C)),
        then along each tile's row of mixed into out (alpha^2, T, C), tiles first.. first+TW-1.
        """
        for q in range(width * C):
            f(rows_flat, q, width * C, mixed_flat, q, width * C)
        for k in range(alpha):
            for tw in range(TW):
                src, out = (k * width + m * tw) * C, ((alpha * k) * T + first + tw) * C
                for c in range(C):
                    f(mixed_flat, src + c, C, out_flat, out + c, T * C)

    @inline
    def tiles_then_rows(f, in_flat, T, first, TW, C, mixed_flat, width, rows_flat):
        """The way back: f along each tile's row of in (alpha^2, T, C) into mixed (alpha, width,
        C), then down the columns into rows; f stores or adds (overlapping tiles add)."""
        for k in range(alpha):
            for tw in range(TW):
                at, out = ((alpha * k) * T + first + tw) * C, (k * width + m * tw) * C
                for c in range(C):
                    f(in_flat, at + c, T * C, mixed_flat, out + c, C)
        for q in range(width * C):
            f(mixed_flat, q, width * C, rows_flat, q, width * C)

    def input_transform(x, PT, PL, TH, TW, Vt):
        """x (N, C, H, W) -> Vt (alpha^2, T, C): B^T d B of every tile d (0 outside x)."""
        N, C, H, W = x.shape
        T, width = Vt.shape[1], m * TW + 2
        V_flat = Vt.reshape(-1)                      # Vt[k, t, c] is V_flat[(k*T + t)*C + c]
        for job in prange(N * TH):
            n, th = job // TH, job % TH
            rows = np.zeros((alpha, width, C), dtype=x.dtype)  # padded input rows, channels last
            mixed = np.empty((alpha, width, C), dtype=x.dtype)  # B^T rows
            rows_flat, mixed_flat = rows.reshape(-1), mixed.reshape(-1)
            for i in range(alpha):
                h = m * th - PT + i
                if 0 <= h < H:
                    for c in range(C):
                        for w in range(W):               # the padding columns stay 0
                            rows[i, PL + w, c] = x[n, c, h, w]
            rows_then_tiles(b_t, rows_flat, mixed_flat, width, C, V_flat, T, (n * TH + th) * TW,
                            TW)

    def output_transform(Mt, bias, TH, TW, y):
        """Mt (alpha^2, T, OC) -> y (N, OC, OH, OW): A^T m A of every tile, plus bias[o]."""
        N, OC, OH, OW = y.shape
        T, width = Mt.shape[1], m * TW
        M_flat = Mt.reshape(-1)
        for job in prange(N * TH):
            n, th = job // TH, job % TH
            mixed = np.empty((alpha, width, OC), dtype=Mt.dtype)  # m A for the row of tiles
            rows = np.empty((m, width, OC), dtype=Mt.dtype)       # A^T m A: m output rows
            mixed_flat, rows_flat = mixed.reshape(-1), rows.reshape(-1)
            tiles_then_rows(a_t, M_flat, T, (n * TH + th) * TW, TW, OC, mixed_flat, width,
                            rows_flat)
            for i in range(min(m, OH - m * th)):
                for o in range(OC):
                    for w in range(OW):
                        y[n, o, m * th + i, w] = rows[i, w, o] + bias[o]

    def output_grad_transform(gy, TH, TW, gMt):
        """gy (N, OC, OH, OW) -> gMt (alpha^2, T, OC): A gY A^T of every tile (gY 0 outside)."""
        N, OC, OH, OW = gy.shape
        T, width = gMt.shape[1], m * TW
        gM_flat = gMt.reshape(-1)
        for job in prange(N * TH):
            n, th = job // TH, job % TH
            rows = np.zeros((m, width, OC), dtype=gy.dtype)       # the tile row's m rows of gy
            mixed = np.empty((alpha, width, OC), dtype=gy.dtype)  # A gY
            rows_flat, mixed_flat = rows.reshape(-1), mixed.reshape(-1)
            for i in range(min(m, OH - m * th)):
                for o in range(OC):
                    for w in range(OW):
                        rows[i, w, o] = gy[n, o, m * th + i, w]
            rows_then_tiles(a, rows_flat, mixed_flat, width, OC, gM_flat, T, (n * TH + th) * TW,
                            TW)

    def input_grad_transform(gVt, PT, PL, TH, TW, gx):
        """Add B gV B^T of every tile of gVt (alpha^2, T, C) into gx (N, C, H, W) (zeroed by the
        caller). One image per parallel step: its tile rows overlap."""
        N, C, H, W = gx.shape
        T, width = gVt.shape[1], m * TW + 2
        gV_flat = gVt.reshape(-1)
        for n in prange(N):
            mixed = np.empty((alpha, width, C), dtype=gVt.dtype)  # gV B^T, tiles added
            rows = np.empty((alpha, width, C), dtype=gVt.dtype)   # B gV B^T: padded rows
            mixed_flat, rows_flat = mixed.reshape(-1), rows.reshape(-1)
            for th in range(TH):
                mixed[:] = 0.0
                rows[:] = 0.0
                tiles_then_rows(b_add, gV_flat, T, (n * TH + th) * TW, TW, C, mixed_flat, width,
                                rows_flat)
                for i in range(alpha):  # padded row m*th + i, if it is a row of x
                    h = m * th - PT + i
                    if 0 <= h < H:
                        for c in range(C):
                            for w in range(W):
                                gx[n, c, h, w] += rows[i, PL + w, c]

    jit = njit(parallel=True, cache=True)
    return tuple(jit(kernel) for kernel in (input_transform, output_transform,
                                            output_grad_transform, input_grad_transform))


_KERNELS = {2: _compile(2, _b_t_2, _b_add_2, _a_t_2, _a_2),
            4: _compile(4, _b_t_4, _b_add_4, _a_t_4, _a_4)}


def _channels_last(transformed):
    """(alpha^2, C, T) -> the C-contiguous (alpha^2, T, C) the kernels read: free when it is
    already the transposed view of one, as conv2d's products leave it."""
    return np.ascontiguousarray(transformed.transpose(0, 2, 1))


def input_transform(x, pads, out=None, m=2):
    """x (N, C, H, W) -> V ((m+2)^2, C, N*TH*TW); see `winograd.input_transform`.

    V is the transposed view of a C-contiguous ((m+2)^2, T, C) array (the channels innermost),
    `out` when given.
    """
    N, C = x.shape[:2]
    TH, TW = input_tiles(x.shape, pads, m)
    Vt = np.empty(((m + 2) ** 2, N * TH * TW, C), dtype=x.dtype) if out is None else out
    _KERNELS[m][0](np.ascontiguousarray(x), pads[0], pads[2], TH, TW, Vt)
    return Vt.transpose(0, 2, 1)


def output_transform(M, N, OH, OW, b=None):
    """M (alpha^2, OC, N*TH*TW) -> y (N, OC, OH, OW) (+ bias b (OC,)); see `winograd.py`."""
    OC, m = M.shape[1], tile_side(M)
    TH, TW = tiles(OH, OW, m)
    y = np.empty((N, OC, OH, OW), dtype=M.dtype)
    bias = np.zeros(OC, dtype=M.dtype) if b is None else np.asarray(b, dtype=M.dtype)
    _KERNELS[m][1](_channels_last(M), bias, TH, TW, y)
    return y


def output_grad_transform(gy, m=2):
    """gy (N, OC, OH, OW) -> gM ((m+2)^2, OC, N*TH*TW), the transposed view of a C-contiguous
    ((m+2)^2, T, OC); see `winograd.output_grad_transform`."""
    N, OC, OH, OW = gy.shape
    TH, TW = tiles(OH, OW, m)
    gMt = np.empty(((m + 2) ** 2, N * TH * TW, OC), dtype=gy.dtype)
    _KERNELS[m][2](np.ascontiguousarray(gy), TH, TW, gMt)
    return gMt.transpose(0, 2, 1)


def input_grad_transform(gV, x_shape, pads):
    """gV (alpha^2, C, N*TH*TW) -> gx (N, C, H, W); see `winograd.input_grad_transform`."""
    m = tile_side(gV)
    TH, TW = input_tiles(x_shape, pads, m)
    gx = np.zeros(x_shape, dtype=gV.dtype)
    _KERNELS[m][3](_channels_last(gV), pads[0], pads[2], TH, TW, gx)
    return gx
