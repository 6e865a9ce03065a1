"""Max and average pooling kernels on (N, C, H, W) arrays: the NumPy/CuPy reference.

max_pool_forward returns the output and the flat index (i * KW + j) of each window's maximum;
the backward routes each gradient to that position. Windows are read through `window_view`
(no copy) and written back with `fold` (overlapping windows add up).
"""
from minicnn import backend
from minicnn.kernels.windows import fold, pad_input, window_view


def max_pool_forward(x, KH, KW, SH, SW, pads):
    """(N, C, H, W) -> y (N, C, OH, OW), argmax (N, C, OH, OW) in [0, KH*KW).

    As in torch: a NaN in a window wins (argmax takes the first one); a window whose real inputs
    are all -inf routes its gradient to its first real input, never into the padding.
    """
    xp = backend.get_array_module(x)
    windows = window_view(pad_input(x, pads, -xp.inf), KH, KW, SH, SW)
    N, C, OH, OW = windows.shape[:4]
    flat = windows.reshape(N, C, OH, OW, KH * KW)           # one copy of every window
    argmax = flat.argmax(axis=-1)
    y = xp.take_along_axis(flat, argmax[..., None], axis=-1)[..., 0]
    PT, PL = pads[0], pads[2]
    first_row = xp.maximum(PT - xp.arange(OH) * SH, 0)      # first real row of each window
    first_col = xp.maximum(PL - xp.arange(OW) * SW, 0)
    first_real = first_row[:, None] * KW + first_col[None, :]  # (OH, OW)
    argmax = xp.where(y == -xp.inf, first_real, argmax)      # a tie with padded -inf
    return y, argmax


def max_pool_backward(gy, argmax, x_shape, KH, KW, SH, SW, pads):
    """Route gy (N, C, OH, OW) to each window's maximum; returns gx (N, C, H, W)."""
    xp = backend.get_array_module(gy)
    N, C, OH, OW = gy.shape
    gwin = xp.zeros((N, C, OH, OW, KH * KW), dtype=gy.dtype)
    xp.put_along_axis(gwin, argmax[..., None], gy[..., None], axis=-1)
    return fold(gwin.reshape(N, C, OH, OW, KH, KW), x_shape, SH, SW, pads)


def avg_pool_forward(x, KH, KW, SH, SW, pads, counts):
    """Window sums divided by `counts` (a number, or (OH, OW) real-input counts)."""
    windows = window_view(pad_input(x, pads, 0.0), KH, KW, SH, SW)
    return windows.sum(axis=(4, 5)) / counts


def avg_pool_backward(gy, x_shape, KH, KW, SH, SW, pads, counts):
    """Spread gy / counts evenly over each window; returns gx (N, C, H, W)."""
    xp = backend.get_array_module(gy)
    g = gy / counts
    gwin = xp.broadcast_to(g[..., None, None], gy.shape + (KH, KW))
    return fold(gwin, x_shape, SH, SW, pads)
