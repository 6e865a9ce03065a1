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
    optimizer = SGD(list(model.parameters()), lr=0.01)

    minicnn.manual_seed(1)  # the same dropout masks for both evaluations
    loss_before = F.softmax_cross_entropy(model(x), labels)
    optimizer.zero_grad()
    loss_before.backward()
    optimizer.step()
    minicnn.manual_seed(1)
    with minicnn.no_grad():
        loss_after = F.softmax_cross_entropy(model(x), labels)
    assert loss_after.item() < loss_before.item()


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
