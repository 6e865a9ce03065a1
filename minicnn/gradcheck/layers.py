"""Gradient-check a whole model layer by layer, in float64, on the inputs it really sees.

Each leaf layer is checked in isolation on the input it received inside the model (captured
with a forward hook), against sum(layer(x) * R) with a random R, at a sample of elements of its
input and of each parameter (the largest analytic gradients and random ones: large layers stay
fast). The whole model is also checked end to end by a directional derivative of the loss along
one random direction of all parameters at once (Chainer's check).

A point where the function has a kink within eps (a ReLU input near 0, a max-pool window with a
tie) has no derivative: the slopes to the right and to the left differ. Such an element is
counted as a kink and reported as such, never as a failure; every other element must match.
"""
import time
from dataclasses import dataclass

import numpy as np

import minicnn
import minicnn.functional as F
from minicnn import backend
from minicnn.core import Tensor
from minicnn.trace import trace


@dataclass
class Row:
    """The check of one layer (or of the model end to end)."""
    layer: str
    op: str
    max_abs_err: float
    max_rel_err: float
    checked: int          # elements compared
    kinks: int            # elements at a kink (ReLU near 0, max-pool tie): not failures
    passed: bool
    seconds: float


class Report(list):
    """A list of Rows; printed as one line per row (layer, op, errors, result, time)."""

    @property
    def passed(self):
        return all(row.passed for row in self)

    def __repr__(self):
        lines = [f"{'layer':<24}{'op':<20}{'max abs err':>12}{'max rel err':>12}"
                 f"{'checked':>8}  {'result':<13}{'time':>7}"]
        for r in self:
            result = ("pass" if r.passed else "FAIL") + (f" {r.kinks} kink"
                                                          if r.kinks else "")
            lines.append(f"{_cut(r.layer, 23):<24}{_cut(r.op, 19):<20}{r.max_abs_err:>12.3g}"
                         f"{r.max_rel_err:>12.3g}{r.checked:>8}  {result:<13}"
                         f"{r.seconds:>6.2f}s")
        failed = sum(not r.passed for r in self)
        lines.append(f"{len(self)} checks, {failed} failed")
        if any(r.kinks for r in self):
            lines.append(f"{sum(r.kinks for r in self)} elements sat on a kink (a ReLU input "
                         f"within eps of 0, a max-pool tie): no derivative, not counted")
        return "\n".join(lines)


def to_float64(model):
    """Convert every parameter and buffer of `model` to float64, in place (Module.to)."""
    return model.to(dtype=np.float64)


def check_model(model, x, y, samples=8, eps=1e-6, atol=1e-5, rtol=1e-3, seed=0):
    """Check every leaf layer of a float64 `model` on its real input `x` (N, C, H, W), then the
    model end to end with the softmax cross-entropy loss against labels `y`. Returns a Report."""
    report = Report()
    for path, module, inputs in capture_layer_inputs(model, x, seed):
        report.append(check_layer(path, module, inputs, samples, eps, atol, rtol, seed))
    report.append(check_end_to_end(model, x, y, eps, atol, rtol, seed))
    return report


def capture_layer_inputs(model, x, seed):
    """[(path, leaf module, copies of its positional inputs)] from one forward pass."""
    captured, handles = [], []
    for path, module in model.named_modules():
        if next(module.children(), None) is None and path:
            handles.append(module.register_forward_hook(
                lambda m, inputs, output, path=path: captured.append(
                    (path, m, [t.data.copy() for t in inputs], output is inputs[0]))))
    try:
        with minicnn.no_grad():
            minicnn.manual_seed(seed)
            model(Tensor(x))
    finally:
        for handle in handles:
            handle.remove()
    seen, layers = set(), []
    for path, module, inputs, is_identity in captured:
        if path not in seen and not is_identity:  # nn.Identity runs no op: nothing to check
            seen.add(path)
            layers.append((path, module, inputs))
    return layers


def check_layer(path, module, inputs, samples, eps, atol, rtol, seed):
    """Sampled central differences of sum(module(x) * R) w.r.t. x and the module's parameters."""
    start = time.perf_counter()
    xs = [Tensor(a.copy(), requires_grad=True) for a in inputs]
    params = list(module.parameters())
    targets = xs + params

    def f():
        minicnn.manual_seed(seed)  # the same dropout mask at every evaluation
        return module(*xs)

    with trace() as record:  # only to name the ops the layer runs
        out = f()
    op = "+".join(event["op"] for event in record.forward) or "-"
    R = np.random.default_rng(seed).standard_normal(out.shape)
    for t in targets:
        t.grad = None
    out.backward(R)
    analytic = [np.zeros(t.shape) if t.grad is None else backend.asnumpy(t.grad) for t in targets]
    loss = lambda: float((backend.asnumpy(f().data) * R).sum())  # noqa: E731
    errors, kinks = _compare_sampled(targets, analytic, loss, samples, eps, atol, rtol, seed)
    return _row(path, op, errors, kinks, start)


def check_end_to_end(model, x, y, eps, atol, rtol, seed):
    """d loss / d t along one random unit direction t of all parameters: numeric vs analytic.

    The point is first moved off exact kinks by a tiny random nudge of every parameter (undone
    afterwards): zero-initialised biases on inputs a ReLU zeroed give pre-activations of exactly
    0, where the loss has no derivative along the biases."""
    start = time.perf_counter()
    params = list(model.parameters())
    rng = np.random.default_rng(seed + 1)
    nudges = [(1e-3 * np.sqrt((p.data ** 2).mean()) + 1e-5) * rng.standard_normal(p.shape)
              for p in params]
    for p, nudge in zip(params, nudges):
        p.data += nudge
    try:
        return _directional(model, params, x, y, eps, atol, rtol, seed, rng, start)
    finally:
        for p, nudge in zip(params, nudges):
            p.data -= nudge


def _directional(model, params, x, y, eps, atol, rtol, seed, rng, start):
    direction = [rng.standard_normal(p.shape) for p in params]
    norm = np.sqrt(sum((d * d).sum() for d in direction))
    direction = [d / norm for d in direction]

    def loss():
        minicnn.manual_seed(seed)
        return F.softmax_cross_entropy(model(Tensor(x)), y)

    for p in params:
        p.grad = None
    loss().backward()
    analytic = sum(float((backend.asnumpy(p.grad) * d).sum())
                   for p, d in zip(params, direction) if p.grad is not None)

    def moved(step):
        for p, d in zip(params, direction):
            p.data += step * d
        with minicnn.no_grad():
            value = loss().item()
        for p, d in zip(params, direction):
            p.data -= step * d
        return value

    center, plus, minus = loss().item(), moved(eps), moved(-eps)
    error, kink = _classify(analytic, center, plus, minus, eps, atol, rtol)
    errors = [] if kink else [error]
    return _row("(whole model)", "directional", errors, int(kink), start)


def _compare_sampled(targets, analytic, loss, samples, eps, atol, rtol, seed):
    """[(abs err, rel err, ok)] at sampled elements of each target, and the number of kinks."""
    rng = np.random.default_rng(seed + 2)
    center = loss()
    errors, kinks = [], 0
    for tensor, grad in zip(targets, analytic):
        flat = tensor.data.reshape(-1)  # a view: perturbing it perturbs the tensor
        for k in _sample(grad, samples, rng):
            original = flat[k].item()
            flat[k] = original + eps
            plus = loss()
            flat[k] = original - eps
            minus = loss()
            flat[k] = original
            error, kink = _classify(grad.reshape(-1)[k], center, plus, minus, eps, atol, rtol)
            if kink:
                kinks += 1
            else:
                errors.append(error)
    return errors, kinks


def _sample(grad, count, rng):
    """Indices: the largest |analytic gradients| and as many random ones (no repeats)."""
    size = grad.size
    if size <= 2 * count:
        return range(size)
    largest = np.argsort(-np.abs(grad.reshape(-1)))[:count]
    random = rng.choice(size, count, replace=False)
    return sorted(set(largest.tolist()) | set(random.tolist()))


def _classify(analytic, center, plus, minus, eps, atol, rtol):
    """((abs err, rel err, ok), at_kink) of one analytic derivative against the numbers.

    At a kink the right slope (plus - center) / eps and the left slope (center - minus) / eps
    differ by more than the tolerance (a smooth function's differ by about eps * f''): there is
    no derivative to compare with, and the element is not counted."""
    numeric = (plus - minus) / (2 * eps)
    error = abs(analytic - numeric)
    ok = error <= atol + rtol * abs(numeric)
    rel = error / max(abs(numeric), 1e-12)
    if not ok:
        right, left = (plus - center) / eps, (center - minus) / eps
        if abs(right - left) > atol + rtol * max(abs(right), abs(left)):
            return (error, rel, ok), True
    return (error, rel, ok), False


def _row(layer, op, errors, kinks, start):
    abs_errors = [e[0] for e in errors] or [0.0]
    rel_errors = [e[1] for e in errors] or [0.0]
    return Row(layer, op, float(max(abs_errors)), float(max(rel_errors)), len(errors), kinks,
               all(e[2] for e in errors), time.perf_counter() - start)


def _cut(text, width):
    return text if len(text) <= width else "..." + text[-(width - 3):]
