"""A reusable scratch buffer for the large, short-lived matrices of conv2d (col and gcol).

A fresh 150 MB NumPy array costs the operating system one page fault per 4 KB page on first
write: on a ResNet-18 layer that was 13% of the layer's forward + backward (measured,
benchmarks/NOTES.md). conv2d needs at most one col-sized matrix at a time (forward: col;
backward: col, then gcol), so one buffer that grows to the largest request serves them all.

    buffer = workspace.take((C * KH * KW, N * OH * OW), np.float32)   # a view, contents unset

The view is only valid until the next `take`: callers must be done with it by then (conv2d
frees col before taking gcol). `release()` gives the memory back. NumPy arrays only; for CuPy
the caller allocates as usual.
"""
import numpy as np

_buffer = np.empty(0, dtype=np.uint8)


def take(shape, dtype):
    """An uninitialised array of `shape` and `dtype` inside the shared buffer (grown if needed)."""
    global _buffer
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape)) * dtype.itemsize
    if _buffer.nbytes < nbytes:
        _buffer = np.empty(0, dtype=np.uint8)   # drop the old one before allocating
        _buffer = np.empty(nbytes, dtype=np.uint8)
    return _buffer[:nbytes].view(dtype).reshape(shape)


def release():
    """Free the buffer (the next `take` allocates again)."""
    global _buffer
    _buffer = np.empty(0, dtype=np.uint8)
