"""Shared pieces of the zooms: the arrays of an event, products written out, and checks of a
worked value against the value the engine computed."""
import numpy as np


def g(value):
    """A number for the worked arithmetic: 4 significant digits."""
    return f"{float(value):.4g}"


def plain(values, digits=7):
    """A NumPy array as nested lists of floats with `digits` significant digits (JSON-able,
    short enough for the explorer page)."""
    return np.asarray(np.vectorize(lambda v: float(f"{v:.{digits}g}"), otypes=[float])(
        np.asarray(values, dtype=np.float64))).tolist()


def arrays_of(record, event):
    """{slot name: float64 copy of its kept array} for an event (inputs, outputs, state)."""
    arrays = {}
    for slot in event["inputs"] + event["outputs"] + event.get("state", []):
        if slot is not None and slot["array"] is not None:
            arrays[slot["name"]] = record.arrays()[slot["array"]].astype(np.float64)
    if not arrays:
        raise ValueError(f"zoom: event {event['index']} kept no arrays; record the step with "
                         f"keep='all' (or keep=[{event['module']!r}])")
    return arrays


def backward_event(record, forward_index):
    """The backward event of forward event `forward_index`, or None (no gradient flowed)."""
    for event in record.backward:
        if event["forward_index"] == forward_index:
            return event
    return None


def sum_text(left, right, limit=3):
    """'a×b + c×d + ... (n terms)' for the elementwise products of two 1-D arrays; the terms
    shown are the first non-zero ones (after a ReLU many are 0)."""
    left, right = np.ravel(left), np.ravel(right)
    nonzero = np.flatnonzero(left * right)
    shown = nonzero[:limit] if len(nonzero) else np.arange(min(limit, left.size))
    parts = [f"{g(left[k])}×{g(right[k])}" for k in shown]
    if len(shown) == left.size:
        return " + ".join(parts)
    return " + ".join(parts) + f" + ... ({left.size} terms, {len(nonzero)} non-zero)"


def table_lines(rows, limit=10, width=9):
    """Rows of (label, values) as aligned columns: at most `limit` values, 3 digits each."""
    lines = []
    for label, values in rows:
        cells = "".join(f"{float(v):>{width}.3g}" for v in np.ravel(values)[:limit])
        lines.append(f"  {label:<8}{cells}")
    return lines


def values_text(values, limit=6):
    values = np.ravel(values)
    text = ", ".join(g(v) for v in values[:limit])
    return "[" + text + (f", ... ({values.size} values)]" if values.size > limit else "]")


def check(what, worked, engine, scale=None):
    """A worked value against the engine's: ok within float32 rounding of the terms summed
    (1e-4 of the sum of their magnitudes `scale`, or of |engine|)."""
    worked, engine = float(worked), float(engine)
    scale = abs(engine) if scale is None else float(scale)
    ok = abs(worked - engine) <= 1e-4 * scale + 1e-7
    return {"what": what, "worked": worked, "engine": engine, "ok": bool(ok)}


def check_line(c):
    verdict = "matches" if c["ok"] else "DOES NOT MATCH"
    return f"  check {c['what']}: worked {c['worked']:.7g}, engine {c['engine']:.7g}: {verdict}"
