"""minicnn: a from-scratch CNN engine in NumPy where every number can be seen.

    import minicnn
    import minicnn.functional as F
    from minicnn import nn, optim
"""
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
