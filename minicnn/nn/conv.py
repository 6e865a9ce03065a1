"""The convolution layer: owns weight (OC, C/groups, KH, KW) and bias (OC,)."""
import minicnn.functional as F
from minicnn.nn import init
from minicnn.nn.module import Module, Parameter
from minicnn.ops.utils import as_int, compact_padding, padding4, pair


class Conv2d(Module):
    """(N, in_channels, H, W) -> (N, out_channels, OH, OW); see `minicnn.functional.conv2d`."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, groups=1,
                 bias=True):
        super().__init__()
        in_channels = as_int(in_channels, "Conv2d", "in_channels", minimum=1)
        out_channels = as_int(out_channels, "Conv2d", "out_channels", minimum=1)
        groups = as_int(groups, "Conv2d", "groups", minimum=1)
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"Conv2d: groups={groups} must divide in_channels={in_channels} "
                             f"and out_channels={out_channels}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = pair(kernel_size, "Conv2d", "kernel_size")
        self.stride = pair(stride, "Conv2d", "stride")
        self.padding = compact_padding(padding4(padding, "Conv2d"))
        self.groups = groups
        KH, KW = self.kernel_size
        fan_in = in_channels // groups * KH * KW
        self.weight = Parameter(init.kaiming_uniform(
            (out_channels, in_channels // groups, KH, KW), fan_in))
        self.bias = Parameter(init.bias_uniform(out_channels, fan_in)) if bias else None

    def forward(self, x):
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.groups)

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}"
                + (f", groups={self.groups}" if self.groups != 1 else "")
                + (", bias=False" if self.bias is None else ""))
