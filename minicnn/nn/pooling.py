"""Pooling layers (no parameters): each forward is one call into `minicnn.functional`."""
import minicnn.functional as F
from minicnn.nn.module import Module
from minicnn.ops.utils import compact_padding, padding4, pair


def _window_arguments(layer, kernel_size, stride, padding):
    """Normalised (kernel_size, stride, padding) of a pool layer; stride defaults to kernel."""
    kernel_size = pair(kernel_size, layer, "kernel_size")
    stride = kernel_size if stride is None else pair(stride, layer, "stride")
    return kernel_size, stride, compact_padding(padding4(padding, layer))


class MaxPool2d(Module):
    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size, self.stride, self.padding = _window_arguments(
            "MaxPool2d", kernel_size, stride, padding)

    def forward(self, x):
        return F.max_pool2d(x, self.kernel_size, self.stride, self.padding)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool2d(Module):
    def __init__(self, kernel_size, stride=None, padding=0, count_include_pad=True):
        super().__init__()
        self.kernel_size, self.stride, self.padding = _window_arguments(
            "AvgPool2d", kernel_size, stride, padding)
        self.count_include_pad = count_include_pad

    def forward(self, x):
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding,
                            self.count_include_pad)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class GlobalAvgPool2d(Module):
    """(N, C, H, W) -> (N, C)."""

    def forward(self, x):
        return F.global_avg_pool2d(x)


class GlobalMaxPool2d(Module):
    """(N, C, H, W) -> (N, C)."""

    def forward(self, x):
        return F.global_max_pool2d(x)
