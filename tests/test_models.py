"""The model zoo: every model builds, maps (N, C, H, W) to (N, num_classes) and learns.

Models whose natural input is 224 px are exercised at a reduced width or with their
small-input option so the whole file runs in seconds on two CPU cores; test_models_full.py
holds the paper-sized checks.
"""

import numpy as np
import pytest

import minicnn
from minicnn import functional as F
from minicnn import models
from minicnn.optim import SGD

# name -> options that keep the model small enough for a quick CPU test
SMALL_OPTIONS = {
    "lenet5": {},
    "alexnet": {"small_input": True, "width": 0.125},
    "vgg11": {"channel_ratio": 16, "fc_width": 64, "image_size": 32},
    "vgg13": {"channel_ratio": 16, "fc_width": 64, "image_size": 32},
    "vgg16": {"channel_ratio": 16, "fc_width": 64, "image_size": 32},
    "vgg19": {"channel_ratio": 16, "fc_width": 64, "image_size": 32},
    "vgg16_bn": {"channel_ratio": 16},
    "vgg16_bigconv": {"channel_ratio": 16, "fc_width": 64, "image_size": 32},
    "nin": {"small_input": True, "width": 0.25},
    "googlenet": {"image_size": 16},
    "googlenet_small": {"image_size": 8},
    "resnet18": {"small_input": True, "width": 0.125},
    "resnet34": {"small_input": True, "width": 0.125},
    "squeezenet": {"small_input": True},
}


def test_every_registered_model_has_a_small_test_configuration():
    assert sorted(SMALL_OPTIONS) == sorted(models.names())


def fixed_batch(input_size, batch=2, seed=0):
    """A reproducible (batch, C, H, W) float32 batch and its labels."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, *input_size)).astype(np.float32)
    labels = np.arange(batch) % 10
    return minicnn.Tensor(x), labels


@pytest.mark.parametrize("name", sorted(SMALL_OPTIONS))
def test_forward_gives_one_row_of_logits_per_image(name):
    minicnn.manual_seed(0)
    model = models.build(name, num_classes=7, in_channels=3, **SMALL_OPTIONS[name])
    C, H, W = model.default_input_size
    assert C == 3
    x, _ = fixed_batch(model.default_input_size)
    model.eval()
    with minicnn.no_grad():
        logits = model(x)
    assert logits.shape == (2, 7)
    assert np.all(np.isfinite(logits.numpy()))


@pytest.mark.parametrize("name", sorted(SMALL_OPTIONS))
def test_one_sgd_step_lowers_the_loss_on_a_fixed_batch(name):
    minicnn.manual_seed(0)
    model = models.build(name, **SMALL_OPTIONS[name])
    x, labels = fixed_batch(model.default_input_size, batch=4)
    # small enough for every model: BatchNorm over a batch of 4 makes the loss very curved
    optimizer = SGD(list(model.parameters()), lr=0.001)

    minicnn.manual_seed(1)  # the same dropout masks for both evaluations
    loss_before = F.softmax_cross_entropy(model(x), labels)
    optimizer.zero_grad()
    loss_before.backward()
    optimizer.step()
    minicnn.manual_seed(1)
    with minicnn.no_grad():
        loss_after = F.softmax_cross_entropy(model(x), labels)
    assert loss_after.item() < loss_before.item()


@pytest.mark.parametrize("name, options, expected", [
    ("lenet5", {}, (1, 28, 28)),
    ("nin", {}, (1, 224, 224)),
    ("nin", {"small_input": True}, (1, 28, 28)),
    ("resnet18", {}, (1, 224, 224)),
    ("resnet18", {"small_input": True}, (1, 28, 28)),
    ("squeezenet", {"small_input": True}, (1, 28, 28)),
    ("googlenet", {}, (1, 224, 224)),
    ("googlenet_small", {}, (1, 32, 32)),
    ("vgg16_bn", {"channel_ratio": 16}, (1, 32, 32)),
    ("vgg11", {"channel_ratio": 16, "fc_width": 64}, (1, 224, 224)),
    ("alexnet", {"width": 0.125}, (1, 224, 224)),
    ("alexnet", {"width": 0.125, "small_input": True}, (1, 28, 28)),
])
def test_default_input_size_is_the_documented_natural_size(name, options, expected):
    assert models.build(name, **options).default_input_size == expected


def test_lenet5_has_the_paper_layer_sizes():
    model = models.build("lenet5")
    shapes = {name: p.shape for name, p in model.named_parameters()}
    assert shapes["c1.weight"] == (6, 1, 5, 5)
    assert shapes["c3.weight"] == (16, 6, 5, 5)
    assert shapes["c5.weight"] == (120, 16, 5, 5)
    assert shapes["f6.weight"] == (84, 120)
    assert shapes["output.weight"] == (10, 84)


def test_lenet5_classic_uses_tanh_and_average_pooling():
    classic = models.build("lenet5", classic=True)
    modern = models.build("lenet5")
    assert isinstance(classic.act1, minicnn.nn.Tanh)
    assert isinstance(classic.s2, minicnn.nn.AvgPool2d)
    assert isinstance(modern.act1, minicnn.nn.ReLU)
    assert isinstance(modern.s2, minicnn.nn.MaxPool2d)


def test_unknown_model_and_option_are_named_in_the_error():
    with pytest.raises(ValueError, match="unknown model 'lenet6'.*lenet5"):
        models.build("lenet6")
    with pytest.raises(ValueError, match="unknown option.*colour.*classic"):
        models.build("lenet5", colour=True)


def test_wrong_input_size_says_what_the_model_expects():
    model = models.build("lenet5")
    x = minicnn.Tensor(np.zeros((1, 1, 32, 32), dtype=np.float32))
    with pytest.raises(minicnn.ShapeError, match=r"lenet5: expected input \(N, 1, 28, 28\)"):
        model(x)


def test_too_small_image_size_names_the_smallest_accepted():
    with pytest.raises(ValueError, match="lenet5: image_size must be an int >= 28"):
        models.build("lenet5", image_size=20)


def test_alexnet_two_towers_connects_conv2_conv4_conv5_within_a_tower():
    one = models.build("alexnet", width=0.125, small_input=True)
    two = models.build("alexnet", width=0.125, small_input=True, two_towers=True)
    for layer in ("conv2", "conv4", "conv5"):
        w1, w2 = getattr(one, layer).weight, getattr(two, layer).weight
        assert w2.shape[0] == w1.shape[0] and 2 * w2.shape[1] == w1.shape[1]
    assert one.conv3.weight.shape == two.conv3.weight.shape  # conv3 sees both towers


def test_vgg_configurations_differ_only_in_convolutions_per_block():
    counts = {}
    for name in ("vgg11", "vgg13", "vgg16", "vgg19"):
        model = models.build(name, **SMALL_OPTIONS[name])
        counts[name] = sum(isinstance(m, minicnn.nn.Conv2d) for m in model.modules())
    # weight layers = convolutions + 3 fully connected: 11, 13, 16, 19
    assert {name: n + 3 for name, n in counts.items()} == {
        "vgg11": 11, "vgg13": 13, "vgg16": 16, "vgg19": 19}


def test_one_big_kernel_costs_more_weights_than_the_stack_of_3x3_it_replaces():
    def conv_params(model):
        return sum(p.size for m in model.modules() if isinstance(m, minicnn.nn.Conv2d)
                   for p in m.parameters())
    stacked = models.build("vgg16", channel_ratio=8, fc_width=64, image_size=32)
    big = models.build("vgg16_bigconv", channel_ratio=8, fc_width=64, image_size=32)
    assert conv_params(big) > conv_params(stacked)


def test_vgg_rejects_an_input_too_small_for_five_poolings():
    with pytest.raises(ValueError, match="vgg16: image_size must be an int >= 32"):
        models.build("vgg16", channel_ratio=16, fc_width=64, image_size=28)


def test_vgg16_bn_dropout_scale_multiplies_every_dropout_probability():
    def probabilities(model):
        return [m.p for m in model.modules() if isinstance(m, minicnn.nn.Dropout)]
    paper = probabilities(models.build("vgg16_bn", channel_ratio=16))
    assert sorted(set(paper)) == [0.3, 0.4, 0.5] and len(paper) == 10
    half = probabilities(models.build("vgg16_bn", channel_ratio=16, dropout_scale=0.5))
    assert half == pytest.approx([p * 0.5 for p in paper])
    # scale 0: every Dropout stays, as the identity (p = 0), so parameter names are unchanged
    off = models.build("vgg16_bn", channel_ratio=16, dropout_scale=0.0)
    assert probabilities(off) == [0.0] * len(paper)
    on = models.build("vgg16_bn", channel_ratio=16)
    assert list(off.state_dict()) == list(on.state_dict())
    with pytest.raises(ValueError, match="dropout_scale"):
        models.build("vgg16_bn", channel_ratio=16, dropout_scale=2.0)


def test_resnet_block_adds_its_input_back():
    from minicnn.models.resnet import BasicBlock
    block = BasicBlock(4, 4).eval()
    # silence the residual branch: bn2 outputs 0, so the block computes relu(0 + x)
    block.bn2.weight.data[...] = 0
    block.bn2.bias.data[...] = 0
    x, _ = fixed_batch((4, 5, 5))
    with minicnn.no_grad():
        y = block(x)
    np.testing.assert_array_equal(y.numpy(), np.maximum(x.numpy(), 0))


def test_resnet_projects_the_shortcut_only_where_the_shape_changes():
    model = models.build("resnet18", width=0.125)
    assert isinstance(model.conv2_x[0].shortcut, minicnn.nn.Identity)
    assert isinstance(model.conv3_x[1].shortcut, minicnn.nn.Identity)
    projection = model.conv3_x[0].shortcut[0]
    assert projection.weight.shape[2:] == (1, 1) and projection.stride == (2, 2)


def test_inception_and_fire_concatenate_their_paths():
    from minicnn.models.googlenet import INCEPTION, Inception
    from minicnn.models.squeezenet import Fire
    x, _ = fixed_batch((192, 4, 4), batch=1)
    with minicnn.no_grad():
        y = Inception(192, *INCEPTION["3a"])(x)
    assert y.shape == (1, 256, 4, 4)  # Table 1: inception (3a) outputs 28x28x256
    x, _ = fixed_batch((64, 5, 5), batch=1)
    with minicnn.no_grad():
        y = Fire(64, 16, 64, 64)(x)
    assert y.shape == (1, 128, 5, 5)


def test_global_pooling_models_accept_other_input_sizes():
    model = models.build("resnet18", small_input=True, width=0.125).eval()
    x, _ = fixed_batch((1, 36, 20))
    with minicnn.no_grad():
        assert model(x).shape == (2, 10)


def test_he_initialisation_gives_variance_two_over_fan_in_and_zero_biases():
    minicnn.manual_seed(0)
    model = models.build("vgg11", channel_ratio=4, fc_width=256, image_size=32)
    weight = model.fc7.weight.numpy()  # 256 x 256 draws
    fan_in = weight.shape[1]
    assert abs(weight.var() / (2.0 / fan_in) - 1) < 0.05
    assert np.all(model.fc7.bias.numpy() == 0)
    conv = model.block3[0]
    assert abs(conv.weight.numpy().var() / (2.0 / conv.weight.numpy()[0].size) - 1) < 0.05


def test_default_init_keeps_the_layers_own_initialisation():
    minicnn.manual_seed(0)
    model = models.build("vgg11", channel_ratio=4, fc_width=256, image_size=32, init="default")
    weight = model.fc7.weight.numpy()
    assert abs(weight.var() / (1.0 / (3 * weight.shape[1])) - 1) < 0.05
    with pytest.raises(ValueError, match="init must be one of"):
        models.build("resnet18", width=0.125, init="xavier")
