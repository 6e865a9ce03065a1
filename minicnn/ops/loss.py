"""Softmax, log-softmax and the fused softmax cross-entropy loss."""
import numpy as np

from minicnn import backend
from minicnn.core import Function, Tensor
from minicnn.errors import DTypeError, ShapeError


def _log_softmax_array(x, axis):
    """Stable log-softmax of an array: subtract the max before exp so nothing overflows."""
    xp = backend.get_array_module(x)
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))


class Softmax(Function):
    name = "softmax"

    def __init__(self, axis):
        self.axis = axis

    def forward(self, x):
        xp = backend.get_array_module(x)
        self.y = xp.exp(_log_softmax_array(x, self.axis))
        return self.y

    def backward(self, gy):
        # J^T gy = y * (gy - sum(gy * y))
        return self.y * (gy - (gy * self.y).sum(axis=self.axis, keepdims=True))


def softmax(x, axis=-1):
    """exp(x) / sum(exp(x)) along `axis`, computed stably."""
    return Softmax(axis)(x)


class LogSoftmax(Function):
    name = "log_softmax"

    def __init__(self, axis):
        self.axis = axis

    def forward(self, x):
        self.y = _log_softmax_array(x, self.axis)
        return self.y

    def backward(self, gy):
        xp = backend.get_array_module(gy)
        return gy - xp.exp(self.y) * gy.sum(axis=self.axis, keepdims=True)


def log_softmax(x, axis=-1):
    """log(softmax(x)) along `axis`, computed stably (no log of 0)."""
    return LogSoftmax(axis)(x)


class SoftmaxCrossEntropy(Function):
    """loss = mean_n( -sum_k t[n, k] * log_softmax(z)[n, k] ); gradient (softmax(z) - t) / N."""
    name = "softmax_cross_entropy"

    def __init__(self, target):
        self.target = target

    def forward(self, logits):
        xp = backend.get_array_module(logits)
        if logits.ndim != 2:
            raise ShapeError(f"softmax_cross_entropy: logits must be (N, K), got {logits.shape}")
        self.probs_target = _target_probabilities(self.target, logits)     # (N, K)
        log_p = _log_softmax_array(logits, axis=1)
        self.softmax = xp.exp(log_p)
        # a class with target 0 adds nothing, even where its logit is -inf (0 * -inf is nan)
        terms = xp.where(self.probs_target != 0, log_p, 0) * self.probs_target
        N = logits.shape[0]
        loss = -terms.sum() / N if N else float("nan")  # an empty batch: nan, as in torch
        return xp.asarray(loss, dtype=logits.dtype)

    def backward(self, gy):
        N = self.softmax.shape[0]
        if N == 0:
            return backend.get_array_module(gy).zeros_like(self.softmax)
        return (self.softmax - self.probs_target) * (gy / N)


def softmax_cross_entropy(logits, target):
    """Mean cross-entropy of softmax(logits) against `target`.

    Args:
        logits: (N, K) scores.
        target: (N,) integer class labels in [0, K), or (N, K) probabilities (one-hot or soft).
    Returns:
        A scalar Tensor. Stable for large logits (|z| ~ 1e4): it never exponentiates z itself.
    """
    return SoftmaxCrossEntropy(target)(logits)


def _target_probabilities(target, logits):
    """Integer labels (N,) -> one-hot (N, K); a float (N, K) target is used as given."""
    xp = backend.get_array_module(logits)
    N, K = logits.shape
    if isinstance(target, Tensor):
        target = target.data
    # Labels given on the host are range-checked there: no blocking read from a GPU per step.
    checked = np.asarray(target) if backend.device_of(target) == "cpu" else target
    target = xp.asarray(target)
    if target.dtype.kind in "iu":
        if target.shape != (N,):
            raise ShapeError(f"softmax_cross_entropy: integer labels must have shape ({N},) "
                             f"for logits {logits.shape}, got {target.shape}")
        if N and (int(checked.min()) < 0 or int(checked.max()) >= K):
            raise ValueError(f"softmax_cross_entropy: labels must be in [0, {K}) for {K} "
                             f"classes, got values from {int(checked.min())} to "
                             f"{int(checked.max())}")
        one_hot = xp.zeros((N, K), dtype=logits.dtype)
        one_hot[xp.arange(N), target] = 1
        return one_hot
    if target.shape == (N,):  # float class labels, e.g. Tensor([0, 2]) (lists become float32)
        raise DTypeError(f"softmax_cross_entropy: class labels must be integers, got "
                         f"{target.dtype} of shape {target.shape}; pass np.array(labels) or "
                         f"labels.astype('int64')")
    if target.shape != logits.shape:
        raise ShapeError(f"softmax_cross_entropy: probability targets must match logits "
                         f"{logits.shape}, got {target.shape}")
    return target.astype(logits.dtype, copy=False)
