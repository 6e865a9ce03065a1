"""The one place that chooses between NumPy (CPU) and CuPy (GPU).

Every op asks `xp = get_array_module(x)` and then writes `xp.zeros(...)`, so the same code runs on
both. No other module imports cupy.
"""
import numpy as np

try:  # CuPy is the optional extra `minicnn[gpu]`
    import cupy
    _CUPY_ERROR = None
except Exception as error:  # ImportError, or a CUDA driver problem at import time
    cupy = None
    _CUPY_ERROR = error

_default_device = "cpu"


def gpu_available():
    """True when CuPy imported and sees at least one CUDA device."""
    if cupy is None:
        return False
    try:
        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


def get_array_module(*arrays):
    """Return `numpy` or `cupy`, whichever module the arrays belong to."""
    if cupy is not None:
        return cupy.get_array_module(*arrays)
    return np


def device_of(array):
    """'cpu' for a NumPy array (or a Python number), 'gpu' for a CuPy array."""
    if cupy is not None and isinstance(array, cupy.ndarray):
        return "gpu"
    return "cpu"


def _check_device_name(device):
    if device not in ("cpu", "gpu"):
        raise ValueError(f"device must be 'cpu' or 'gpu', got {device!r}")
    if device == "gpu" and not gpu_available():
        reason = f" ({_CUPY_ERROR})" if _CUPY_ERROR is not None else ""
        raise RuntimeError("device 'gpu' asked for, but CuPy or a CUDA device is not available"
                           f"{reason}; install `minicnn[gpu]` on a machine with an NVIDIA GPU")


def to_device(array, device):
    """Copy `array` to 'cpu' (NumPy) or 'gpu' (CuPy); returns it unchanged if already there."""
    _check_device_name(device)
    if device == "gpu":
        return cupy.asarray(array)
    return asnumpy(array)


def asnumpy(array):
    """A NumPy array of `array`, copying from the GPU if needed."""
    if cupy is not None and isinstance(array, cupy.ndarray):
        return cupy.asnumpy(array)
    return np.asarray(array)


def set_default_device(device):
    """Where new parameters are created: 'cpu' or 'gpu'."""
    global _default_device
    _check_device_name(device)
    _default_device = device


def get_default_device():
    return _default_device


def default_xp():
    """The array module of the default device."""
    return cupy if _default_device == "gpu" else np
