"""The numba kernels agree with the plain NumPy references they replace."""
import numpy as np
import pytest

from minicnn.kernels import pooling, pooling_numba, windows, windows_numba

CASES = [  # (x shape, KH, KW, SH, SW, pads)
    ((2, 3, 7, 9), 3, 3, 1, 1, (1, 1, 1, 1)),
    ((1, 2, 11, 8), 5, 3, 2, 3, (2, 0, 1, 2)),
    ((3, 5, 12, 12), 11, 11, 4, 4, (0, 0, 0, 0)),
    ((2, 4, 9, 9), 3, 3, 2, 2, (0, 1, 0, 1)),
    ((1, 1, 4, 6), 1, 1, 1, 2, (0, 0, 0, 0)),
    ((1, 2, 20, 19), 17, 17, 3, 2, (1, 1, 0, 2)),  # 289 taps: argmax needs two bytes
]


@pytest.mark.parametrize("shape, KH, KW, SH, SW, pads", CASES)
def test_im2col_and_col2im_match_reference(shape, KH, KW, SH, SW, pads):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape)
    col = windows.im2col(x, KH, KW, SH, SW, pads)
    np.testing.assert_array_equal(windows_numba.im2col(x, KH, KW, SH, SW, pads), col)
    gcol = rng.standard_normal(col.shape)
    np.testing.assert_allclose(windows_numba.col2im(gcol, shape, KH, KW, SH, SW, pads),
                               windows.col2im(gcol, shape, KH, KW, SH, SW, pads), rtol=1e-12)


@pytest.mark.parametrize("shape, KH, KW, SH, SW, pads", CASES)
def test_max_pool_matches_reference(shape, KH, KW, SH, SW, pads):
    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape).astype(np.float32)
    y_ref, arg_ref = pooling.max_pool_forward(x, KH, KW, SH, SW, pads)
    y, arg = pooling_numba.max_pool_forward(x, KH, KW, SH, SW, pads)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(arg, arg_ref)
    gy = rng.standard_normal(y.shape).astype(np.float32)
    np.testing.assert_allclose(
        pooling_numba.max_pool_backward(gy, arg, shape, KH, KW, SH, SW, pads),
        pooling.max_pool_backward(gy, arg_ref, shape, KH, KW, SH, SW, pads),
        rtol=1e-6, atol=1e-6)  # float32 sums of overlapping windows, in another order


def test_max_pool_argmax_takes_the_smallest_type_that_holds_its_taps():
    """One byte per window up to 16x16 taps (a quarter of gy's float32 traffic, not twice it),
    two beyond; the values are the reference's either way (test above)."""
    x = np.zeros((1, 1, 17, 17), np.float32)
    for K, itemsize in ((2, 1), (16, 1), (17, 2)):
        _, argmax = pooling_numba.max_pool_forward(x, K, K, 1, 1, (0, 0, 0, 0))
        assert argmax.dtype.kind == "u" and argmax.dtype.itemsize == itemsize


def test_reference_switch_is_honoured(monkeypatch):
    """MINICNN_KERNELS=reference routes NumPy arrays to the reference kernels."""
    import minicnn.kernels as kernels
    x = np.zeros((1, 1, 4, 4))
    assert kernels.use_numba(x)
    monkeypatch.setenv("MINICNN_KERNELS", "reference")
    assert not kernels.use_numba(x)
