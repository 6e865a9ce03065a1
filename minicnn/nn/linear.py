"""The fully connected layer and the Flatten bridge in front of it."""
import minicnn.functional as F
from minicnn.nn import init
from minicnn.nn.module import Module, Parameter
from minicnn.ops.utils import as_int


class Linear(Module):
    """(N, in_features) -> (N, out_features); weight (out_features, in_features)."""

    def __init__(self, in_features, out_features, bias=True):
        super().__init__()
        in_features = as_int(in_features, "Linear", "in_features", minimum=1)
        out_features = as_int(out_features, "Linear", "out_features", minimum=1)
        self.in_features, self.out_features = in_features, out_features
        self.weight = Parameter(init.kaiming_uniform((out_features, in_features), in_features))
        self.bias = Parameter(init.bias_uniform(out_features, in_features)) if bias else None

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self):
        return f"{self.in_features}, {self.out_features}" + (
            ", bias=False" if self.bias is None else "")


class Flatten(Module):
    """(N, C, H, W) -> (N, C*H*W)."""

    def forward(self, x):
        return F.flatten(x)
