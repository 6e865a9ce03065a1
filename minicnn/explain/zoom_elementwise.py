"""Zoom into ReLU and dropout: the mask, and the gradient passing through it."""
import numpy as np

from minicnn.explain.worked import check, g


def _first(condition, a=None):
    """Index of the first element where condition holds (preferring one whose arriving
    gradient is not zero, so the backward line shows something), or None."""
    if a is not None and "grad_out" in a and (condition & (a["grad_out"] != 0)).any():
        condition = condition & (a["grad_out"] != 0)
    where = np.argwhere(condition)
    return tuple(int(v) for v in where[0]) if len(where) else None


def relu(event, a):
    x, y = a["x"], a["out"]
    mask = x > 0
    lines = [f"mask = x > 0: {mask.mean():.1%} of the {x.size} elements pass, the rest become 0"]
    checks = []
    for index in (_first(x > 0, a), _first(x < 0, a)):
        if index is None:
            continue
        worked = max(x[index], 0.0)
        lines.append(f"  x{list(index)} = {g(x[index])} -> y = max(x, 0) = {g(worked)}")
        checks.append(check(f"y{list(index)}", worked, y[index]))
        if "grad_x" in a:
            gy = a["grad_out"][index]
            passed = gy * (x[index] > 0)
            lines.append(f"    backward: gx = gy * mask = {g(gy)} * {int(x[index] > 0)} "
                         f"= {g(passed)}")
            checks.append(check(f"gx{list(index)}", passed, a["grad_x"][index]))
    return lines, checks, None


def dropout(event, a):
    x, y = a["x"], a["out"]
    p = event["params"]["p"]
    scale = 1.0 / (1.0 - p)
    kept = (y != 0) | (x == 0)    # where x is 0 the mask cannot be seen in y: count it kept
    seen = x != 0
    lines = [f"p = {p:g}: each element is kept with probability {1 - p:g}",
             f"  and scaled by 1 / (1 - p) = {scale:.6g}, so evaluation needs no change",
             f"mask: {kept[seen].mean():.1%} of the {int(seen.sum())} non-zero inputs kept "
             f"this step"]
    checks = []
    for index, keep in ((_first(kept & (x != 0), a), True), (_first(~kept, a), False)):
        if index is None:
            continue
        worked = x[index] * scale if keep else 0.0
        lines.append(f"  x{list(index)} = {g(x[index])}, "
                     + (f"kept: y = x * {scale:.6g} = {g(worked)}" if keep else "dropped: y = 0"))
        checks.append(check(f"y{list(index)}", worked, y[index], abs(x[index] * scale)))
        if "grad_x" in a:
            worked_g = a["grad_out"][index] * (scale if keep else 0.0)
            lines.append(f"    backward: gx = gy * mask = {g(a['grad_out'][index])} * "
                         f"{scale if keep else 0:.6g} = {g(worked_g)}")
            checks.append(check(f"gx{list(index)}", worked_g, a["grad_x"][index]))
    return lines, checks, None
