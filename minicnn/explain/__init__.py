"""Step through one training step op by op: `python -m minicnn.explain lenet5 --step`.

From Python or Jupyter:

    record = minicnn.explain.step(model, x, y, optimizer)
    record                      # the text table (HTML in Jupyter)
    record.filter(op="conv2d")  # a slice of it
    record.zoom(3)              # the worked arithmetic of event 3, checked against the engine

The record is the one of `minicnn.trace` (docs/trace-record.md).
"""
import numpy as np

import minicnn.functional as F
from minicnn import backend
from minicnn.core import Tensor
from minicnn.trace import trace

__all__ = ["step"]


def step(model, x, y, optimizer, keep="all", class_names=None, name=None):
    """Run and record one training step: forward, softmax cross-entropy, backward, update.

    Args:
        model: an nn.Module (its current train/eval mode is used).
        x: (N, C, H, W) images (array or Tensor); y: (N,) integer labels.
        optimizer: a minicnn.optim optimizer over the model's parameters.
        keep: which arrays to keep ("all", "none" or module paths), as in minicnn.trace.trace.
        class_names: names of the classes, shown with the predictions.
    Returns:
        The Record, with record.batch = labels, predicted classes and probabilities.
    """
    x = x if isinstance(x, Tensor) else Tensor(x)
    with trace(model, keep=keep, optimizer=optimizer, name=name) as record:
        logits = model(x)
        loss = F.softmax_cross_entropy(logits, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    record.batch = _batch_summary(logits, y, class_names)
    return record


def _batch_summary(logits, y, class_names, limit=16):
    """Labels, predictions and class probabilities of the first `limit` images."""
    z = backend.asnumpy(logits.data).astype(np.float64)
    z = z - z.max(axis=1, keepdims=True)
    probabilities = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    labels = backend.asnumpy(y.data if isinstance(y, Tensor) else y)
    return {"labels": [int(v) for v in labels[:limit]],
            "predicted": [int(v) for v in probabilities[:limit].argmax(axis=1)],
            "probabilities": [[round(float(p), 6) for p in row] for row in probabilities[:limit]],
            "class_names": list(class_names) if class_names is not None else None}
