"""Winograd F(2x2, 3x3) and F(4x4, 3x3) convolution (Lavin & Gray 2016), the NumPy/CuPy reference.

A 3x3, stride-1 convolution computes each 2x2 block of outputs from a 4x4 tile d of the padded
input. Done directly that is 2*2*9 = 36 multiplications per channel pair; Winograd's minimal
filtering algorithm does it with 16, on transformed data (the paper's equation 8):

    Y = A^T [ (G g G^T) * (B^T d B) ] A        g: one 3x3 filter, * elementwise (4x4)

Summed over the input channels c, the elementwise products become 16 matrix products, one per
position xi of the 4x4 transformed tile (the paper's section 4.1):

    U[xi] = (G g G^T)[xi]   (16, OC, C)      the transformed filters
    V[xi] = (B^T d B)[xi]   (16, C, T)       the transformed input tiles, T = N*TH*TW
    M[xi] = U[xi] @ V[xi]   (16, OC, T)      then Y = A^T M A for every tile

so the matrix products do 16/36 = 1/2.25 of im2col's multiplications, and V is 4x the input
where im2col's col is 9x. Tiles start every 2 pixels: tile (th, tw) reads padded rows
2*th .. 2*th+3 and writes output rows 2*th, 2*th+1; TH = ceil(OH / 2), and the last tile's
outputs beyond OH (or reads beyond the padding) are cut off (or read as 0).

Backward is the same algebra transposed (every step is linear): gM = A gY A^T per tile,
gU[xi] = gM[xi] @ V[xi]^T, gg = G^T gU G, gV[xi] = U[xi]^T @ gM[xi], gd = B gV B^T, and the
overlapping 4x4 tiles of gd are added back into gx.

F(4x4, 3x3) is the same with 6x6 input tiles, 4x4 output tiles and the paper's section 4.2
matrices (interpolation points 0, +-1, +-2): 36 products, 36/(4*4*9) = 1/4 of im2col's
multiplications, and V is 36/16 = 2.25x the input. Every function takes m, the output tile's
side (2 or 4); where a transformed array is given, m follows from its first axis (m + 2)^2.
"""
from typing import NamedTuple

import numpy as np

from minicnn import backend
from minicnn.kernels.windows import conv_output_size, fold, pad_input, window_view

B_T = np.array([[1, 0, -1, 0],
                [0, 1, 1, 0],
                [0, -1, 1, 0],
                [0, 1, 0, -1]], dtype=np.float64)
G = np.array([[1, 0, 0],
              [0.5, 0.5, 0.5],
              [0.5, -0.5, 0.5],
              [0, 0, 1]], dtype=np.float64)
A_T = np.array([[1, 1, 1, 0],
                [0, 1, -1, -1]], dtype=np.float64)

B_T_4x4 = np.array([[4, 0, -5, 0, 1, 0],
                    [0, -4, -4, 1, 1, 0],
                    [0, 4, -4, -1, 1, 0],
                    [0, -2, -1, 2, 1, 0],
                    [0, 2, -1, -2, 1, 0],
                    [0, 4, 0, -5, 0, 1]], dtype=np.float64)
G_4x4 = np.array([[1 / 4, 0, 0],
                  [-1 / 6, -1 / 6, -1 / 6],
                  [-1 / 6, 1 / 6, -1 / 6],
                  [1 / 24, 1 / 12, 1 / 6],
                  [1 / 24, -1 / 12, 1 / 6],
                  [0, 0, 1]], dtype=np.float64)
A_T_4x4 = np.array([[1, 1, 1, 1, 1, 0],
                    [0, 1, -1, 2, -2, 0],
                    [0, 1, 1, 4, 4, 0],
                    [0, 1, -1, 8, -8, 1]], dtype=np.float64)


class Algorithm(NamedTuple):
    """F(m x m, 3x3): output tiles m x m from input tiles alpha x alpha, alpha = m + 2."""
    m: int
    B_T: np.ndarray   # (alpha, alpha)
    G: np.ndarray     # (alpha, 3)
    A_T: np.ndarray   # (m, alpha)


ALGORITHMS = {2: Algorithm(2, B_T, G, A_T), 4: Algorithm(4, B_T_4x4, G_4x4, A_T_4x4)}


def algorithm(m):
    """The Algorithm of output tile side m (2 or 4)."""
    if m not in ALGORITHMS:
        raise ValueError(f"winograd: output tile side m={m!r} is not one of {sorted(ALGORITHMS)}")
    return ALGORITHMS[m]


def tile_side(transformed):
    """m of an array (alpha^2, ...) of transformed tiles: alpha^2 = 16 -> 2, 36 -> 4."""
    alpha = int(round(transformed.shape[0] ** 0.5))
    return algorithm(alpha - 2).m


def tiles(OH, OW, m=2):
    """(TH, TW): the m x m output tiles covering an OH x OW output."""
    return -(-OH // m), -(-OW // m)


def input_tiles(x_shape, pads, m=2):
    """(TH, TW) of a 3x3 stride-1 convolution of an (N, C, H, W) input padded by pads."""
    PT, PB, PL, PR = pads
    return tiles(conv_output_size(x_shape[2], 3, 1, PT, PB),
                 conv_output_size(x_shape[3], 3, 1, PL, PR), m)


def tile_pads(x_shape, pads, m=2):
    """Pads (PT, PB, PL, PR) that make the padded input exactly m*TH + 2 by m*TW + 2."""
    TH, TW = input_tiles(x_shape, pads, m)
    return pads[0], m * TH + 2 - x_shape[2] - pads[0], pads[2], m * TW + 2 - x_shape[3] - pads[2]


def _matrix(M, like):
    """One of the transform matrices, on `like`'s device and in its dtype."""
    return backend.get_array_module(like).asarray(M, dtype=like.dtype)


def weight_transform(W, m=2):
    """W (OC, C, 3, 3) -> U (alpha^2, OC, C): G g G^T for every filter g.

    All filters in one product: entry (a, b) of G g G^T is sum_ij G[a, i] G[b, j] g[i, j], so
    with the (alpha^2 x 9) Kronecker product G (x) G, U = (G (x) G) @ [every g as a row of 9]^T.
    """
    xp = backend.get_array_module(W)
    g = _matrix(algorithm(m).G, W)
    U = xp.kron(g, g) @ W.reshape(-1, 9).T                   # (alpha^2, OC*C)
    return U.reshape(-1, W.shape[0], W.shape[1])


def weight_grad_transform(gU):
    """gU (alpha^2, OC, C) -> gW (OC, C, 3, 3): G^T gU G, the adjoint of `weight_transform`.

    gU may also be the transposed view of a contiguous (alpha^2, C, OC), as conv2d's backward
    computes it: read in that order, it is not copied first (29 -> 10 ms at 512 channels).
    """
    xp = backend.get_array_module(gU)
    g = _matrix(algorithm(tile_side(gU)).G, gU)
    n, OC, C = gU.shape
    by_input = gU.transpose(0, 2, 1)
    swapped = by_input.flags.c_contiguous and not gU.flags.c_contiguous
    rows = by_input if swapped else xp.ascontiguousarray(gU)  # (n, C, OC) or (n, OC, C)
    gW = (rows.reshape(n, -1).T @ xp.kron(g, g)).reshape(rows.shape[1], rows.shape[2], 9)
    if swapped:
        gW = xp.ascontiguousarray(gW.transpose(1, 0, 2))
    return gW.reshape(OC, C, 3, 3)


def input_transform(x, pads, m=2):
    """x (N, C, H, W) -> V (alpha^2, C, N*TH*TW): B^T d B for every alpha x alpha tile d of the
    padded x (tiles every m pixels)."""
    xp = backend.get_array_module(x)
    alpha = m + 2
    d = window_view(pad_input(x, tile_pads(x.shape, pads, m)), alpha, alpha, m, m)
    bt = _matrix(algorithm(m).B_T, x)                        # d: (N, C, TH, TW, alpha, alpha)
    V = xp.einsum("ai,nctuij,bj->abcntu", bt, d, bt)
    return xp.ascontiguousarray(V.reshape(alpha * alpha, x.shape[1], -1))


def output_transform(M, N, OH, OW, b=None):
    """M (alpha^2, OC, N*TH*TW) -> y (N, OC, OH, OW): A^T m A per tile, plus the bias b (OC,)."""
    xp = backend.get_array_module(M)
    OC, m = M.shape[1], tile_side(M)
    TH, TW = tiles(OH, OW, m)
    mt = M.reshape(m + 2, m + 2, OC, N, TH, TW)
    at = _matrix(algorithm(m).A_T, M)
    Y = xp.einsum("ia,abontu,jb->notiuj", at, mt, at).reshape(N, OC, m * TH, m * TW)
    y = xp.ascontiguousarray(Y[:, :, :OH, :OW])
    return y if b is None else y + b.reshape(1, OC, 1, 1).astype(y.dtype)


def output_grad_transform(gy, m=2):
    """gy (N, OC, OH, OW) -> gM (alpha^2, OC, N*TH*TW): A gY A^T per tile (gY 0 beyond OH, OW)."""
    xp = backend.get_array_module(gy)
    N, OC, OH, OW = gy.shape
    TH, TW = tiles(OH, OW, m)
    gY = xp.zeros((N, OC, m * TH, m * TW), dtype=gy.dtype)
    gY[:, :, :OH, :OW] = gy
    gY = gY.reshape(N, OC, TH, m, TW, m)
    at = _matrix(algorithm(m).A_T, gy)
    gM = xp.einsum("ia,notiuj,jb->abontu", at, gY, at)
    return xp.ascontiguousarray(gM.reshape((m + 2) ** 2, OC, -1))


def input_grad_transform(gV, x_shape, pads):
    """gV (alpha^2, C, N*TH*TW) -> gx (N, C, H, W): B gV B^T per tile, overlapping tiles added."""
    xp = backend.get_array_module(gV)
    N, C = x_shape[:2]
    m = tile_side(gV)
    alpha = m + 2
    TH, TW = input_tiles(x_shape, pads, m)
    bt = _matrix(algorithm(m).B_T, gV)
    gd = xp.einsum("ai,abcntu,bj->nctuij", bt, gV.reshape(alpha, alpha, C, N, TH, TW), bt)
    return fold(gd.reshape(N, C, TH, TW, alpha, alpha), x_shape, m, m, tile_pads(x_shape, pads, m))
