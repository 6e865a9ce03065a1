"""conv2d's Winograd F(2x2, 3x3) path: 3x3 kernels at stride 1, one group (kernels/winograd.py).

The three matrix products of a convolution become 16 smaller ones each, with 1/2.25 of
im2col's multiplications, and the transformed input V is 4x the input where col is 9x:

    forward:  U = G g G^T (16, OC, C), V = B^T d B (16, C, T), M = U @ V, y = A^T M A + b
    backward: gM = A gy A^T (16, OC, T)
              gU = gM @ V^T, computed as (V @ gM^T)^T (OpenBLAS's fast orientation),
              gW = G^T gU G
              gV = U^T @ gM, gx = the tiles B gV B^T added back into (N, C, H, W)

As with im2col, a small V is kept for backward and a large one lives in the shared scratch
buffer (kernels/workspace.py) and is rebuilt from x; gV then reuses that buffer.
"""
from minicnn import kernels


def forward(x, W, b, pads, keep_bytes):
    """x (N, C, H, W), W (OC, C, 3, 3), b (OC,) or None -> (y (N, OC, OH, OW), V).

    V (16, C, T) is for `backward`, or None when it was too large to keep.
    """
    N, _, H, Wd = x.shape
    OH, OW = H + pads[0] + pads[1] - 2, Wd + pads[2] + pads[3] - 2
    U = kernels.winograd_weight_transform(W)                  # (16, OC, C)
    TH, TW = kernels.winograd.input_tiles(x.shape, pads)
    keep = 16 * x.shape[1] * N * TH * TW * x.itemsize <= keep_bytes
    V = kernels.winograd_input_transform(x, pads, scratch=not keep)  # (16, C, T)
    M = kernels.matmul(U, V)                                  # (16, OC, T)
    y = kernels.winograd_output_transform(M, N, OH, OW, b)
    return y, V if keep else None


def backward(gy, x, W, V, pads, need_gx):
    """gy (N, OC, OH, OW) and forward's x, W, V -> (gx (N, C, H, W) or None, gW)."""
    gM = kernels.winograd_output_grad_transform(gy)           # (16, OC, T)
    if V is None:
        V = kernels.winograd_input_transform(x, pads, scratch=True)
    gU = kernels.matmul(V, gM.transpose(0, 2, 1)).transpose(0, 2, 1)  # (16, OC, C)
    gW = kernels.winograd_weight_grad_transform(gU)
    del V  # done with V (it may be the scratch buffer, which gV takes next)
    gx = None
    if need_gx:
        U = kernels.winograd_weight_transform(W)  # again: cheaper than keeping it per layer
        gV = kernels.matmul(U.transpose(0, 2, 1), gM, scratch=True)  # (16, C, T)
        gx = kernels.winograd_input_grad_transform(gV, x.shape, pads)
    return gx, gW
