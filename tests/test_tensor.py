"""Tensor: construction rules, autograd bookkeeping and gradient checks of tensor arithmetic."""
import numpy as np
import pytest

import minicnn
import minicnn.functional as F

from conftest import assert_gradcheck, tensor64

# --- construction and bookkeeping -------------------------------------------------------------

def test_python_data_becomes_float32_and_numpy_keeps_its_dtype():
    assert minicnn.Tensor([1.0, 2.0]).dtype == np.float32
    assert minicnn.Tensor(3.0).dtype == np.float32
    assert minicnn.Tensor(np.zeros(3, dtype=np.float64)).dtype == np.float64
    assert minicnn.Tensor(np.zeros(3, dtype=np.float32)).dtype == np.float32


def test_attributes_describe_the_data():
    data = np.arange(24, dtype=np.float64).reshape(2, 3, 4)
    x = minicnn.Tensor(data, requires_grad=True)
    assert x.shape == (2, 3, 4)
    assert x.ndim == 3
    assert x.size == 24
    assert x.requires_grad
    assert x.grad is None
    assert x.grad_fn is None
    assert isinstance(x.numpy(), np.ndarray)
    np.testing.assert_array_equal(x.numpy(), data)
    assert minicnn.Tensor(np.array([[2.5]])).sum().item() == 2.5


def test_scalar_backward_seeds_with_one(rng):
    x = tensor64(rng, 3, 4)
    y = (x * 3.0).sum()
    assert y.grad_fn is not None
    y.backward()
    np.testing.assert_allclose(x.grad, np.full((3, 4), 3.0))
    assert x.grad.shape == x.shape


def test_backward_with_explicit_upstream_gradient(rng):
    x = tensor64(rng, 2, 3)
    upstream = rng.standard_normal((2, 3))
    (x * x).backward(upstream)
    np.testing.assert_allclose(x.grad, 2 * x.numpy() * upstream, rtol=1e-12)


def test_leaf_gradients_accumulate_across_backward_calls(rng):
    x = tensor64(rng, 5)
    (x * 2.0).sum().backward()
    (x * 5.0).sum().backward()
    np.testing.assert_allclose(x.grad, np.full(5, 7.0))


def test_tensor_used_twice_accumulates_both_paths(rng):
    x = tensor64(rng, 4)
    y = x * x + x  # d/dx = 2x + 1 reaches x along three edges
    y.sum().backward()
    np.testing.assert_allclose(x.grad, 2 * x.numpy() + 1, rtol=1e-12)


def test_diamond_graph_propagates_each_path_exactly_once(rng):
    # a feeds b twice and c once: a backward that recurses per edge instead of in
    # topological order propagates a's gradient more than once.
    x = tensor64(rng, 3)
    a = x * 2.0
    b = a + a
    c = b * a  # = 8 x^2, so dc/dx = 16 x
    c.sum().backward()
    np.testing.assert_allclose(x.grad, 16 * x.numpy(), rtol=1e-12)


def test_no_grad_builds_no_graph(rng):
    x = tensor64(rng, 3)
    with minicnn.no_grad():
        y = x * 2.0 + 1.0
    assert not y.requires_grad
    assert y.grad_fn is None
    z = x * 2.0  # grad mode is back on after the block
    assert z.requires_grad


def test_no_grad_restores_grad_mode_after_an_exception(rng):
    x = tensor64(rng, 3)
    with pytest.raises(KeyError):
        with minicnn.no_grad():
            raise KeyError("boom")
    assert (x * 2.0).requires_grad


def test_detach_cuts_the_graph(rng):
    x = tensor64(rng, 3)
    y = x.detach()
    assert not y.requires_grad
    assert y.grad_fn is None
    np.testing.assert_array_equal(y.numpy(), x.numpy())
    z = (x * y).sum()  # y is a constant, so dz/dx = y, not 2 x
    z.backward()
    np.testing.assert_allclose(x.grad, x.numpy())


def test_retain_grad_keeps_an_intermediate_gradient(rng):
    x = tensor64(rng, 3)
    hidden = x * 3.0
    hidden.retain_grad()
    (hidden * hidden).sum().backward()
    np.testing.assert_allclose(hidden.grad, 2 * hidden.numpy(), rtol=1e-12)
    np.testing.assert_allclose(x.grad, 18 * x.numpy(), rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_full_reductions_keep_the_dtype(dtype):
    # NumPy returns a scalar (not an array) for a full reduction; it must stay `dtype`.
    x = minicnn.Tensor(np.arange(6, dtype=dtype).reshape(2, 3) / 7, requires_grad=True)
    for y in (x.sum(), x.mean(), x.sum(axis=(0, 1)), x[0, 1]):
        assert y.dtype == dtype
        assert y.shape == ()
    assert minicnn.Tensor(np.float64(1.5)).dtype == np.float64


def test_scalar_arithmetic_keeps_the_tensor_dtype(rng):
    x64 = tensor64(rng, 3)
    x32 = minicnn.Tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    for x in (x64, x32):
        for y in (x + 1.5, 1.5 + x, x - 2.0, 2.0 - x, x * 3.0, 3.0 * x, x / 4.0, 4.0 / (x + 9.0),
                  -x, x ** 2):
            assert y.dtype == x.dtype


# --- gradient checks of tensor arithmetic -----------------------------------------------------

BINARY_OPS = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
}

BROADCAST_SHAPES = [
    ((3, 4), (3, 4)),
    ((3, 4), (4,)),
    ((2, 3, 4), (3, 1)),
    ((2, 1, 4), (3, 1)),       # both operands broadcast
    ((1,), (2, 3)),
    ((2, 3, 1, 5), (1, 3, 4, 1)),
    ((), (2, 3)),              # a 0-d tensor (e.g. a learnable scale) against a matrix
]


@pytest.mark.parametrize("op", sorted(BINARY_OPS))
@pytest.mark.parametrize("shape_a, shape_b", BROADCAST_SHAPES)
def test_gradcheck_binary_op_with_broadcasting(rng, op, shape_a, shape_b):
    a = tensor64(rng, *shape_a)
    b = tensor64(rng, *shape_b, low=0.5, high=2.0)  # keep divisors away from zero
    assert_gradcheck(BINARY_OPS[op], [a, b])


@pytest.mark.parametrize("op", sorted(BINARY_OPS))
def test_broadcast_gradients_reduce_to_operand_shapes(rng, op):
    a = tensor64(rng, 2, 1, 4)
    b = tensor64(rng, 3, 1, low=0.5, high=2.0)
    out = BINARY_OPS[op](a, b)
    assert out.shape == (2, 3, 4)
    upstream = rng.standard_normal(out.shape)
    out.backward(upstream)
    assert a.grad.shape == (2, 1, 4)
    assert b.grad.shape == (3, 1)
    # The elementwise partial derivatives, broadcast to the output shape.
    av, bv = np.broadcast_arrays(a.numpy(), b.numpy())
    partials = {
        "add": (np.ones_like(av), np.ones_like(bv)),
        "sub": (np.ones_like(av), -np.ones_like(bv)),
        "mul": (bv, av),
        "div": (1 / bv, -av / bv ** 2),
    }[op]
    expected_ga = (upstream * partials[0]).sum(axis=1, keepdims=True)
    expected_gb = (upstream * partials[1]).sum(axis=0).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(a.grad, expected_ga, rtol=1e-10)
    np.testing.assert_allclose(b.grad, expected_gb, rtol=1e-10)


@pytest.mark.parametrize("fn", [
    lambda x: x + 2.5, lambda x: 2.5 + x, lambda x: x - 1.5, lambda x: 1.5 - x,
    lambda x: x * -3.0, lambda x: -3.0 * x, lambda x: x / 7.0, lambda x: 7.0 / x, lambda x: -x,
], ids=["add", "radd", "sub", "rsub", "mul", "rmul", "div", "rdiv", "neg"])
def test_gradcheck_scalar_arithmetic(rng, fn):
    assert_gradcheck(fn, [tensor64(rng, 3, 5, low=0.5, high=2.0)])


@pytest.mark.parametrize("exponent", [2, 3, 0.5, -1, -2.5, 1.7])
def test_gradcheck_pow(rng, exponent):
    x = tensor64(rng, 4, 3, low=0.3, high=2.0)  # positive, so fractional powers are defined
    assert_gradcheck(lambda x: x ** exponent, [x])
    np.testing.assert_allclose((x ** exponent).numpy(), x.numpy() ** exponent, rtol=1e-12)


@pytest.mark.parametrize("shape_a, shape_b", [((3, 4), (4, 5)), ((1, 7), (7, 1)), ((5, 2), (2, 3))])
def test_gradcheck_matmul(rng, shape_a, shape_b):
    a, b = tensor64(rng, *shape_a), tensor64(rng, *shape_b)
    assert_gradcheck(lambda a, b: a @ b, [a, b])
    np.testing.assert_allclose((a @ b).numpy(), a.numpy() @ b.numpy(), rtol=1e-12)


@pytest.mark.parametrize("axis, keepdims", [
    (None, False), (0, False), (1, True), (-1, False), ((0, 2), False), ((1, 2), True),
])
@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_gradcheck_sum_and_mean(rng, reduction, axis, keepdims):
    x = tensor64(rng, 2, 3, 4)
    fn = lambda x: getattr(x, reduction)(axis=axis, keepdims=keepdims)  # noqa: E731
    assert_gradcheck(fn, [x])
    expected = getattr(np, reduction)(x.numpy(), axis=axis, keepdims=keepdims)
    out = fn(x)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12)


@pytest.mark.parametrize("shape", [(6, 4), (2, -1), (4, 3, 2), (24,)])
def test_gradcheck_reshape(rng, shape):
    x = tensor64(rng, 2, 3, 4)
    assert_gradcheck(lambda x: x.reshape(*shape), [x])
    assert x.reshape(*shape).shape == x.numpy().reshape(shape).shape


@pytest.mark.parametrize("axes", [(1, 0, 2), (2, 0, 1), (0, 2, 1), ()])
def test_gradcheck_transpose(rng, axes):
    x = tensor64(rng, 2, 3, 4)
    assert_gradcheck(lambda x: x.transpose(*axes), [x])
    np.testing.assert_array_equal(x.transpose(*axes).numpy(), x.numpy().transpose(*axes))


def test_gradcheck_tensor_as_both_matmul_operands(rng):
    assert_gradcheck(lambda x: x @ x.transpose(), [tensor64(rng, 3, 4)])


def test_constant_operand_gets_no_gradient(rng):
    x = tensor64(rng, 2, 3)
    constant = tensor64(rng, 2, 3, requires_grad=False)
    (x * constant).sum().backward()
    assert constant.grad is None
    np.testing.assert_allclose(x.grad, constant.numpy())


def test_gradcheck_exp_and_log(rng):
    assert_gradcheck(lambda x: x.exp(), [tensor64(rng, 3, 4)])
    assert_gradcheck(lambda x: x.log(), [tensor64(rng, 3, 4, low=0.2, high=3.0)])


INDEXES = {
    "int": 1,
    "slice": (slice(1, 3), slice(None, None, 2)),
    "negative": (-1, slice(None), 2),
    "ellipsis": (Ellipsis, 0),
    "int_array_with_repeats": (np.array([0, 2, 0, 0]),),
    "bool_mask": None,  # filled in the test (depends on the data)
}


@pytest.mark.parametrize("name", sorted(INDEXES))
def test_gradcheck_getitem(rng, name):
    x = tensor64(rng, 3, 4, 5)
    index = INDEXES[name] if name != "bool_mask" else x.numpy() > 0
    assert_gradcheck(lambda x: x[index], [x])
    np.testing.assert_array_equal(x[index].numpy(), x.numpy()[index])


def test_getitem_with_repeated_indices_accumulates(rng):
    x = tensor64(rng, 4)
    x[np.array([1, 1, 1, 3])].sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 3.0, 0.0, 1.0])


def test_gradcheck_composite_expression(rng):
    a, b, c = tensor64(rng, 2, 3), tensor64(rng, 3), tensor64(rng, 3, 2)

    def fn(a, b, c):
        h = (a * b + a / (b * b + 1.0)) @ c
        return (h.exp() - h ** 2).mean(axis=0) * 2.0

    assert_gradcheck(fn, [a, b, c])


def test_relu_of_tensor_used_in_a_skip_connection(rng):
    # y = relu(conv(x)) + x (a ResNet skip): x's gradient is the conv path plus the identity.
    x = tensor64(rng, 1, 2, 4, 4)
    w = tensor64(rng, 2, 2, 3, 3)
    y = F.relu(F.conv2d(x, w, padding=1)) + x
    upstream = rng.standard_normal(y.shape)
    y.backward(upstream)
    grad_through_both = x.grad.copy()

    x2 = minicnn.Tensor(x.numpy().copy(), requires_grad=True)
    F.relu(F.conv2d(x2, w, padding=1)).backward(upstream)
    np.testing.assert_allclose(grad_through_both, x2.grad + upstream, rtol=1e-12)


def test_functional_ops_accept_plain_arrays(rng):
    x = rng.standard_normal((1, 2, 4, 4))
    w = rng.standard_normal((3, 2, 3, 3))
    y = F.conv2d(x, w, padding=1)
    assert isinstance(y, minicnn.Tensor) and not y.requires_grad
    assert y.dtype == np.float64
    # A Tensor mixed with a plain array: only the Tensor gets a gradient.
    xt = minicnn.Tensor(x, requires_grad=True)
    F.conv2d(xt, w, padding=1).sum().backward()
    assert xt.grad.shape == x.shape
    np.testing.assert_allclose(F.conv2d(xt, w, padding=1).numpy(), y.numpy(), rtol=1e-12)
