"""The random generator behind initialisation and dropout, seeded by `minicnn.manual_seed`.

One NumPy Generator serves the CPU; on the GPU, CuPy's generator is seeded alongside, so a seed
fixes both.
"""
import numpy as np

from minicnn import backend

_generator = np.random.default_rng(0)


def manual_seed(seed):
    """Seed every generator minicnn draws from (weights, dropout masks)."""
    global _generator
    _generator = np.random.default_rng(seed)
    if backend.gpu_available():
        backend.cupy.random.seed(seed)


def get_rng():
    """The NumPy Generator used for initialisation and CPU dropout."""
    return _generator


def get_state():
    """A picklable snapshot of the generator (for checkpoints that must resume exactly)."""
    return _generator.bit_generator.state


def set_state(state):
    """Restore a snapshot taken by `get_state`."""
    _generator.bit_generator.state = state


def uniform(low, high, shape, dtype, xp=np):
    """Uniform samples on the device of `xp`, drawn from the seeded generator."""
    if xp is np:
        return _generator.uniform(low, high, size=shape).astype(dtype)
    return xp.random.uniform(low, high, size=shape).astype(dtype)
