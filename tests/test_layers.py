"""nn.Module bookkeeping, layer gradient checks in float64, initialisation and seeding."""
import math

import numpy as np
import pytest

import minicnn
import minicnn.functional as F
from minicnn import nn

from conftest import assert_gradcheck, distinct64, module_to_float64, tensor64


class _Block(nn.Module):
    """conv -> BN -> ReLU with a skip, and a head: enough structure to test registration."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)
        self.bn = nn.BatchNorm2d(3)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 5))
        self.scale = minicnn.Parameter(np.ones(1, dtype=np.float32))
        self.not_registered = [nn.Linear(2, 2)]  # a list is not a Module: not registered

    def forward(self, x):
        h = F.relu(self.bn(self.conv(x))) + x
        return self.head(h) * self.scale


# --- registration -----------------------------------------------------------------------------

def test_parameters_and_buffers_are_registered_with_dotted_names():
    block = _Block()
    names = [name for name, _ in block.named_parameters()]
    assert sorted(names) == sorted(["conv.weight", "conv.bias", "bn.weight", "bn.bias",
                                    "head.1.weight", "head.1.bias", "scale"])
    assert len(list(block.parameters())) == 7
    assert all(isinstance(p, minicnn.Parameter) and p.requires_grad for p in block.parameters())
    assert sorted(name for name, _ in block.named_buffers()) == ["bn.running_mean",
                                                                 "bn.running_var"]
    assert [name for name, _ in block.named_children()] == ["conv", "bn", "head"]
    assert list(block.children())[1] is block.bn
    module_names = [name for name, _ in block.named_modules()]
    assert module_names == ["", "conv", "bn", "head", "head.0", "head.1"]
    assert len(list(block.modules())) == 6


def test_reassigning_an_attribute_replaces_its_registration():
    block = _Block()
    block.head = nn.Identity()
    assert not any(name.startswith("head.") for name, _ in block.named_parameters())
    block.conv = nn.Conv2d(3, 3, 1, bias=False)
    assert "conv.bias" not in dict(block.named_parameters())
    assert block.conv.weight.shape == (3, 3, 1, 1)


def test_assigning_a_buffer_attribute_keeps_it_a_buffer():
    # PyTorch keeps `bn.running_mean = new_array` a buffer, so state_dict still saves it.
    bn = nn.BatchNorm1d(3)
    bn.running_mean = np.full(3, 2.0, dtype=np.float32)
    state = bn.state_dict()
    assert "running_mean" in state
    np.testing.assert_array_equal(state["running_mean"], np.full(3, 2.0))


def test_a_shared_submodule_is_listed_and_stepped_once():
    # Weight sharing (the same layer assigned twice): like PyTorch, parameters() lists each
    # Parameter once, or an optimizer built from it would update the shared weight twice.
    class Shared(nn.Module):
        def __init__(self):
            super().__init__()
            self.first = nn.Linear(2, 2)
            self.second = self.first

        def forward(self, x):
            return self.second(self.first(x))

    model = Shared()
    params = list(model.parameters())
    assert len(params) == 2
    assert len({id(p) for p in params}) == 2
    weight_before = model.first.weight.numpy().copy()
    model(minicnn.Tensor(np.ones((1, 2), dtype=np.float32))).sum().backward()
    grad = model.first.weight.grad.copy()
    minicnn.optim.SGD(model.parameters(), lr=0.1).step()
    np.testing.assert_allclose(model.first.weight.numpy(), weight_before - 0.1 * grad, rtol=1e-6)


def test_sequential_indexing_length_iteration_and_names():
    layers = [nn.Conv2d(1, 2, 3), nn.ReLU(), nn.MaxPool2d(2)]
    seq = nn.Sequential(*layers)
    assert len(seq) == 3
    assert seq[0] is layers[0] and seq[-1] is layers[2]
    assert list(seq) == layers
    assert [name for name, _ in seq.named_parameters()] == ["0.weight", "0.bias"]
    x = minicnn.Tensor(np.random.default_rng(0).standard_normal((2, 1, 6, 6)).astype(np.float32))
    expected = F.max_pool2d(F.relu(layers[0](x)), 2)
    np.testing.assert_array_equal(seq(x).numpy(), expected.numpy())


def test_call_runs_forward():
    class Double(nn.Module):
        def forward(self, x):
            return x * 2.0

    x = minicnn.Tensor(np.arange(3.0))
    np.testing.assert_array_equal(Double()(x).numpy(), [0.0, 2.0, 4.0])


def test_module_without_super_init_says_so():
    class Forgetful(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(2, 2)

    with pytest.raises(AttributeError, match=r"super\(\).__init__"):
        Forgetful()


def test_zero_grad_clears_every_parameter_gradient(rng):
    block = _Block()
    x = minicnn.Tensor(rng.standard_normal((2, 3, 4, 4)).astype(np.float32))
    block(x).sum().backward()
    assert all(p.grad is not None for p in block.parameters())
    block.zero_grad()
    assert all(p.grad is None for p in block.parameters())


# --- state_dict -------------------------------------------------------------------------------

def test_state_dict_is_a_copy_of_parameters_and_buffers():
    block = _Block()
    state = block.state_dict()
    assert set(state) == {"conv.weight", "conv.bias", "bn.weight", "bn.bias", "bn.running_mean",
                          "bn.running_var", "head.1.weight", "head.1.bias", "scale"}
    assert all(isinstance(value, np.ndarray) for value in state.values())
    state["conv.weight"][...] = 123.0
    assert not np.any(block.conv.weight.numpy() == 123.0)


def test_state_dict_round_trip_restores_outputs_and_bn_buffers(rng):
    minicnn.manual_seed(1)
    trained = _Block()
    x = minicnn.Tensor(rng.standard_normal((4, 3, 4, 4)).astype(np.float32))
    for _ in range(3):  # training steps move BN's running statistics away from 0 / 1
        trained(x)
    trained.eval()
    minicnn.manual_seed(2)
    fresh = _Block().eval()
    assert not np.allclose(fresh(x).numpy(), trained(x).numpy())
    params_before = list(fresh.parameters())
    fresh.load_state_dict(trained.state_dict())
    np.testing.assert_array_equal(fresh.bn.running_mean, trained.bn.running_mean)
    np.testing.assert_array_equal(fresh.bn.running_var, trained.bn.running_var)
    assert not np.allclose(trained.bn.running_mean, 0.0)
    np.testing.assert_array_equal(fresh(x).numpy(), trained(x).numpy())
    # loaded in place: an optimizer holding the old Parameter objects still sees the weights
    assert all(a is b for a, b in zip(params_before, fresh.parameters()))


def test_load_state_dict_missing_key_names_it():
    block = _Block()
    state = block.state_dict()
    del state["bn.running_var"]
    with pytest.raises(KeyError, match=r"bn\.running_var"):
        block.load_state_dict(state)


def test_load_state_dict_unexpected_key_names_it():
    block = _Block()
    state = block.state_dict()
    state["fc9.weight"] = np.zeros(3)
    with pytest.raises(KeyError, match=r"fc9\.weight"):
        block.load_state_dict(state)


def test_load_state_dict_non_strict_loads_what_matches():
    block, other = _Block(), _Block()
    state = other.state_dict()
    del state["head.1.bias"]
    state["extra"] = np.zeros(2)
    before = block.head[1].bias.numpy().copy()
    block.load_state_dict(state, strict=False)
    np.testing.assert_array_equal(block.conv.weight.numpy(), other.conv.weight.numpy())
    np.testing.assert_array_equal(block.head[1].bias.numpy(), before)


def test_load_state_dict_shape_mismatch_names_key_and_shapes():
    block = _Block()
    state = block.state_dict()
    state["conv.weight"] = np.zeros((3, 3, 5, 5), dtype=np.float32)
    with pytest.raises(ValueError, match=r"conv\.weight.*\(3, 3, 5, 5\).*\(3, 3, 3, 3\)"):
        block.load_state_dict(state)


# --- train / eval -----------------------------------------------------------------------------

def test_train_and_eval_switch_every_submodule():
    block = _Block()
    assert block.training and block.bn.training and block.head[0].training
    assert block.eval() is block
    assert not any(module.training for module in block.modules())
    block.train()
    assert all(module.training for module in block.modules())
    block.train(False)
    assert not block.head[1].training


def test_dropout_layer_is_active_in_train_and_identity_in_eval():
    dropout = nn.Dropout(0.5)
    x = minicnn.Tensor(np.ones((20, 20), dtype=np.float32))
    minicnn.manual_seed(0)
    y_train = dropout(x).numpy()
    assert np.any(y_train == 0.0) and np.any(y_train == 2.0)
    dropout.eval()
    np.testing.assert_array_equal(dropout(x).numpy(), x.numpy())


def test_batch_norm_layer_updates_running_stats_only_in_training(rng):
    bn = nn.BatchNorm2d(3, momentum=0.2)
    x = rng.standard_normal((4, 3, 2, 2)).astype(np.float32) * 3.0 + 1.0
    bn(minicnn.Tensor(x))
    np.testing.assert_allclose(bn.running_mean, 0.2 * x.mean(axis=(0, 2, 3)), rtol=1e-5)
    np.testing.assert_allclose(bn.running_var, 0.8 + 0.2 * x.var(axis=(0, 2, 3), ddof=1),
                               rtol=1e-5)
    saved = bn.running_mean.copy(), bn.running_var.copy()
    bn.eval()
    y = bn(minicnn.Tensor(x)).numpy()
    np.testing.assert_array_equal(bn.running_mean, saved[0])
    np.testing.assert_array_equal(bn.running_var, saved[1])
    expected = (x - saved[0].reshape(1, 3, 1, 1)) / np.sqrt(saved[1].reshape(1, 3, 1, 1) + 1e-5)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)


def test_batch_norm_layer_matches_pytorch_over_train_and_eval(rng):
    torch = pytest.importorskip("torch")
    ours = module_to_float64(nn.BatchNorm2d(3, momentum=0.3))
    theirs = torch.nn.BatchNorm2d(3, momentum=0.3).double()
    gamma, beta = rng.standard_normal(3), rng.standard_normal(3)
    ours.load_state_dict({"weight": gamma, "bias": beta, "running_mean": np.zeros(3),
                          "running_var": np.ones(3)})
    with torch.no_grad():
        theirs.weight.copy_(torch.from_numpy(gamma))
        theirs.bias.copy_(torch.from_numpy(beta))
    for step in range(3):
        x = rng.standard_normal((2, 3, 3, 3)) * (step + 1)
        np.testing.assert_allclose(ours(minicnn.Tensor(x)).numpy(),
                                   theirs(torch.from_numpy(x)).detach().numpy(), rtol=1e-10)
    np.testing.assert_allclose(ours.running_mean, theirs.running_mean.numpy(), rtol=1e-12)
    np.testing.assert_allclose(ours.running_var, theirs.running_var.numpy(), rtol=1e-12)
    ours.eval()
    theirs.eval()
    x = rng.standard_normal((2, 3, 3, 3))
    np.testing.assert_allclose(ours(minicnn.Tensor(x)).numpy(),
                               theirs(torch.from_numpy(x)).detach().numpy(), rtol=1e-10)


# --- gradient checks of every layer (float64 parameters) --------------------------------------

def _check_layer(layer, x):
    """Gradient-check layer(x) w.r.t. x and every parameter of the layer."""
    module_to_float64(layer)
    params = list(layer.parameters())
    return assert_gradcheck(lambda x, *params: layer(x), [x, *params])


@pytest.mark.parametrize("args, kwargs, x_shape", [
    ((3, 5, 3), dict(padding=1), (2, 3, 5, 4)),
    ((3, 2, 5), dict(stride=2, padding=2), (1, 3, 7, 6)),
    ((1, 2, 11), dict(stride=4, padding=2), (1, 1, 11, 14)),
    ((4, 6, 3), dict(groups=2, padding=((0, 1), (1, 0))), (2, 4, 4, 5)),
    ((3, 5, (1, 3)), dict(stride=(1, 2), bias=False), (2, 3, 4, 6)),
    ((5, 3, 1), dict(), (1, 5, 3, 3)),
])
def test_gradcheck_conv2d_layer(rng, args, kwargs, x_shape):
    layer = nn.Conv2d(*args, **kwargs)
    reports = _check_layer(layer, tensor64(rng, *x_shape))
    assert len(reports) == (2 if kwargs.get("bias", True) is False else 3)


@pytest.mark.parametrize("bias", [True, False])
def test_gradcheck_linear_layer(rng, bias):
    _check_layer(nn.Linear(7, 3, bias=bias), tensor64(rng, 4, 7))


@pytest.mark.parametrize("layer, x_shape", [
    (nn.BatchNorm1d(5), (4, 5)),
    (nn.BatchNorm2d(3), (2, 3, 3, 4)),
    (nn.BatchNorm2d(3), (1, 3, 2, 5)),  # batch of 1: statistics over H*W still exist
])
@pytest.mark.parametrize("training", [True, False])
def test_gradcheck_batch_norm_layers(rng, layer, x_shape, training):
    module_to_float64(layer)
    layer.load_state_dict({"weight": rng.uniform(0.5, 1.5, x_shape[1]),
                           "bias": rng.standard_normal(x_shape[1]),
                           "running_mean": rng.standard_normal(x_shape[1]),
                           "running_var": rng.uniform(0.5, 2.0, x_shape[1])})
    layer.train(training)
    _check_layer(layer, tensor64(rng, *x_shape))


@pytest.mark.parametrize("layer, x_shape", [
    (nn.MaxPool2d(3, 2), (2, 3, 7, 7)),
    (nn.MaxPool2d(2), (1, 5, 4, 6)),
    (nn.MaxPool2d(3, 1, 1), (1, 3, 5, 4)),
    (nn.AvgPool2d(3, 2, 1), (2, 3, 5, 5)),
    (nn.AvgPool2d(3, 2, 1, count_include_pad=False), (2, 3, 5, 5)),
    (nn.AvgPool2d((2, 3)), (1, 3, 4, 6)),
    (nn.GlobalAvgPool2d(), (2, 5, 3, 3)),
    (nn.GlobalMaxPool2d(), (2, 5, 3, 3)),
    (nn.LocalResponseNorm(5, alpha=1.0, beta=0.75, k=2.0), (2, 7, 3, 3)),
    (nn.LocalResponseNorm(2), (1, 3, 2, 2)),
    (nn.ReLU(), (3, 7)),
    (nn.Sigmoid(), (3, 7)),
    (nn.Tanh(), (2, 3, 2, 2)),
    (nn.Flatten(), (2, 3, 2, 2)),
    (nn.Identity(), (2, 3)),
], ids=lambda value: type(value).__name__ if isinstance(value, nn.Module) else None)
def test_gradcheck_parameter_free_layers(rng, layer, x_shape):
    _check_layer(layer, distinct64(rng, *x_shape))


def test_gradcheck_dropout_layer_under_a_fixed_seed(rng):
    layer = nn.Dropout(0.4)

    def fn(x):
        minicnn.manual_seed(11)  # the same mask on every evaluation
        return layer(x)

    assert_gradcheck(fn, [tensor64(rng, 5, 6)])
    layer.eval()
    assert_gradcheck(fn, [tensor64(rng, 5, 6)])


def test_gradcheck_small_network_of_layers(rng):
    net = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(4, 6, 1, groups=2), nn.Tanh(), nn.AvgPool2d(2),
        nn.Flatten(), nn.Linear(6, 3))
    module_to_float64(net)
    labels = np.array([0, 2])

    def loss(x, *params):
        return F.softmax_cross_entropy(net(x), labels)

    assert_gradcheck(loss, [tensor64(rng, 2, 3, 4, 4), *net.parameters()])


# --- initialisation and seeding ---------------------------------------------------------------

@pytest.mark.parametrize("make, fan_in", [
    (lambda: nn.Linear(300, 60), 300),
    (lambda: nn.Conv2d(6, 40, 5, groups=2), 3 * 5 * 5),
    (lambda: nn.Conv2d(16, 100, (3, 2)), 16 * 3 * 2),
])
def test_default_init_is_pytorch_kaiming_uniform(make, fan_in):
    minicnn.manual_seed(0)
    layer = make()
    bound = 1.0 / math.sqrt(fan_in)  # kaiming_uniform_(a=sqrt(5)) = U(-1/sqrt(fan_in), ...)
    w = layer.weight.numpy()
    assert w.dtype == np.float32
    assert np.abs(w).max() <= bound
    assert np.abs(w).max() > 0.95 * bound  # the whole interval is used, not a narrower one
    np.testing.assert_allclose(w.std(), bound / math.sqrt(3), rtol=0.05)
    assert abs(w.mean()) < 0.05 * bound
    b = layer.bias.numpy()
    assert np.abs(b).max() <= bound and np.abs(b).max() > 0.5 * bound


def test_batch_norm_init_is_ones_and_zeros():
    bn = nn.BatchNorm2d(4)
    np.testing.assert_array_equal(bn.weight.numpy(), np.ones(4))
    np.testing.assert_array_equal(bn.bias.numpy(), np.zeros(4))
    np.testing.assert_array_equal(bn.running_mean, np.zeros(4))
    np.testing.assert_array_equal(bn.running_var, np.ones(4))


def _build():
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(16, 2))


def test_manual_seed_makes_initialisation_reproducible():
    minicnn.manual_seed(42)
    first = _build().state_dict()
    minicnn.manual_seed(42)
    second = _build().state_dict()
    minicnn.manual_seed(43)
    third = _build().state_dict()
    for name in first:
        np.testing.assert_array_equal(first[name], second[name])
    assert not np.array_equal(first["0.weight"], third["0.weight"])
    assert not np.array_equal(first["3.weight"], first["3.weight"][::-1])  # not constant rows


# --- float32 end to end ------------------------------------------------------------------------

def test_float32_network_keeps_float32_gradients(rng):
    net = _build()
    x = minicnn.Tensor(rng.standard_normal((2, 3, 4, 4)).astype(np.float32))
    loss = F.softmax_cross_entropy(net(x), np.array([1, 0]))
    assert loss.dtype == np.float32
    loss.backward()
    for name, param in net.named_parameters():
        assert param.grad.dtype == np.float32, name
        assert param.grad.shape == param.shape, name
