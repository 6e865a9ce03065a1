"""kernels/blas_threads.py: stacked products shared out among numba's threads, each calling
OpenBLAS's gemm, against NumPy's matmul."""
import numpy as np
import pytest

import minicnn  # noqa: F401  (installs minicnn.kernels)
from minicnn import kernels
from minicnn.kernels import blas_threads


def _numpy_uses_openblas():
    blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    return "openblas" in blas.get("name", "").lower()


needs_openblas = pytest.mark.skipif(not _numpy_uses_openblas(),
                                    reason="NumPy is not built on OpenBLAS here")


def _operands(rng, G, M, K, P, dtype, a_transposed, b_transposed):
    """a (G, M, K) and b (G, K, P), each contiguous or the transposed view of a contiguous
    array (the layouts Winograd's products pass)."""
    a = rng.standard_normal((G, K, M) if a_transposed else (G, M, K)).astype(dtype)
    b = rng.standard_normal((G, P, K) if b_transposed else (G, K, P)).astype(dtype)
    return (a.transpose(0, 2, 1) if a_transposed else a,
            b.transpose(0, 2, 1) if b_transposed else b)


@needs_openblas
@pytest.mark.parametrize("dtype, rtol", [(np.float32, 1e-5), (np.float64, 1e-13)])
@pytest.mark.parametrize("a_transposed", [False, True], ids=["a", "a^T"])
@pytest.mark.parametrize("b_transposed", [False, True], ids=["b", "b^T"])
@pytest.mark.parametrize("G, M, K, P", [(36, 24, 16, 40), (7, 1, 9, 5), (2, 33, 1, 17)])
def test_parallel_products_match_numpy(monkeypatch, dtype, rtol, a_transposed, b_transposed,
                                       G, M, K, P):
    """Every group's product equals NumPy's, in both dtypes and all four layouts, odd group
    counts included; the parallel loop ran (not the one-by-one fallback)."""
    fallback = []
    real = blas_threads._products
    monkeypatch.setattr(blas_threads, "_products", lambda *args: fallback.append(1) or real(*args))
    rng = np.random.default_rng(G * M + K)
    a, b = _operands(rng, G, M, K, P, dtype, a_transposed, b_transposed)
    out = np.full((G, M, P), np.nan, dtype=dtype)  # every entry must be written
    assert blas_threads.grouped_matmul(a, b, out) is out
    np.testing.assert_allclose(out, np.matmul(a, b), rtol=rtol, atol=rtol * K)
    assert not fallback


@needs_openblas
def test_openblas_thread_count_is_put_back():
    library = blas_threads.openblas()
    assert library is not None
    before = library.get_num_threads()
    a = np.ones((4, 8, 8), np.float32)
    blas_threads.grouped_matmul(a, a, np.empty_like(a))
    assert library.get_num_threads() == before


def test_blas_layout_reads_row_major_and_transposed_matrices_only():
    a = np.zeros((3, 5, 7), np.float32)
    assert blas_threads.blas_layout(a) == (blas_threads.NO_TRANS, 7)
    assert blas_threads.blas_layout(a.transpose(0, 2, 1)) == (blas_threads.TRANS, 7)
    assert blas_threads.blas_layout(a[:, :, :4]) == (blas_threads.NO_TRANS, 7)  # row step 7
    assert blas_threads.blas_layout(a[:, :, ::2]) is None      # columns two apart
    assert blas_threads.blas_layout(a[:, ::-1, :]) is None     # a negative step


@pytest.mark.parametrize("case", ["strided", "one group", "no OpenBLAS", "mixed dtypes"])
def test_other_operands_fall_back_to_numpy_products(monkeypatch, case):
    """Strides BLAS cannot take, a single product (OpenBLAS's own threads do better), a
    process without OpenBLAS, and mixed dtypes go one product after another, same result."""
    rng = np.random.default_rng(3)
    a, b = (rng.standard_normal((5, 6, 8)), rng.standard_normal((5, 8, 4)))
    if case == "strided":
        a = rng.standard_normal((5, 6, 16))[:, :, ::2]
    elif case == "one group":
        a, b = a[:1], b[:1]
    elif case == "no OpenBLAS":
        monkeypatch.setattr(blas_threads, "openblas", lambda: None)
    else:
        b = b.astype(np.float32)
    fallback = []
    real = blas_threads._products
    monkeypatch.setattr(blas_threads, "_products", lambda *args: fallback.append(1) or real(*args))
    out = np.empty((a.shape[0], 6, 4), np.result_type(a, b))
    np.testing.assert_allclose(blas_threads.grouped_matmul(a, b, out), np.matmul(a, b),
                               rtol=1e-6)
    assert fallback


def test_kernels_matmul_gives_numpy_arrays_the_parallel_products(monkeypatch):
    """conv2d's Winograd and grouped products go through kernels.matmul, scratch or not."""
    calls = []
    real = blas_threads.grouped_matmul
    monkeypatch.setattr(blas_threads, "grouped_matmul",
                        lambda *args: calls.append(1) or real(*args))
    rng = np.random.default_rng(4)
    a, b = rng.standard_normal((3, 4, 5)), rng.standard_normal((3, 5, 6))
    for scratch in (False, True):
        np.testing.assert_allclose(kernels.matmul(a, b, scratch=scratch), np.matmul(a, b),
                                   rtol=1e-13)
    assert len(calls) == 2
