"""The zoo at the papers' sizes: published parameter counts, full-size forward passes.

The parameter counts are the published ones (VGG paper Table 2 rounds them; the exact figures
are those every framework reproduces); the models are built, never run, for them.
"""

import numpy as np
import pytest

import minicnn
from minicnn import models
from minicnn.summary import summarize, totals


def parameter_count(model):
    return sum(p.size for p in model.parameters())


@pytest.mark.parametrize("name, published", [
    ("vgg16", 138_357_544),
    ("resnet18", 11_689_512),
    ("resnet34", 21_797_672),
])
def test_paper_configuration_has_the_published_parameter_count(name, published):
    model = models.build(name, num_classes=1000, in_channels=3)
    assert model.default_input_size == (3, 224, 224)
    assert parameter_count(model) == published


def test_resnet18_at_224_px_gives_logits_and_the_published_multiply_adds():
    minicnn.manual_seed(0)
    model = models.build("resnet18", num_classes=1000, in_channels=3).eval()
    rows = summarize(model)  # one 224x224 image through the whole network
    # ResNet paper, Table 1: 1.8 x 10^9 FLOPs (multiply-adds) for the 18-layer network
    assert round(totals(rows)["macs"] / 1e9, 1) == 1.8
    x = minicnn.Tensor(np.random.default_rng(0).standard_normal((2, 3, 224, 224))
                       .astype(np.float32))
    with minicnn.no_grad():
        logits = model(x)
    assert logits.shape == (2, 1000)
    assert np.all(np.isfinite(logits.numpy()))


@pytest.mark.parametrize("name", ["lenet5", "googlenet_small", "vgg16_bn", "squeezenet"])
def test_full_width_model_at_its_default_input_gives_logits(name):
    minicnn.manual_seed(0)
    model = models.build(name, num_classes=10, in_channels=1).eval()
    x = minicnn.Tensor(np.random.default_rng(0).standard_normal((2, *model.default_input_size))
                       .astype(np.float32))
    with minicnn.no_grad():
        logits = model(x)
    assert logits.shape == (2, 10)
    assert np.all(np.isfinite(logits.numpy()))
