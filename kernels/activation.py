"""Reference ReLU kernels (NumPy or CuPy). The backward needs only the output y:

    y = max(x, 0)                 (NaN stays NaN, as in torch)
    gx = 0 where y <= 0, else gy  (y <= 0 exactly where x <= 0; NaN is not <= 0, so its
                                   gradient passes)

so ReLU keeps no mask: y is held by the graph anyway, as the next layer's input.
"""
from minicnn import backend


def relu_forward(x):
    """x (any shape) -> y = max(x, 0), x's dtype."""
    return backend.get_array_module(x).maximum(x, 0).astype(x.dtype, copy=False)


def relu_backward(gy, y):
    """gy, y (same shape) -> gx: gy where the output y was positive (or NaN), else 0."""
    xp = backend.get_array_module(gy)
    return xp.where(y <= 0, 0, gy).astype(gy.dtype, copy=False)
