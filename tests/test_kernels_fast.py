"""The kernels added for speed agree with their plain references, and conv2d's fast paths keep
its gradients (float64, central differences, random upstream gradient)."""
import numpy as np
import pytest

import minicnn
import minicnn.functional as F
from minicnn.gradcheck import gradcheck
from minicnn.kernels import grouped, grouped_numba, shifted_numba, windows_numba
from minicnn.ops.conv import Conv2d

from op_cases import CONV_CASES

# (x shape, OC, KH, KW, SH, SW, pads, groups)
GROUPED_CASES = [
    ((2, 4, 7, 6), 4, 3, 3, 1, 1, (1, 1, 1, 1), 4),          # depthwise
    ((2, 4, 7, 6), 8, 3, 3, 1, 1, (1, 1, 1, 1), 4),          # depthwise, multiplier 2
    ((1, 6, 9, 8), 4, 3, 2, 2, 1, (0, 1, 2, 0), 2),          # asymmetric pads, strides
    ((2, 8, 6, 6), 8, 5, 5, 2, 2, (2, 2, 2, 2), 4),
    ((1, 3, 5, 5), 6, 1, 1, 1, 1, (0, 0, 0, 0), 3),
    ((1, 2, 1, 3), 2, 3, 3, 2, 1, (3, 3, 1, 1), 2),          # tap i=0 reads only padding
]


@pytest.mark.parametrize("shape, OC, KH, KW, SH, SW, pads, G", GROUPED_CASES)
def test_grouped_numba_matches_reference(shape, OC, KH, KW, SH, SW, pads, G):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape)
    W = rng.standard_normal((OC, shape[1] // G, KH, KW))
    y = grouped.grouped_conv_forward(x, W, SH, SW, pads)
    np.testing.assert_allclose(grouped_numba.grouped_conv_forward(x, W, SH, SW, pads), y,
                               rtol=1e-12, atol=1e-12)
    gy = rng.standard_normal(y.shape)
    np.testing.assert_allclose(
        grouped_numba.grouped_conv_backward_input(gy, W, shape, SH, SW, pads),
        grouped.grouped_conv_backward_input(gy, W, shape, SH, SW, pads), rtol=1e-12,
        atol=1e-12)
    np.testing.assert_allclose(
        grouped_numba.grouped_conv_backward_weight(gy, x, W.shape, SH, SW, pads),
        grouped.grouped_conv_backward_weight(gy, x, W.shape, SH, SW, pads), rtol=1e-10,
        atol=1e-10)


def test_tap_range_is_where_the_bounds_test_holds():
    """tap_range(size, n_out, stride, pad, k) is exactly the o with 0 <= o*stride-pad+k < size."""
    for size, n_out, stride, pad, k in np.ndindex(4, 6, 4, 4, 5):
        stride += 1
        inside = [o for o in range(n_out) if 0 <= o * stride - pad + k < size]
        lo, hi = windows_numba.tap_range(size, n_out, stride, pad, k)
        assert list(range(lo, hi)) == inside and lo <= hi, (size, n_out, stride, pad, k)


def test_grouped_numba_propagates_nan_and_inf_like_the_reference():
    """A NaN and two infinities in x (and in gy for the input gradient) reach the same outputs
    as in the einsum reference. (A non-finite gy is left out of the weight gradient: the
    reference multiplies it by the zero padding, NaN, where the direct loops skip padding.)"""
    rng = np.random.default_rng(3)
    shape, OC, KH, KW, SH, SW, pads, G = GROUPED_CASES[2]
    x = rng.standard_normal(shape)
    x[0, 1, 2, 3], x[0, 2, 0, 0], x[0, 5, 4, 4] = np.nan, np.inf, -np.inf
    W = rng.standard_normal((OC, shape[1] // G, KH, KW))
    y = grouped.grouped_conv_forward(x, W, SH, SW, pads)
    assert np.isnan(y).any() and np.isinf(y).any()
    np.testing.assert_allclose(grouped_numba.grouped_conv_forward(x, W, SH, SW, pads), y,
                               rtol=1e-12, atol=1e-12)
    gy = rng.standard_normal(y.shape)
    gW = grouped.grouped_conv_backward_weight(gy, x, W.shape, SH, SW, pads)
    assert np.isnan(gW).any() and np.isinf(gW).any()
    np.testing.assert_allclose(
        grouped_numba.grouped_conv_backward_weight(gy, x, W.shape, SH, SW, pads), gW,
        rtol=1e-10, atol=1e-10)
    gy[0, 1, 1, 1], gy[0, 3, 0, 0], gy[0, 2, 2, 1] = np.nan, np.inf, -np.inf
    gx = grouped.grouped_conv_backward_input(gy, W, shape, SH, SW, pads)
    assert np.isnan(gx).any() and np.isinf(gx).any()
    np.testing.assert_allclose(
        grouped_numba.grouped_conv_backward_input(gy, W, shape, SH, SW, pads), gx,
        rtol=1e-12, atol=1e-12)


# stride 1, one group: (x shape, OC, KH, KW, pads)
SHIFTED_CASES = [
    ((2, 1, 7, 6), 3, 3, 3, (1, 1, 1, 1)),
    ((3, 2, 6, 9), 4, 2, 3, (0, 1, 2, 0)),          # asymmetric pads, non-square kernel
    ((1, 3, 5, 5), 2, 5, 5, (2, 2, 2, 2)),          # the kernel as large as the image
    ((2, 3, 4, 5), 5, 1, 1, (0, 0, 0, 0)),          # 1x1: no gaps between output rows
    ((1, 2, 1, 4), 2, 3, 3, (3, 1, 1, 1)),          # taps that read only padding
    ((5, 1, 10, 10), 6, 5, 5, (0, 0, 0, 0)),
    ((35, 2, 6, 6), 3, 3, 3, (1, 1, 1, 1)),         # two blocks of 32 images, one partial
]


@pytest.mark.parametrize("blocked", [False, True], ids=["per-image", "blocked"])
@pytest.mark.parametrize("shape, OC, KH, KW, pads", SHIFTED_CASES)
def test_shifted_numba_matches_reference(shape, OC, KH, KW, pads, blocked, monkeypatch):
    """Forward with bias, weight and bias gradients (both layouts of the weight gradient),
    input gradient, against the einsum."""
    monkeypatch.setattr(shifted_numba, "BLOCKED_MAX_LENGTH", 10**9 if blocked else -1)
    calls = []
    real = shifted_numba._backward_weight_blocked_jit
    monkeypatch.setattr(shifted_numba, "_backward_weight_blocked_jit",
                        lambda *args: calls.append(1) or real(*args))
    rng = np.random.default_rng(4)
    x = rng.standard_normal(shape)
    W = rng.standard_normal((OC, shape[1], KH, KW))
    b = rng.standard_normal(OC)
    y, x_pad = shifted_numba.shifted_conv_forward(x, W, b, pads)
    np.testing.assert_allclose(
        y, grouped.grouped_conv_forward(x, W, 1, 1, pads) + b.reshape(1, OC, 1, 1),
        rtol=1e-12, atol=1e-12)
    gy = rng.standard_normal(y.shape)
    gW, gb = shifted_numba.shifted_conv_backward_weight(gy, x_pad, W.shape)
    np.testing.assert_allclose(gW, grouped.grouped_conv_backward_weight(gy, x, W.shape, 1, 1,
                                                                        pads),
                               rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(gb, gy.sum(axis=(0, 2, 3)), rtol=1e-12, atol=1e-12)
    assert bool(calls) == blocked
    np.testing.assert_allclose(
        shifted_numba.shifted_conv_backward_input(gy, W, shape, pads),
        grouped.grouped_conv_backward_input(gy, W, shape, 1, 1, pads), rtol=1e-12,
        atol=1e-12)


def test_shifted_numba_float32_and_no_bias():
    """float32 in, float32 out, close to the float64 result; b=None adds nothing."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((4, 1, 12, 12))
    W = rng.standard_normal((6, 1, 5, 5))
    y64, _ = shifted_numba.shifted_conv_forward(x, W, None, (2, 2, 2, 2))
    y32, x_pad = shifted_numba.shifted_conv_forward(x.astype(np.float32),
                                                    W.astype(np.float32), None, (2, 2, 2, 2))
    assert y32.dtype == x_pad.dtype == np.float32
    np.testing.assert_allclose(y32, y64, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(y64, grouped.grouped_conv_forward(x, W, 1, 1, (2, 2, 2, 2)),
                               rtol=1e-12, atol=1e-12)


def test_shifted_numba_propagates_nan_and_inf_like_the_reference():
    """A NaN and two infinities in x reach the same outputs as in the einsum reference, and a
    NaN and an infinity in gy the same input-gradient pixels. (The kernel's weight gradient
    multiplies x by the 0 between output rows; see the next test.)"""
    rng = np.random.default_rng(6)
    shape, OC, KH, KW, pads = SHIFTED_CASES[1]
    x = rng.standard_normal(shape)
    x[0, 1, 2, 3], x[1, 0, 0, 0], x[2, 1, 5, 8] = np.nan, np.inf, -np.inf
    W = rng.standard_normal((OC, shape[1], KH, KW))
    y = grouped.grouped_conv_forward(x, W, 1, 1, pads)
    assert np.isnan(y).any() and np.isinf(y).any()
    np.testing.assert_allclose(shifted_numba.shifted_conv_forward(x, W, None, pads)[0], y,
                               rtol=1e-12, atol=1e-12)
    gy = rng.standard_normal(y.shape)
    gy[0, 0, 1, 1], gy[1, 3, 0, 2] = np.nan, np.inf
    gx = grouped.grouped_conv_backward_input(gy, W, shape, 1, 1, pads)
    assert np.isnan(gx).any() and np.isinf(gx).any()
    np.testing.assert_allclose(shifted_numba.shifted_conv_backward_input(gy, W, shape, pads),
                               gx, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("bad", [np.inf, np.nan])
@pytest.mark.parametrize("where", [(0, 0, 0, 5), (1, 0, 0, 0)], ids=["row-end", "next-image"])
def test_shifted_weight_gradient_of_a_non_finite_input_is_the_exact_one(bad, where,
                                                                        monkeypatch):
    """The kernel alone turns an infinity in x into NaN for taps that never meet it (0 * inf
    in a thrown-away column, or in the rounded-up tail that reads on into the next image);
    minicnn.kernels notices the non-finite gW and recomputes it from the exact pairs,
    matching the reference entry by entry (inf, -inf and NaN alike). The kernel's own NaNs are
    checked on the per-image layout (the blocked one reads no other image); the result on
    both."""
    monkeypatch.setattr(shifted_numba, "BLOCKED_MAX_LENGTH", -1)  # the per-image layout
    rng = np.random.default_rng(9)
    x = rng.standard_normal((2, 1, 5, 6))
    # the end of a row: the next row's first output reads it in a gap; the first pixel of
    # image 1: image 0's last tap reads it past L (L = 38, rounded to 48, on rows of 8)
    x[where] = bad
    W = rng.standard_normal((2, 1, 3, 3))
    y, x_pad = minicnn.kernels.shifted_conv_forward(x, W, None, (1, 1, 1, 1))
    gy = rng.standard_normal(y.shape)
    exact = grouped.grouped_conv_backward_weight(gy, x, W.shape, 1, 1, (1, 1, 1, 1))
    assert np.isfinite(exact).any() and not np.isfinite(exact).all()
    kernel_only, _ = shifted_numba.shifted_conv_backward_weight(gy, x_pad, W.shape)
    assert np.isnan(kernel_only).sum() > np.isnan(exact).sum()  # what the fallback is for
    if where == (1, 0, 0, 0):  # tap (2, 2) meets that pixel only through image 0's tail
        assert np.isnan(kernel_only[:, 0, 2, 2]).all() and np.isfinite(exact[:, 0, 2, 2]).all()
    for max_length in (-1, 10**9):  # per image, blocked
        monkeypatch.setattr(shifted_numba, "BLOCKED_MAX_LENGTH", max_length)
        gW, _ = minicnn.kernels.shifted_conv_backward_weight(gy, x_pad, W.shape)
        np.testing.assert_allclose(gW, exact, rtol=1e-12, atol=1e-12)


STRIDE1_CONV_CASES = sorted(name for name, (x_shape, (_, KH, KW), stride, _, groups, _)
                            in CONV_CASES.items() if stride == 1 and groups == 1
                            and (KH, KW) != x_shape[2:])  # not one window: fully connected


def force_shifted_path(monkeypatch, on):
    """Send every stride-1 one-group conv2d through the shifted kernels (on) or around them
    (to im2col; small maps too)."""
    monkeypatch.setattr(Conv2d, "SMALL_MAP_MAX_BYTES", -1)
    monkeypatch.setattr(Conv2d, "SHIFTED_MAX_TAPS", 10**6 if on else 0)
    monkeypatch.setattr(Conv2d, "SHIFTED_MAX_MACS", 10**9)
    monkeypatch.setattr(Conv2d, "SHIFTED_MIN_LENGTH", 0)
    monkeypatch.setattr(Conv2d, "WINOGRAD_OVER_SHIFTED_PIXELS", 0)


@pytest.mark.parametrize("name", STRIDE1_CONV_CASES)
@pytest.mark.parametrize("shifted", [False, True], ids=["im2col", "shifted"])
def test_conv2d_shifted_path_gradcheck(name, shifted, monkeypatch):
    """Every stride-1 one-group case of the op grid, forced through the shifted kernels and
    forced around them: gradients against central differences, and the path is the one
    asked for."""
    force_shifted_path(monkeypatch, shifted)
    calls = []
    real = minicnn.kernels.shifted_conv_forward
    monkeypatch.setattr(minicnn.kernels, "shifted_conv_forward",
                        lambda *args: calls.append(1) or real(*args))
    x_shape, (OC, KH, KW), stride, padding, groups, bias = CONV_CASES[name]
    rng = np.random.default_rng(7)
    x = minicnn.Tensor(rng.standard_normal(x_shape), requires_grad=True)
    w = minicnn.Tensor(rng.standard_normal((OC, x_shape[1], KH, KW)), requires_grad=True)
    inputs = [x, w] + ([minicnn.Tensor(rng.standard_normal(OC), requires_grad=True)]
                       if bias else [])
    reports = gradcheck(lambda x, w, *b: F.conv2d(x, w, *b, stride=1, padding=padding),
                        inputs, atol=1e-7, rtol=1e-6)
    assert all(r["passed"] for r in reports) and len(reports) == len(inputs)
    assert bool(calls) == shifted


def test_conv2d_takes_the_shifted_path_only_for_thin_stride_1_one_group_layers():
    """LeNet-5's two 5x5 layers take it (1 and 6 x 5 x 5 taps, 6 and 16 output channels); a
    layer with many output channels, one on small maps, a strided layer and a grouped one do
    not."""
    x1, x6 = np.zeros((2, 1, 28, 28), np.float32), np.zeros((2, 6, 14, 14), np.float32)
    assert Conv2d(1, 2, 1)._takes_shifted(x1, np.zeros((6, 1, 5, 5), np.float32))
    assert Conv2d(1, 0, 1)._takes_shifted(x6, np.zeros((16, 6, 5, 5), np.float32))
    assert 64 * 150 > Conv2d.SHIFTED_MAX_MACS
    assert not Conv2d(1, 0, 1)._takes_shifted(x6, np.zeros((64, 6, 5, 5), np.float32))
    x_small = np.zeros((2, 6, 8, 8), np.float32)  # flat length 7*8 + 8 = 64
    assert not Conv2d(1, 0, 1)._takes_shifted(x_small, np.zeros((4, 6, 1, 1), np.float32))
    assert not Conv2d(2, 2, 1)._takes_shifted(x1, np.zeros((6, 1, 5, 5), np.float32))
    assert not Conv2d(1, 1, 2)._takes_shifted(x6, np.zeros((4, 3, 3, 3), np.float32))


def test_conv2d_gives_small_exactly_tiled_maps_to_winograd_not_the_shifted_path():
    """VGG-11 (cpu)'s 16 -> 32 layer on 16x16 maps qualifies for both paths and goes to
    Winograd; on 32x32 maps (long planes) and on 14x14 maps (4x4 tiles would overhang) it stays
    on the shifted path."""
    W = np.zeros((32, 16, 3, 3), np.float32)
    for side, shifted in ((16, False), (32, True), (14, True)):
        x = np.zeros((128, 16, side, side), np.float32)
        conv = Conv2d(1, 1, 1)
        assert conv._takes_winograd(x, W)
        assert conv._takes_shifted(x, W) == shifted


def test_conv2d_computes_a_whole_input_kernel_as_one_fully_connected_product(monkeypatch):
    """LeNet-5's C5 (16 x 5 x 5 kernels on 5 x 5 maps) is a dense layer: no im2col, and the
    same numbers as the im2col path. Padding or groups keep the general path."""
    monkeypatch.setattr(minicnn.ops.conv, "im2col", None)  # would raise if called
    rng = np.random.default_rng(8)
    x, W, b = (rng.standard_normal(s) for s in [(4, 16, 5, 5), (120, 16, 5, 5), (120,)])
    conv = Conv2d(1, 0, 1)
    conv.needs_input_grad = (True, True, True)
    y = conv.forward(x, W, b)
    gy = rng.standard_normal(y.shape)
    gx, gW, gb = conv.backward(gy)
    assert conv.dense and y.shape == (4, 120, 1, 1)
    np.testing.assert_allclose(y, grouped.grouped_conv_forward(x, W, 1, 1, (0,) * 4)
                               + b.reshape(1, 120, 1, 1), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gx, grouped.grouped_conv_backward_input(gy, W, x.shape, 1, 1,
                                                                       (0,) * 4), atol=1e-12)
    np.testing.assert_allclose(gW, grouped.grouped_conv_backward_weight(gy, x, W.shape, 1, 1,
                                                                        (0,) * 4), atol=1e-12)
    np.testing.assert_allclose(gb, gy.sum(axis=(0, 2, 3)), atol=1e-12)
    assert not Conv2d(1, 1, 1)._is_fully_connected(x, W)
    assert not Conv2d(1, 0, 2)._is_fully_connected(x, W[:, :8])


# (x shape, W shape, stride, pads (PT, PB, PL, PR)): maps of no more pixels than taps
SMALL_MAP_CASES = [
    ((3, 5, 2, 2), (7, 5, 3, 3), (1, 1), (1, 1, 1, 1)),   # VGG's last 2x2 layers
    ((3, 5, 1, 1), (7, 5, 3, 3), (1, 1), (1, 1, 1, 1)),   # a 1x1 map: the centre tap only
    ((3, 5, 2, 2), (7, 5, 3, 3), (2, 2), (1, 1, 1, 1)),   # ResNet's 2x2 -> 1x1 downsampling
    ((2, 4, 3, 3), (6, 4, 3, 3), (1, 1), (1, 1, 1, 1)),   # as many pixels as taps
    ((2, 3, 2, 3), (4, 3, 5, 5), (1, 1), (2, 2, 2, 2)),   # GoogLeNet's 5x5 on small maps
    ((2, 3, 2, 2), (4, 3, 3, 3), (1, 1), (0, 1, 1, 0)),   # asymmetric padding
    ((2, 3, 1, 2), (4, 3, 3, 3), (1, 2), (1, 1, 1, 1)),   # stride pair
]


def _small_map_conv(stride, pads):
    conv = Conv2d(stride, 0, 1)
    conv.pads = pads
    conv.needs_input_grad = (True, True, True)
    return conv


@pytest.mark.parametrize("x_shape, W_shape, stride, pads", SMALL_MAP_CASES)
def test_conv2d_small_map_path_matches_the_reference_without_im2col(x_shape, W_shape, stride,
                                                                    pads, monkeypatch):
    """Maps with no more pixels than the kernel has taps: one dense product with the taps
    gathered into a matrix, the same numbers as the direct reference, no im2col."""
    monkeypatch.setattr(minicnn.ops.conv, "im2col", None)  # would raise if called
    rng = np.random.default_rng(10)
    x, W, b = (rng.standard_normal(s) for s in [x_shape, W_shape, W_shape[:1]])
    conv = _small_map_conv(stride, pads)
    y = conv.forward(x, W, b)
    assert conv.small_map and not conv.dense
    gy = rng.standard_normal(y.shape)
    gx, gW, gb = conv.backward(gy)
    SH, SW = stride
    np.testing.assert_allclose(y, grouped.grouped_conv_forward(x, W, SH, SW, pads)
                               + b.reshape(1, -1, 1, 1), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gx, grouped.grouped_conv_backward_input(gy, W, x_shape, SH, SW,
                                                                       pads), atol=1e-12)
    np.testing.assert_allclose(gW, grouped.grouped_conv_backward_weight(gy, x, W_shape, SH, SW,
                                                                        pads), atol=1e-12)
    np.testing.assert_allclose(gb, gy.sum(axis=(0, 2, 3)), atol=1e-12)
    y32 = _small_map_conv(stride, pads).forward(x.astype(np.float32), W.astype(np.float32),
                                                None)
    assert y32.dtype == np.float32


@pytest.mark.parametrize("x_shape, W_shape, stride, pads", SMALL_MAP_CASES)
def test_small_map_tap_index_follows_the_definition(x_shape, W_shape, stride, pads):
    """t(p, q) against the definition, pixel pair by pixel pair: output (oh, ow) reads input
    (h, w) through tap (h - oh*SH + PT, w - ow*SW + PL) when that lies in the kernel."""
    from minicnn.ops import conv_small_map
    (H, W), (KH, KW), (SH, SW) = x_shape[2:], W_shape[2:], stride
    taps = conv_small_map.tap_index(x_shape, KH, KW, stride, pads)
    OH, OW = (H + pads[0] + pads[1] - KH) // SH + 1, (W + pads[2] + pads[3] - KW) // SW + 1
    assert taps.shape == (OH * OW, H * W)
    for oh, ow, h, w in np.ndindex(OH, OW, H, W):
        i, j = h - oh * SH + pads[0], w - ow * SW + pads[2]
        expected = i * KW + j if 0 <= i < KH and 0 <= j < KW else KH * KW
        assert taps[oh * OW + ow, h * W + w] == expected


def test_conv2d_takes_the_small_map_path_only_where_it_does_no_more_multiply_adds():
    """A 3x3 kernel on 2x2 and 1x1 maps takes it; on a 4x4 map (16 pixels > 9 taps), with
    groups, with a dense matrix past SMALL_MAP_MAX_BYTES or on the reference kernels it
    does not."""
    x2, W = np.zeros((2, 128, 2, 2), np.float32), np.zeros((128, 128, 3, 3), np.float32)
    assert Conv2d(1, 1, 1)._takes_small_map(x2, W)
    assert Conv2d(1, 1, 1)._takes_small_map(np.zeros((2, 128, 1, 1), np.float32), W)
    assert not Conv2d(1, 1, 1)._takes_small_map(np.zeros((2, 128, 4, 4), np.float32), W)
    assert not Conv2d(1, 1, 2)._takes_small_map(x2, W[:, :64])
    wide = np.zeros((2048, 2048, 3, 3), np.float32)  # D: 2048*4 x 4*2048 floats = 256 MiB
    assert not Conv2d(1, 1, 1)._takes_small_map(np.zeros((2, 2048, 2, 2), np.float32), wide)


def test_conv2d_small_map_path_stays_off_on_the_reference_kernels(monkeypatch):
    monkeypatch.setenv("MINICNN_KERNELS", "reference")
    x2, W = np.zeros((2, 8, 2, 2)), np.zeros((8, 8, 3, 3))
    assert not Conv2d(1, 1, 1)._takes_small_map(x2, W)


@pytest.mark.parametrize("x_shape, W_shape, stride, pads", SMALL_MAP_CASES)
@pytest.mark.parametrize("small_map", [False, True], ids=["im2col", "small-map"])
def test_conv2d_small_map_path_gradcheck(x_shape, W_shape, stride, pads, small_map,
                                         monkeypatch):
    """Through the dense matrix of taps and around it: gradients against central
    differences (float64, random upstream gradient), and the path is the one asked for."""
    monkeypatch.setattr(Conv2d, "SMALL_MAP_MAX_BYTES", 16 * 2**20 if small_map else -1)
    monkeypatch.setattr(Conv2d, "SHIFTED_MAX_TAPS", 0)
    paths = []
    real = Conv2d._takes_small_map
    monkeypatch.setattr(Conv2d, "_takes_small_map",
                        lambda self, x, W: paths.append(real(self, x, W)) or paths[-1])
    rng = np.random.default_rng(11)
    x = minicnn.Tensor(rng.standard_normal(x_shape), requires_grad=True)
    w = minicnn.Tensor(rng.standard_normal(W_shape), requires_grad=True)
    b = minicnn.Tensor(rng.standard_normal(W_shape[0]), requires_grad=True)
    padding = ((pads[0], pads[1]), (pads[2], pads[3]))
    reports = gradcheck(lambda x, w, b: F.conv2d(x, w, b, stride=stride, padding=padding),
                        [x, w, b], atol=1e-7, rtol=1e-6)
    assert all(r["passed"] for r in reports) and len(reports) == 3
    assert paths and all(taken == small_map for taken in paths)


def test_grouped_reference_matches_the_im2col_path():
    """The einsum reference equals conv2d's batched-matmul path (groups = channels)."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 6, 5, 7))
    W = rng.standard_normal((6, 2, 3, 3))
    conv = minicnn.ops.conv.Conv2d(1, 1, 3)
    conv.DIRECT_MAX_GROUP_CHANNELS = 0  # force the im2col path
    np.testing.assert_allclose(grouped.grouped_conv_forward(x, W, 1, 1, (1, 1, 1, 1)),
                               conv.forward(x, W), rtol=1e-12, atol=1e-12)


def _conv_gradcheck(x_shape, OC, K, stride, groups):
    """conv2d's gradients against central differences (gradcheck: loss = sum(y * R))."""
    rng = np.random.default_rng(2)
    x = minicnn.Tensor(rng.standard_normal(x_shape), requires_grad=True)
    w = minicnn.Tensor(rng.standard_normal((OC, x_shape[1] // groups, K, K)),
                       requires_grad=True)
    b = minicnn.Tensor(rng.standard_normal(OC), requires_grad=True)
    reports = gradcheck(lambda x, w, b: F.conv2d(x, w, b, stride, 1, groups), [x, w, b],
                        atol=1e-7, rtol=1e-6)
    assert len(reports) == 3 and all(r["passed"] for r in reports)


@pytest.mark.parametrize("groups", [1, 2, 4, 8])
@pytest.mark.parametrize("direct_limit", [0, 16], ids=["im2col", "direct"])
def test_conv2d_groups_gradcheck(groups, direct_limit, monkeypatch, kernels):
    """Groups 1/2/4 and depthwise (8), through the im2col path and the direct loops."""
    monkeypatch.setattr(minicnn.ops.conv.Conv2d, "DIRECT_MAX_GROUP_CHANNELS", direct_limit)
    _conv_gradcheck((2, 8, 6, 5), 8, 3, 2 if groups == 2 else 1, groups)


@pytest.mark.parametrize("value, expected", [("1", "1"), ("zero", "warn")])
def test_num_threads_environment_variable(value, expected):
    """MINICNN_NUM_THREADS caps numba's threads; a bad value warns and is ignored."""
    import subprocess
    import sys
    code = "import numba, minicnn.kernels; print(numba.get_num_threads())"
    env = dict(__import__("os").environ, MINICNN_NUM_THREADS=value)
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, check=True)
    if expected == "warn":
        assert "MINICNN_NUM_THREADS='zero'" in done.stderr
    else:
        assert done.stdout.strip() == expected


def test_workspace_grows_and_views_share_one_buffer():
    from minicnn.kernels import workspace
    workspace.release()
    small = workspace.take((2, 3), np.float32)
    big = workspace.take((4, 5), np.float64)
    assert small.shape == (2, 3) and big.shape == (4, 5) and big.dtype == np.float64
    again = workspace.take((3, 2), np.float32)
    assert np.shares_memory(again, big)  # no new allocation once the buffer is large enough
    workspace.release()
    assert not np.shares_memory(workspace.take((3, 2), np.float32), big)


def test_stacked_convs_share_the_scratch_buffer_and_keep_their_gradients(kernels):
    """Two convolutions in a row both put col/gcol in the one workspace buffer."""
    rng = np.random.default_rng(3)
    x = minicnn.Tensor(rng.standard_normal((2, 3, 7, 6)), requires_grad=True)
    w1 = minicnn.Tensor(rng.standard_normal((4, 3, 3, 3)), requires_grad=True)
    w2 = minicnn.Tensor(rng.standard_normal((5, 4, 2, 2)), requires_grad=True)
    reports = gradcheck(lambda x, w1, w2: F.conv2d(F.conv2d(x, w1, padding=1), w2, stride=2),
                        [x, w1, w2], atol=1e-7, rtol=1e-6)
    assert len(reports) == 3


@pytest.mark.parametrize("shape", [(4, 3, 5, 6), (6, 5), (2, 4, 1, 1)])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_numba_matches_reference(shape, affine, training):
    from minicnn.kernels import batchnorm, batchnorm_numba
    rng = np.random.default_rng(4)
    x = rng.standard_normal(shape) * 3 + 1
    C = shape[1]
    gamma = rng.standard_normal(C) if affine else None
    beta = rng.standard_normal(C) if affine else None
    mean, var = batchnorm.batch_norm_stats(x)
    mean_n, var_n = batchnorm_numba.batch_norm_stats(x)
    np.testing.assert_allclose(mean_n, mean, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(var_n, var, rtol=1e-12)
    inv_std = 1 / np.sqrt(var + 1e-5)
    for got, want in zip(batchnorm_numba.batch_norm_forward(x, mean, inv_std, gamma, beta),
                         batchnorm.batch_norm_forward(x, mean, inv_std, gamma, beta)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    for impl in (batchnorm, batchnorm_numba):  # y alone, as BatchNorm's forward asks for it
        xhat_none, y = impl.batch_norm_forward(x, mean, inv_std, gamma, beta, need_xhat=False)
        assert xhat_none is None
        np.testing.assert_allclose(y, batchnorm.batch_norm_forward(x, mean, inv_std, gamma,
                                                                   beta)[1], rtol=1e-12, atol=1e-12)
    xhat = batchnorm.batch_norm_forward(x, mean, inv_std)[0]
    gy = rng.standard_normal(shape)
    want = batchnorm.batch_norm_backward(gy, xhat, inv_std, gamma, training)
    for impl in (batchnorm, batchnorm_numba):  # from xhat, and from x and its mean (BatchNorm's)
        for got_from_xhat, got_from_x, expected in zip(
                impl.batch_norm_backward(gy, xhat, inv_std, gamma, training),
                impl.batch_norm_backward(gy, x, inv_std, gamma, training, mean=mean), want):
            np.testing.assert_allclose(got_from_xhat, expected, rtol=1e-10, atol=1e-10)
            np.testing.assert_allclose(got_from_x, expected, rtol=1e-10, atol=1e-10)


def test_batch_norm_numba_float32_statistics_stay_accurate():
    """Sums in float64: a float32 channel with a large offset keeps its small variance."""
    from minicnn.kernels import batchnorm_numba
    x = (1000 + np.random.default_rng(5).standard_normal((64, 2, 16, 16))).astype(np.float32)
    mean, var = batchnorm_numba.batch_norm_stats(x)
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(var, x64.var(axis=(0, 2, 3)), rtol=1e-5)
    np.testing.assert_allclose(mean, x64.mean(axis=(0, 2, 3)), rtol=1e-7)


def _with_specials(x):
    """x with NaN, +-inf, zeros and a repeated value sprinkled in (ties and NaN rules)."""
    x = x.copy()
    x.flat[::7], x.flat[3::11], x.flat[5::13] = np.nan, -np.inf, np.inf
    x.flat[2::17], x.flat[1::19] = 0.0, x.flat[0]
    return x


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_numba_matches_reference(dtype):
    from minicnn.kernels import activation, activation_numba
    rng = np.random.default_rng(6)
    x = _with_specials(rng.standard_normal((3, 4, 5, 6))).astype(dtype)
    y = activation_numba.relu_forward(x)
    np.testing.assert_array_equal(y, activation.relu_forward(x))  # NaN where x is NaN, in both
    assert y.dtype == dtype
    gy = _with_specials(rng.standard_normal(x.shape)).astype(dtype)
    gx = activation_numba.relu_backward(gy, y)
    np.testing.assert_array_equal(gx, activation.relu_backward(gy, y))
    # the rule it stands for: the gradient passes where x > 0 or x is NaN, nowhere else
    passes = (x > 0) | np.isnan(x)
    np.testing.assert_array_equal(gx, np.where(passes, gy, 0))


@pytest.mark.parametrize("window", [(2, 2), (3, 2)], ids=["2x2 s2", "3x3 s2"])
@pytest.mark.parametrize("shape", [(2, 3, 8, 6), (1, 2, 7, 5), (3, 1, 3, 3)])
def test_unrolled_max_pool_matches_reference(shape, window):
    """The unrolled kernels: odd sizes drop the last row/column, NaN and ties as the reference."""
    from minicnn.kernels import pooling, pooling_numba
    K, S = window
    assert (K, K, S, S) in pooling_numba._UNROLLED  # these shapes do take the unrolled path
    x = _with_specials(np.random.default_rng(7).standard_normal(shape))
    y, argmax = pooling_numba.max_pool_forward(x, K, K, S, S, (0, 0, 0, 0))
    y_ref, argmax_ref = pooling.max_pool_forward(x, K, K, S, S, (0, 0, 0, 0))
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(argmax, argmax_ref)


@pytest.mark.parametrize("shape", [(2, 3, 8, 6), (1, 2, 7, 5), (3, 1, 3, 3), (2, 2, 1, 4)])
def test_tiled_max_pool_backward_writes_every_entry(shape):
    """2x2 stride 2: gy at each window's maximum, 0 at the other taps and in the rows and
    columns no window covers (odd sizes), NaN gy kept; the kernel writes every gx entry."""
    from minicnn.kernels import pooling, pooling_numba
    args = (2, 2, 2, 2, (0, 0, 0, 0))
    tiled = pooling_numba._TILED_BACKWARD[args[:4]]  # the path these windows take
    rng = np.random.default_rng(9)
    x = _with_specials(rng.standard_normal(shape))
    y, argmax = pooling_numba.max_pool_forward(x, *args)
    gy = rng.standard_normal(y.shape)  # (2, 2, 1, 4): no window at all, gx all 0
    gy = _with_specials(gy) if gy.size else gy
    gx_ref = pooling.max_pool_backward(gy, argmax, shape, *args)
    gx = np.full(shape, 7.0)  # stale values: any entry left unwritten shows
    tiled(gy, argmax, gx)
    np.testing.assert_array_equal(gx, gx_ref)
    np.testing.assert_array_equal(pooling_numba.max_pool_backward(gy, argmax, shape, *args),
                                  gx_ref)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("size, alpha, beta, k", [
    (5, 5e-4, 0.75, 2.0),   # AlexNet's, beta = 0.75 by square roots
    (2, 0.5, 0.5, 1.0),     # even size: asymmetric window; the general power
    (7, 1.5, 1.2, 0.5),     # window wider than the channels
    (1, 2.0, 0.75, 1.0),
])
def test_lrn_numba_matches_reference(dtype, size, alpha, beta, k):
    from minicnn.kernels import lrn, lrn_numba
    rng = np.random.default_rng(8)
    x = (3 * rng.standard_normal((3, 6, 5, 4))).astype(dtype)
    x[1, 2, 3, 1] = np.nan  # spreads to the channels whose window holds it, in both
    y, scale = lrn_numba.lrn_forward(x, size, alpha, beta, k)
    y_ref, scale_ref = lrn.lrn_forward(x, size, alpha, beta, k)
    tolerance = 1e-5 if dtype == np.float32 else 1e-13
    assert y.dtype == scale.dtype == dtype
    np.testing.assert_allclose(scale, scale_ref, rtol=tolerance)
    np.testing.assert_allclose(y, y_ref, rtol=tolerance, atol=tolerance)
    gy = rng.standard_normal(x.shape).astype(dtype)
    gx = lrn_numba.lrn_backward(gy, x, y, scale, size, alpha, beta)
    assert gx.dtype == dtype
    np.testing.assert_allclose(gx, lrn.lrn_backward(gy, x, y_ref, scale_ref, size, alpha, beta),
                               rtol=tolerance, atol=tolerance)
    # assert_allclose matched the NaNs' positions; the NaN did reach the gradient
    assert np.isnan(gx).any() and not np.isnan(gx).all()


def test_glibc_keeps_freed_memory_unless_told_not_to():
    """Importing minicnn.kernels sets malloc's thresholds (glibc); MINICNN_MALLOC=system not."""
    import platform
    import subprocess
    import sys
    if platform.libc_ver()[0] != "glibc":
        pytest.skip("the malloc thresholds are glibc's")
    # 40 MB: above the largest threshold glibc would pick by itself (32 MB)
    code = ("import resource, numpy as np, minicnn.kernels\n"
            "np.ones(40 * 2**20, np.uint8)\n"
            "before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
            "for _ in range(5): np.ones(40 * 2**20, np.uint8)\n"
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)")
    faults = {}
    for setting in ("", "system"):
        env = dict(__import__("os").environ, MINICNN_MALLOC=setting)
        done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                              text=True, check=True)
        faults[setting] = int(done.stdout)
    # 5 fresh 40 MB arrays fault in every page when mmapped (hundreds of faults each even with
    # NumPy's huge-page hint), and none when the heap's freed block is reused
    assert faults[""] < 100 and faults["system"] > 1000, faults


def test_importing_minicnn_first_stops_openblas_threads_spinning():
    """minicnn sets OPENBLAS_THREAD_TIMEOUT before NumPy loads OpenBLAS, so after a product its
    idle threads sleep instead of spinning on the cores the numba kernels need next."""
    import os
    import subprocess
    import sys
    code = ("import os, time, minicnn, numpy as np\n"
            "a = np.random.rand(512, 512).astype(np.float32)\n"
            "idle = 0.0\n"
            "for _ in range(10):\n"
            "    a @ a\n"
            "    before = sum(os.times()[:2])\n"
            "    time.sleep(0.05)\n"
            "    idle += sum(os.times()[:2]) - before\n"
            "print(os.environ['OPENBLAS_THREAD_TIMEOUT'], idle)")
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_THREAD_TIMEOUT"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          check=True)
    timeout, idle_cpu_seconds = done.stdout.split()
    assert timeout == "4"
    # CPU time while the main thread sleeps 10 x 50 ms after products: 0.5 s with NumPy
    # imported first (a worker spins through every sleep; measured), ~0 when they sleep
    assert float(idle_cpu_seconds) < 0.1, done.stdout
    preset = subprocess.run([sys.executable, "-c", "import os, minicnn; "
                             "print(os.environ['OPENBLAS_THREAD_TIMEOUT'])"],
                            env=dict(env, OPENBLAS_THREAD_TIMEOUT="20"), capture_output=True,
                            text=True, check=True)
    assert preset.stdout.strip() == "20"  # an explicit setting is kept


def test_numba_runs_on_openmp_threads_that_sleep_soon_after_each_kernel():
    """The OpenMP layer starts a parallel loop ~50x faster than the workqueue layer; minicnn
    sets GOMP_SPINCOUNT so its idle threads sleep after tens of microseconds, not spin on."""
    import ctypes.util
    import os
    import subprocess
    import sys
    code = ("import os, time, minicnn, numba, numpy as np\n"
            "from minicnn import kernels\n"
            "x = np.random.rand(64, 64, 32, 32).astype(np.float32)\n"
            "idle = 0.0\n"
            "for _ in range(10):\n"
            "    kernels.relu_forward(x)\n"
            "    before = sum(os.times()[:2])\n"
            "    time.sleep(0.05)\n"
            "    idle += sum(os.times()[:2]) - before\n"
            "print(numba.threading_layer(), os.environ['GOMP_SPINCOUNT'], idle)")
    env = {k: v for k, v in os.environ.items()
           if k not in ("GOMP_SPINCOUNT", "NUMBA_THREADING_LAYER")}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          check=True)
    layer, spin_count, idle_cpu_seconds = done.stdout.split()
    from minicnn.kernels import _threading_layer
    assert layer == _threading_layer() and spin_count == "10000"
    assert float(idle_cpu_seconds) < 0.1, done.stdout  # 10 sleeps of 50 ms after kernels
    preset = subprocess.run([sys.executable, "-c", "import os, minicnn; "
                             "print(os.environ['GOMP_SPINCOUNT'])"],
                            env=dict(env, GOMP_SPINCOUNT="300000"), capture_output=True,
                            text=True, check=True)
    assert preset.stdout.strip() == "300000"  # an explicit setting is kept
    # an OpenMP runtime loaded first (as `import torch` does) has read the default spin count:
    # numba then keeps to its workqueue layer, unless GOMP_SPINCOUNT was set before Python
    libgomp = ctypes.util.find_library("gomp")
    assert libgomp, "no libgomp here: numba cannot use its OpenMP layer"
    loaded_first = ("import ctypes; ctypes.CDLL(%r); import minicnn, numba, numpy as np\n"
                    "minicnn.kernels.relu_forward(np.ones(4, np.float32))\n"
                    "print(numba.threading_layer())" % libgomp)
    for spin_preset, layer in ((None, "workqueue"), ("10000", "omp")):
        env_run = env if spin_preset is None else dict(env, GOMP_SPINCOUNT=spin_preset)
        done = subprocess.run([sys.executable, "-c", loaded_first], env=env_run,
                              capture_output=True, text=True, check=True)
        assert done.stdout.strip() == layer, (spin_preset, done.stdout)


@pytest.mark.parametrize("groups, winograd, size, shifted", [
    (1, False, 8, False), (2, False, 8, False), (1, True, 8, False), (1, False, 2, False),
    (2, False, 2, False), (1, False, 8, True)])
def test_conv2d_weight_gradients_are_contiguous(groups, winograd, size, shifted, monkeypatch):
    """The optimizers' elementwise updates ran 3x slower on a transposed-view gradient (the
    im2col path's gW was one until 2026-11-23). Size 2 makes N*OH*OW < C*KH*KW: conv2d then
    computes gW in the other orientation."""
    monkeypatch.setattr(Conv2d, "WINOGRAD_MIN_MACS", 0 if winograd else 2**62)
    force_shifted_path(monkeypatch, shifted)
    rng = np.random.default_rng(10)
    x = minicnn.Tensor(rng.standard_normal((2, 4, size, size)).astype(np.float32))
    w = minicnn.Tensor(rng.standard_normal((6, 4 // groups, 3, 3)).astype(np.float32),
                       requires_grad=True)
    b = minicnn.Tensor(np.zeros(6, np.float32), requires_grad=True)
    F.conv2d(x, w, b, padding=1, groups=groups).sum().backward()
    assert w.grad.shape == w.shape and w.grad.flags.c_contiguous
    assert b.grad.flags.c_contiguous
