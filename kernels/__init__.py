"""Array-level hot loops of minicnn, installed as `minicnn.kernels`.

These functions take and return plain backend arrays (NumPy or CuPy), know nothing of autograd,
and are the only code that may branch on NumPy vs CuPy vs numba. Each fast version stays beside
a plain reference it is checked against.
"""
from minicnn.kernels.im2col import col2im, conv_output_size, fold, im2col, pad_input, window_view

__all__ = ["col2im", "conv_output_size", "fold", "im2col", "pad_input", "window_view"]
