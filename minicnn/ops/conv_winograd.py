"""conv2d's Winograd path F(m x m, 3x3): 3x3 kernels at stride 1, one group (kernels/winograd.py).

With alpha = m + 2, the three matrix products of a convolution become alpha^2 smaller ones
each: F(2x2, 3x3) has 16 with 1/2.25 of im2col's multiplications, F(4x4, 3x3) 36 with 1/4.
The transformed input V is alpha^2/m^2 times the input (4x or 2.25x) where col is 9x:

    forward:  U = G g G^T (alpha^2, OC, C), V = B^T d B (alpha^2, C, T), M = U @ V,
              y = A^T M A + b
    backward: gM = A gy A^T (alpha^2, OC, T)
              gU = gM @ V^T, computed as (V @ gM^T)^T (OpenBLAS's fast orientation),
              gW = G^T gU G
              gV = U^T @ gM, gx = the tiles B gV B^T added back into (N, C, H, W)

As with im2col, a small V is kept for backward and a large one lives in the shared scratch
buffer (kernels/workspace.py) and is rebuilt from x; gV then reuses that buffer.
"""
from minicnn import kernels


def _product(a, b, scratch=False):
    """a @ b for (n, P, K) and (n, K, T), computed as (b^T @ a^T)^T: the result is the
    transposed view of a C-contiguous (n, T, P), the layout the numba transforms read (and
    b^T is the contiguous array behind their V or gM)."""
    return kernels.matmul(b.transpose(0, 2, 1), a.transpose(0, 2, 1),
                          scratch=scratch).transpose(0, 2, 1)


def forward(x, W, b, pads, keep_bytes, m=2):
    """x (N, C, H, W), W (OC, C, 3, 3), b (OC,) or None -> (y (N, OC, OH, OW), V).

    m: the output tile's side, 2 or 4 (F(m x m, 3x3)). V (alpha^2, C, T) is for `backward`, or
    None when it was too large to keep.
    """
    N, _, H, Wd = x.shape
    OH = kernels.conv_output_size(H, 3, 1, pads[0], pads[1])
    OW = kernels.conv_output_size(Wd, 3, 1, pads[2], pads[3])
    # U (alpha^2, OC, C), computed as the transposed view of a contiguous (alpha^2, C, OC) from
    # W's transpose, so that the product below reads both its factors row by row
    U = kernels.winograd_weight_transform(W.transpose(1, 0, 2, 3), m).transpose(0, 2, 1)
    TH, TW = kernels.winograd.input_tiles(x.shape, pads, m)
    keep = (m + 2) ** 2 * x.shape[1] * N * TH * TW * x.itemsize <= keep_bytes
    V = kernels.winograd_input_transform(x, pads, scratch=not keep, m=m)  # (alpha^2, C, T)
    M = _product(U, V)                                        # (alpha^2, OC, T)
    y = kernels.winograd_output_transform(M, N, OH, OW, b)
    return y, V if keep else None


def backward(gy, x, W, V, pads, need_gx, m=2):
    """gy (N, OC, OH, OW) and forward's x, W, V -> (gx (N, C, H, W) or None, gW)."""
    gM = kernels.winograd_output_grad_transform(gy, m)        # (alpha^2, OC, T)
    if V is None:
        V = kernels.winograd_input_transform(x, pads, scratch=True, m=m)
    gU = kernels.matmul(V, gM.transpose(0, 2, 1)).transpose(0, 2, 1)  # (alpha^2, OC, C)
    gW = kernels.winograd_weight_grad_transform(gU)
    del V  # done with V (it may be the scratch buffer, which gV takes next)
    gx = None
    if need_gx:
        U = kernels.winograd_weight_transform(W, m)  # again: cheaper than keeping it per layer
        gV = _product(U.transpose(0, 2, 1), gM, scratch=True)  # (alpha^2, C, T)
        gx = kernels.winograd_input_grad_transform(gV, x.shape, pads)
    return gx, gW
