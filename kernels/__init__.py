"""Array-level hot loops of minicnn, installed as `minicnn.kernels`.

These functions take and return plain backend arrays (NumPy or CuPy) and know nothing of
autograd. Each fast version sits beside a plain reference it is tested against:

    activation.py     reference ReLU forward and backward (from the output y; NumPy or CuPy)
    activation_numba.py  the same, one parallel pass each, for NumPy arrays
    windows.py        reference im2col / col2im / window_view / fold (NumPy or CuPy)
    windows_numba.py  numba im2col / col2im for NumPy arrays
    pooling.py        reference max / avg pooling kernels (NumPy or CuPy)
    pooling_numba.py  numba max pooling for NumPy arrays
    workspace.py      one reusable scratch buffer for conv2d's col and gcol matrices
    blas_threads.py   stacked matrix products shared out among the cores, one BLAS thread each
    memory.py         keeps freed arrays' memory in the process (glibc malloc thresholds)
    batchnorm.py      reference batch-norm statistics, forward and backward (NumPy or CuPy)
    batchnorm_numba.py  the same, two passes over memory, for NumPy arrays
    lrn.py            reference local response normalisation, forward and backward
    lrn_numba.py      the same, one pass per step, for NumPy arrays
    grouped.py        reference direct grouped convolution (einsum over the window view)
    grouped_numba.py  numba direct grouped / depthwise convolution for NumPy arrays
    shifted_numba.py  numba stride-1 convolution as shifts of the flat padded image (few taps;
                      its reference is grouped.py with one group)
    winograd.py       reference Winograd F(2x2, 3x3) and F(4x4, 3x3) transforms (einsum)
    winograd_numba.py the tile transforms as additions, for NumPy arrays
    cuda.py, cuda_src/  CUDA C kernels for CuPy arrays (compiled by CuPy on first use)

The functions below pick the numba version for NumPy arrays, the CUDA kernels for CuPy arrays,
and the reference when MINICNN_KERNELS=reference is in the environment (e.g. to compare them).

Threads. Two pools share the cores: numba's (the kernels here) and OpenBLAS's (NumPy's matrix
products). They never run at the same time (a layer calls one, then the other), so both use
every core by default, and each pool's idle threads must sleep rather than spin: importing
minicnn sets OPENBLAS_THREAD_TIMEOUT=4 unless it is set (minicnn/__init__.py; it only takes
effect when minicnn is imported before NumPy, or when set before Python starts). numba uses
its OpenMP layer, whose threads spin only briefly after a loop (GOMP_SPINCOUNT=10000, also set
on import), and falls back to the workqueue layer where OpenMP cannot load or was loaded before
minicnn with its default spin (import minicnn before torch; see below). Stacked products
(Winograd's, grouped convolution's) run on numba's threads, each thread calling OpenBLAS for
whole products while OpenBLAS's own count is set to 1 (`blas_threads.py`).
MINICNN_NUM_THREADS=k caps numba at k threads, e.g. on a machine shared with other jobs;
OpenBLAS reads OPENBLAS_NUM_THREADS (or OMP_NUM_THREADS) when NumPy is first imported, so set
both before starting Python to cap the whole process.

Memory. Importing this module raises glibc's malloc thresholds so that freed feature maps are
reused instead of page-faulting fresh memory every step (`memory.py`; MINICNN_MALLOC=system
opts out).
"""
import os
import warnings

import numpy as np

from minicnn import backend
from minicnn.kernels import (
    activation,
    batchnorm,
    cuda,
    grouped,
    lrn,
    memory,
    pooling,
    windows,
    winograd,
    workspace,
)
from minicnn.kernels.windows import conv_output_size, fold, pad_input, window_view

memory.keep_freed_memory()


def _threading_layer():
    """numba's threading layer: "omp" where its OpenMP pool loads and minicnn's spin count
    applies, else "workqueue".

    A parallel loop costs ~1.5 us to start on OpenMP against ~80 us on the workqueue layer,
    whose threads sleep between loops: ResNet-18 and LeNet-5 steps 12-19% faster (benchmarks/
    NOTES.md 21). GNU OpenMP's default spinning after each loop starved OpenBLAS's threads
    (LeNet-5 training 3x slower); minicnn/__init__.py shortens it (GOMP_SPINCOUNT), unless an
    OpenMP runtime was loaded before minicnn (e.g. by importing torch first).
    """
    import minicnn
    if not minicnn._openmp_spin_applies:
        return "workqueue"
    try:
        from numba.np.ufunc import omppool  # noqa: F401  (needs the system's libgomp)
    except ImportError:
        return "workqueue"
    return "omp"


try:
    import numba
    if "NUMBA_THREADING_LAYER" not in os.environ:
        numba.config.THREADING_LAYER = _threading_layer()
    _threads = os.environ.get("MINICNN_NUM_THREADS", "")
    if _threads.isdigit() and 1 <= int(_threads) <= numba.config.NUMBA_NUM_THREADS:
        numba.set_num_threads(int(_threads))
    elif _threads:
        warnings.warn(f"MINICNN_NUM_THREADS={_threads!r} is not a thread count from 1 to "
                      f"{numba.config.NUMBA_NUM_THREADS}; using every core")
    from minicnn.kernels import (
        activation_numba,
        batchnorm_numba,
        blas_threads,
        grouped_numba,
        lrn_numba,
        pooling_numba,
        shifted_numba,
        windows_numba,
        winograd_numba,
    )
except ImportError:  # numba missing or broken: the references still work
    activation_numba = batchnorm_numba = blas_threads = grouped_numba = lrn_numba = None
    pooling_numba = None
    shifted_numba = windows_numba = winograd_numba = None

__all__ = ["im2col", "col2im", "max_pool_forward", "max_pool_backward", "avg_pool_forward",
           "avg_pool_backward", "conv_output_size", "fold", "pad_input", "window_view",
           "grouped_conv_forward", "grouped_conv_backward_input",
           "grouped_conv_backward_weight", "shifted_conv_forward",
           "shifted_conv_backward_weight", "shifted_conv_backward_input", "matmul",
           "batch_norm_stats", "batch_norm_forward",
           "batch_norm_backward", "relu_forward", "relu_backward", "lrn_forward", "lrn_backward",
           "winograd_weight_transform", "winograd_weight_grad_transform",
           "winograd_input_transform", "winograd_output_transform",
           "winograd_output_grad_transform", "winograd_input_grad_transform", "use_numba"]


def use_numba(array):
    """True when `array` is a NumPy array and the numba kernels are enabled."""
    if windows_numba is None or os.environ.get("MINICNN_KERNELS", "numba") == "reference":
        return False
    return backend.device_of(array) == "cpu"


def im2col(x, KH, KW, SH, SW, pads, scratch=False):
    """(N, C, H, W) -> col (C*KH*KW, N*OH*OW); see `windows.im2col`.

    scratch=True (numba path only) fills the shared `workspace` buffer instead of a new array:
    the result is valid until the next scratch request.
    """
    if cuda.use_cuda(x):
        return cuda.im2col(x, KH, KW, SH, SW, pads)
    if not use_numba(x):
        return windows.im2col(x, KH, KW, SH, SW, pads)
    out = None
    if scratch:
        OH, OW = windows_numba.output_size(x.shape, KH, KW, SH, SW, pads)
        out = workspace.take((x.shape[1] * KH * KW, x.shape[0] * OH * OW), x.dtype)
    return windows_numba.im2col(x, KH, KW, SH, SW, pads, out)


def matmul(a, b, scratch=False):
    """(G, M, K) @ (G, K, P) -> (G, M, P): one BLAS product per group.

    A loop of 2-D products, because NumPy's stacked matmul leaves BLAS for some shapes
    (measured 5x slower on LeNet-5's second layer, benchmarks/NOTES.md). For NumPy arrays the
    groups are shared out among the cores, one BLAS thread each (`blas_threads.py`).
    scratch=True puts a NumPy result in the shared `workspace` buffer (valid until the next
    scratch request).
    """
    xp = backend.get_array_module(a)
    shape, dtype = (a.shape[0], a.shape[1], b.shape[2]), np.result_type(a, b)
    if use_numba(a):
        out = workspace.take(shape, dtype) if scratch else np.empty(shape, dtype=dtype)
        return blas_threads.grouped_matmul(a, b, out)
    out = xp.empty(shape, dtype=dtype)
    for g in range(a.shape[0]):
        xp.matmul(a[g], b[g], out=out[g])
    return out


def col2im(col, x_shape, KH, KW, SH, SW, pads):
    """(C*KH*KW, N*OH*OW) -> (N, C, H, W), overlapping entries summed; see `windows.col2im`."""
    if cuda.use_cuda(col):
        return cuda.col2im(col, x_shape, KH, KW, SH, SW, pads)
    impl = windows_numba if use_numba(col) else windows
    return impl.col2im(col, x_shape, KH, KW, SH, SW, pads)


def relu_forward(x):
    """x (any shape) -> y = max(x, 0), NaN kept; see `activation.py`."""
    impl = activation_numba if use_numba(x) else activation
    return impl.relu_forward(x)


def relu_backward(gy, y):
    """gy, y (the forward's output, same shape) -> gx: 0 where y <= 0, else gy."""
    impl = activation_numba if use_numba(gy) else activation
    return impl.relu_backward(gy, y)


def lrn_forward(x, size, alpha, beta, k):
    """x (N, C, H, W) -> (y, scale), both (N, C, H, W); see `lrn.py` for the formulas."""
    impl = lrn_numba if use_numba(x) else lrn
    return impl.lrn_forward(x, size, alpha, beta, k)


def lrn_backward(gy, x, y, scale, size, alpha, beta):
    """gy (N, C, H, W) -> gx, from the forward's x, y and scale; see `lrn.py`."""
    impl = lrn_numba if use_numba(gy) else lrn
    return impl.lrn_backward(gy, x, y, scale, size, alpha, beta)


def max_pool_forward(x, KH, KW, SH, SW, pads):
    """(N, C, H, W) -> (y, argmax), both (N, C, OH, OW); see `pooling.max_pool_forward`."""
    if cuda.use_cuda(x):
        return cuda.max_pool_forward(x, KH, KW, SH, SW, pads)
    impl = pooling_numba if use_numba(x) else pooling
    return impl.max_pool_forward(x, KH, KW, SH, SW, pads)


def max_pool_backward(gy, argmax, x_shape, KH, KW, SH, SW, pads):
    """gy (N, C, OH, OW) -> gx (N, C, H, W); see `pooling.max_pool_backward`."""
    if cuda.use_cuda(gy):
        return cuda.max_pool_backward(gy, argmax, x_shape, KH, KW, SH, SW, pads)
    impl = pooling_numba if use_numba(gy) else pooling
    return impl.max_pool_backward(gy, argmax, x_shape, KH, KW, SH, SW, pads)


def avg_pool_forward(x, KH, KW, SH, SW, pads, counts):
    """(N, C, H, W) -> (N, C, OH, OW) window means; see `pooling.avg_pool_forward`."""
    impl = cuda if cuda.use_cuda(x) else pooling
    return impl.avg_pool_forward(x, KH, KW, SH, SW, pads, counts)


def avg_pool_backward(gy, x_shape, KH, KW, SH, SW, pads, counts):
    """gy (N, C, OH, OW) -> gx (N, C, H, W); see `pooling.avg_pool_backward`."""
    impl = cuda if cuda.use_cuda(gy) else pooling
    return impl.avg_pool_backward(gy, x_shape, KH, KW, SH, SW, pads, counts)


def grouped_conv_forward(x, W, SH, SW, pads):
    """Direct grouped convolution, x (N, C, H, W) -> (N, OC, OH, OW); see `grouped.py`."""
    impl = grouped_numba if use_numba(x) else grouped
    return impl.grouped_conv_forward(x, W, SH, SW, pads)


def grouped_conv_backward_input(gy, W, x_shape, SH, SW, pads):
    """gy (N, OC, OH, OW) -> gx (N, C, H, W) of the direct grouped convolution."""
    impl = grouped_numba if use_numba(gy) else grouped
    return impl.grouped_conv_backward_input(gy, W, x_shape, SH, SW, pads)


def grouped_conv_backward_weight(gy, x, W_shape, SH, SW, pads):
    """gy (N, OC, OH, OW), x (N, C, H, W) -> gW (OC, C/G, KH, KW)."""
    impl = grouped_numba if use_numba(gy) else grouped
    return impl.grouped_conv_backward_weight(gy, x, W_shape, SH, SW, pads)


def shifted_conv_forward(x, W, b, pads):
    """Stride-1, one-group convolution -> (y (N, OC, OH, OW), x_pad); see shifted_numba.py."""
    if use_numba(x):
        return shifted_numba.shifted_conv_forward(x, W, b, pads)
    y = grouped.grouped_conv_forward(x, W, 1, 1, pads)
    return (y if b is None else y + b.reshape(1, -1, 1, 1)), pad_input(x, pads)


def shifted_conv_backward_weight(gy, x_pad, W_shape):
    """gy (N, OC, OH, OW), padded input (N, C, Hp, Wp) -> (gW (OC, C, KH, KW), gb (OC,)).

    The numba kernel's thrown-away columns (and its rounded-up tail, which reads on into the
    next channel or image) multiply input pixels by 0, so an infinite or NaN pixel can spread
    NaN to taps that never meet it; a non-finite gW is therefore recomputed from the exact
    pairs (the reference), as PyTorch would give it.
    """
    if use_numba(gy):
        gW, gb = shifted_numba.shifted_conv_backward_weight(gy, x_pad, W_shape)
        if np.isfinite(gW).all():
            return gW, gb
    no_pads = (0, 0, 0, 0)
    return (grouped.grouped_conv_backward_weight(gy, x_pad, W_shape, 1, 1, no_pads),
            gy.sum(axis=(0, 2, 3)))


def shifted_conv_backward_input(gy, W, x_shape, pads):
    """gy (N, OC, OH, OW) -> gx (N, C, H, W) of the stride-1, one-group convolution.

    Non-finite weights take the reference: the kernel multiplies them by the zeros between
    output rows (0 * inf is NaN).
    """
    if use_numba(gy) and np.isfinite(W).all():
        return shifted_numba.shifted_conv_backward_input(gy, W, x_shape, pads)
    return grouped.grouped_conv_backward_input(gy, W, x_shape, 1, 1, pads)


def batch_norm_stats(x):
    """Per-channel mean and biased variance of (N, C[, H, W]), each (C,); see batchnorm.py."""
    impl = batchnorm_numba if use_numba(x) else batchnorm
    return impl.batch_norm_stats(x)


def batch_norm_forward(x, mean, inv_std, gamma=None, beta=None, need_xhat=True):
    """(xhat, y) of batch normalisation with the given per-channel statistics (xhat None
    when need_xhat is False: the forward pass, which keeps x instead)."""
    impl = batchnorm_numba if use_numba(x) else batchnorm
    return impl.batch_norm_forward(x, mean, inv_std, gamma, beta, need_xhat)


def batch_norm_backward(gy, xhat, inv_std, gamma=None, training=True, mean=None):
    """(gx, ggamma, gbeta) of batch normalisation; see batchnorm.py for the formulas. With
    `mean` (C values), the second argument is the input x instead of xhat; the numba kernel
    then normalises it as it reads it, one pass less over memory."""
    impl = batchnorm_numba if use_numba(gy) else batchnorm
    return impl.batch_norm_backward(gy, xhat, inv_std, gamma, training, mean)


# ----- Winograd F(m x m, 3x3), m = 2 or 4 (kernels/winograd.py); T = N*ceil(OH/m)*ceil(OW/m) --
winograd_weight_transform = winograd.weight_transform  # (OC, C, 3, 3) -> ((m+2)^2, OC, C)
winograd_weight_grad_transform = winograd.weight_grad_transform  # ((m+2)^2, OC, C) -> W's shape


def winograd_input_transform(x, pads, scratch=False, m=2):
    """x (N, C, H, W) -> V ((m+2)^2, C, T); on the numba path the transposed view of a
    C-contiguous ((m+2)^2, T, C). scratch=True (numba path only) fills the shared `workspace`
    buffer instead of a new array (valid until the next scratch request)."""
    if not use_numba(x):
        return winograd.input_transform(x, pads, m)
    out = None
    if scratch:
        TH, TW = winograd.input_tiles(x.shape, pads, m)
        out = workspace.take(((m + 2) ** 2, x.shape[0] * TH * TW, x.shape[1]), x.dtype)
    return winograd_numba.input_transform(x, pads, out, m)


def winograd_output_transform(M, N, OH, OW, b=None):
    """M ((m+2)^2, OC, T) -> y (N, OC, OH, OW), plus the bias b (OC,) when given."""
    impl = winograd_numba if use_numba(M) else winograd
    return impl.output_transform(M, N, OH, OW, b)


def winograd_output_grad_transform(gy, m=2):
    """gy (N, OC, OH, OW) -> gM ((m+2)^2, OC, T)."""
    impl = winograd_numba if use_numba(gy) else winograd
    return impl.output_grad_transform(gy, m)


def winograd_input_grad_transform(gV, x_shape, pads):
    """gV ((m+2)^2, C, T) -> gx (N, C, H, W), the overlapping tiles added."""
    impl = winograd_numba if use_numba(gV) else winograd
    return impl.input_grad_transform(gV, x_shape, pads)
