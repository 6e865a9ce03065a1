"""Running a trained model on images without building a graph: the one place commands do it.

`evaluate`, `predict` and the training loop's test pass all go through `logits` (one array of
images) or `logits_of_batches` (a whole split), which switch the model to eval mode (dropout
off, BatchNorm's running statistics) under `no_grad`, and restore the mode it had.
"""
import numpy as np

import minicnn
from minicnn import backend


def logits(model, x, device="cpu"):
    """x: (N, C, H, W) float32 NumPy, normalised as in training -> (N, K) NumPy logits."""
    was_training = model.training
    model.eval()
    try:
        with minicnn.no_grad():
            out = model(minicnn.Tensor(backend.to_device(x, device)))
    finally:
        model.train(was_training)
    return backend.asnumpy(out.data)


def logits_of_batches(model, batches, device="cpu"):
    """Run the model over an iterable of (x, y) batches (e.g. minicnn.data.Batches).

    Returns (logits (N, K) float NumPy, labels (N,) int64 NumPy) over every batch, in order.
    """
    outputs, labels = [], []
    for x, y in batches:
        outputs.append(logits(model, x, device))
        labels.append(np.asarray(y, dtype=np.int64))
    return np.concatenate(outputs), np.concatenate(labels)
