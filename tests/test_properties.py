"""Property-based tests (hypothesis): rules that must hold for every shape, not just chosen ones.

- broadcasting: the gradient of a broadcast operand is `sum_to` of the upstream gradient, the
  adjoint of broadcasting: sum(g * broadcast(v)) == sum(sum_to(g) * v) for every v;
- transpose and reshape round trips give back the input and pass gradients through unchanged;
- conv and pooling output shapes follow OH = (H + PT + PB - KH) // SH + 1 for random sizes,
  strides and paddings, equal a count of window positions, and match torch's where installed.
Example counts stay small so the file runs in a few seconds.
"""
import contextlib
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minicnn
import minicnn.functional as F
from minicnn.kernels import conv_output_size
from minicnn.ops.basic import sum_to

try:
    import torch
except ImportError:
    torch = None

T = minicnn.Tensor
FEW = settings(max_examples=40, deadline=None)


@FEW
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4,
                                                max_side=4), seed=st.integers(0, 2**16))
def test_sum_to_is_the_adjoint_of_broadcasting(shapes, seed):
    rng = np.random.default_rng(seed)
    out_shape = shapes.result_shape
    for shape in shapes.input_shapes:
        g = rng.standard_normal(out_shape)
        v = rng.standard_normal(shape)
        reduced = sum_to(g, shape)
        assert reduced.shape == shape
        np.testing.assert_allclose((g * np.broadcast_to(v, out_shape)).sum(),
                                   (reduced * v).sum(), rtol=1e-10, atol=1e-10)


@FEW
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4,
                                                max_side=4),
       op=st.sampled_from(["add", "sub", "mul", "div"]), seed=st.integers(0, 2**16))
def test_broadcasting_ops_give_each_operand_a_gradient_of_its_own_shape(shapes, op, seed):
    rng = np.random.default_rng(seed)
    shape_a, shape_b = shapes.input_shapes
    a = T(rng.standard_normal(shape_a), requires_grad=True)
    b = T(rng.uniform(0.5, 2.0, shape_b), requires_grad=True)
    y = getattr(F, op)(a, b)
    expected = {"add": np.add, "sub": np.subtract, "mul": np.multiply,
                "div": np.divide}[op](a.data, b.data)
    np.testing.assert_allclose(y.numpy(), expected)
    g = rng.standard_normal(y.shape)
    y.backward(g)
    assert a.grad.shape == shape_a and b.grad.shape == shape_b
    if op == "add":  # the gradient of each operand is sum_to of the upstream gradient
        np.testing.assert_allclose(a.grad, sum_to(g, shape_a))
        np.testing.assert_allclose(b.grad, sum_to(g, shape_b))


@st.composite
def _shape_and_permutation(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=5, max_side=4))
    axes = draw(st.permutations(range(len(shape))))
    negative = draw(st.lists(st.booleans(), min_size=len(shape), max_size=len(shape)))
    return shape, tuple(a - len(shape) if neg else a for a, neg in zip(axes, negative))


def _check_round_trip(shape, seed, there, back_again, numpy_there):
    """there(x) equals NumPy's; back_again(there(x)) is x; and the round trip passes a random
    upstream gradient back unchanged."""
    rng = np.random.default_rng(seed)
    x = T(rng.standard_normal(shape), requires_grad=True)
    y = there(x)
    np.testing.assert_array_equal(y.numpy(), numpy_there(x.data))
    back = back_again(y)
    np.testing.assert_array_equal(back.numpy(), x.data)
    g = rng.standard_normal(shape)
    back.backward(g)
    np.testing.assert_array_equal(x.grad, g)


@FEW
@given(case=_shape_and_permutation(), seed=st.integers(0, 2**16))
def test_transpose_round_trip_and_its_gradient(case, seed):
    shape, axes = case
    inverse = tuple(np.argsort([a % len(shape) for a in axes]).tolist())
    _check_round_trip(shape, seed, lambda x: x.transpose(*axes),
                      lambda y: y.transpose(*inverse), lambda a: np.transpose(a, axes))


@st.composite
def _shape_and_reshape(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=4, max_side=4))
    size = int(np.prod(shape))
    sides = []
    remaining = size
    for _ in range(draw(st.integers(0, 3))):  # factor the size into a random new shape
        divisors = [d for d in range(1, remaining + 1) if remaining % d == 0]
        side = draw(st.sampled_from(divisors))
        sides.append(side)
        remaining //= side
    new_shape = tuple(sides) + (remaining,)
    if draw(st.booleans()):  # let reshape infer one side
        index = draw(st.integers(0, len(new_shape) - 1))
        new_shape = new_shape[:index] + (-1,) + new_shape[index + 1:]
    return shape, new_shape


@FEW
@given(case=_shape_and_reshape(), seed=st.integers(0, 2**16))
def test_reshape_round_trip_and_its_gradient(case, seed):
    shape, new_shape = case
    _check_round_trip(shape, seed, lambda x: x.reshape(new_shape), lambda y: y.reshape(shape),
                      lambda a: a.reshape(new_shape))


@st.composite
def _window_case(draw, pool):
    """Random (H, W), kernel, stride and (PT, PB, PL, PR) for which every window is valid."""
    KH, KW = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    SH, SW = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    limit = (lambda K: K // 2) if pool else (lambda K: 3)  # pools: padding <= half the kernel
    pads = (draw(st.integers(0, limit(KH))), draw(st.integers(0, limit(KH))),
            draw(st.integers(0, limit(KW))), draw(st.integers(0, limit(KW))))
    H = draw(st.integers(max(1, KH - pads[0] - pads[1]), 12))
    W = draw(st.integers(max(1, KW - pads[2] - pads[3]), 12))
    return (H, W), (KH, KW), (SH, SW), pads


def _window_starts(size, K, S, before, after):
    """How many window positions fit, counted one by one."""
    return len(range(-before, size + after - K + 1, S))


def _expected_shape(hw, kernel, stride, pads):
    OH = conv_output_size(hw[0], kernel[0], stride[0], pads[0], pads[1])
    OW = conv_output_size(hw[1], kernel[1], stride[1], pads[2], pads[3])
    assert OH == _window_starts(hw[0], kernel[0], stride[0], pads[0], pads[1])
    assert OW == _window_starts(hw[1], kernel[1], stride[1], pads[2], pads[3])
    return OH, OW


@contextlib.contextmanager
def _kernel_path(path):
    """The `kernels` fixture for hypothesis (which refuses function-scoped fixtures)."""
    previous = os.environ.get("MINICNN_KERNELS")
    os.environ["MINICNN_KERNELS"] = path
    try:
        yield
    finally:
        if previous is None:
            del os.environ["MINICNN_KERNELS"]
        else:
            os.environ["MINICNN_KERNELS"] = previous


PATHS = pytest.mark.parametrize("path", ["numba", "reference"])


@PATHS
@settings(max_examples=25, deadline=None)
@given(case=_window_case(pool=False), seed=st.integers(0, 2**16))
def test_conv_output_shape_over_random_sizes_strides_and_paddings(path, case, seed):
    with _kernel_path(path):
        _check_conv(case, seed)


def _check_conv(case, seed):
    hw, kernel, stride, pads = case
    rng = np.random.default_rng(seed)
    x = T(rng.standard_normal((2, 3) + hw), requires_grad=True)
    w = T(rng.standard_normal((4, 3) + kernel), requires_grad=True)
    padding = ((pads[0], pads[1]), (pads[2], pads[3]))
    y = F.conv2d(x, w, None, stride, padding)
    assert y.shape == (2, 4) + _expected_shape(hw, kernel, stride, pads)
    y.backward(rng.standard_normal(y.shape))
    assert x.grad.shape == x.shape and w.grad.shape == w.shape
    if torch is not None:
        padded = torch.nn.functional.pad(torch.tensor(x.data),
                                         (pads[2], pads[3], pads[0], pads[1]))
        theirs = torch.nn.functional.conv2d(padded, torch.tensor(w.data), stride=stride)
        np.testing.assert_allclose(y.numpy(), theirs.numpy(), rtol=1e-10, atol=1e-10)


@PATHS
@settings(max_examples=25, deadline=None)
@given(case=_window_case(pool=True), op=st.sampled_from(["max_pool2d", "avg_pool2d"]),
       seed=st.integers(0, 2**16))
def test_pool_output_shape_over_random_sizes_strides_and_paddings(path, case, op, seed):
    with _kernel_path(path):
        _check_pool(case, op, seed)


def _check_pool(case, op, seed):
    hw, kernel, stride, pads = case
    rng = np.random.default_rng(seed)
    x = T(rng.standard_normal((2, 3) + hw), requires_grad=True)
    try:
        y = getattr(F, op)(x, kernel, stride, ((pads[0], pads[1]), (pads[2], pads[3])))
    except ValueError as error:  # the last window lies wholly in the bottom/right padding
        assert "padding" in str(error) and str(error).startswith(op)
        return
    assert y.shape == (2, 3) + _expected_shape(hw, kernel, stride, pads)
    y.backward(rng.standard_normal(y.shape))
    assert x.grad.shape == x.shape
    if torch is not None and pads[0] == pads[1] and pads[2] == pads[3]:
        theirs = getattr(torch.nn.functional, op)(torch.tensor(x.data), kernel, stride,
                                                  (pads[0], pads[2]))
        np.testing.assert_allclose(y.numpy(), theirs.numpy(), rtol=1e-10, atol=1e-12)
