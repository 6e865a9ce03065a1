"""2-D convolution as im2col + one matrix product per group (one batched matmul)."""
from minicnn import backend, kernels
from minicnn.core import Function
from minicnn.errors import ShapeError
from minicnn.kernels import col2im, conv_output_size, im2col
from minicnn.ops import conv_small_map, conv_winograd
from minicnn.ops.utils import as_int, check_nchw, check_window_fits, padding4, pair


class Conv2d(Function):
    """y[n, o] = sum_c W[o, c] * x[n, c] (cross-correlation, like every DL library) + b[o].

    col = im2col(x) is (C*KH*KW, N*OH*OW). With G groups, its rows split into G contiguous
    blocks (G, Cg*KH*KW, N*OH*OW) and the weights into (G, OC/G, Cg*KH*KW), so every product
    below is one batched matmul over the groups, and its cost falls with G:
        forward:  y_g = W_g @ col_g                      (G, OC/G, N*OH*OW)
        backward: gW_g = gy_g @ col_g^T,  gcol_g = W_g^T @ gy_g,  gx = col2im(gcol)
    With few channels per group (depthwise: one) on the CPU the products are too thin for BLAS
    and col is mostly overhead: a direct loop (kernels/grouped_numba.py) is used instead.
    A thin stride-1 convolution of one group (few output channels and taps per output: a
    network's first layers) runs as shifts of the flat padded image on the CPU
    (kernels/shifted_numba.py), no im2col.
    A kernel that covers the whole unpadded input (LeNet-5's C5) has one window per image:
    it is a fully connected layer, y = x.reshape(N, C*H*W) @ W.reshape(OC, C*KH*KW)^T + b.
    On a map with no more pixels than the kernel has taps (a 3x3 kernel on a 2x2 or 1x1 map)
    it is one too, with the taps gathered into a dense matrix, on the CPU (ops/conv_small_map.py).
    A 3x3 stride-1 convolution of one group takes the Winograd F(4x4, 3x3) path on the CPU
    (ops/conv_winograd.py), with 4x fewer multiplications in its products, when its products
    (OC, C) @ (C, T) are large enough to pay for the transforms.
    """
    name = "conv2d"
    DIRECT_MAX_GROUP_CHANNELS = 4  # groups of at most this many input channels loop directly
    SHIFTED_MAX_TAPS = 200         # stride-1, one-group layers take the shifted path with
    SHIFTED_MAX_MACS = 4608        # up to this many taps C*KH*KW, up to this many multiply-
    SHIFTED_MIN_LENGTH = 128       # adds OC*C*KH*KW per output pixel (few output channels:
    #                                thin im2col products; 4608 = VGG-11 (cpu)'s 16 -> 32 layer)
    #                                and flat planes (OH-1)*Wp + OW at least this long (vectors
    #                                long enough) (benchmarks/NOTES.md 23, 25)
    WINOGRAD_OVER_SHIFTED_PIXELS = 16 * 16  # a layer both paths take goes to Winograd on an
    #                                output map of up to this many pixels that its tiles cover
    #                                exactly (benchmarks/NOTES.md 29)
    SMALL_MAP_MAX_BYTES = 16 * 2**20  # the small-map path's dense matrix up to this size
    KEEP_COL_BYTES = 32 * 2**20    # a col up to this size is kept for backward, not rebuilt
    WINOGRAD_MIN_MACS = 2**21      # OC*C*N*OH*OW/4; at 2**21 VGG-11 (cpu)'s two im2col
    #                                layers join, 7-9% off its step (benchmarks/NOTES.md 11,
    #                                14, 18, 20, 27)
    KEEP_V_BYTES = 4 * 2**20       # Winograd's V up to this size is kept; rebuilding is cheap
    WINOGRAD_TILE = 4              # m of F(m x m, 3x3): 4 measured 7-17% faster than 2 on
    #                                ResNet-18, at 10x F(2x2)'s float32 rounding (NOTES.md 14)

    def __init__(self, stride, padding, groups):
        self.SH, self.SW = pair(stride, self.name, "stride")
        self.pads = padding4(padding, self.name)
        self.groups = as_int(groups, self.name, "groups", minimum=1)

    def forward(self, x, W, b=None):
        self._check(x, W, b)
        xp = backend.get_array_module(x)
        N, C, H, _ = x.shape
        OC, Cg, KH, KW = W.shape
        OH = conv_output_size(H, KH, self.SH, self.pads[0], self.pads[1])
        OW = conv_output_size(x.shape[3], KW, self.SW, self.pads[2], self.pads[3])
        self.x, self.W, self.has_bias = x, W, b is not None
        self.dense = self._is_fully_connected(x, W)
        if self.dense:
            y = x.reshape(N, -1) @ W.reshape(OC, -1).T              # (N, OC)
            y = y if b is None else y + b
            return y.astype(x.dtype, copy=False).reshape(N, OC, 1, 1)
        self.small_map = self._takes_small_map(x, W)
        if self.small_map:  # keeps x with its pixels first and the dense matrix D
            y, self.x_t, self.D = conv_small_map.forward(x, W, b, (self.SH, self.SW), self.pads)
            return y
        self.direct = (self.groups > 1 and Cg <= self.DIRECT_MAX_GROUP_CHANNELS
                       and kernels.use_numba(x))
        if self.direct:
            y = kernels.grouped_conv_forward(x, W, self.SH, self.SW, self.pads)
            return y if b is None else y + b.reshape(1, OC, 1, 1).astype(y.dtype)
        self.shifted = self._takes_shifted(x, W)
        if self.shifted:  # keeps the padded input for the weight gradient
            y, self.x_pad = kernels.shifted_conv_forward(x, W, b, self.pads)
            return y
        self.winograd = self._takes_winograd(x, W)
        if self.winograd:
            y, self.V = conv_winograd.forward(x, W, b, self.pads, self.KEEP_V_BYTES,
                                              self.WINOGRAD_TILE)
            return y
        # col (C*KH*KW, N*OH*OW): a small one is kept for backward; a large one lives in the
        # shared scratch buffer (kernels/workspace.py) and backward rebuilds it from x
        keep = C * KH * KW * N * OH * OW * x.itemsize <= self.KEEP_COL_BYTES
        col = im2col(x, KH, KW, self.SH, self.SW, self.pads, scratch=not keep)
        self.col = col if keep else None
        y = kernels.matmul(self._grouped_weight(W), self._grouped(col))  # (G, OC/G, N*OH*OW)
        y = y.reshape(OC, N, OH * OW).transpose(1, 0, 2)        # (N, OC, OH*OW), a view
        out = xp.empty((N, OC, OH, OW), dtype=x.dtype)
        if b is None:
            out.reshape(N, OC, OH * OW)[...] = y
        else:  # the bias is added during the copy into NCHW order
            xp.add(y, b.reshape(OC, 1), out=out.reshape(N, OC, OH * OW))
        # Keep x (above); col only when small: col is KH*KW/(SH*SW) times larger than x (9x for
        # a 3x3 kernel), and rebuilding it costs less than one of the three matrix products.
        return out

    def backward(self, gy):
        if self.dense:
            return self._dense_backward(gy)
        if self.small_map:
            gx, gW = conv_small_map.backward(gy, self.x.shape, self.W.shape, self.x_t, self.D,
                                             (self.SH, self.SW), self.pads,
                                             self.needs_input_grad[0])
            return gx, gW, gy.sum(axis=(0, 2, 3)) if self.has_bias else None
        if self.direct:
            return self._direct_backward(gy)
        if self.shifted:
            return self._shifted_backward(gy)
        if self.winograd:
            gx, gW = conv_winograd.backward(gy, self.x, self.W, self.V, self.pads,
                                            self.needs_input_grad[0], self.WINOGRAD_TILE)
            return gx, gW, gy.sum(axis=(0, 2, 3)) if self.has_bias else None
        xp = backend.get_array_module(gy)
        N, OC, OH, OW = gy.shape
        gy_rows = xp.ascontiguousarray(gy.reshape(N, OC, OH * OW).transpose(1, 0, 2))
        gy_rows = gy_rows.reshape(OC, N * OH * OW)              # (OC, N*OH*OW)
        gy_g = self._grouped(gy_rows)                           # (G, OC/G, N*OH*OW)
        KH, KW = self.W.shape[2:]
        col = self.col
        if col is None:
            col = im2col(self.x, KH, KW, self.SH, self.SW, self.pads, scratch=True)
        gW = self._weight_grad(gy_g, self._grouped(col)).reshape(self.W.shape)
        del col  # free the largest buffer before gcol is allocated
        gx = self._input_grad(gy_g) if self.needs_input_grad[0] else None
        gb = gy_rows.sum(axis=1) if self.has_bias else None
        return gx, gW, gb

    def _direct_backward(self, gy):
        args = (self.SH, self.SW, self.pads)
        gW = kernels.grouped_conv_backward_weight(gy, self.x, self.W.shape, *args)
        gx = None
        if self.needs_input_grad[0]:
            gx = kernels.grouped_conv_backward_input(gy, self.W, self.x.shape, *args)
        gb = gy.sum(axis=(0, 2, 3)) if self.has_bias else None
        return gx, gW, gb

    def _dense_backward(self, gy):
        gy2 = gy.reshape(gy.shape[0], -1)                              # (N, OC)
        x2, W2 = self.x.reshape(gy2.shape[0], -1), self.W.reshape(gy2.shape[1], -1)
        gx = (gy2 @ W2).reshape(self.x.shape) if self.needs_input_grad[0] else None
        gW = (gy2.T @ x2).reshape(self.W.shape)
        return gx, gW, gy2.sum(axis=0) if self.has_bias else None

    def _shifted_backward(self, gy):
        gW, gb = kernels.shifted_conv_backward_weight(gy, self.x_pad, self.W.shape)
        gx = None
        if self.needs_input_grad[0]:
            gx = kernels.shifted_conv_backward_input(gy, self.W, self.x.shape, self.pads)
        return gx, gW, gb if self.has_bias else None

    @staticmethod
    def _weight_grad(gy_g, col_g):
        """gW_g = gy_g @ col_g^T (G, OC/G, Cg*KH*KW), contiguous: the optimizers' elementwise
        updates ran 3x slower on a transposed view (Adam on ResNet-18's 11M weights: 110 vs 38
        ms per step, benchmarks/NOTES.md 18).

        For long products (N*OH*OW > Cg*KH*KW) it is computed as (col_g @ gy_g^T)^T, the
        orientation OpenBLAS runs fastest there (NOTES.md 1), and copied; for short ones the
        copy cost more than the product (10 vs 3.5 ms at 512 x 4608, NOTES.md 20), so directly.
        """
        if col_g.shape[2] <= col_g.shape[1]:
            return kernels.matmul(gy_g, col_g.transpose(0, 2, 1))
        gW_t = kernels.matmul(col_g, gy_g.transpose(0, 2, 1))
        return backend.get_array_module(gW_t).ascontiguousarray(gW_t.transpose(0, 2, 1))

    def _input_grad(self, gy_g):
        """gcol_g = W_g^T @ gy_g, then col2im back to the input's (N, C, H, W)."""
        W_g = self._grouped_weight(self.W)                      # (G, OC/G, Cg*KH*KW)
        gcol = kernels.matmul(W_g.transpose(0, 2, 1), gy_g, scratch=True)  # col's buffer
        gcol = gcol.reshape(gcol.shape[0] * gcol.shape[1], gcol.shape[2])  # (C*KH*KW, N*OH*OW)
        KH, KW = self.W.shape[2:]
        return col2im(gcol, self.x.shape, KH, KW, self.SH, self.SW, self.pads)

    def _is_fully_connected(self, x, W):
        """One window per image: the kernel covers the whole unpadded input, one group."""
        return (W.shape[2:] == x.shape[2:] and self.groups == 1
                and self.pads == (0, 0, 0, 0))

    def _takes_small_map(self, x, W):
        """No more input pixels than taps (no more multiply-adds than im2col), one group, the
        CPU, and a dense matrix (OC*OH*OW, H*W*C) of at most SMALL_MAP_MAX_BYTES."""
        OC, C, KH, KW = W.shape
        if self.groups != 1 or x.shape[2] * x.shape[3] > KH * KW or not kernels.use_numba(x):
            return False
        OH = conv_output_size(x.shape[2], KH, self.SH, self.pads[0], self.pads[1])
        OW = conv_output_size(x.shape[3], KW, self.SW, self.pads[2], self.pads[3])
        D_bytes = OC * OH * OW * x.shape[2] * x.shape[3] * C * x.itemsize
        return D_bytes <= self.SMALL_MAP_MAX_BYTES

    def _takes_shifted(self, x, W):
        if (self.SH, self.SW) != (1, 1) or self.groups != 1 or not kernels.use_numba(x):
            return False
        taps = W.shape[1] * W.shape[2] * W.shape[3]  # C*KH*KW: multiply-adds per output
        PT, PB, PL, PR = self.pads
        OH = conv_output_size(x.shape[2], W.shape[2], 1, PT, PB)
        OW = conv_output_size(x.shape[3], W.shape[3], 1, PL, PR)
        flat_length = (OH - 1) * (x.shape[3] + PL + PR) + OW  # output rows on rows of Wp
        thin = (taps <= self.SHIFTED_MAX_TAPS and W.shape[0] * taps <= self.SHIFTED_MAX_MACS
                and flat_length >= self.SHIFTED_MIN_LENGTH)
        return thin and not self._winograd_over_shifted(x, W, OH, OW)

    def _winograd_over_shifted(self, x, W, OH, OW):
        """A layer both paths can take goes to Winograd when its output map is small (the shifted
        kernels' planes are short) and Winograd's m x m tiles cover it with no padding."""
        m = self.WINOGRAD_TILE
        return (OH * OW <= self.WINOGRAD_OVER_SHIFTED_PIXELS and OH % m == 0 and OW % m == 0
                and self._takes_winograd(x, W))

    def _takes_winograd(self, x, W):
        if W.shape[2:] != (3, 3) or (self.SH, self.SW) != (1, 1) or self.groups != 1:
            return False
        m = self.WINOGRAD_TILE
        OH = conv_output_size(x.shape[2], 3, 1, self.pads[0], self.pads[1])
        OW = conv_output_size(x.shape[3], 3, 1, self.pads[2], self.pads[3])
        if OH < m or OW < m:  # a tile larger than the map computes mostly padding
            return False
        macs = W.shape[0] * x.shape[1] * x.shape[0] * OH * OW // 4   # OC*C*(N*OH*OW/4)
        return macs >= self.WINOGRAD_MIN_MACS and kernels.use_numba(x)

    def _grouped(self, rows):
        """(G*R, M) -> (G, R, M): the groups' blocks of rows, a view."""
        return rows.reshape(self.groups, rows.shape[0] // self.groups, rows.shape[1])

    def _grouped_weight(self, W):
        """(OC, Cg, KH, KW) -> (G, OC/G, Cg*KH*KW), a view."""
        return W.reshape(self.groups, W.shape[0] // self.groups, -1)

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

    Memory: im2col copies the input once into col (C*KH*KW, N*OH*OW), KH*KW/(SH*SW) times the
    input, and nothing larger. Forward frees col and keeps only a reference to x; backward
    rebuilds col for the weight gradient and frees it before building gcol (the same size), so
    a network holds one col at a time, not one per layer. On the CPU col and gcol share one
    scratch buffer (kernels/workspace.py) that stays allocated between calls. Measured with
    tracemalloc (`python benchmarks/conv_memory.py --no-winograd`): for x (64, 64, 56, 56)
    float32 (51.4 MB), a 3x3 kernel, padding 1 and 64 output channels, col is 462.4 MB and the
    peak extra memory of forward+backward is 616.7 MB (12.0x the input: col or gcol, plus
    output-sized buffers). On the CPU that layer takes the Winograd F(4x4, 3x3) path, whose
    transformed input and output are 2.25x the input and output: peak 335.3 MB (6.5x the
    input; `python benchmarks/conv_memory.py`).
    """
    return Conv2d(stride, padding, groups)(x, weight, bias)
