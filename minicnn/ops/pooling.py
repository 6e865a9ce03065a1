"""Max, average and global pooling over (N, C, H, W) windows."""
from minicnn import backend, kernels
from minicnn.core import Function
from minicnn.kernels import conv_output_size
from minicnn.ops.utils import check_nchw, check_window_fits, padding4, pair


class _Pool2d(Function):
    """Shared set-up of the windowed pools: kernel, stride (defaults to kernel), padding."""

    def __init__(self, kernel_size, stride, padding):
        self.KH, self.KW = pair(kernel_size, self.name, "kernel_size")
        self.SH, self.SW = pair(kernel_size if stride is None else stride, self.name, "stride")
        self.pads = padding4(padding, self.name)

    def _check(self, x, padding_may_fill_a_window=False):
        check_nchw(self.op_name, x)
        check_window_fits(self.op_name, x.shape, self.KH, self.KW, self.pads)
        if not padding_may_fill_a_window:
            self._check_windows_touch_input(x.shape)
        self.x_shape = x.shape

    def _check_windows_touch_input(self, x_shape):
        """A window wholly in the padding has no max (-inf) and no mean of real inputs (0/0)."""
        PT, PB, PL, PR = self.pads
        for size, K, S, before, after in ((x_shape[2], self.KH, self.SH, PT, PB),
                                          (x_shape[3], self.KW, self.SW, PL, PR)):
            last_start = (conv_output_size(size, K, S, before, after) - 1) * S - before
            if before >= K or last_start >= size:
                raise ValueError(
                    f"{self.op_name}: padding {self.pads} (top, bottom, left, right) puts a "
                    f"whole {self.KH}x{self.KW} window in the padding of input {x_shape}; "
                    f"use padding of at most half the kernel")


class MaxPool2d(_Pool2d):
    """Each output is the largest value in its window; padding counts as -inf."""
    name = "max_pool2d"

    def forward(self, x):
        self._check(x)
        y, self.argmax = kernels.max_pool_forward(x, self.KH, self.KW, self.SH, self.SW,
                                                  self.pads)
        return y

    def backward(self, gy):
        return kernels.max_pool_backward(gy, self.argmax, self.x_shape, self.KH, self.KW,
                                         self.SH, self.SW, self.pads)


def max_pool2d(x, kernel_size, stride=None, padding=0):
    """Max pooling. x (N, C, H, W) -> (N, C, OH, OW); stride defaults to kernel_size.

    padding: int, (PH, PW) or ((PT, PB), (PL, PR)); padded positions never win (they are -inf).
    Overlapping windows (AlexNet's 3x3 stride 2) route each gradient to its window's maximum and
    add up where windows share an input.
    """
    return MaxPool2d(kernel_size, stride, padding)(x)


class AvgPool2d(_Pool2d):
    """Each output is the mean of its window.

    count_include_pad=True divides by KH*KW (PyTorch's default); False divides by the number of
    real (unpadded) inputs in the window, as TensorFlow's 'same' average pooling does.
    """
    name = "avg_pool2d"

    def __init__(self, kernel_size, stride, padding, count_include_pad):
        super().__init__(kernel_size, stride, padding)
        self.count_include_pad = count_include_pad

    def forward(self, x):
        self._check(x, padding_may_fill_a_window=self.count_include_pad)  # such a window is 0
        self.counts = self._window_counts(x)                          # (OH, OW) or a number
        return kernels.avg_pool_forward(x, self.KH, self.KW, self.SH, self.SW, self.pads,
                                        self.counts)

    def backward(self, gy):
        return kernels.avg_pool_backward(gy, self.x_shape, self.KH, self.KW, self.SH, self.SW,
                                         self.pads, self.counts)

    def _window_counts(self, x):
        if self.count_include_pad:
            return float(self.KH * self.KW)
        xp = backend.get_array_module(x)
        ones = xp.ones((1, 1) + x.shape[2:], dtype=x.dtype)
        ones_pad = kernels.pad_input(ones, self.pads, 0.0)
        windows = kernels.window_view(ones_pad, self.KH, self.KW, self.SH, self.SW)
        return windows.sum(axis=(4, 5))[0, 0]


def avg_pool2d(x, kernel_size, stride=None, padding=0, count_include_pad=True):
    """Average pooling. x (N, C, H, W) -> (N, C, OH, OW); see `AvgPool2d` for the padding rule."""
    return AvgPool2d(kernel_size, stride, padding, count_include_pad)(x)


class GlobalAvgPool2d(Function):
    """(N, C, H, W) -> (N, C): the mean of each feature map (NiN, GoogLeNet, ResNet heads)."""
    name = "global_avg_pool2d"

    def forward(self, x):
        check_nchw(self.op_name, x)
        self.x_shape = x.shape
        return x.mean(axis=(2, 3))

    def backward(self, gy):
        xp = backend.get_array_module(gy)
        H, W = self.x_shape[2:]
        return xp.broadcast_to((gy / (H * W))[:, :, None, None], self.x_shape).copy()


def global_avg_pool2d(x):
    """(N, C, H, W) -> (N, C) mean over each feature map."""
    return GlobalAvgPool2d()(x)


class GlobalMaxPool2d(Function):
    """(N, C, H, W) -> (N, C): the largest value of each feature map."""
    name = "global_max_pool2d"

    def forward(self, x):
        check_nchw(self.op_name, x)
        xp = backend.get_array_module(x)
        N, C, H, W = x.shape
        self.x_shape = x.shape
        flat = x.reshape(N, C, H * W)  # not -1: it cannot be inferred when N = 0
        self.argmax = flat.argmax(axis=-1)                         # (N, C)
        return xp.take_along_axis(flat, self.argmax[..., None], axis=-1)[..., 0]

    def backward(self, gy):
        xp = backend.get_array_module(gy)
        N, C = gy.shape
        gx = xp.zeros((N, C, self.x_shape[2] * self.x_shape[3]), dtype=gy.dtype)
        xp.put_along_axis(gx, self.argmax[..., None], gy[..., None], axis=-1)
        return gx.reshape(self.x_shape)


def global_max_pool2d(x):
    """(N, C, H, W) -> (N, C) max over each feature map."""
    return GlobalMaxPool2d()(x)
