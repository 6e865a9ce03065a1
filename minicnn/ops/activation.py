"""Elementwise nonlinearities: ReLU, sigmoid, tanh."""
from minicnn import backend
from minicnn.core import Function


class ReLU(Function):
    """max(x, 0); the gradient passes where x > 0."""
    name = "relu"

    def forward(self, x):
        xp = backend.get_array_module(x)
        self.mask = x > 0
        return xp.where(self.mask, x, 0).astype(x.dtype, copy=False)

    def backward(self, gy):
        return gy * self.mask


class Sigmoid(Function):
    """1 / (1 + exp(-x)), written as 0.5 * tanh(x / 2) + 0.5 so large |x| never overflows."""
    name = "sigmoid"

    def forward(self, x):
        xp = backend.get_array_module(x)
        self.y = xp.tanh(x * 0.5) * 0.5 + 0.5
        return self.y

    def backward(self, gy):
        return gy * self.y * (1 - self.y)


class Tanh(Function):
    name = "tanh"

    def forward(self, x):
        self.y = backend.get_array_module(x).tanh(x)
        return self.y

    def backward(self, gy):
        return gy * (1 - self.y * self.y)


def relu(x):
    """max(x, 0), elementwise, any shape."""
    return ReLU()(x)


def sigmoid(x):
    """1 / (1 + exp(-x)), elementwise, any shape."""
    return Sigmoid()(x)


def tanh(x):
    """tanh(x), elementwise, any shape."""
    return Tanh()(x)
