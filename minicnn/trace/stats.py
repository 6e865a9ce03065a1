"""Summary statistics of one array and the JSON-able `Slot` that carries them.

A slot describes one array an op received or produced (docs/trace-record.md): its name, shape,
dtype, the model parameter it is (if any), statistics over its finite values, and the key of
the kept copy in `record.arrays()`.
"""
import numpy as np

from minicnn import backend


def summary_stats(array):
    """mean, std, min, max and L2 norm over the finite values (None if there are none),
    the fraction of exact zeros, and the counts of NaN and of +-inf. Sums run in float64."""
    xp = backend.get_array_module(array)
    a = array if array.dtype.kind == "f" else array.astype(np.float64)
    nan = int(xp.isnan(a).sum())
    inf = int(xp.isinf(a).sum())
    finite = a if nan + inf == 0 else a[xp.isfinite(a)]
    zero_frac = float((a == 0).sum()) / a.size if a.size else 0.0
    stats = {"mean": None, "std": None, "min": None, "max": None, "norm": None,
             "zero_frac": zero_frac, "nan": nan, "inf": inf}
    if finite.size:
        values = finite.astype(np.float64, copy=False)
        stats.update(mean=float(values.mean()), std=float(values.std()),
                     min=float(values.min()), max=float(values.max()),
                     norm=float(xp.sqrt((values * values).sum())))
    return stats


def update_norms(before, after):
    """(||W||, ||dW||, ||dW|| / ||W||) of one update, dW = after - before, in float64; the ratio
    is None when ||W|| is 0."""
    before = np.asarray(before, dtype=np.float64)
    norm_w = float(np.linalg.norm(before))
    norm_dw = float(np.linalg.norm(np.asarray(after, dtype=np.float64) - before))
    return norm_w, norm_dw, (norm_dw / norm_w if norm_w else None)


def make_slot(name, array, tensor=None, param=None, key=None):
    """The Slot dict of `array` (a backend array). tensor: the record-local id of the Tensor it
    belongs to (or None); param: the parameter's dotted name; key: its key in record.arrays()."""
    array = backend.get_array_module(array).asarray(array)
    return {"name": name, "shape": list(array.shape), "dtype": str(array.dtype),
            "param": param, "tensor": tensor, "stats": summary_stats(array), "array": key}
