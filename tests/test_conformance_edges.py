"""Every op at the edges, against PyTorch: NaN and infinities, empty batches, a second backward.

The ops come from `conformance_cases.CASES` (each with its torch twin); every test runs both
kernel paths (numba and the NumPy reference). Comparisons are in float64 and treat NaN as equal
to NaN, so a NaN that one library propagates and the other hides fails the test. The
second-backward rule needs no torch: it is minicnn's own contract (PyTorch's rule).
"""
import numpy as np
import pytest
from conformance_cases import CASES, NOT_BATCHED, as_numpy

import minicnn

try:
    import torch
except ImportError:  # the torch comparisons skip; the hand-checked rules still run
    torch = None

# inf - inf and 0 * inf are NaN in both libraries; NumPy also warns about it, torch is silent
pytestmark = pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")

needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed (comparison "
                                                       "against PyTorch)")


def _run_both(name, inputs, rng):
    """Forward and backward (random upstream gradient) in minicnn and torch, float64."""
    _, ours, theirs = CASES[name](np.random.default_rng(0), inputs[0].shape[0])
    mine = [minicnn.Tensor(a.copy(), requires_grad=True) for a in inputs]
    twins = [torch.tensor(a.copy(), requires_grad=True) for a in inputs]
    y, ty = ours(*mine), theirs(*twins)
    upstream = rng.standard_normal(y.shape)
    y.backward(upstream)
    ty.backward(torch.tensor(upstream))
    return (y, mine), (ty, twins)


def _assert_same(ours, theirs):
    (y, mine), (ty, twins) = ours, theirs
    np.testing.assert_allclose(y.numpy(), as_numpy(ty), rtol=1e-9, atol=1e-12, equal_nan=True)
    for index, (a, b) in enumerate(zip(mine, twins)):
        np.testing.assert_allclose(a.grad, as_numpy(b.grad), rtol=1e-9, atol=1e-12,
                                   equal_nan=True, err_msg=f"gradient of input {index}")


@needs_torch
@pytest.mark.parametrize("name", sorted(CASES))
def test_nan_propagates_as_in_torch(kernels, rng, name):
    inputs = CASES[name](np.random.default_rng(0), 2)[0]
    x = inputs[0].reshape(-1)
    x[[1, x.size - 2]] = np.nan
    ours, theirs = _run_both(name, inputs, rng)
    assert np.isnan(ours[0].numpy()).any(), "a NaN input must show in the output"
    _assert_same(ours, theirs)


@needs_torch
@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("value", [np.inf, -np.inf])
def test_infinities_as_in_torch(kernels, rng, name, value):
    inputs = CASES[name](np.random.default_rng(0), 2)[0]
    x = inputs[0].reshape(-1)
    x[[0, x.size - 3]] = value
    _assert_same(*_run_both(name, inputs, rng))


@pytest.mark.parametrize("name", sorted(set(CASES) - NOT_BATCHED))
def test_an_empty_batch_gives_empty_results_and_zero_gradients(kernels, rng, name):
    inputs, ours, theirs = CASES[name](np.random.default_rng(0), 0)
    mine = [minicnn.Tensor(a, requires_grad=True) for a in inputs]
    y = ours(*mine)
    y.backward(np.ones(y.shape))
    for tensor in mine:
        assert tensor.grad.shape == tensor.shape
        assert not tensor.grad.any(), "no sample, so every gradient is zero"
    if torch is not None:
        ty = theirs(*[torch.tensor(a) for a in inputs])
        assert y.shape == tuple(ty.shape)
        np.testing.assert_array_equal(y.numpy(), as_numpy(ty))  # e.g. nan for a mean


def test_batch_norm_training_on_an_empty_batch_says_why_it_cannot():
    _, ours, _ = CASES["batch_norm_train"](np.random.default_rng(0), 0)
    with pytest.raises(minicnn.ShapeError, match=r"^batch_norm: training needs more than one"):
        ours(*[minicnn.Tensor(a) for a in CASES["batch_norm_train"](np.random.default_rng(0),
                                                                     0)[0]])


def _run_case(name, rng):
    """(input tensors, output, a random upstream gradient) of op `name` on batch 2."""
    inputs, ours, _ = CASES[name](np.random.default_rng(0), 2)
    mine = [minicnn.Tensor(a, requires_grad=True) for a in inputs]
    y = ours(*mine)
    return mine, y, rng.standard_normal(y.shape)


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_second_backward_through_a_freed_graph_is_a_clear_error(kernels, rng, name):
    mine, y, upstream = _run_case(name, rng)
    y.backward(upstream)
    with pytest.raises(RuntimeError, match=r"graph was freed.*retain_graph=True"):
        y.backward(upstream)


@pytest.mark.parametrize("name", sorted(CASES))
def test_retain_graph_lets_a_second_backward_accumulate_the_same_gradients(kernels, rng, name):
    mine, y, upstream = _run_case(name, rng)
    y.backward(upstream, retain_graph=True)
    first = [t.grad.copy() for t in mine]
    y.backward(upstream, retain_graph=True)
    y.backward(upstream)  # the last pass may free the graph
    for tensor, grad in zip(mine, first):
        np.testing.assert_allclose(tensor.grad, 3 * grad, rtol=1e-12, atol=1e-12)


def test_the_freed_graph_error_names_the_op_and_frees_its_saved_arrays(kernels, rng):
    x = minicnn.Tensor(rng.standard_normal((2, 3, 5, 5)), requires_grad=True)
    w = minicnn.Tensor(rng.standard_normal((4, 3, 3, 3)), requires_grad=True)
    y = minicnn.functional.conv2d(x, w, padding=1)
    conv = y.grad_fn
    y.backward(np.ones(y.shape))
    assert conv.freed and not hasattr(conv, "W")  # memory goes right after backward
    with pytest.raises(RuntimeError, match=r"^conv2d: the graph was freed"):
        y.backward(np.ones(y.shape))


def test_backward_of_a_scalar_still_needs_no_gradient_argument():
    x = minicnn.Tensor(np.array([1.0, 2.0]), requires_grad=True)
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])


def test_dropout_and_a_small_network_run_on_an_empty_batch():
    from minicnn import nn
    net = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Flatten(), nn.Dropout(0.5), nn.Linear(8, 3))
    y = net(minicnn.Tensor(np.zeros((0, 1, 4, 4), dtype=np.float32)))
    assert y.shape == (0, 3)
    loss = minicnn.functional.softmax_cross_entropy(y, np.zeros(0, dtype=np.int64))
    assert np.isnan(loss.item())  # the mean over no sample, as torch gives
    loss.backward()
    assert all(p.grad.shape == p.shape and not p.grad.any() for p in net.parameters())
