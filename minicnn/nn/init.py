"""Weight initialisation, drawn from the generator seeded by `minicnn.manual_seed`."""
import math

from minicnn import backend, rng
from minicnn.core import DEFAULT_DTYPE


def kaiming_uniform(shape, fan_in):
    """PyTorch's default for Conv2d/Linear weights: U(-b, b), b = 1/sqrt(fan_in).

    (kaiming_uniform_ with a=sqrt(5): b = gain * sqrt(3 / fan_in), gain = sqrt(2 / (1 + a^2)).)
    """
    bound = 1.0 / math.sqrt(fan_in)
    return rng.uniform(-bound, bound, shape, DEFAULT_DTYPE, backend.default_xp())


def bias_uniform(size, fan_in):
    """PyTorch's default bias: U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    return kaiming_uniform((size,), fan_in)


def constant(shape, value):
    xp = backend.default_xp()
    return xp.full(shape, value, dtype=DEFAULT_DTYPE)
