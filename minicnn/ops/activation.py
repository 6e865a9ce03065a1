"""Elementwise nonlinearities: ReLU, sigmoid, tanh."""
from minicnn import backend, kernels
from minicnn.core import Function


class ReLU(Function):
    """max(x, 0); the gradient passes where x > 0. NaN stays NaN (a diverging model shows it)."""
    name = "relu"

    def forward(self, x):
        self.y = kernels.relu_forward(x)  # backward needs only y: x <= 0 exactly where y <= 0
        return self.y

    def backward(self, gy):
        return kernels.relu_backward(gy, self.y)


def relu(x):
    """max(x, 0), elementwise, any shape."""
    return ReLU()(x)


class Sigmoid(Function):
    """1 / (1 + exp(-x)), computed from e = exp(-|x|) so that neither sign overflows or flushes:
    x >= 0: 1 / (1 + e);  x < 0: e / (1 + e). The gradient y (1 - y) = e / (1 + e)^2 for both
    signs, so it stays accurate where 1 - y would round to 0."""
    name = "sigmoid"

    def forward(self, x):
        xp = backend.get_array_module(x)
        e = xp.exp(-xp.abs(x))
        self.e = e
        return xp.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)

    def backward(self, gy):
        return gy * (self.e / ((1 + self.e) * (1 + self.e)))


def sigmoid(x):
    """1 / (1 + exp(-x)), elementwise, any shape."""
    return Sigmoid()(x)


class Tanh(Function):
    name = "tanh"

    def forward(self, x):
        self.y = backend.get_array_module(x).tanh(x)
        return self.y

    def backward(self, gy):
        return gy * (1 - self.y * self.y)


def tanh(x):
    """tanh(x), elementwise, any shape."""
    return Tanh()(x)
