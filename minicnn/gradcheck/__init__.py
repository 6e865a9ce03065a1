"""Numerical gradient checking: central differences in float64 against `backward()`.

The scalar checked is loss = sum(fn(*inputs) * R) with a random R. A plain sum would not do:
the sum of a softmax (always 1) or of a batch-normalised output (always sum(beta)) does not
depend on the input, so a backward that returned zeros would pass.
"""
import numpy as np

from minicnn import backend
from minicnn.core import Tensor
from minicnn.errors import DTypeError, GradcheckError


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, seed=0):
    """Compare analytic and numerical gradients of `fn` w.r.t. each float input.

    Args:
        fn: callable taking the Tensors in `inputs` and returning a Tensor.
        inputs: list of float64 Tensors; those with requires_grad=True are checked.
        eps: step of the central difference (f(x+eps) - f(x-eps)) / (2 eps).
        atol, rtol: an element passes when |analytic - numeric| <= atol + rtol * |numeric|.
        seed: seed of the random upstream gradient R.
    Returns:
        One report per checked input: dict(index, shape, max_abs_err, max_rel_err, passed).
    Raises:
        GradcheckError naming each failing input, its worst element and both values.
    """
    inputs = list(inputs)
    checked = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    for i in checked:
        if inputs[i].dtype != np.float64:
            raise DTypeError(f"gradcheck: input {i} is {inputs[i].dtype}; gradient checks need "
                             f"float64 (central differences are meaningless in float32)")
    output = fn(*inputs)
    R = np.random.default_rng(seed).standard_normal(output.shape)
    R = backend.get_array_module(output.data).asarray(R)
    for i in checked:
        inputs[i].grad = None
    output.backward(R)
    reports, failures = [], []
    for i in checked:
        analytic = backend.asnumpy(inputs[i].grad) if inputs[i].grad is not None else None
        if analytic is None:
            analytic = np.zeros(inputs[i].shape)
        numeric = _numerical_gradient(fn, inputs, i, R, eps)
        report = _compare(i, analytic, numeric, atol, rtol)
        reports.append(report)
        if not report["passed"]:
            failures.append(report["message"])
    if failures:
        raise GradcheckError("gradcheck failed:\n" + "\n".join(failures))
    return reports


def _numerical_gradient(fn, inputs, index, R, eps):
    """d sum(fn(*inputs) * R) / d inputs[index], element by element, central differences."""
    xp = backend.get_array_module(inputs[index].data)
    inputs[index].data = xp.ascontiguousarray(inputs[index].data)  # so reshape(-1) is a view
    x = inputs[index].data
    grad = np.zeros(x.shape)
    flat = x.reshape(-1)  # a view: writing to it perturbs the input in place
    for k in range(flat.size):
        original = flat[k].item()
        flat[k] = original + eps
        plus = float((fn(*inputs).data * R).sum())
        flat[k] = original - eps
        minus = float((fn(*inputs).data * R).sum())
        flat[k] = original
        grad.reshape(-1)[k] = (plus - minus) / (2 * eps)
    return grad


def _compare(index, analytic, numeric, atol, rtol):
    error = np.abs(analytic - numeric)
    rel = error / np.maximum(np.abs(numeric), 1e-12)
    bad = error > atol + rtol * np.abs(numeric)
    report = dict(index=index, shape=tuple(numeric.shape), max_abs_err=float(error.max(initial=0)),
                  max_rel_err=float(rel.max(initial=0)), passed=not bad.any())
    if bad.any():
        worst = np.unravel_index(np.argmax(error), error.shape)
        report["message"] = (
            f"  input {index} shape {numeric.shape}: {int(bad.sum())} of {bad.size} elements "
            f"off; worst at {tuple(int(w) for w in worst)}: analytic {analytic[worst]:.6g} vs "
            f"numeric {numeric[worst]:.6g} (max abs err {report['max_abs_err']:.3g}, "
            f"atol={atol}, rtol={rtol})")
    return report
