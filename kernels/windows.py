"""im2col / col2im: turning a convolution into one matrix product, and back.

Notation (used throughout minicnn):
    N  batch size             C  input channels        H, W   input height, width
    KH, KW  kernel size       SH, SW  strides          PT, PB, PL, PR  padding top/bottom/left/right
    OH = (H + PT + PB - KH) // SH + 1                  OW = (W + PL + PR - KW) // SW + 1

`window_view` shows every KHxKW window of the padded input as a (N, C, OH, OW, KH, KW) strided
*view*: no copy is made. `im2col` copies that view once into the GEMM layout
(C*KH*KW, N*OH*OW): one row per kernel tap (c, i, j), one column per output position. In this
layout the weights (OC, C*KH*KW) multiply it from the left, each group of channels is a
contiguous block of rows, and a row is filled by copying whole image rows (fast, see
windows_numba.py). `fold` is its adjoint, adding each window's values back into the input
positions they came from (overlapping windows add up).
"""
from minicnn import backend


def conv_output_size(size, kernel, stride, pad_before, pad_after):
    """Output length along one axis of a strided window op (conv, pooling): the one place
    minicnn computes it; kernels, ops, models and the TensorFlow bridge all call this."""
    return (size + pad_before + pad_after - kernel) // stride + 1


def pad_input(x, pads, value=0.0):
    """Pad (N, C, H, W) by pads = (PT, PB, PL, PR); returns `x` itself when there is none."""
    PT, PB, PL, PR = pads
    if PT == PB == PL == PR == 0:
        return x
    xp = backend.get_array_module(x)
    N, C, H, W = x.shape
    padded = xp.full((N, C, H + PT + PB, W + PL + PR), value, dtype=x.dtype)
    padded[:, :, PT:PT + H, PL:PL + W] = x  # 2.6x faster than np.pad for LeNet-5's input
    return padded


def window_view(x_pad, KH, KW, SH, SW):
    """All KHxKW windows of a padded (N, C, Hp, Wp) array as a (N, C, OH, OW, KH, KW) view."""
    xp = backend.get_array_module(x_pad)
    N, C, Hp, Wp = x_pad.shape
    OH = (Hp - KH) // SH + 1
    OW = (Wp - KW) // SW + 1
    sN, sC, sH, sW = x_pad.strides
    return xp.lib.stride_tricks.as_strided(
        x_pad, shape=(N, C, OH, OW, KH, KW), strides=(sN, sC, sH * SH, sW * SW, sH, sW))


def im2col(x, KH, KW, SH, SW, pads):
    """(N, C, H, W) -> col (C*KH*KW, N*OH*OW): one column per output position.

    The only large allocation is `col` itself (plus the padded copy of x when padding > 0).
    """
    x_pad = pad_input(x, pads)
    windows = window_view(x_pad, KH, KW, SH, SW)      # (N, C, OH, OW, KH, KW), a view
    N, C, OH, OW = windows.shape[:4]
    col = windows.transpose(1, 4, 5, 0, 2, 3)         # (C, KH, KW, N, OH, OW), still a view
    return col.reshape(C * KH * KW, N * OH * OW)      # the one copy


def fold(windows, x_shape, SH, SW, pads):
    """Adjoint of `window_view`: add (N, C, OH, OW, KH, KW) window values into (N, C, H, W).

    Loops over the KH*KW kernel offsets; each step is one strided, vectorised add.
    """
    xp = backend.get_array_module(windows)
    N, C, OH, OW, KH, KW = windows.shape
    H, W = x_shape[2:]
    PT, PB, PL, PR = pads
    out = xp.zeros((N, C, H + PT + PB, W + PL + PR), dtype=windows.dtype)
    for i in range(KH):
        rows = slice(i, i + SH * (OH - 1) + 1, SH)
        for j in range(KW):
            cols = slice(j, j + SW * (OW - 1) + 1, SW)
            out[:, :, rows, cols] += windows[:, :, :, :, i, j]
    return out[:, :, PT:PT + H, PL:PL + W]


def col2im(col, x_shape, KH, KW, SH, SW, pads):
    """Adjoint of `im2col`: (C*KH*KW, N*OH*OW) -> (N, C, H, W), overlapping entries summed."""
    N, C, H, W = x_shape
    PT, PB, PL, PR = pads
    OH = conv_output_size(H, KH, SH, PT, PB)
    OW = conv_output_size(W, KW, SW, PL, PR)
    windows = col.reshape(C, KH, KW, N, OH, OW).transpose(3, 0, 4, 5, 1, 2)
    return fold(windows, x_shape, SH, SW, pads)
