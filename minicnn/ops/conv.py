"""2-D convolution as im2col + one matrix product per group."""
from minicnn import backend
from minicnn.core import Function
from minicnn.errors import ShapeError
from minicnn.kernels import col2im, conv_output_size, im2col
from minicnn.ops.utils import as_int, check_nchw, check_window_fits, padding4, pair


class Conv2d(Function):
    """y[n, o] = sum_c W[o, c] * x[n, c] (cross-correlation, like every DL library) + b[o].

    Forward: col = im2col(x) (N*OH*OW, C*KH*KW); per group g, y_g = col_g @ W_g^T.
    Backward: gW_g = gy_g^T @ col_g; gcol_g = gy_g @ W_g; gx = col2im(gcol).
    """
    name = "conv2d"

    def __init__(self, stride, padding, groups):
        self.SH, self.SW = pair(stride, self.name, "stride")
        self.pads = padding4(padding, self.name)
        self.groups = as_int(groups, self.name, "groups", minimum=1)

    def forward(self, x, W, b=None):
        self._check(x, W, b)
        xp = backend.get_array_module(x)
        N, C, H, _ = x.shape
        OC, Cg, KH, KW = W.shape
        G = self.groups
        OH = conv_output_size(H, KH, self.SH, self.pads[0], self.pads[1])
        OW = conv_output_size(x.shape[3], KW, self.SW, self.pads[2], self.pads[3])
        col = im2col(x, KH, KW, self.SH, self.SW, self.pads)   # (N*OH*OW, C*KH*KW)
        W2 = W.reshape(OC, Cg * KH * KW)                        # (OC, Cg*KH*KW)
        if G == 1:
            y = col @ W2.T                                      # (N*OH*OW, OC)
        else:
            y = xp.empty((col.shape[0], OC), dtype=x.dtype)
            for cols, rows in self._group_slices(Cg * KH * KW, OC // G):
                y[:, rows] = col[:, cols] @ W2[rows].T
        if b is not None:
            y += b
        self.col, self.W, self.x_shape, self.has_bias = col, W, x.shape, b is not None
        return xp.ascontiguousarray(y.reshape(N, OH, OW, OC).transpose(0, 3, 1, 2))

    def backward(self, gy):
        OC = self.W.shape[0]
        gy2 = gy.transpose(0, 2, 3, 1).reshape(-1, OC)          # (N*OH*OW, OC)
        W2 = self.W.reshape(OC, -1)                             # (OC, Cg*KH*KW)
        gW = self._weight_grad(gy2, W2)
        if not self.retain_graph:
            del self.col  # free the largest buffer before gcol is allocated
        gx = self._input_grad(gy2, W2) if self.needs_input_grad[0] else None
        gb = gy2.sum(axis=0) if self.has_bias else None
        return gx, gW.reshape(self.W.shape), gb

    def _weight_grad(self, gy2, W2):
        """gW_g = gy_g^T @ col_g: (OC, Cg*KH*KW)."""
        if self.groups == 1:
            return gy2.T @ self.col
        gW = backend.get_array_module(gy2).empty_like(W2)
        for cols, rows in self._group_slices(W2.shape[1], W2.shape[0] // self.groups):
            gW[rows] = gy2[:, rows].T @ self.col[:, cols]
        return gW

    def _input_grad(self, gy2, W2):
        """gcol_g = gy_g @ W_g, then col2im back to the input's (N, C, H, W)."""
        if self.groups == 1:
            gcol = gy2 @ W2
        else:
            group_cols = W2.shape[1]
            gcol = backend.get_array_module(gy2).empty(
                (gy2.shape[0], group_cols * self.groups), dtype=gy2.dtype)
            for cols, rows in self._group_slices(group_cols, W2.shape[0] // self.groups):
                gcol[:, cols] = gy2[:, rows] @ W2[rows]
        KH, KW = self.W.shape[2:]
        return col2im(gcol, self.x_shape, KH, KW, self.SH, self.SW, self.pads)

    def _group_slices(self, group_cols, group_rows):
        """Column slice of col and row slice of W for each group."""
        for g in range(self.groups):
            yield (slice(g * group_cols, (g + 1) * group_cols),
                   slice(g * group_rows, (g + 1) * group_rows))

    def _check(self, x, W, b):
        check_nchw("conv2d", x)
        if W.ndim != 4:
            raise ShapeError(f"conv2d: weight must be 4-D (C_out, C_in/groups, KH, KW), "
                             f"got shape {W.shape}")
        G = self.groups
        OC, Cg, KH, KW = W.shape
        if G < 1 or x.shape[1] % G or OC % G:
            raise ShapeError(f"conv2d: groups={G} must divide input channels {x.shape[1]} "
                             f"and output channels {OC}")
        if x.shape[1] != Cg * G:
            raise ShapeError(f"conv2d: input has {x.shape[1]} channels but weight expects "
                             f"{Cg * G} (input {x.shape}, weight {W.shape}, groups={G})")
        if b is not None and b.shape != (OC,):
            raise ShapeError(f"conv2d: bias must have shape ({OC},), got {b.shape}")
        check_window_fits("conv2d", x.shape, KH, KW, self.pads)


def conv2d(x, weight, bias=None, stride=1, padding=0, groups=1):
    """2-D convolution (cross-correlation) over a batch of images.

    Args:
        x: (N, C, H, W) input.
        weight: (OC, C/groups, KH, KW), shaped like PyTorch's.
        bias: (OC,) or None.
        stride: int or (SH, SW).
        padding: int, (PH, PW), or ((PT, PB), (PL, PR)) for asymmetric padding such as
            TensorFlow's 'same' with an even total.
        groups: split channels into this many independent convolutions.
    Returns:
        (N, OC, OH, OW), OH = (H + PT + PB - KH) // SH + 1 (likewise OW).

    Memory: im2col copies the input once into col (N*OH*OW, C*KH*KW), KH*KW/(SH*SW) times the
    input, and nothing larger; forward keeps col for the weight gradient, and backward frees it
    before building gcol (the same size). Measured with tracemalloc
    (`python benchmarks/conv_memory.py`): for x (64, 64, 56, 56) float32 (51.4 MB), a 3x3 kernel,
    padding 1 and 64 output channels, col is 462.4 MB and the peak extra memory of
    forward+backward is 616.7 MB (12.0x the input: col or gcol, plus output-sized buffers).
    """
    return Conv2d(stride, padding, groups)(x, weight, bias)
