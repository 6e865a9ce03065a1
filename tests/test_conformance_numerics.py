"""The numeric faults of issue 10, each reproduced and shown fixed, on both kernel paths:
float32 cancellation in LRN, NaN in max pooling and ReLU, infinities in softmax cross-entropy
and in max-pool windows beside the padding, sigmoid underflow, negative transpose axes.

Each test checks a hand-computed (or float64 direct-formula) value; where torch is installed
it is compared too.
"""
import numpy as np
import pytest

import minicnn
import minicnn.functional as F

from conftest import assert_gradcheck

T = minicnn.Tensor

try:
    import torch
    import torch.nn.functional as tf
except ImportError:
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed (comparison "
                                                       "against PyTorch)")


def _lrn_loops(x, size, alpha, beta, k):
    """LRN by its definition, channel by channel in float64: the slow, plain reference."""
    x = x.astype(np.float64)
    y = np.empty_like(x)
    C = x.shape[1]
    for c in range(C):
        window = x[:, max(0, c - size // 2):min(C, c + (size - 1) // 2 + 1)]
        y[:, c] = x[:, c] / (k + alpha / size * (window ** 2).sum(axis=1)) ** beta
    return y


@pytest.mark.parametrize("scale", [300.0, 1000.0])
def test_lrn_in_float32_stays_accurate_beside_much_larger_channels(scale):
    # issue 10's reproduction: a difference of cumulative sums was 6% off at 300, 105% at 1000
    x = np.maximum(np.random.default_rng(1).standard_normal((2, 64, 6, 6)), 0)
    x[:, :32] *= scale
    x32 = x.astype(np.float32)
    y = F.local_response_norm(x32, 11, 11.0, 0.5, 1.0).numpy()
    expected = _lrn_loops(x32, 11, 11.0, 0.5, 1.0)
    np.testing.assert_allclose(y, expected, rtol=2e-6, atol=1e-30)
    if torch is not None:
        theirs = tf.local_response_norm(torch.tensor(x32), 11, 11.0, 0.5, 1.0).numpy()
        np.testing.assert_allclose(y, theirs, rtol=2e-6)


def test_lrn_gradient_in_float32_agrees_with_float64_beside_large_channels(rng):
    x = np.maximum(rng.standard_normal((2, 16, 3, 3)), 0)
    x[:, :8] *= 1000.0
    upstream = rng.standard_normal(x.shape)
    grads = {}
    for dtype in (np.float32, np.float64):
        t = T(x.astype(dtype), requires_grad=True)
        F.local_response_norm(t, 5, 11.0, 0.5, 1.0).backward(upstream.astype(dtype))
        grads[dtype] = t.grad
    scale = np.abs(grads[np.float64]).max()
    assert np.abs(grads[np.float32] - grads[np.float64]).max() < 1e-5 * scale


def test_no_op_computes_a_window_sum_as_a_difference_of_cumulative_sums():
    import importlib
    import inspect
    import pkgutil

    import minicnn.kernels
    import minicnn.ops
    modules = [importlib.import_module(f"minicnn.ops.{m.name}")
               for m in pkgutil.iter_modules(minicnn.ops.__path__)]
    modules += [importlib.import_module(f"minicnn.kernels.{m.name}")
                for m in pkgutil.iter_modules(minicnn.kernels.__path__)]
    for module in modules:
        assert "cumsum" not in inspect.getsource(module), module.__name__


# ----- NaN ----------------------------------------------------------------------------------
def test_max_pool_keeps_a_nan_on_both_kernel_paths(kernels):
    x = np.arange(16., dtype=np.float32).reshape(1, 1, 4, 4)
    x[0, 0, 0, 1] = np.nan
    t = T(x, requires_grad=True)
    y = F.max_pool2d(t, 2)
    np.testing.assert_array_equal(y.numpy(), [[[[np.nan, 7], [13, 15]]]])  # by hand
    y.backward(np.ones((1, 1, 2, 2), np.float32))
    expected = np.zeros((4, 4), np.float32)
    expected[0, 1] = expected[1, 3] = expected[3, 1] = expected[3, 3] = 1  # NaN's window -> NaN
    np.testing.assert_array_equal(t.grad[0, 0], expected)


def test_relu_keeps_nan_and_passes_its_gradient_as_torch_does():
    x = T(np.array([np.nan, -1.0, 2.0, 0.0]), requires_grad=True)
    y = F.relu(x)
    np.testing.assert_array_equal(y.numpy(), [np.nan, 0.0, 2.0, 0.0])
    y.backward(np.array([1.0, 1.0, 1.0, 1.0]))
    np.testing.assert_array_equal(x.grad, [1.0, 0.0, 1.0, 0.0])  # torch: grad where not y <= 0


# ----- infinities ---------------------------------------------------------------------------
@pytest.mark.parametrize("target", [np.array([0]), np.array([[1.0, 0.0, 0.0]])],
                         ids=["labels", "probabilities"])
def test_cross_entropy_with_a_minus_infinite_logit(target):
    z = T(np.array([[0.0, -np.inf, 1.0]]), requires_grad=True)
    loss = F.softmax_cross_entropy(z, target)
    expected = np.log(1 + np.e)  # -log(e^0 / (e^0 + e^1)): the -inf class contributes nothing
    np.testing.assert_allclose(loss.item(), expected, rtol=1e-12)
    loss.backward()
    p = np.exp([0.0, 1.0]) / np.exp([0.0, 1.0]).sum()
    np.testing.assert_allclose(z.grad, [[p[0] - 1, 0.0, p[1]]], rtol=1e-12)
    if torch is not None:
        assert abs(tf.cross_entropy(torch.tensor(z.data), torch.tensor([0])).item()
                   - loss.item()) < 1e-12


def test_max_pool_window_of_minus_infinity_beside_padding_routes_to_a_real_input(kernels):
    x = np.ones((1, 1, 3, 3))
    x[0, 0, 0] = -np.inf
    t = T(x, requires_grad=True)
    y = F.max_pool2d(t, 2, 1, 1)
    y.backward(np.ones((1, 1, 4, 4)))
    np.testing.assert_array_equal(t.grad[0, 0], [[2, 1, 1], [4, 2, 2], [2, 1, 1]])  # torch's
    assert np.isneginf(y.numpy()[0, 0, 0]).all()


@needs_torch
@pytest.mark.parametrize("padding", [1, 2])
def test_max_pool_all_minus_infinity_matches_torch(kernels, rng, padding):
    x = rng.standard_normal((1, 2, 5, 6))
    x[0, 0, :3] = -np.inf
    x[0, 1, :, :4] = -np.inf
    t, tt = T(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, ty = F.max_pool2d(t, 5, 2, padding), tf.max_pool2d(tt, 5, 2, padding)
    upstream = rng.standard_normal(y.shape)
    y.backward(upstream)
    ty.backward(torch.tensor(upstream))
    np.testing.assert_array_equal(y.numpy(), ty.detach().numpy())
    np.testing.assert_allclose(t.grad, tt.grad.numpy(), rtol=1e-14)  # sums in another order


# ----- sigmoid ------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_neither_flushes_nor_overflows_on_either_side(dtype):
    x = np.array([-100.0, -80.0, -20.0, -1.0, 0.0, 1.0, 20.0, 80.0], dtype=dtype)
    t = T(x, requires_grad=True)
    y = F.sigmoid(t)
    with np.errstate(over="ignore"):
        exact = 1 / (1 + np.exp(-x.astype(np.float64)))             # float64 by definition
    tiny = np.finfo(dtype).tiny  # below it (sigmoid(-100) in float32) values are subnormal
    np.testing.assert_allclose(y.numpy(), exact, rtol=2e-7 if dtype == np.float32 else 1e-15,
                               atol=tiny)
    assert y.numpy()[2] > 0  # 2.06e-9, not the old 0
    y.backward(np.ones_like(x))
    slope = np.exp(-np.abs(x.astype(np.float64))) / (1 + np.exp(-np.abs(x))) ** 2
    np.testing.assert_allclose(t.grad, slope, rtol=2e-6 if dtype == np.float32 else 1e-14,
                               atol=tiny)
    if torch is not None:
        np.testing.assert_allclose(y.numpy(), torch.tensor(x).sigmoid().numpy(), rtol=2e-6,
                                   atol=tiny)


# ----- transpose ----------------------------------------------------------------------------
@pytest.mark.parametrize("shape, axes", [((3, 3, 3), (0, -1, 1)), ((2, 3, 4), (0, -1, 1)),
                                         ((2, 3, 4), (-1, -3, -2)), ((2, 3, 4, 5), (3, -2, 0, 1))])
def test_transpose_with_negative_axes(rng, shape, axes):
    a = T(np.arange(float(np.prod(shape))).reshape(shape), requires_grad=True)
    y = a.transpose(*axes)
    np.testing.assert_array_equal(y.numpy(), np.transpose(a.data, axes))
    upstream = rng.standard_normal(y.shape)
    y.backward(upstream)
    inverse = np.argsort([ax % len(shape) for ax in axes])
    np.testing.assert_array_equal(a.grad, np.transpose(upstream, inverse))  # by hand
    assert_gradcheck(lambda x: x.transpose(*axes), [T(rng.standard_normal(shape),
                                                      requires_grad=True)])
    if torch is not None:
        ta = torch.tensor(a.data, requires_grad=True)
        ta.permute(*axes).backward(torch.tensor(upstream))
        np.testing.assert_array_equal(a.grad, ta.grad.numpy())


@pytest.mark.parametrize("axes", [(0, 1), (0, 0, 1), (0, 1, 3), (0, -4, 1)])
def test_transpose_with_axes_that_are_no_permutation_is_a_clear_error(axes):
    with pytest.raises(minicnn.ShapeError, match=r"^transpose: (axis|axes) "):
        T(np.zeros((2, 3, 4))).transpose(*axes)
