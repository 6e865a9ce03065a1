"""BatchNorm1d/2d (learnable gamma, beta; running statistics as buffers) and LRN."""
import minicnn.functional as F
from minicnn.nn import init
from minicnn.nn.module import Module, Parameter
from minicnn.ops.utils import as_int


class _BatchNorm(Module):
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        super().__init__()
        num_features = as_int(num_features, type(self).__name__, "num_features", minimum=1)
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.weight = Parameter(init.constant((num_features,), 1.0))   # gamma
        self.bias = Parameter(init.constant((num_features,), 0.0))     # beta
        self.register_buffer("running_mean", init.constant((num_features,), 0.0))
        self.register_buffer("running_var", init.constant((num_features,), 1.0))

    def forward(self, x):
        return F.batch_norm(x, self.weight, self.bias, self.running_mean, self.running_var,
                            self.training, self.momentum, self.eps)

    def extra_repr(self):
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"


class BatchNorm1d(_BatchNorm):
    """Normalises (N, C) features per C."""


class BatchNorm2d(_BatchNorm):
    """Normalises (N, C, H, W) feature maps per channel C."""


class LocalResponseNorm(Module):
    """Across-channel LRN (AlexNet); PyTorch's convention, see F.local_response_norm."""

    def __init__(self, size, alpha=1e-4, beta=0.75, k=2.0):
        super().__init__()
        size = as_int(size, "LocalResponseNorm", "size", minimum=1)
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, x):
        return F.local_response_norm(x, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self):
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"
