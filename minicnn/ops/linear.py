"""The fully connected layer: y = x @ W^T + b."""
from minicnn.core import Function
from minicnn.errors import ShapeError


class Linear(Function):
    name = "linear"

    def forward(self, x, W, b=None):
        if x.ndim != 2 or W.ndim != 2 or x.shape[1] != W.shape[1]:
            raise ShapeError(f"linear: input {x.shape} does not match weight {W.shape} "
                             f"(need input (N, in_features) and weight (out_features, "
                             f"in_features); flatten conv features first)")
        if b is not None and b.shape != (W.shape[0],):
            raise ShapeError(f"linear: bias must have shape ({W.shape[0]},), got {b.shape}")
        self.x, self.W, self.has_bias = x, W, b is not None
        y = x @ W.T
        if b is not None:
            y += b
        return y

    def backward(self, gy):
        gx = gy @ self.W
        gW = gy.T @ self.x
        gb = gy.sum(axis=0) if self.has_bias else None
        return gx, gW, gb


def linear(x, weight, bias=None):
    """x (N, in) @ weight(out, in)^T + bias (out,) -> (N, out); weight shaped like PyTorch's."""
    return Linear()(x, weight, bias)
