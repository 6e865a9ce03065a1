"""Compare two recorded steps of the same model: which weights moved most, which gradients
shrank (`record_a.diff(record_b)`)."""
import numpy as np

from minicnn.trace.stats import update_norms


class StepDiff:
    """Rows matched by parameter name (weights) and by (module, op, occurrence) (gradients).

    weights: [{param, ratio_a, ratio_b, moved}] sorted by how far each weight moved, largest
        first; ratio_* is ||dW|| / ||W|| of that step's update, moved is
        ||W after step b - W before step a|| / ||W before step a|| when both arrays were kept
        (else None, and the rows are sorted by ratio_b).
    gradients: [{key, norm_a, norm_b, change}] for the gradient arriving at each backward op,
        change = norm_b / norm_a, sorted from the most shrunk.
    """

    def __init__(self, a, b):
        self.weights = _weight_rows(a, b)
        self.gradients = _gradient_rows(a, b)

    def to_dict(self):
        return {"weights": self.weights, "gradients": self.gradients}

    def __repr__(self):
        lines = ["weights, moved most first:",
                 f"  {'parameter':<34}{'dW/W a':>11}{'dW/W b':>11}{'moved a->b':>12}"]
        for row in self.weights:
            lines.append(f"  {_cut(row['param'], 33):<34}{_g(row['ratio_a']):>11}"
                         f"{_g(row['ratio_b']):>11}{_g(row['moved']):>12}")
        lines += ["gradients arriving at each op, shrunk most first:",
                  f"  {'module / op #':<44}{'|g| a':>11}{'|g| b':>11}{'b/a':>9}"]
        for row in self.gradients:
            lines.append(f"  {_cut(row['key'], 43):<44}{_g(row['norm_a']):>11}"
                         f"{_g(row['norm_b']):>11}{_g(row['change']):>9}")
        return "\n".join(lines)


def _weight_rows(a, b):
    later = {e["update"]["param"]: e for e in b.updates}
    rows = []
    for event in a.updates:
        name = event["update"]["param"]
        if name not in later:
            continue
        other = later[name]
        rows.append({"param": name, "ratio_a": event["update"]["ratio"],
                     "ratio_b": other["update"]["ratio"], "moved": _moved(a, event, b, other)})
    key = "moved" if rows and all(r["moved"] is not None for r in rows) else "ratio_b"
    return sorted(rows, key=lambda r: -(r[key] or 0.0))


def _moved(a, event, b, other):
    try:
        before = a.array(event["index"], "before")
        after = b.array(other["index"], "after")
    except KeyError:
        return None
    return update_norms(before, after)[2]


def _gradient_rows(a, b):
    norms_b = _arriving_norms(b)
    rows = []
    for key, norm_a in _arriving_norms(a).items():
        norm_b = norms_b.get(key)
        if norm_b is None:
            continue
        change = norm_b / norm_a if norm_a else None
        rows.append({"key": key, "norm_a": norm_a, "norm_b": norm_b, "change": change})
    return sorted(rows, key=lambda r: np.inf if r["change"] is None else r["change"])


def _arriving_norms(record):
    """'module op #k' -> norm of the gradient arriving at the k-th such backward op."""
    seen, norms = {}, {}
    for event in record.backward:
        base = f"{event['module'] or '(top)'} {event['op']}"
        seen[base] = seen.get(base, 0) + 1
        norms[f"{base} #{seen[base]}"] = event["outputs"][0]["stats"]["norm"]
    return norms


def _g(value):
    return "-" if value is None else f"{value:.4g}"


def _cut(text, width):
    return text if len(text) <= width else "..." + text[-(width - 3):]
