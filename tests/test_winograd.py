"""Winograd F(2x2, 3x3) and F(4x4, 3x3): the reference transforms compute the convolution, the
numba transforms match the reference, and conv2d's Winograd path keeps its gradients (float64,
central differences, random upstream gradient) and its float32 accuracy."""
import numpy as np
import pytest

import minicnn
import minicnn.functional as F
from minicnn.gradcheck import gradcheck
from minicnn.kernels import winograd, winograd_numba
from minicnn.ops.conv import Conv2d

# (x shape, output channels, pads (PT, PB, PL, PR)): odd and even sizes, a single tile,
# asymmetric pads (TensorFlow's 'same'), no padding
CASES = [((2, 3, 7, 6), 4, (1, 1, 1, 1)),
         ((1, 2, 5, 5), 3, (0, 0, 0, 0)),
         ((2, 3, 8, 9), 2, (2, 0, 1, 2)),
         ((1, 1, 3, 4), 2, (0, 1, 0, 0)),
         ((3, 2, 4, 4), 5, (0, 1, 0, 1)),
         ((1, 2, 10, 9), 3, (1, 1, 1, 1))]  # more than one 4x4 tile each way
TILES = pytest.mark.parametrize("m", [2, 4], ids=["F(2x2)", "F(4x4)"])


def _im2col_conv(x, W, pads):
    """The same convolution through the im2col path (float64)."""
    conv = Conv2d(1, ((pads[0], pads[1]), (pads[2], pads[3])), 1)
    conv.WINOGRAD_MIN_MACS = 2**62
    conv.SHIFTED_MAX_TAPS = 0  # these few-channel layers would take the shifted path
    return conv.forward(x, W)


@TILES
@pytest.mark.parametrize("x_shape, OC, pads", CASES)
def test_reference_transforms_compute_the_convolution(x_shape, OC, pads, m):
    rng = np.random.default_rng(0)
    x, W = rng.standard_normal(x_shape), rng.standard_normal((OC, x_shape[1], 3, 3))
    y_ref = _im2col_conv(x, W, pads)
    M = winograd.weight_transform(W, m) @ winograd.input_transform(x, pads, m)
    assert M.shape == ((m + 2) ** 2, OC, x_shape[0] * np.prod(winograd.input_tiles(x_shape, pads,
                                                                                   m)))
    y = winograd.output_transform(M, x_shape[0], *y_ref.shape[2:])
    np.testing.assert_allclose(y, y_ref, rtol=1e-12, atol=1e-12)


@TILES
@pytest.mark.parametrize("x_shape, OC, pads", CASES)
def test_backward_transforms_are_the_adjoints(x_shape, OC, pads, m):
    """<T a, b> = <a, T* b> for each transform T and its backward T*, with random a, b."""
    rng = np.random.default_rng(1)
    x, W = rng.standard_normal(x_shape), rng.standard_normal((OC, x_shape[1], 3, 3))
    V, U = winograd.input_transform(x, pads, m), winograd.weight_transform(W, m)
    gV, gU = rng.standard_normal(V.shape), rng.standard_normal(U.shape)
    assert np.isclose(np.vdot(V, gV), np.vdot(x, winograd.input_grad_transform(gV, x_shape, pads)))
    assert np.isclose(np.vdot(U, gU), np.vdot(W, winograd.weight_grad_transform(gU)))
    OH, OW = _im2col_conv(x, W, pads).shape[2:]
    M = rng.standard_normal((V.shape[0], OC, V.shape[2]))
    gy = rng.standard_normal((x_shape[0], OC, OH, OW))
    y = winograd.output_transform(M, x_shape[0], OH, OW)
    assert np.isclose(np.vdot(y, gy), np.vdot(M, winograd.output_grad_transform(gy, m)))


def test_weight_grad_transform_reads_both_layouts():
    """conv2d's backward passes gU as the transposed view of (alpha^2, C, OC)."""
    gU_by_input = np.random.default_rng(9).standard_normal((36, 5, 4))   # (alpha^2, C, OC)
    view = gU_by_input.transpose(0, 2, 1)
    np.testing.assert_array_equal(winograd.weight_grad_transform(view),
                                  winograd.weight_grad_transform(np.ascontiguousarray(view)))


@TILES
@pytest.mark.parametrize("x_shape, OC, pads", CASES)
@pytest.mark.parametrize("rows_per_step", [None, "one", "all"],
                         ids=["default bands", "one tile row a step", "whole images"])
def test_numba_transforms_match_reference(monkeypatch, x_shape, OC, pads, m, rows_per_step):
    if rows_per_step is not None:   # the kernels' bands of tile rows, forced either way
        monkeypatch.setattr(winograd_numba, "tile_rows_per_step",
                            lambda N, TH: 1 if rows_per_step == "one" else TH)
    rng = np.random.default_rng(2)
    x, b = rng.standard_normal(x_shape), rng.standard_normal(OC)
    V = winograd.input_transform(x, pads, m)
    np.testing.assert_allclose(winograd_numba.input_transform(x, pads, m=m), V, rtol=1e-13,
                               atol=1e-12)
    TH, TW = winograd.input_tiles(x_shape, pads, m)
    OH, OW = x_shape[2] + pads[0] + pads[1] - 2, x_shape[3] + pads[2] + pads[3] - 2
    M = rng.standard_normal(((m + 2) ** 2, OC, x_shape[0] * TH * TW))
    np.testing.assert_allclose(winograd_numba.output_transform(M, x_shape[0], OH, OW, b),
                               winograd.output_transform(M, x_shape[0], OH, OW, b),
                               rtol=1e-13, atol=1e-12)
    gy = rng.standard_normal((x_shape[0], OC, OH, OW))
    np.testing.assert_allclose(winograd_numba.output_grad_transform(gy, m),
                               winograd.output_grad_transform(gy, m), rtol=1e-13, atol=1e-12)
    gV = rng.standard_normal(V.shape)
    np.testing.assert_allclose(winograd_numba.input_grad_transform(gV, x_shape, pads),
                               winograd.input_grad_transform(gV, x_shape, pads), rtol=1e-13,
                               atol=1e-12)


def _winograd_layer(monkeypatch):
    """Let conv2d take the Winograd path for small test layers, and count that it does."""
    monkeypatch.setattr(Conv2d, "WINOGRAD_MIN_MACS", 0)
    monkeypatch.setattr(Conv2d, "SHIFTED_MAX_TAPS", 0)  # few channels: not the shifted path
    calls = []
    real = minicnn.ops.conv_winograd.forward
    monkeypatch.setattr(minicnn.ops.conv_winograd, "forward",
                        lambda *a: calls.append(a[0].shape) or real(*a))
    return calls


@TILES
@pytest.mark.parametrize("keep", [True, False], ids=["V kept", "V rebuilt"])
@pytest.mark.parametrize("padding", [1, 0, ((2, 0), (1, 2))])
def test_conv2d_winograd_gradcheck(monkeypatch, padding, keep, m):
    calls = _winograd_layer(monkeypatch)
    monkeypatch.setattr(Conv2d, "WINOGRAD_TILE", m)
    if not keep:
        monkeypatch.setattr(Conv2d, "KEEP_V_BYTES", 0)  # V goes to the scratch buffer
    rng = np.random.default_rng(3)
    x = minicnn.Tensor(rng.standard_normal((2, 3, 6, 6)), requires_grad=True)  # >= 4x4 out
    w = minicnn.Tensor(rng.standard_normal((4, 3, 3, 3)), requires_grad=True)
    b = minicnn.Tensor(rng.standard_normal(4), requires_grad=True)
    reports = gradcheck(lambda x, w, b: F.conv2d(x, w, b, 1, padding), [x, w, b],
                        atol=1e-7, rtol=1e-6)
    assert len(reports) == 3 and all(r["passed"] for r in reports)
    assert calls  # the Winograd path ran


def test_conv2d_takes_winograd_only_where_a_tile_fits_and_the_products_are_large():
    """ResNet-18's last stage at 28 px has 1x1 maps: one 4x4 tile per image there computed
    36 products for one output pixel (the zoo's ResNet-18 epoch 2x slower, NOTES.md 18)."""
    conv = Conv2d(1, 1, 1)
    big = np.zeros((64, 64, 32, 32), dtype=np.float32)            # 64*64*64*32*32/4 = 2^26
    assert conv._takes_winograd(big, np.zeros((64, 64, 3, 3), dtype=np.float32))
    for H in (1, 3):                                               # outputs 1x1, 3x3 < 4x4
        tiny = np.zeros((128, 512, H, H), dtype=np.float32)        # products large, maps not
        assert not conv._takes_winograd(tiny, np.zeros((512, 512, 3, 3), dtype=np.float32))
    small = np.zeros((8, 16, 32, 32), dtype=np.float32)            # maps fine, products small
    assert not conv._takes_winograd(small, np.zeros((16, 16, 3, 3), dtype=np.float32))


@pytest.mark.parametrize("m, bound", [(2, 1e-5), (4, 2e-5)], ids=["F(2x2)", "F(4x4)"])
def test_conv2d_winograd_float32_stays_close_to_float64(monkeypatch, m, bound):
    """Winograd's transforms add rounding; on a ResNet-like layer float32 stays within `bound`
    (relative to the output's scale) of the exact float64 convolution. F(4x4, 3x3)'s larger
    entries (4, 5, 8, 1/24) round more: 5e-6 on this layer against 3e-7 for F(2x2, 3x3) and
    5e-7 for im2col, and up to 1.4e-5 at 256 input channels (benchmarks/NOTES.md section 14)."""
    calls = _winograd_layer(monkeypatch)
    monkeypatch.setattr(Conv2d, "WINOGRAD_TILE", m)
    rng = np.random.default_rng(4)
    x = rng.standard_normal((4, 64, 16, 16))
    W = rng.standard_normal((32, 64, 3, 3)) / np.sqrt(64 * 9)  # He-like scale
    exact = _im2col_conv(x, W, (1, 1, 1, 1))
    got = F.conv2d(minicnn.Tensor(x.astype(np.float32)), minicnn.Tensor(W.astype(np.float32)),
                   padding=1).data
    assert calls and got.dtype == np.float32
    assert np.abs(got - exact).max() <= bound * np.abs(exact).max()
