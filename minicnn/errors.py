"""Errors with messages that name the op and the shapes involved."""


class ShapeError(ValueError):
    """Shapes that an op cannot combine (wrong rank, channel mismatch, ...)."""


class DTypeError(TypeError):
    """Mixed float32/float64 tensors, or a dtype an op cannot use."""


class DeviceError(RuntimeError):
    """Tensors on different devices (CPU NumPy vs GPU CuPy) in one op."""


class GradcheckError(AssertionError):
    """The analytic gradient disagrees with central differences."""
