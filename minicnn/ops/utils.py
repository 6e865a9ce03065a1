"""Small helpers shared by the window ops: argument normalisation and input checks."""
from minicnn.errors import ShapeError


def pair(value):
    """int -> (int, int); a pair stays a pair."""
    if isinstance(value, int):
        return (value, value)
    value = tuple(value)
    if len(value) != 2 or not all(isinstance(v, int) for v in value):
        raise ValueError(f"expected an int or a pair of ints, got {value!r}")
    return value


def padding4(padding):
    """int, (PH, PW) or ((PT, PB), (PL, PR)) -> (PT, PB, PL, PR)."""
    if isinstance(padding, int):
        return (padding,) * 4
    padding = tuple(padding)
    if len(padding) == 2 and all(isinstance(p, int) for p in padding):
        return (padding[0], padding[0], padding[1], padding[1])
    if len(padding) == 2 and all(len(p) == 2 for p in padding):
        (PT, PB), (PL, PR) = padding
        if min(PT, PB, PL, PR) < 0:
            raise ValueError(f"padding must be >= 0, got {padding!r}")
        return (int(PT), int(PB), int(PL), int(PR))
    raise ValueError(f"padding must be an int, (PH, PW) or ((top, bottom), (left, right)); "
                     f"got {padding!r}")


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
