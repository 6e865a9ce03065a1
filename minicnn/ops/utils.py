"""Small helpers shared by the ops and layers: argument normalisation and input checks.

The one place where int-or-pair arguments (kernel size, stride, padding) and axes are checked
and normalised: the ops, the nn layers and the TensorFlow bridge all call these.
"""
import numbers

from minicnn.errors import ShapeError


def as_int(value, op, what, minimum=None):
    """A Python int from an int or NumPy integer (as torch accepts); a clear error otherwise.

    Floats are refused even when integral (stride=2.0), as torch does: a window size is a count.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{op}: {what} must be an int, got {value!r} "
                        f"({type(value).__name__}); pass a whole number such as 2")
    if minimum is not None and value < minimum:
        raise ValueError(f"{op}: {what} must be >= {minimum}, got {value!r}")
    return int(value)


def pair(value, op="", what="argument", minimum=1):
    """int -> (int, int); a pair stays a pair. Raises naming `op` and `what` if any is < minimum.

    NumPy integers count as ints; floats such as 1.5 get a TypeError naming `op` and `what`.
    """
    if isinstance(value, numbers.Integral):
        value = (value, value)
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise TypeError(f"{op}: {what} must be an int or a pair of ints, got {value!r}")
    for v in value:
        if isinstance(v, bool) or not isinstance(v, numbers.Integral):
            raise TypeError(f"{op}: {what} must be an int or a pair of ints, got {value!r}")
    if min(value) < minimum:
        raise ValueError(f"{op}: {what} must be >= {minimum}, got {value!r}")
    return int(value[0]), int(value[1])


def padding4(padding, op=""):
    """int, (PH, PW) or ((PT, PB), (PL, PR)) -> (PT, PB, PL, PR), all >= 0."""
    nested = (isinstance(padding, (tuple, list)) and len(padding) == 2
              and all(isinstance(p, (tuple, list)) for p in padding))
    if not nested:
        PH, PW = pair(padding, op, "padding", minimum=0)
        return (PH, PH, PW, PW)
    PT, PB = pair(padding[0], op, "padding", minimum=0)
    PL, PR = pair(padding[1], op, "padding", minimum=0)
    return (PT, PB, PL, PR)


def compact_padding(pads):
    """(PT, PB, PL, PR) -> (PH, PW) when symmetric, else ((PT, PB), (PL, PR)): how layers
    store and print padding; every form is accepted by `padding4` and the ops."""
    PT, PB, PL, PR = pads
    if PT == PB and PL == PR:
        return (PT, PL)
    return ((PT, PB), (PL, PR))


def normalize_axis(axis, ndim, op):
    """An axis in [-ndim, ndim) as a non-negative int; a clear error naming `op` otherwise."""
    if not isinstance(axis, numbers.Integral) or isinstance(axis, bool):
        raise TypeError(f"{op}: axis must be an int, got {axis!r}")
    if not -ndim <= axis < ndim:
        raise ShapeError(f"{op}: axis {axis} is out of range for {ndim}-D input; use an axis "
                         f"from {-ndim} to {ndim - 1}")
    return int(axis) % ndim


def check_nchw(op, x):
    """Raise a clear error unless x is a 4-D (N, C, H, W) array."""
    if x.ndim != 4:
        raise ShapeError(f"{op}: expected a 4-D input (N, C, H, W), got shape {x.shape}")


def check_window_fits(op, x_shape, KH, KW, pads):
    """Raise unless a KHxKW window fits inside the padded input."""
    H, W = x_shape[2:]
    PT, PB, PL, PR = pads
    if KH > H + PT + PB or KW > W + PL + PR:
        raise ShapeError(f"{op}: kernel {KH}x{KW} is larger than the padded input "
                         f"{H + PT + PB}x{W + PL + PR} (input {tuple(x_shape)}, padding "
                         f"{pads}); use a smaller kernel, more padding or a larger input")
