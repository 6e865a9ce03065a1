"""The API rules of issue 10 (dtypes, argument types, optimizer settings) and issue 9's op
names: each rule as docs/api.md states it, a failure reproduced and shown fixed, torch's
behaviour compared where it is installed."""
import inspect
import pathlib

import numpy as np
import pytest
from conformance_cases import CASES

import minicnn
import minicnn.functional as F
from minicnn import nn, optim

T = minicnn.Tensor

try:
    import torch
except ImportError:
    torch = None


# ----- dtypes -------------------------------------------------------------------------------
@pytest.mark.parametrize("data, dtype", [
    ([1, 2, 3], np.float32), ([1.5, 2.0], np.float32), ([True, False], np.float32),
    (3, np.float32), (2.5, np.float32), ([[1, 2], [3, 4]], np.float32),
    (np.array([1, 2, 3]), np.int64), (np.array([1.0], np.float64), np.float64),
    (np.float64(2.0), np.float64),
])
def test_lists_and_python_numbers_become_float32_arrays_keep_their_dtype(data, dtype):
    assert T(data).dtype == dtype


def test_integer_logits_are_promoted_to_float32():
    loss = F.softmax_cross_entropy(np.array([[1, 2, 3]]), np.array([0]))
    assert loss.dtype == np.float32
    expected = np.log(np.exp([1.0, 2.0, 3.0]).sum()) - 1.0   # 2.4076, not a truncated 2
    np.testing.assert_allclose(loss.item(), expected, rtol=1e-6)
    if torch is not None:
        theirs = torch.nn.functional.cross_entropy(torch.tensor([[1.0, 2.0, 3.0]]),
                                                   torch.tensor([0]))
        np.testing.assert_allclose(loss.item(), theirs.item(), rtol=1e-6)


def test_float_class_labels_get_a_clear_error():
    with pytest.raises(minicnn.DTypeError, match=r"^softmax_cross_entropy: class labels must "
                                                 r"be integers.*np.array"):
        F.softmax_cross_entropy(np.zeros((2, 3)), T([0, 2]))


@pytest.mark.parametrize("op", [F.relu, F.sigmoid, F.exp, lambda x: x + 1, F.flatten],
                         ids=["relu", "sigmoid", "exp", "add", "flatten"])
def test_integer_inputs_compute_in_float32(op):
    x = np.array([[-2, 0, 3]])
    y = op(T(x))
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.numpy(), op(T(x.astype(np.float32))).numpy())


def _op_names(tensor):
    """The names of every op in the graph that produced `tensor`."""
    names, stack = set(), [tensor]
    while stack:
        t = stack.pop()
        if t is not None and t.grad_fn is not None:
            names.add(t.grad_fn.name)
            stack.extend(t.grad_fn.inputs)
    return names


@pytest.mark.parametrize("name", sorted(CASES))
def test_float16_is_refused_with_the_op_name(kernels, name):
    inputs, ours, _ = CASES[name](np.random.default_rng(0), 2)
    y = ours(*[T(a, requires_grad=True) for a in inputs])
    with pytest.raises(minicnn.DTypeError, match=r"^(\w+): dtype float16 is not supported") as e:
        ours(*[T(a.astype(np.float16)) for a in inputs])
    assert str(e.value).split(":")[0] in _op_names(y)
    assert "float32 or float64" in str(e.value)


# ----- argument types -----------------------------------------------------------------------
@pytest.mark.parametrize("call", [
    lambda x, i: F.conv2d(x, np.ones((2, 3, 3, 3)), None, stride=i(2), padding=i(1)),
    lambda x, i: F.conv2d(x, np.ones((2, 3, 3, 3)), None, stride=(i(1), i(2)),
                          padding=((i(0), i(1)), (i(1), i(0)))),
    lambda x, i: F.conv2d(x, np.ones((3, 1, 3, 3)), None, groups=i(3)),
    lambda x, i: F.max_pool2d(x, i(3), i(2), i(1)),
    lambda x, i: F.avg_pool2d(x, (i(2), i(3)), i(1), (i(1), i(0))),
    lambda x, i: F.local_response_norm(x, i(3)),
    lambda x, i: F.concat([x, x], axis=i(1)),
    lambda x, i: F.sum(x, axis=i(1)),
], ids=["conv", "conv_pairs", "conv_groups", "max_pool", "avg_pool", "lrn", "concat", "sum"])
@pytest.mark.parametrize("integer", [np.int64, np.int32, np.uint8])
def test_numpy_integers_are_accepted_like_ints(kernels, rng, call, integer):
    x = rng.standard_normal((2, 3, 6, 7))
    np.testing.assert_array_equal(call(x, integer).numpy(), call(x, int).numpy())


def test_layers_accept_numpy_integers_and_store_python_ints(rng):
    i = np.int64
    x = rng.standard_normal((2, 4, 6, 6)).astype(np.float32)
    conv = nn.Conv2d(i(4), i(6), i(3), stride=i(2), padding=i(1), groups=i(2))
    assert (conv.kernel_size, conv.stride, conv.padding) == ((3, 3), (2, 2), (1, 1))
    assert all(type(v) is int for v in conv.kernel_size + conv.stride + (conv.groups,))
    assert conv(x).shape == (2, 6, 3, 3)
    assert nn.MaxPool2d(i(2))(x).shape == (2, 4, 3, 3)
    assert nn.AvgPool2d(i(3), i(1), i(1))(x).shape == (2, 4, 6, 6)
    assert nn.LocalResponseNorm(i(3))(x).shape == x.shape
    assert nn.Linear(i(4), i(2))(x[:, :, 0, 0]).shape == (2, 2)
    assert nn.BatchNorm2d(i(4))(x).shape == x.shape


@pytest.mark.parametrize("op, argument, call", [
    ("conv2d", "stride", lambda x: F.conv2d(x, np.ones((2, 3, 3, 3)), stride=1.5)),
    ("conv2d", "padding", lambda x: F.conv2d(x, np.ones((2, 3, 3, 3)), padding=(1, 0.5))),
    ("conv2d", "groups", lambda x: F.conv2d(x, np.ones((3, 1, 3, 3)), groups=3.0)),
    ("max_pool2d", "kernel_size", lambda x: F.max_pool2d(x, 2.0)),
    ("max_pool2d", "stride", lambda x: F.max_pool2d(x, 2, stride=1.5)),
    ("avg_pool2d", "padding", lambda x: F.avg_pool2d(x, 3, padding="same")),
    ("local_response_norm", "size", lambda x: F.local_response_norm(x, 2.5)),
    ("Conv2d", "in_channels", lambda x: nn.Conv2d(3.0, 2, 3)),
    ("Conv2d", "stride", lambda x: nn.Conv2d(3, 2, 3, stride=1.5)),
    ("MaxPool2d", "kernel_size", lambda x: nn.MaxPool2d(1.5)),
    ("LocalResponseNorm", "size", lambda x: nn.LocalResponseNorm(5.0)),
    ("Linear", "out_features", lambda x: nn.Linear(3, 2.0)),
])
def test_non_integral_arguments_get_a_message_naming_op_and_argument(op, argument, call):
    with pytest.raises(TypeError, match=rf"^{op}: {argument} must be an int"):
        call(np.ones((1, 3, 6, 6)))


@pytest.mark.parametrize("axis", [4, -5, 10])
def test_concat_axis_out_of_range_is_a_clear_error(axis):
    a = T(np.ones((2, 3, 4, 5)))
    with pytest.raises(minicnn.ShapeError,
                       match=rf"^concat: axis {axis} is out of range for 4-D input"):
        F.concat([a, a], axis=axis)


def test_concat_with_a_negative_axis_joins_and_splits_the_gradient(rng):
    a = T(rng.standard_normal((2, 3, 4)), requires_grad=True)
    b = T(rng.standard_normal((2, 3, 1)), requires_grad=True)
    y = F.concat([a, b], axis=-1)
    np.testing.assert_array_equal(y.numpy(), np.concatenate([a.data, b.data], axis=-1))
    upstream = rng.standard_normal(y.shape)
    y.backward(upstream)
    np.testing.assert_array_equal(a.grad, upstream[..., :4])
    np.testing.assert_array_equal(b.grad, upstream[..., 4:])


# ----- optimizer settings -------------------------------------------------------------------
BAD_SETTINGS = [
    ("Adam", "betas\\[0\\]", dict(betas=(1.0, 0.999))), ("Adam", "betas\\[1\\]",
                                                         dict(betas=(0.9, 1.0))),
    ("Adam", "betas\\[0\\]", dict(betas=(-0.1, 0.999))), ("Adam", "eps", dict(eps=-1e-8)),
    ("Adam", "lr", dict(lr=-1e-3)), ("Adam", "weight_decay", dict(weight_decay=-1.0)),
    ("Adam", "lr", dict(lr=float("nan"))),
    ("SGD", "lr", dict(lr=-0.1)), ("SGD", "momentum", dict(lr=0.1, momentum=-0.9)),
    ("SGD", "weight_decay", dict(lr=0.1, weight_decay=-1e-4)),
    ("SGD", "nesterov", dict(lr=0.1, nesterov=True)),
]


@pytest.mark.parametrize("optimizer, setting, kwargs", BAD_SETTINGS)
def test_optimizer_settings_are_checked_at_construction_naming_the_setting(optimizer, setting,
                                                                           kwargs):
    param = minicnn.Parameter(np.ones(3))
    with pytest.raises(ValueError, match=rf"^{optimizer}: {setting}"):
        getattr(optim, optimizer)([param], **kwargs)
    if torch is not None and "nan" not in str(kwargs):  # torch refuses the same settings
        with pytest.raises(ValueError):
            getattr(torch.optim, optimizer)([torch.ones(3, requires_grad=True)], **kwargs)


def test_the_boundary_settings_torch_accepts_are_accepted():
    param = minicnn.Parameter(np.ones(3))
    optim.Adam([param], lr=0.0, betas=(0.0, 0.0), eps=0.0, weight_decay=0.0)
    optim.SGD([param], lr=0.0, momentum=0.0, weight_decay=0.0)
    optim.SGD([param], lr=0.1, momentum=0.5, nesterov=True)


def test_cosine_annealing_stays_at_eta_min_after_t_max_as_documented():
    opt = optim.SGD([minicnn.Parameter(np.ones(1))], lr=1.0)
    schedule = optim.CosineAnnealingLR(opt, T_max=4, eta_min=0.1)
    lrs = []
    for _ in range(7):
        schedule.step()
        lrs.append(opt.lr)
    np.testing.assert_allclose(lrs[3:], [0.1] * 4)   # torch would climb back after epoch 4
    api = (pathlib.Path(__file__).parents[1] / "docs" / "api.md").read_text()
    assert "stays at `eta_min` after `T_max`" in " ".join(api.split())


# ----- op names (issue 9) -------------------------------------------------------------------
def _function_classes():
    import minicnn.core
    seen, stack = [], [minicnn.core.Function]
    while stack:
        for sub in stack.pop().__subclasses__():
            seen.append(sub)
            stack.append(sub)
    return [c for c in seen if c.__module__.startswith("minicnn.ops")]


def test_every_op_has_a_lowercase_name_and_a_wrapper_of_that_name():
    classes = [c for c in _function_classes() if not c.__name__.startswith("_")]
    assert len(classes) >= 25
    for cls in classes:
        assert cls.name == cls.name.lower() and cls.name.isidentifier(), cls
        wrapper = getattr(inspect.getmodule(cls), cls.name, None)
        assert callable(wrapper), f"{cls.__name__}: no wrapper named {cls.name}"


def test_a_tensor_prints_the_op_name_not_the_class_name(rng):
    x = T(rng.standard_normal((1, 1, 4, 4)), requires_grad=True)
    y = F.conv2d(x, T(rng.standard_normal((1, 1, 3, 3))))
    assert "grad_fn=conv2d" in repr(y) and "Conv2d" not in repr(y)
    assert "grad_fn=max_pool2d" in repr(F.max_pool2d(y, 2))
