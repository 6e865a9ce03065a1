"""Reference grouped convolution computed directly from the windows (no im2col matrix).

Notation as in windows.py; G groups, Cg = C / G input and OCg = OC / G output channels per
group. Weights W are (OC, Cg, KH, KW), output channel o reads the input channels of group
g = o // OCg. These NumPy (or CuPy) functions are the plain references of grouped_numba.py:
each is one einsum over the strided (N, C, OH, OW, KH, KW) window view.
"""
from minicnn import backend
from minicnn.kernels.windows import fold, pad_input, window_view


def _split(x_windows, W):
    """Window view (N, C, OH, OW, KH, KW) -> (N, G, Cg, ...); W -> (G, OCg, Cg, KH, KW)."""
    OC, Cg = W.shape[:2]
    N, C = x_windows.shape[:2]
    G = C // Cg
    return (x_windows.reshape((N, G, Cg) + x_windows.shape[2:]),
            W.reshape((G, OC // G) + W.shape[1:]))


def grouped_conv_forward(x, W, SH, SW, pads):
    """x (N, C, H, W), W (OC, Cg, KH, KW) -> y (N, OC, OH, OW)."""
    xp = backend.get_array_module(x)
    windows = window_view(pad_input(x, pads), W.shape[2], W.shape[3], SH, SW)
    x_g, W_g = _split(windows, W)
    y = xp.einsum("ngchwij,gocij->ngohw", x_g, W_g)
    return y.reshape((x.shape[0], W.shape[0]) + y.shape[3:])


def grouped_conv_backward_input(gy, W, x_shape, SH, SW, pads):
    """gy (N, OC, OH, OW) -> gx (N, C, H, W)."""
    xp = backend.get_array_module(gy)
    N, OC, OH, OW = gy.shape
    OCg, Cg, KH, KW = OC // (x_shape[1] // W.shape[1]), W.shape[1], W.shape[2], W.shape[3]
    G = OC // OCg
    gy_g = gy.reshape(N, G, OCg, OH, OW)
    gwindows = xp.einsum("ngohw,gocij->ngchwij", gy_g, W.reshape(G, OCg, Cg, KH, KW))
    return fold(gwindows.reshape(N, G * Cg, OH, OW, KH, KW), x_shape, SH, SW, pads)


def grouped_conv_backward_weight(gy, x, W_shape, SH, SW, pads):
    """gy (N, OC, OH, OW), x (N, C, H, W) -> gW (OC, Cg, KH, KW)."""
    xp = backend.get_array_module(gy)
    OC, Cg, KH, KW = W_shape
    windows = window_view(pad_input(x, pads), KH, KW, SH, SW)
    N, C = x.shape[:2]
    x_g = windows.reshape((N, C // Cg, Cg) + windows.shape[2:])
    gy_g = gy.reshape((N, C // Cg, OC // (C // Cg)) + gy.shape[2:])
    return xp.einsum("ngohw,ngchwij->gocij", gy_g, x_g).reshape(W_shape)
