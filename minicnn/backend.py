"""The one place that chooses between NumPy (CPU) and CuPy (GPU).

Every op asks `xp = get_array_module(x)` and then writes `xp.zeros(...)`, so the same code runs on
both. No other module imports cupy.
"""
import numpy as np

from minicnn.errors import DeviceError

try:  # CuPy is the optional extra `minicnn[gpu]`
    import cupy
    _CUPY_ERROR = None
except Exception as error:  # ImportError, or a CUDA driver problem at import time
    cupy = None
    _CUPY_ERROR = error

_default_device = "cpu"


class GPUUnavailableError(DeviceError, ValueError):
    """'gpu' was asked for but cannot be used. Also a ValueError, so the commands, which print
    bad input as one `error: ...` line, report it the same way."""


def gpu_unavailable_reason():
    """None when the GPU can be used; otherwise one line saying why not and what to install."""
    if cupy is None:
        if isinstance(_CUPY_ERROR, ModuleNotFoundError):
            return ("CuPy is not installed; on a machine with an NVIDIA GPU run "
                    "`pip install minicnn[gpu]` (cupy-cuda12x; cupy-cuda13x for CUDA 13)")
        return (f"CuPy is installed but failed to import ({_first_line(_CUPY_ERROR)}); "
                f"reinstall the CuPy wheel matching the driver's CUDA "
                f"(cupy-cuda12x or cupy-cuda13x)")
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as error:  # no driver, or the driver is too old for this CuPy
        return (f"CuPy found no usable CUDA driver ({_first_line(error)}); "
                f"install the NVIDIA driver, or use --device cpu")
    if count == 0:
        return "CuPy sees no CUDA device; run on a machine with an NVIDIA GPU, or use --device cpu"
    return None


def _first_line(error):
    """'Type: first line of the message', so a multi-line driver error stays one line."""
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0] if lines else ''}"


def gpu_available():
    """True when CuPy imported and sees at least one CUDA device."""
    return gpu_unavailable_reason() is None


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
        raise ValueError(f"device: must be 'cpu' or 'gpu', got {device!r}; pass one of those")
    if device == "gpu":
        reason = gpu_unavailable_reason()
        if reason is not None:
            raise GPUUnavailableError(f"device 'gpu': {reason}")


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
