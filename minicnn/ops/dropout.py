"""Inverted dropout: zero a fraction p of activations in training, scale the rest by 1/(1-p)."""
from minicnn import backend, rng
from minicnn.core import Function, Tensor


class Dropout(Function):
    name = "dropout"

    def __init__(self, p):
        self.p = p

    def forward(self, x):
        xp = backend.get_array_module(x)
        keep = rng.uniform(0.0, 1.0, x.shape, x.dtype, xp) >= self.p
        self.mask = keep.astype(x.dtype) * (1.0 / (1.0 - self.p))  # scale now: eval is identity
        return x * self.mask

    def backward(self, gy):
        return gy * self.mask


def dropout(x, p=0.5, training=True):
    """Inverted dropout over any shape; the identity when not training or p == 0.

    The mask comes from the generator seeded by `minicnn.manual_seed`, so a fixed seed gives a
    fixed mask.
    """
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout: p must be in [0, 1), got {p}")
    if not training or p == 0.0:
        return x if isinstance(x, Tensor) else Tensor(x)
    return Dropout(p)(x)
