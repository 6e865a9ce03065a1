"""numba Winograd tile transforms for NumPy arrays, F(2x2, 3x3) and F(4x4, 3x3) (checked
against winograd.py).

Each 2-D transform is a 1-D transform applied to the rows of a tile, then to its columns. The
1-D transforms are written out as additions, the matrices' 0 and +-1 entries folded away (Lavin
& Gray 2016, section 4.1; for F(4x4, 3x3), section 4.2, with the common sums named). Each reads
alpha (or m) values src[s, c], src[s + ss, c], ... of a 2-D array and stores dst[d, c],
dst[d + ds, c], ..., so one function serves a row of a tile and a column. (A version looping
over the matrices' entries measured 1.5-2x slower, and F(4x4, 3x3)'s transforms then cost more
than F(2x2, 3x3)'s on less data.)

The channels are innermost: V, M, gM and gV are stored as (alpha^2, T, C) (the public
functions return the (alpha^2, C, T) transposed views, the reference's shape), and the column c
of every 1-D transform is the innermost loop's own counter, so LLVM vectorises that loop over
the channels (a flat index s + c measured 2-5x slower: numba kept its negative-index checks).
Each parallel step first copies a band of tile rows of one image into a channels-last buffer,
reading whole channel planes (short runs of a few rows per channel measured 3-4x slower), then
transforms the band's tile rows one at a time (benchmarks/NOTES.md sections 14 and 20). The
input-gradient kernel works a whole image per step, whose overlapping tile rows add into the
same buffer rows. Set NUMBA_DISABLE_JIT=1 to step through them.
"""
import numpy as np
from numba import get_num_threads, njit, prange

from minicnn.kernels.winograd import input_tiles, tile_side, tiles

inline = njit(inline="always")
# F(4x4, 3x3)'s factors as float32: a plain 4 is an int64 to numba, and int64 * float32 is
# float64; float32 * float32 stays float32 and float32 * float64 is float64 (all exact).
TWO, FOUR, FIVE, EIGHT = (np.float32(factor) for factor in (2, 4, 5, 8))


# ----- F(2x2, 3x3): B^T, A^T and the adjoints B (accumulating, for gx), A -------------------
@inline
def _b_t_2(src, s, ss, dst, d, ds, c):
    d0, d1, d2, d3 = src[s, c], src[s + ss, c], src[s + 2 * ss, c], src[s + 3 * ss, c]
    dst[d, c], dst[d + ds, c] = d0 - d2, d1 + d2
    dst[d + 2 * ds, c], dst[d + 3 * ds, c] = d2 - d1, d1 - d3


@inline
def _b_add_2(src, s, ss, dst, d, ds, c):
    v0, v1, v2, v3 = src[s, c], src[s + ss, c], src[s + 2 * ss, c], src[s + 3 * ss, c]
    dst[d, c] += v0
    dst[d + ds, c] += v1 - v2 + v3
    dst[d + 2 * ds, c] += v1 + v2 - v0
    dst[d + 3 * ds, c] -= v3


@inline
def _a_t_2(src, s, ss, dst, d, ds, c):
    m0, m1, m2, m3 = src[s, c], src[s + ss, c], src[s + 2 * ss, c], src[s + 3 * ss, c]
    dst[d, c], dst[d + ds, c] = m0 + m1 + m2, m1 - m2 - m3


@inline
def _a_2(src, s, ss, dst, d, ds, c):
    y0, y1 = src[s, c], src[s + ss, c]
    dst[d, c], dst[d + ds, c], dst[d + 2 * ds, c], dst[d + 3 * ds, c] = y0, y0 + y1, y0 - y1, -y1


# ----- F(4x4, 3x3) ----------------------------------------------------------------------------
@inline
def _b_t_4(src, s, ss, dst, d, ds, c):
    d0, d1, d2 = src[s, c], src[s + ss, c], src[s + 2 * ss, c]
    d3, d4, d5 = src[s + 3 * ss, c], src[s + 4 * ss, c], src[s + 5 * ss, c]
    dst[d, c] = FOUR * d0 - FIVE * d2 + d4
    dst[d + ds, c] = d3 + d4 - FOUR * (d1 + d2)
    dst[d + 2 * ds, c] = d4 - d3 + FOUR * (d1 - d2)
    dst[d + 3 * ds, c] = d4 - d2 + TWO * (d3 - d1)
    dst[d + 4 * ds, c] = d4 - d2 - TWO * (d3 - d1)
    dst[d + 5 * ds, c] = FOUR * d1 - FIVE * d3 + d5


@inline
def _b_add_4(src, s, ss, dst, d, ds, c):
    v0, v1, v2 = src[s, c], src[s + ss, c], src[s + 2 * ss, c]
    v3, v4, v5 = src[s + 3 * ss, c], src[s + 4 * ss, c], src[s + 5 * ss, c]
    dst[d, c] += FOUR * v0
    dst[d + ds, c] += FOUR * (v2 - v1 + v5) + TWO * (v4 - v3)
    dst[d + 2 * ds, c] -= FIVE * v0 + FOUR * (v1 + v2) + v3 + v4
    dst[d + 3 * ds, c] += v1 - v2 + TWO * (v3 - v4) - FIVE * v5
    dst[d + 4 * ds, c] += v0 + v1 + v2 + v3 + v4
    dst[d + 5 * ds, c] += v5


@inline
def _a_t_4(src, s, ss, dst, d, ds, c):
    m0, m5 = src[s, c], src[s + 5 * ss, c]
    s12, d12 = src[s + ss, c] + src[s + 2 * ss, c], src[s + ss, c] - src[s + 2 * ss, c]
    s34, d34 = src[s + 3 * ss, c] + src[s + 4 * ss, c], src[s + 3 * ss, c] - src[s + 4 * ss, c]
    dst[d, c] = m0 + s12 + s34
    dst[d + ds, c] = d12 + TWO * d34
    dst[d + 2 * ds, c] = s12 + FOUR * s34
    dst[d + 3 * ds, c] = d12 + EIGHT * d34 + m5


@inline
def _a_4(src, s, ss, dst, d, ds, c):
    g0, g1, g2, g3 = src[s, c], src[s + ss, c], src[s + 2 * ss, c], src[s + 3 * ss, c]
    even, odd = g0 + g2, g1 + g3              # the sums at +1 and -1
    even4, odd4 = g0 + FOUR * g2, TWO * g1 + EIGHT * g3  # at +2 and -2
    dst[d, c], dst[d + ds, c], dst[d + 2 * ds, c] = g0, even + odd, even - odd
    dst[d + 3 * ds, c], dst[d + 4 * ds, c], dst[d + 5 * ds, c] = even4 + odd4, even4 - odd4, g3


@inline
def _band(job, bands, band, TH):
    """Parallel step `job` of a kernel working `band` of each image's TH tile rows per step,
    `bands` steps per image: (image n, its first tile row, how many tile rows: band, or fewer
    in an image's last step)."""
    first_th = job % bands * band
    return job // bands, first_th, min(band, TH - first_th)


def _compile(m, b_t, b_add, a_t, a):
    """The four transform kernels of F(m x m, 3x3), built on its 1-D transforms.

    A parallel step works on a band of tile rows of image n, through a channels-last buffer of
    the band's rows, (rows, width, C); V, M, gM, gV are stored as (alpha^2, T, C) and read as
    2-D (alpha^2 * T, C) arrays ("V2"), so that row (alpha * k + j) * T + t holds
    transformed-tile entry (k, j) of tile t.
    """
    alpha = m + 2

    @inline
    def rows_then_tiles(f, rows2, first_row, mixed, out2, T, first_tile, TW):
        """f down the columns of one tile row, whose rows start at rows2[first_row] (rows2:
        (rows, width * C)), into mixed (alpha, width, C); then f along each tile's row of mixed
        into out2 ((alpha^2 * T, C)), tiles first_tile .. first_tile + TW - 1."""
        width, C = mixed.shape[1], mixed.shape[2]
        mixed_by_row, mixed_by_pixel = mixed.reshape(alpha, width * C), mixed.reshape(-1, C)
        for q in range(width * C):
            f(rows2, first_row, 1, mixed_by_row, 0, 1, q)
        for k in range(alpha):
            for tw in range(TW):
                for c in range(C):
                    f(mixed_by_pixel, k * width + m * tw, 1, out2, alpha * k * T + first_tile + tw,
                      T, c)

    @inline
    def tiles_then_rows(f, in2, T, first_tile, TW, mixed, rows2, first_row):
        """The way back: f along each tile's row of in2 ((alpha^2 * T, C)) into mixed (alpha,
        width, C), then down the columns into rows2[first_row ...] ((rows, width * C)); f
        stores or adds (overlapping tiles add)."""
        width, C = mixed.shape[1], mixed.shape[2]
        mixed_by_row, mixed_by_pixel = mixed.reshape(alpha, width * C), mixed.reshape(-1, C)
        for k in range(alpha):
            for tw in range(TW):
                for c in range(C):
                    f(in2, alpha * k * T + first_tile + tw, T, mixed_by_pixel, k * width + m * tw,
                      1, c)
        for q in range(width * C):
            f(mixed_by_row, 0, 1, rows2, first_row, 1, q)

    def input_transform(x, PT, PL, TH, TW, band, Vt):
        """x (N, C, H, W) -> Vt (alpha^2, T, C): B^T d B of every tile d (0 outside x), band
        tile rows per parallel step."""
        N, C, H, W = x.shape
        T, width, bands = Vt.shape[1], m * TW + 2, -(-TH // band)
        V2 = Vt.reshape(-1, C)
        for job in prange(N * bands):
            n, first_th, num_th = _band(job, bands, band, TH)
            rows = np.zeros((m * num_th + 2, width, C), dtype=x.dtype)  # padded rows, C last
            for c in range(C):
                for i in range(rows.shape[0]):
                    h = m * first_th - PT + i
                    if 0 <= h < H:
                        for w in range(W):              # the padding columns stay 0
                            rows[i, PL + w, c] = x[n, c, h, w]
            rows2 = rows.reshape(rows.shape[0], width * C)
            mixed = np.empty((alpha, width, C), dtype=x.dtype)      # B^T rows of one tile row
            for th in range(num_th):
                rows_then_tiles(b_t, rows2, m * th, mixed, V2, T,
                                (n * TH + first_th + th) * TW, TW)

    def output_transform(Mt, bias, TH, TW, band, y):
        """Mt (alpha^2, T, OC) -> y (N, OC, OH, OW): A^T m A of every tile, plus bias[o]."""
        N, OC, OH, OW = y.shape
        T, width, bands = Mt.shape[1], m * TW, -(-TH // band)
        M2 = Mt.reshape(-1, OC)
        for job in prange(N * bands):
            n, first_th, num_th = _band(job, bands, band, TH)
            rows = np.empty((m * num_th, width, OC), dtype=Mt.dtype)  # A^T m A: output rows
            rows2 = rows.reshape(rows.shape[0], width * OC)
            mixed = np.empty((alpha, width, OC), dtype=Mt.dtype)      # m A of one tile row
            for th in range(num_th):
                tiles_then_rows(a_t, M2, T, (n * TH + first_th + th) * TW, TW, mixed, rows2,
                                m * th)
            for o in range(OC):
                for i in range(min(rows.shape[0], OH - m * first_th)):
                    for w in range(OW):
                        y[n, o, m * first_th + i, w] = rows[i, w, o] + bias[o]

    def output_grad_transform(gy, TH, TW, band, gMt):
        """gy (N, OC, OH, OW) -> gMt (alpha^2, T, OC): A gY A^T of every tile (gY 0 outside)."""
        N, OC, OH, OW = gy.shape
        T, width, bands = gMt.shape[1], m * TW, -(-TH // band)
        gM2 = gMt.reshape(-1, OC)
        for job in prange(N * bands):
            n, first_th, num_th = _band(job, bands, band, TH)
            rows = np.zeros((m * num_th, width, OC), dtype=gy.dtype)  # the band's rows of gy
            for o in range(OC):
                for i in range(min(rows.shape[0], OH - m * first_th)):
                    for w in range(OW):
                        rows[i, w, o] = gy[n, o, m * first_th + i, w]
            rows2 = rows.reshape(rows.shape[0], width * OC)
            mixed = np.empty((alpha, width, OC), dtype=gy.dtype)      # A gY of one tile row
            for th in range(num_th):
                rows_then_tiles(a, rows2, m * th, mixed, gM2, T, (n * TH + first_th + th) * TW,
                                TW)

    def input_grad_transform(gVt, PT, PL, TH, TW, gx):
        """B gV B^T of every tile of gVt (alpha^2, T, C), the tiles added up, into gx (N, C, H,
        W). One image per parallel step: its tile rows overlap."""
        N, C, H, W = gx.shape
        T, width = gVt.shape[1], m * TW + 2
        gV2 = gVt.reshape(-1, C)
        for n in prange(N):
            rows = np.zeros((m * TH + 2, width, C), dtype=gVt.dtype)  # padded rows of gx
            rows2 = rows.reshape(rows.shape[0], width * C)
            mixed = np.empty((alpha, width, C), dtype=gVt.dtype)      # gV B^T, tiles added
            for th in range(TH):
                mixed[:] = 0.0
                tiles_then_rows(b_add, gV2, T, (n * TH + th) * TW, TW, mixed, rows2, m * th)
            for c in range(C):
                for h in range(H):
                    for w in range(W):
                        gx[n, c, h, w] = rows[PT + h, PL + w, c]

    jit = njit(parallel=True, cache=True)
    return tuple(jit(kernel) for kernel in (input_transform, output_transform,
                                            output_grad_transform, input_grad_transform))


_KERNELS = {2: _compile(2, _b_t_2, _b_add_2, _a_t_2, _a_2),
            4: _compile(4, _b_t_4, _b_add_4, _a_t_4, _a_4)}


def tile_rows_per_step(N, TH):
    """How many of an image's TH tile rows one parallel step transforms: all of them when the
    N images give every thread two steps or more, else fewer, so that they still do."""
    bands_per_image = max(1, min(TH, -(-2 * get_num_threads() // max(N, 1))))
    return -(-TH // bands_per_image)


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
    _KERNELS[m][0](np.ascontiguousarray(x), pads[0], pads[2], TH, TW, tile_rows_per_step(N, TH),
                   Vt)
    return Vt.transpose(0, 2, 1)


def output_transform(M, N, OH, OW, b=None):
    """M (alpha^2, OC, N*TH*TW) -> y (N, OC, OH, OW) (+ bias b (OC,)); see `winograd.py`."""
    OC, m = M.shape[1], tile_side(M)
    TH, TW = tiles(OH, OW, m)
    y = np.empty((N, OC, OH, OW), dtype=M.dtype)
    bias = np.zeros(OC, dtype=M.dtype) if b is None else np.asarray(b, dtype=M.dtype)
    _KERNELS[m][1](_channels_last(M), bias, TH, TW, tile_rows_per_step(N, TH), y)
    return y


def output_grad_transform(gy, m=2):
    """gy (N, OC, OH, OW) -> gM ((m+2)^2, OC, N*TH*TW), the transposed view of a C-contiguous
    ((m+2)^2, T, OC); see `winograd.output_grad_transform`."""
    N, OC, OH, OW = gy.shape
    TH, TW = tiles(OH, OW, m)
    gMt = np.empty(((m + 2) ** 2, N * TH * TW, OC), dtype=gy.dtype)
    _KERNELS[m][2](np.ascontiguousarray(gy), TH, TW, tile_rows_per_step(N, TH), gMt)
    return gMt.transpose(0, 2, 1)


def input_grad_transform(gV, x_shape, pads):
    """gV (alpha^2, C, N*TH*TW) -> gx (N, C, H, W); see `winograd.input_grad_transform`."""
    m = tile_side(gV)
    TH, TW = input_tiles(x_shape, pads, m)
    gx = np.empty(x_shape, dtype=gV.dtype)
    _KERNELS[m][3](_channels_last(gV), pads[0], pads[2], TH, TW, gx)
    return gx
