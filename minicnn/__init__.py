"""minicnn: a from-scratch CNN engine in NumPy where every number can be seen.

    import minicnn
    import minicnn.functional as F
    from minicnn import nn, optim
"""
import os

# Before anything imports NumPy: OpenBLAS's idle threads spin for 2^28 cycles (~0.1 s) after
# every matrix product unless OPENBLAS_THREAD_TIMEOUT says otherwise, and on a small machine
# they take the cores from the numba kernels that run between the products (ResNet-18 step
# 1.70 -> 1.29-1.52 s). 2^4 cycles: they sleep at once. Read by OpenBLAS when NumPy loads it,
# so it has no effect if NumPy was imported first; an explicit setting is kept
# (kernels/__init__.py, "Threads").
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")


def _openmp_loaded():
    """Whether a GNU OpenMP runtime is already loaded in this process (Linux; else False)."""
    try:
        with open("/proc/self/maps") as maps:
            return "libgomp" in maps.read()
    except OSError:
        return False


# numba's kernels run on OpenMP threads (kernels/__init__.py): after each parallel loop they
# spin 10,000 rounds (tens of microseconds) before they sleep, instead of GNU OpenMP's default
# 300,000, long enough to catch the next kernel, too short to starve OpenBLAS. Read by libgomp
# when it loads; an explicit setting is kept. Both settings apply to the whole process. A
# runtime loaded before this import (PyTorch brings one) has read its spin count already: numba
# then stays on its workqueue layer (2x faster there than OpenMP at the default spin, measured).
_openmp_spin_applies = "GOMP_SPINCOUNT" in os.environ or not _openmp_loaded()
os.environ.setdefault("GOMP_SPINCOUNT", "10000")

from minicnn import backend, functional, nn, optim
from minicnn.core import Tensor, is_grad_enabled, no_grad
from minicnn.errors import DeviceError, DTypeError, GradcheckError, ShapeError
from minicnn.gradcheck import gradcheck
from minicnn.nn.module import Parameter
from minicnn.rng import manual_seed

__version__ = "0.1.0"

__all__ = [
    "Tensor", "Parameter", "no_grad", "is_grad_enabled", "manual_seed", "gradcheck",
    "functional", "nn", "optim", "backend",
    "ShapeError", "DTypeError", "DeviceError", "GradcheckError",
]
