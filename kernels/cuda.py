"""From-scratch CUDA kernels for CuPy arrays, loaded from `kernels/cuda_src/*.cu`.

Each kernel is a C++ template `name<T>`; `KERNELS` lists them per file, and the loader asks
NVRTC (`cupy.RawModule(..., name_expressions=...)`) for `name<float>` and `name<double>`. A file
is compiled the first time one of its kernels runs, so importing this module needs no CuPy and
no GPU. Every function here mirrors a NumPy reference with the same arguments and results:

    im2col, col2im                         kernels/windows.py
    max_pool_*, avg_pool_*                 kernels/pooling.py
    lrn_forward, lrn_backward              minicnn/ops/normalization.py LocalResponseNorm
    bias_relu_*, bn_relu_*                 relu(x + b), relu(batch_norm(x)) of minicnn's ops

One GPU thread computes one output element (a gather: no atomics, so results are the same on
every run). GEMM is not here: CuPy's matmul (cuBLAS) does it. No cuDNN is used.
"""
import os

import numpy as np

from minicnn import backend
from minicnn.kernels.windows import conv_output_size

SOURCE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cuda_src")
THREADS_PER_BLOCK = 256
NVRTC_OPTIONS = ("--std=c++14",)
KERNELS = {  # file -> template kernel names; each is loaded as name<float> and name<double>
    "windows.cu": ("im2col", "col2im", "max_pool_forward", "max_pool_backward",
                   "avg_pool_forward", "avg_pool_backward"),
    "lrn.cu": ("lrn_forward", "lrn_backward"),
    "bias_relu.cu": ("bias_relu_forward", "relu_backward"),
    "bn_relu.cu": ("bn_relu_forward", "bn_relu_backward"),
}
C_TYPES = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}  # T of name<T>
_modules = {}  # file -> compiled cupy.RawModule


def use_cuda(array):
    """True for a CuPy array, unless MINICNN_KERNELS=reference asks for the CuPy references."""
    if os.environ.get("MINICNN_KERNELS", "numba") == "reference":
        return False
    return backend.device_of(array) == "gpu"


def entry_points():
    """file -> the template instances (`im2col<float>`, ...) this module loads from it."""
    return {file: [f"{name}<{c_type}>" for name in names for c_type in C_TYPES.values()]
            for file, names in KERNELS.items()}


def _compiled(file):
    """The cupy.RawModule of `file`, with every instance of entry_points() named to NVRTC."""
    if file not in _modules:
        with open(os.path.join(SOURCE_DIR, file), encoding="utf-8") as f:
            _modules[file] = backend.cupy.RawModule(code=f.read(), options=NVRTC_OPTIONS,
                                                    name_expressions=entry_points()[file])
    return _modules[file]


def launch_on_gpu(file, name, total, args):
    """Run kernel `name` (e.g. `im2col<float>`) of `file`, one thread per element, `total`
    threads in all."""
    blocks = (total + THREADS_PER_BLOCK - 1) // THREADS_PER_BLOCK
    _compiled(file).get_function(name)((blocks,), (THREADS_PER_BLOCK,), args)


launch = launch_on_gpu  # tests/test_cuda_compile.py swaps in a CPU emulation of the .cu files


def _run(file, name, dtype, total, *args):
    """Launch name<float> or name<double> (by `dtype`) over `total` elements."""
    c_type = C_TYPES.get(np.dtype(dtype))
    if c_type is None:
        raise TypeError(f"{name}: the CUDA kernels take float32 or float64, got {dtype}; "
                        f"convert with .astype(np.float32)")
    if total > 0:
        launch(file, f"{name}<{c_type}>", total, args)


# The C struct WindowGeometry of windows.cu, field by field; a one-element array of this dtype
# is passed by value (CuPy sends a size-1 NumPy array's bytes as the kernel argument).
WINDOW_GEOMETRY = np.dtype([(name, np.int32) for name in
                            ("C", "H", "W", "KH", "KW", "SH", "SW", "PT", "PL", "OH", "OW")])


def _geometry(x_shape, KH, KW, SH, SW, pads):
    """OH, OW and the WindowGeometry every window kernel takes, for input shape (N, C, H, W)."""
    N, C, H, W = x_shape
    PT, PB, PL, PR = pads
    OH = conv_output_size(H, KH, SH, PT, PB)
    OW = conv_output_size(W, KW, SW, PL, PR)
    geometry = np.array([(C, H, W, KH, KW, SH, SW, PT, PL, OH, OW)], dtype=WINDOW_GEOMETRY)
    return OH, OW, geometry


def _contiguous(array):
    return backend.get_array_module(array).ascontiguousarray(array)


# ----- convolution windows ----------------------------------------------------------------
def im2col(x, KH, KW, SH, SW, pads):
    """(N, C, H, W) -> col (C*KH*KW, N*OH*OW); see `windows.im2col`."""
    xp = backend.get_array_module(x)
    x = _contiguous(x)
    N, C = x.shape[:2]
    OH, OW, geometry = _geometry(x.shape, KH, KW, SH, SW, pads)
    col = xp.empty((C * KH * KW, N * OH * OW), dtype=x.dtype)
    _run("windows.cu", "im2col", x.dtype, col.size, x, col, np.int64(col.size), geometry)
    return col


def col2im(col, x_shape, KH, KW, SH, SW, pads):
    """(C*KH*KW, N*OH*OW) -> (N, C, H, W), overlapping entries summed; see `windows.col2im`."""
    xp = backend.get_array_module(col)
    col = _contiguous(col)
    _, _, geometry = _geometry(x_shape, KH, KW, SH, SW, pads)
    gx = xp.empty(x_shape, dtype=col.dtype)
    _run("windows.cu", "col2im", col.dtype, gx.size, col, gx, np.int64(gx.size), geometry)
    return gx


# ----- pooling ----------------------------------------------------------------------------
def max_pool_forward(x, KH, KW, SH, SW, pads):
    """(N, C, H, W) -> y (N, C, OH, OW), argmax (N, C, OH, OW) int64 in [0, KH*KW)."""
    xp = backend.get_array_module(x)
    x = _contiguous(x)
    N, C = x.shape[:2]
    OH, OW, geometry = _geometry(x.shape, KH, KW, SH, SW, pads)
    y = xp.empty((N, C, OH, OW), dtype=x.dtype)
    argmax = xp.empty((N, C, OH, OW), dtype=np.int64)
    _run("windows.cu", "max_pool_forward", x.dtype, y.size, x, y, argmax, np.int64(y.size),
         geometry)
    return y, argmax


def max_pool_backward(gy, argmax, x_shape, KH, KW, SH, SW, pads):
    """Route gy (N, C, OH, OW) to each window's maximum; returns gx (N, C, H, W)."""
    xp = backend.get_array_module(gy)
    gy, argmax = _contiguous(gy), _contiguous(argmax.astype(np.int64, copy=False))
    _, _, geometry = _geometry(x_shape, KH, KW, SH, SW, pads)
    gx = xp.empty(x_shape, dtype=gy.dtype)
    _run("windows.cu", "max_pool_backward", gy.dtype, gx.size, gy, argmax, gx,
         np.int64(gx.size), geometry)
    return gx


def _counts_array(counts, OH, OW, xp, dtype):
    """The divisor of every window as a contiguous (OH, OW) array (a number is broadcast)."""
    return xp.ascontiguousarray(xp.broadcast_to(xp.asarray(counts, dtype=dtype), (OH, OW)))


def avg_pool_forward(x, KH, KW, SH, SW, pads, counts):
    """Window sums divided by `counts` (a number, or (OH, OW) real-input counts)."""
    xp = backend.get_array_module(x)
    x = _contiguous(x)
    N, C = x.shape[:2]
    OH, OW, geometry = _geometry(x.shape, KH, KW, SH, SW, pads)
    y = xp.empty((N, C, OH, OW), dtype=x.dtype)
    counts = _counts_array(counts, OH, OW, xp, x.dtype)
    _run("windows.cu", "avg_pool_forward", x.dtype, y.size, x, counts, y, np.int64(y.size),
         geometry)
    return y


def avg_pool_backward(gy, x_shape, KH, KW, SH, SW, pads, counts):
    """Spread gy / counts evenly over each window; returns gx (N, C, H, W)."""
    xp = backend.get_array_module(gy)
    gy = _contiguous(gy)
    OH, OW, geometry = _geometry(x_shape, KH, KW, SH, SW, pads)
    gx = xp.empty(x_shape, dtype=gy.dtype)
    counts = _counts_array(counts, OH, OW, xp, gy.dtype)
    _run("windows.cu", "avg_pool_backward", gy.dtype, gx.size, gy, counts, gx,
         np.int64(gx.size), geometry)
    return gx


# ----- per-channel ops on (N, C, H, W) or (N, C) ------------------------------------------
def _channels(x):
    """C and the number of values per (n, c) plane, as the kernels' argument types."""
    HW = int(np.prod(x.shape[2:], dtype=np.int64))
    return np.int32(x.shape[1]), np.int64(HW)


def lrn_forward(x, size, alpha, beta, k):
    """(N, C, H, W) -> (y, scale), both (N, C, H, W); see ops.normalization.LocalResponseNorm."""
    xp = backend.get_array_module(x)
    x = _contiguous(x)
    y, scale = xp.empty_like(x), xp.empty_like(x)
    real = x.dtype.type
    _run("lrn.cu", "lrn_forward", x.dtype, x.size, x, y, scale, np.int64(x.size), *_channels(x),
         np.int32(size), real(alpha), real(beta), real(k))
    return y, scale


def lrn_backward(gy, x, y, scale, size, alpha, beta):
    """gy (N, C, H, W) -> gx (N, C, H, W), from the forward's x, y and scale."""
    xp = backend.get_array_module(gy)
    gy = _contiguous(gy)
    gx = xp.empty_like(gy)
    real = gy.dtype.type
    _run("lrn.cu", "lrn_backward", gy.dtype, gy.size, gy, x, y, scale, gx, np.int64(gy.size),
         *_channels(gy), np.int32(size), real(alpha), real(beta))
    return gx


def bias_relu_forward(x, b):
    """max(x + b[c], 0) for x (N, C, ...) and b (C,)."""
    xp = backend.get_array_module(x)
    x, b = _contiguous(x), _contiguous(b)
    y = xp.empty_like(x)
    _run("bias_relu.cu", "bias_relu_forward", x.dtype, x.size, x, b, y, np.int64(x.size),
         *_channels(x))
    return y


def bias_relu_backward(gy, y):
    """(gx, gb): gy where the output y was positive, and its sum per channel (C,)."""
    xp = backend.get_array_module(gy)
    gy, y = _contiguous(gy), _contiguous(y)
    gx = xp.empty_like(gy)
    _run("bias_relu.cu", "relu_backward", gy.dtype, gy.size, gy, y, gx, np.int64(gy.size))
    return gx, gx.sum(axis=_channel_sum_axes(gx))


def _channel_sum_axes(x):
    return (0,) + tuple(range(2, x.ndim))


def bn_relu_forward(x, mean, inv_std, gamma, beta):
    """max(gamma_c * (x - mean_c) * inv_std_c + beta_c, 0); every per-channel array is (C,)."""
    xp = backend.get_array_module(x)
    x = _contiguous(x)
    y = xp.empty_like(x)
    per_channel = [_contiguous(a.astype(x.dtype, copy=False))
                   for a in (mean, inv_std, gamma, beta)]
    _run("bn_relu.cu", "bn_relu_forward", x.dtype, x.size, x, *per_channel, y,
         np.int64(x.size), *_channels(x))
    return y


def bn_relu_backward(gy, y, x, mean, inv_std, gamma, training):
    """(gx, ggamma, gbeta) of relu(batch_norm(x)); training says whether the batch's statistics
    were used (they then depend on x)."""
    xp = backend.get_array_module(gy)
    gy, y, x = _contiguous(gy), _contiguous(y), _contiguous(x)
    axes = _channel_sum_axes(x)
    shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    mean, inv_std, gamma = [_contiguous(a.astype(x.dtype, copy=False))
                            for a in (mean, inv_std, gamma)]
    g = xp.where(y > 0, gy, 0).astype(gy.dtype, copy=False)      # the gradient through ReLU
    xhat = (x - mean.reshape(shape)) * inv_std.reshape(shape)
    sum_g, sum_gxhat = g.sum(axis=axes), (g * xhat).sum(axis=axes)
    gx = xp.empty_like(x)
    count = x.size // x.shape[1]
    _run("bn_relu.cu", "bn_relu_backward", x.dtype, x.size, gy, y, x, mean, inv_std, gamma,
         sum_g, sum_gxhat, gx, np.int64(x.size), *_channels(x), np.int64(count),
         np.int32(bool(training)))
    return gx, sum_gxhat, sum_g
