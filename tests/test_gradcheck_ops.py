"""Float64 gradient checks of every op in minicnn.functional, over a grid of shapes.

Each checked input stays at or under ~300 elements: a numeric gradient costs two forward
passes per element.
"""
import numpy as np
import pytest

import minicnn
import minicnn.functional as F
from minicnn.core import Function
from minicnn.ops.loss import Softmax

from conftest import assert_gradcheck, distinct64, tensor64
from op_cases import CONV_CASES, POOL_CASES

# --- conv2d -----------------------------------------------------------------------------------

def _conv_inputs(rng, case):
    x_shape, (OC, KH, KW), stride, padding, groups, bias = case
    x = tensor64(rng, *x_shape)
    w = tensor64(rng, OC, x_shape[1] // groups, KH, KW)
    b = tensor64(rng, OC) if bias else None
    return x, w, b, dict(stride=stride, padding=padding, groups=groups)


@pytest.mark.parametrize("name", sorted(CONV_CASES))
def test_gradcheck_conv2d(kernels, rng, name):
    x, w, b, kwargs = _conv_inputs(rng, CONV_CASES[name])
    if b is None:
        assert_gradcheck(lambda x, w: F.conv2d(x, w, None, **kwargs), [x, w])
    else:
        assert_gradcheck(lambda x, w, b: F.conv2d(x, w, b, **kwargs), [x, w, b])


# --- pooling ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(POOL_CASES))
def test_gradcheck_max_pool2d(kernels, rng, name):
    shape, kernel, stride, padding = POOL_CASES[name]
    x = distinct64(rng, *shape)  # no ties, so the max is unique and the check is meaningful
    assert_gradcheck(lambda x: F.max_pool2d(x, kernel, stride, padding), [x])


@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("name", sorted(POOL_CASES))
def test_gradcheck_avg_pool2d(kernels, rng, name, count_include_pad):
    shape, kernel, stride, padding = POOL_CASES[name]
    x = tensor64(rng, *shape)
    assert_gradcheck(
        lambda x: F.avg_pool2d(x, kernel, stride, padding, count_include_pad=count_include_pad),
        [x])


@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (1, 7, 3, 3), (3, 2, 1, 1), (2, 5, 6, 2)])
def test_gradcheck_global_pools(kernels, rng, shape):
    assert_gradcheck(F.global_avg_pool2d, [tensor64(rng, *shape)])
    assert_gradcheck(F.global_max_pool2d, [distinct64(rng, *shape)])


# --- normalisation ----------------------------------------------------------------------------

@pytest.mark.parametrize("shape, size, alpha, beta, k", [
    ((2, 7, 3, 3), 5, 1.0, 0.75, 2.0),   # AlexNet's settings, with a large alpha so the
    ((1, 6, 2, 4), 3, 0.5, 0.75, 1.0),   # normaliser is far from constant
    ((2, 5, 3, 2), 2, 2.0, 0.5, 1.0),    # even size: the window is asymmetric
    ((1, 3, 4, 4), 7, 1.5, 1.2, 0.5),    # window wider than the channel count
    ((2, 4, 3, 3), 5, 1e-4, 0.75, 2.0),  # the defaults
])
def test_gradcheck_local_response_norm(rng, shape, size, alpha, beta, k, kernels):
    x = tensor64(rng, *shape)
    assert_gradcheck(lambda x: F.local_response_norm(x, size, alpha, beta, k), [x])


BN_SHAPES = [(4, 3), (1, 5, 3, 4), (2, 3, 4, 5), (7, 2), (3, 6, 2, 1)]


@pytest.mark.parametrize("shape", BN_SHAPES)
def test_gradcheck_batch_norm_training(rng, shape):
    C = shape[1]
    x, gamma, beta = tensor64(rng, *shape), tensor64(rng, C), tensor64(rng, C)
    running_mean, running_var = np.zeros(C), np.ones(C)

    def fn(x, gamma, beta):
        return F.batch_norm(x, gamma, beta, running_mean, running_var, training=True)

    assert_gradcheck(fn, [x, gamma, beta])


@pytest.mark.parametrize("shape", BN_SHAPES)
def test_gradcheck_batch_norm_eval(rng, shape):
    C = shape[1]
    x, gamma, beta = tensor64(rng, *shape), tensor64(rng, C), tensor64(rng, C)
    running_mean = rng.standard_normal(C)
    running_var = rng.uniform(0.5, 2.0, C)
    saved = running_mean.copy(), running_var.copy()

    def fn(x, gamma, beta):
        return F.batch_norm(x, gamma, beta, running_mean, running_var, training=False)

    assert_gradcheck(fn, [x, gamma, beta])
    np.testing.assert_array_equal(running_mean, saved[0])  # eval never updates the stats
    np.testing.assert_array_equal(running_var, saved[1])


# --- activations, dropout ---------------------------------------------------------------------

@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh"])
@pytest.mark.parametrize("shape", [(3, 4), (2, 3, 2, 5), (1,)])
def test_gradcheck_activations(rng, activation, shape):
    x = distinct64(rng, *shape, spacing=0.3)  # no value within 1e-6 of relu's kink at 0
    assert_gradcheck(getattr(F, activation), [x])


@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
@pytest.mark.parametrize("shape", [(4, 5), (2, 3, 3, 4)])
def test_gradcheck_dropout_under_a_fixed_seed(rng, p, shape):
    def fn(x):
        minicnn.manual_seed(7)  # re-seed so every evaluation draws the same mask
        return F.dropout(x, p=p, training=True)

    x = tensor64(rng, *shape)
    assert_gradcheck(fn, [x])
    kept = fn(x).numpy() != 0
    assert 0 < kept.sum() < x.size  # the check covered both dropped and kept elements


def test_gradcheck_dropout_in_eval_is_identity(rng):
    x = tensor64(rng, 3, 4)
    assert_gradcheck(lambda x: F.dropout(x, p=0.5, training=False), [x])
    np.testing.assert_array_equal(F.dropout(x, p=0.5, training=False).numpy(), x.numpy())


# --- softmax family ---------------------------------------------------------------------------

@pytest.mark.parametrize("fn_name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("shape, axis", [
    ((3, 5), -1), ((3, 5), 0), ((2, 4, 3, 2), 1), ((1, 7), 1), ((4, 1), 1),
])
def test_gradcheck_softmax_and_log_softmax(rng, fn_name, shape, axis):
    fn = getattr(F, fn_name)
    assert_gradcheck(lambda x: fn(x, axis=axis), [tensor64(rng, *shape)])


@pytest.mark.parametrize("N, K", [(1, 3), (4, 5), (6, 10)])
def test_gradcheck_softmax_cross_entropy_int_labels(rng, N, K):
    labels = rng.integers(0, K, size=N)
    assert_gradcheck(lambda z: F.softmax_cross_entropy(z, labels), [tensor64(rng, N, K)])


@pytest.mark.parametrize("N, K", [(1, 3), (4, 5), (6, 10)])
def test_gradcheck_softmax_cross_entropy_probability_targets(rng, N, K):
    probs = rng.dirichlet(np.ones(K), size=N)
    assert_gradcheck(lambda z: F.softmax_cross_entropy(z, probs), [tensor64(rng, N, K)])


def _reference_cross_entropy(logits, probs):
    """Mean over the batch of -sum(p * log_softmax(z)), stable via the log-sum-exp shift."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return -(probs * log_probs).sum(axis=1).mean(), log_probs


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("target_kind", ["int", "prob"])
def test_softmax_cross_entropy_is_stable_for_huge_logits(dtype, target_kind):
    logits_np = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4], [5.0, -1e4, -1e4]], dtype=dtype)
    labels = np.array([1, 0, 0])
    probs = np.eye(3)[labels]
    target = labels if target_kind == "int" else probs.astype(dtype)
    logits = minicnn.Tensor(logits_np, requires_grad=True)
    loss = F.softmax_cross_entropy(logits, target)
    loss.backward()
    assert np.isfinite(loss.item())
    assert np.all(np.isfinite(logits.grad))
    expected_loss, log_probs = _reference_cross_entropy(logits_np.astype(np.float64), probs)
    expected_grad = (np.exp(log_probs) - probs) / len(labels)
    np.testing.assert_allclose(loss.item(), expected_loss, rtol=1e-5)
    np.testing.assert_allclose(logits.grad, expected_grad, rtol=1e-5, atol=1e-7)


def test_softmax_and_log_softmax_are_stable_for_huge_logits():
    z = minicnn.Tensor(np.array([[1e4, -1e4, 1e4 - 1.0]]), requires_grad=True)
    probs = F.softmax(z).numpy()
    log_probs = F.log_softmax(z).numpy()
    assert np.all(np.isfinite(probs)) and np.all(np.isfinite(log_probs))
    np.testing.assert_allclose(probs.sum(), 1.0, rtol=1e-12)
    np.testing.assert_allclose(log_probs[0, 2] - log_probs[0, 0], -1.0, rtol=1e-9)
    F.log_softmax(z).backward(np.array([[0.3, -0.2, 0.5]]))
    assert np.all(np.isfinite(z.grad))


# --- linear, flatten, concat ------------------------------------------------------------------

@pytest.mark.parametrize("N, IN, OUT", [(1, 5, 3), (3, 7, 4), (4, 1, 6)])
@pytest.mark.parametrize("bias", [True, False])
def test_gradcheck_linear(rng, N, IN, OUT, bias):
    x, w = tensor64(rng, N, IN), tensor64(rng, OUT, IN)
    if bias:
        assert_gradcheck(F.linear, [x, w, tensor64(rng, OUT)])
    else:
        assert_gradcheck(lambda x, w: F.linear(x, w), [x, w])


@pytest.mark.parametrize("shape", [(2, 3, 2, 2), (1, 5), (3, 2, 1, 4)])
def test_gradcheck_flatten(rng, shape):
    x = tensor64(rng, *shape)
    assert_gradcheck(F.flatten, [x])
    assert F.flatten(x).shape == (shape[0], int(np.prod(shape[1:])))


@pytest.mark.parametrize("shapes, axis", [
    ([(2, 3, 2, 2), (2, 1, 2, 2), (2, 5, 2, 2)], 1),  # GoogLeNet's inception concat
    ([(1, 4), (3, 4)], 0),
    ([(2, 3, 4), (2, 3, 1)], -1),
    ([(2, 2, 3, 3)], 1),
])
def test_gradcheck_concat(rng, shapes, axis):
    tensors = [tensor64(rng, *shape) for shape in shapes]
    assert_gradcheck(lambda *ts: F.concat(list(ts), axis=axis), tensors)
    expected = np.concatenate([t.numpy() for t in tensors], axis=axis)
    np.testing.assert_array_equal(F.concat(tensors, axis=axis).numpy(), expected)


# --- composed graphs --------------------------------------------------------------------------

def test_gradcheck_composed_conv_bn_relu_pool_linear_cross_entropy(kernels, rng):
    labels = np.array([2, 0])
    running_mean, running_var = np.zeros(4), np.ones(4)

    def net(x, conv_w, conv_b, gamma, beta, fc_w, fc_b):
        h = F.conv2d(x, conv_w, conv_b, padding=1)                      # (2, 4, 6, 6)
        h = F.batch_norm(h, gamma, beta, running_mean, running_var, training=True)
        h = F.max_pool2d(F.relu(h), 2)                                  # (2, 4, 3, 3)
        logits = F.linear(F.flatten(h), fc_w, fc_b)                     # (2, 3)
        return F.softmax_cross_entropy(logits, labels)

    inputs = [tensor64(rng, 2, 3, 6, 6), tensor64(rng, 4, 3, 3, 3), tensor64(rng, 4),
              tensor64(rng, 4, low=0.5, high=1.5), tensor64(rng, 4),
              tensor64(rng, 3, 36), tensor64(rng, 3)]
    assert_gradcheck(net, inputs)


def test_gradcheck_resnet_skip_uses_input_twice(rng):
    def block(x, w1, w2):
        h = F.relu(F.conv2d(x, w1, padding=1))
        return F.relu(F.conv2d(h, w2, padding=1) + x)  # x reaches the output along two paths

    inputs = [tensor64(rng, 2, 3, 4, 5), tensor64(rng, 3, 3, 3, 3), tensor64(rng, 3, 3, 3, 3)]
    assert_gradcheck(block, inputs)


def test_gradcheck_inception_style_branches(rng):
    def inception(x, w1, w3, w5):
        b1 = F.conv2d(x, w1)
        b3 = F.conv2d(x, w3, padding=1)
        b5 = F.conv2d(x, w5, padding=2)
        bp = F.max_pool2d(x, 3, 1, 1)
        return F.concat([b1, b3, b5, bp], axis=1)

    inputs = [distinct64(rng, 1, 3, 5, 5), tensor64(rng, 2, 3, 1, 1), tensor64(rng, 2, 3, 3, 3),
              tensor64(rng, 1, 3, 5, 5)]
    assert_gradcheck(inception, inputs)


def test_gradcheck_nin_style_global_pool_head(rng):
    labels = np.array([1, 3, 0])

    def head(x, w):
        h = F.relu(F.conv2d(x, w))          # 1x1 conv to class maps
        logits = F.global_avg_pool2d(h)     # (N, classes)
        return F.log_softmax(logits, axis=1)[np.arange(3), labels].mean() * -1.0

    assert_gradcheck(head, [distinct64(rng, 3, 3, 3, 4, spacing=0.01), tensor64(rng, 4, 3, 1, 1)])


# --- gradcheck itself: it must catch a wrong backward -----------------------------------------

class _SquareWithWrongBackward(Function):
    """y = x^2, but backward forgets the factor 2 (a typical hand-derivation slip)."""
    name = "bad_square"

    def forward(self, x):
        self.x = x
        return x * x

    def backward(self, gy):
        return gy * self.x


class _SoftmaxWithZeroBackward(Softmax):
    """A softmax whose backward returns zeros: invisible to a check that uses sum(out)."""

    def backward(self, gy):
        return gy * 0.0


def test_gradcheck_catches_a_wrong_backward(rng):
    x = tensor64(rng, 3, 4)
    with pytest.raises(minicnn.GradcheckError, match=r"input 0 shape \(3, 4\)"):
        minicnn.gradcheck(lambda x: _SquareWithWrongBackward()(x), [x])


def test_gradcheck_catches_a_graph_cut_by_detach(rng):
    x = tensor64(rng, 5)
    with pytest.raises(minicnn.GradcheckError):
        minicnn.gradcheck(lambda x: x * x.detach(), [x])  # analytic x, true 2x


def test_gradcheck_catches_a_zeroed_softmax_backward_that_a_plain_sum_would_miss(rng):
    x = tensor64(rng, 2, 5)
    zeroed_softmax = lambda x: _SoftmaxWithZeroBackward(axis=-1)(x)  # noqa: E731
    with pytest.raises(minicnn.GradcheckError):
        minicnn.gradcheck(zeroed_softmax, [x])
    # Why the random upstream gradient matters: sum(softmax(x)) is 1 whatever x is, so the
    # numeric gradient of the plain sum is ~0 and agrees with the zeroed backward.
    out_sum = zeroed_softmax(x).sum()
    out_sum.backward()
    np.testing.assert_array_equal(x.grad, np.zeros_like(x.grad))
    eps, flat, plain_sum_numeric = 1e-6, x.data.reshape(-1), []
    assert np.shares_memory(flat, x.data)  # perturbing flat perturbs x
    for k in range(flat.size):
        original = flat[k]
        flat[k] = original + eps
        plus = F.softmax(x).numpy().sum()
        flat[k] = original - eps
        minus = F.softmax(x).numpy().sum()
        flat[k] = original
        plain_sum_numeric.append((plus - minus) / (2 * eps))
    np.testing.assert_allclose(plain_sum_numeric, 0.0, atol=1e-8)


def test_gradcheck_catches_a_batch_norm_backward_that_ignores_the_batch_statistics(rng):
    # Treating mean and variance as constants is the classic BN backward mistake; the sum of a
    # normalised output hides it, the random upstream gradient does not.
    def batch_norm_with_constant_stats(x, gamma, beta):
        mean = x.mean(axis=0, keepdims=True).detach()
        var = ((x - mean) ** 2).mean(axis=0, keepdims=True).detach()
        return gamma * (x - mean) / (var + 1e-5) ** 0.5 + beta

    inputs = [tensor64(rng, 4, 3), tensor64(rng, 3), tensor64(rng, 3)]
    with pytest.raises(minicnn.GradcheckError, match=r"input 0"):
        minicnn.gradcheck(batch_norm_with_constant_stats, inputs)


def test_gradcheck_report_and_inputs_left_unchanged(rng):
    x, w = tensor64(rng, 2, 3), tensor64(rng, 4, 3)
    before = x.numpy().copy(), w.numpy().copy()
    reports = assert_gradcheck(F.linear, [x, w])
    assert [r["index"] for r in reports] == [0, 1]
    assert [tuple(r["shape"]) for r in reports] == [(2, 3), (4, 3)]
    for report in reports:
        assert 0.0 <= report["max_abs_err"] < 1e-7
        assert report["max_rel_err"] >= 0.0
    np.testing.assert_array_equal(x.numpy(), before[0])
    np.testing.assert_array_equal(w.numpy(), before[1])


# --- max-pool ties: each window sends its gradient to exactly one element ---------------------

@pytest.mark.parametrize("shape, kernel, stride, padding", [
    ((1, 1, 4, 4), 2, 2, 0),
    ((2, 3, 5, 5), 3, 2, 0),   # overlapping windows share tied cells
    ((1, 2, 4, 5), 3, 1, 1),
])
def test_max_pool2d_ties_route_each_window_gradient_once(kernels, rng, shape, kernel, stride,
                                                        padding):
    # After a ReLU many inputs are exactly 0, so a window often holds tied maxima. Sending the
    # gradient to every tied cell would multiply it; the total must equal the upstream total.
    x = minicnn.Tensor(np.zeros(shape), requires_grad=True)
    y = F.max_pool2d(x, kernel, stride, padding)
    upstream = rng.uniform(0.5, 1.5, y.shape)
    y.backward(upstream)
    np.testing.assert_allclose(x.grad.sum(axis=(2, 3)), upstream.sum(axis=(2, 3)), rtol=1e-12)


def test_global_max_pool2d_ties_route_gradient_once(kernels, rng):
    x = minicnn.Tensor(np.zeros((2, 3, 2, 3)), requires_grad=True)
    upstream = rng.uniform(0.5, 1.5, (2, 3))
    F.global_max_pool2d(x).backward(upstream)
    np.testing.assert_allclose(x.grad.sum(axis=(2, 3)), upstream, rtol=1e-12)
    assert np.all((x.grad != 0).sum(axis=(2, 3)) == 1)


class _SquareSlightlyOff(Function):
    """y = x^2 with a backward off by a relative 1e-4: inside rtol=1e-3, outside rtol=1e-6."""
    name = "square_slightly_off"

    def forward(self, x):
        self.x = x
        return x * x

    def backward(self, gy):
        return gy * 2.0 * self.x * (1 + 1e-4)


def test_gradcheck_honours_its_tolerances(rng):
    x = tensor64(rng, 6, low=1.0, high=2.0)
    fn = lambda x: _SquareSlightlyOff()(x)  # noqa: E731
    minicnn.gradcheck(fn, [x], rtol=1e-3, atol=0.0)
    with pytest.raises(minicnn.GradcheckError):
        minicnn.gradcheck(fn, [x], rtol=1e-6, atol=0.0)


def test_gradcheck_skips_inputs_that_do_not_require_grad(rng):
    x = tensor64(rng, 2, 3)
    constant = tensor64(rng, 2, 3, requires_grad=False)
    reports = minicnn.gradcheck(lambda x, c: x * c, [x, constant])
    assert [report["index"] for report in reports] == [0]
