"""Module forward hooks: PyTorch's names, arguments and removal."""
import numpy as np

import minicnn
from minicnn import nn


def _model():
    minicnn.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 4 * 4, 3))


def test_forward_hooks_see_inputs_and_outputs_with_their_shapes_and_can_be_removed():
    model = _model()
    x = minicnn.Tensor(np.random.default_rng(0).standard_normal((5, 1, 6, 6)).astype("f4"))
    calls = []
    pre = model[0].register_forward_pre_hook(lambda m, inputs: calls.append(("pre", inputs[0].shape)))
    post = model[3].register_forward_hook(
        lambda m, inputs, out: calls.append((type(m).__name__, inputs[0].shape, out.shape)))
    model(x)
    assert calls == [("pre", (5, 1, 6, 6)), ("Linear", (5, 32), (5, 3))]
    pre.remove()
    post.remove()
    model(x)
    assert len(calls) == 2


def test_a_forward_hook_that_returns_a_value_replaces_the_output():
    model = _model()
    x = minicnn.Tensor(np.ones((2, 1, 6, 6), dtype="f4"))
    with model[1].register_forward_hook(lambda m, inputs, out: out * 0):
        logits = model(x)
    np.testing.assert_array_equal(logits.data, np.broadcast_to(model[3].bias.data, (2, 3)))
    assert not np.array_equal(model(x).data, logits.data)  # the hook is gone after the block


def test_a_pre_hook_that_returns_a_value_replaces_the_inputs():
    layer = nn.Flatten()
    layer.register_forward_pre_hook(lambda m, inputs: minicnn.Tensor(np.zeros((3, 2, 2))))
    assert layer(minicnn.Tensor(np.ones((1, 4)))).shape == (3, 4)
