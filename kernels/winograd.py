"""Winograd F(2x2, 3x3) convolution (Lavin & Gray 2016), the NumPy/CuPy reference.

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
"""
import numpy as np

from minicnn import backend
from minicnn.kernels.windows import fold, pad_input, window_view

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


def tiles(OH, OW):
    """(TH, TW): the 2x2 output tiles covering an OH x OW output."""
    return (OH + 1) // 2, (OW + 1) // 2


def input_tiles(x_shape, pads):
    """(TH, TW) of a 3x3 stride-1 convolution of an (N, C, H, W) input padded by pads."""
    PT, PB, PL, PR = pads
    return tiles(x_shape[2] + PT + PB - 2, x_shape[3] + PL + PR - 2)


def tile_pads(x_shape, pads):
    """Pads (PT, PB, PL, PR) that make the padded input exactly 2*TH + 2 by 2*TW + 2."""
    TH, TW = input_tiles(x_shape, pads)
    return pads[0], 2 * TH + 2 - x_shape[2] - pads[0], pads[2], 2 * TW + 2 - x_shape[3] - pads[2]


def _matrix(M, like):
    """One of the transform matrices, on `like`'s device and in its dtype."""
    return backend.get_array_module(like).asarray(M, dtype=like.dtype)


def weight_transform(W):
    """W (OC, C, 3, 3) -> U (16, OC, C): G g G^T for every filter g.

    All filters in one product: entry (a, b) of G g G^T is sum_ij G[a, i] G[b, j] g[i, j], so
    with the 16x9 Kronecker product G (x) G, U = (G (x) G) @ [every g as a row of 9]^T.
    """
    xp = backend.get_array_module(W)
    g = _matrix(G, W)
    U = xp.kron(g, g) @ W.reshape(-1, 9).T                   # (16, OC*C)
    return U.reshape(16, W.shape[0], W.shape[1])


def weight_grad_transform(gU):
    """gU (16, OC, C) -> gW (OC, C, 3, 3): G^T gU G, the adjoint of `weight_transform`."""
    xp = backend.get_array_module(gU)
    g = _matrix(G, gU)
    gW = xp.kron(g, g).T @ gU.reshape(16, -1)                 # (9, OC*C)
    return xp.ascontiguousarray(gW.T).reshape(gU.shape[1], gU.shape[2], 3, 3)


def input_transform(x, pads):
    """x (N, C, H, W) -> V (16, C, N*TH*TW): B^T d B for every 4x4 tile d of the padded x."""
    xp = backend.get_array_module(x)
    d = window_view(pad_input(x, tile_pads(x.shape, pads)), 4, 4, 2, 2)  # (N, C, TH, TW, 4, 4)
    bt = _matrix(B_T, x)
    V = xp.einsum("ai,nctuij,bj->abcntu", bt, d, bt)
    return xp.ascontiguousarray(V.reshape(16, x.shape[1], -1))


def output_transform(M, N, OH, OW, b=None):
    """M (16, OC, N*TH*TW) -> y (N, OC, OH, OW): A^T m A per tile, plus the bias b (OC,)."""
    xp = backend.get_array_module(M)
    OC = M.shape[1]
    TH, TW = tiles(OH, OW)
    m = M.reshape(4, 4, OC, N, TH, TW)
    at = _matrix(A_T, M)
    Y = xp.einsum("ia,abontu,jb->notiuj", at, m, at).reshape(N, OC, 2 * TH, 2 * TW)
    y = xp.ascontiguousarray(Y[:, :, :OH, :OW])
    return y if b is None else y + b.reshape(1, OC, 1, 1).astype(y.dtype)


def output_grad_transform(gy):
    """gy (N, OC, OH, OW) -> gM (16, OC, N*TH*TW): A gY A^T per tile (gY 0 beyond OH, OW)."""
    xp = backend.get_array_module(gy)
    N, OC, OH, OW = gy.shape
    TH, TW = tiles(OH, OW)
    gY = xp.zeros((N, OC, 2 * TH, 2 * TW), dtype=gy.dtype)
    gY[:, :, :OH, :OW] = gy
    gY = gY.reshape(N, OC, TH, 2, TW, 2)
    at = _matrix(A_T, gy)
    gM = xp.einsum("ia,notiuj,jb->abontu", at, gY, at)
    return xp.ascontiguousarray(gM.reshape(16, OC, -1))


def input_grad_transform(gV, x_shape, pads):
    """gV (16, C, N*TH*TW) -> gx (N, C, H, W): B gV B^T per tile, overlapping tiles added."""
    xp = backend.get_array_module(gV)
    N, C = x_shape[:2]
    TH, TW = input_tiles(x_shape, pads)
    bt = _matrix(B_T, gV)
    gd = xp.einsum("ai,abcntu,bj->nctuij", bt, gV.reshape(4, 4, C, N, TH, TW), bt)
    return fold(gd.reshape(N, C, TH, TW, 4, 4), x_shape, 2, 2, tile_pads(x_shape, pads))
