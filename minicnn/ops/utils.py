"""Small helpers shared by the window ops: argument normalisation and input checks."""
from minicnn.errors import ShapeError


def pair(value, op="", what="argument", minimum=1):
    """int -> (int, int); a pair stays a pair. Raises naming `op` and `what` if any is < minimum."""
    values = (value, value) if isinstance(value, int) else tuple(value)
    if len(values) != 2 or not all(isinstance(v, int) for v in values):
        raise ValueError(f"{op}: {what} must be an int or a pair of ints, got {value!r}")
    if min(values) < minimum:
        raise ValueError(f"{op}: {what} must be >= {minimum}, got {value!r}")
    return values


def padding4(padding, op=""):
    """int, (PH, PW) or ((PT, PB), (PL, PR)) -> (PT, PB, PL, PR), all >= 0."""
    if isinstance(padding, int) or (len(padding) == 2 and all(isinstance(p, int) for p in padding)):
        PH, PW = pair(padding, op, "padding", minimum=0)
        return (PH, PH, PW, PW)
    try:
        (PT, PB), (PL, PR) = padding
    except (TypeError, ValueError):
        raise ValueError(f"{op}: padding must be an int, (PH, PW) or ((top, bottom), "
                         f"(left, right)); got {padding!r}") from None
    pair((PT, PB), op, "padding", minimum=0)
    pair((PL, PR), op, "padding", minimum=0)
    return (PT, PB, PL, PR)


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
