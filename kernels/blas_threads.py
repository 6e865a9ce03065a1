"""Stacked matrix products in one parallel loop: each thread runs whole products, one BLAS
thread each.

Winograd's 16 or 36 products per layer and grouped convolution's one product per group are
small (a few MFLOP each). OpenBLAS splits each of them over its threads and waits for them at
the end of every product, which costs more than it gains: on 2 cores, 36 products of
(128, 128) @ (128, 64) one after another took 1.03 ms with two OpenBLAS threads, 0.86 with one.
Sharing out whole products instead, each thread calling BLAS's gemm on its own, took 0.42 ms
(benchmarks/NOTES.md 29):

    out = grouped_matmul(a, b, out)       # a (G, M, K), b (G, K, P), out (G, M, P)

The loop is a numba `prange` over the groups: numba's threads start in microseconds, where
handing work to a Python thread took ~70 us. Each iteration calls `cblas_sgemm` (or `_dgemm`)
of the OpenBLAS that NumPy loaded, found by name in the process (`_find_openblas`), on
pointers into the arrays. OpenBLAS's own thread count is process-wide, so it is set to 1 while
the loop runs and put back after. Where OpenBLAS cannot be found (another BLAS, a system
without /proc/self/maps), for other dtypes, or for strides BLAS cannot take, the products run
one after another through NumPy as before.
"""
import ctypes

import numpy as np
from numba import njit, prange

ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112  # CBLAS's enum values

# the names OpenBLAS's functions carry in its builds: NumPy's wheels bundle "scipy_openblas"
# with 64-bit integers and a "64_" suffix; distributions ship the plain names (32-bit integers)
_PREFIXES = ("scipy_", "")
_SUFFIXES = ("64_", "")

_openblas = None  # the _OpenBLAS found, or False when there is none
_loops = {}       # dtype -> the compiled parallel loop over that dtype's gemm


class _OpenBLAS:
    """The functions minicnn calls in NumPy's OpenBLAS: the thread count and the gemms."""

    def __init__(self, library, prefix, suffix):
        integer = ctypes.c_int64 if suffix else ctypes.c_int32
        self.set_num_threads = getattr(library, f"{prefix}openblas_set_num_threads{suffix}")
        self.set_num_threads.restype, self.set_num_threads.argtypes = None, [ctypes.c_int]
        self.get_num_threads = getattr(library, f"{prefix}openblas_get_num_threads{suffix}")
        self.get_num_threads.restype, self.get_num_threads.argtypes = ctypes.c_int, []
        self.gemm = {}
        for dtype, letter, scalar in ((np.float32, "s", ctypes.c_float),
                                      (np.float64, "d", ctypes.c_double)):
            gemm = getattr(library, f"{prefix}cblas_{letter}gemm{suffix}")
            gemm.restype = None
            gemm.argtypes = ([ctypes.c_int32] * 3 + [integer] * 3
                             + [scalar, ctypes.c_void_p, integer, ctypes.c_void_p, integer,
                                scalar, ctypes.c_void_p, integer])
            self.gemm[np.dtype(dtype)] = gemm


def _loaded_libraries():
    """Paths of the shared libraries loaded in this process (Linux); [] elsewhere."""
    try:
        with open("/proc/self/maps") as maps:
            return sorted({line.split()[-1] for line in maps if ".so" in line})
    except OSError:
        return []


def _find_openblas():
    """The _OpenBLAS of the OpenBLAS library loaded in this process, or None."""
    for path in _loaded_libraries():
        if "openblas" not in path.lower():
            continue
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix in _PREFIXES:
            for suffix in _SUFFIXES:
                if hasattr(library, f"{prefix}cblas_sgemm{suffix}"):
                    try:
                        return _OpenBLAS(library, prefix, suffix)
                    except AttributeError:
                        continue
    return None


def openblas():
    """NumPy's OpenBLAS as an _OpenBLAS (thread count, gemms), or None where it is not found."""
    global _openblas
    if _openblas is None:
        _openblas = _find_openblas() or False
    return _openblas or None


def _parallel_loop(gemm):
    """A numba loop that runs `gemm` once per group, the groups shared out among its threads.

    Pointers are byte addresses; steps are the bytes from one group's matrix to the next.
    """
    @njit(parallel=True)
    def products(groups, M, N, K, trans_a, a, a_step, lda, trans_b, b, b_step, ldb,
                 c, c_step, ldc):
        for g in prange(groups):
            gemm(ROW_MAJOR, trans_a, trans_b, M, N, K, 1.0, a + g * a_step, lda,
                 b + g * b_step, ldb, 0.0, c + g * c_step, ldc)
    return products


def blas_layout(matrices):
    """(CBLAS transpose flag, leading dimension) of the row-major-or-transposed 2-D matrices
    of `matrices` (G, rows, cols), or None if BLAS cannot read them in place."""
    _, rows, cols = matrices.shape
    row_step, col_step = (s // matrices.itemsize for s in matrices.strides[1:])
    if min(matrices.strides) < 0 or any(s % matrices.itemsize for s in matrices.strides):
        return None
    if col_step == 1 and row_step >= max(1, cols):
        return NO_TRANS, row_step
    if row_step == 1 and col_step >= max(1, rows):
        return TRANS, col_step
    return None


def _products(a, b, out):
    """out[g] = a[g] @ b[g] for every g, one NumPy product after another."""
    for g in range(a.shape[0]):
        np.matmul(a[g], b[g], out=out[g])
    return out


def grouped_matmul(a, b, out):
    """a (G, M, K) @ b (G, K, P) -> out (G, M, P), NumPy arrays; returns out.

    a and b may be views (each group's matrix row-major or transposed); out must be
    C-contiguous, of their common dtype.
    """
    library = openblas()
    layouts = (blas_layout(a), blas_layout(b))
    gemm = library.gemm.get(out.dtype) if library else None
    if (gemm is None or a.shape[0] < 2 or None in layouts or not out.flags.c_contiguous
            or not a.dtype == b.dtype == out.dtype or out.size == 0):
        return _products(a, b, out)
    if out.dtype not in _loops:
        _loops[out.dtype] = _parallel_loop(gemm)
    (trans_a, lda), (trans_b, ldb) = layouts
    G, M, K = a.shape
    threads = library.get_num_threads()
    library.set_num_threads(1)
    try:
        _loops[out.dtype](G, M, out.shape[2], K,
                          trans_a, a.ctypes.data, a.strides[0], lda,
                          trans_b, b.ctypes.data, b.strides[0], ldb,
                          out.ctypes.data, out.strides[0], out.shape[2])
    finally:
        library.set_num_threads(threads)
    return out
