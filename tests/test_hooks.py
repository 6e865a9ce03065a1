"""Module forward hooks: PyTorch's names, arguments and removal."""
import numpy as np
import pytest

import minicnn
import minicnn.functional as F
from minicnn import nn


def _model():
    minicnn.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 4 * 4, 3))


def test_forward_hooks_see_inputs_and_outputs_with_their_shapes_and_can_be_removed():
    model = _model()
    x = minicnn.Tensor(np.random.default_rng(0).standard_normal((5, 1, 6, 6)).astype("f4"))
    calls = []
    pre = model[0].register_forward_pre_hook(
        lambda m, inputs: calls.append(("pre", inputs[0].shape)))
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


# ----- Tensor.register_hook ----------------------------------------------------------------------
def _leaf(shape, seed=0):
    data = np.random.default_rng(seed).standard_normal(shape)
    return minicnn.Tensor(data, requires_grad=True)


def test_a_tensor_hook_sees_the_complete_gradient_and_can_be_removed():
    x = _leaf((3, 4))
    h = x * 2.0
    seen = []
    handle = h.register_hook(lambda grad: seen.append(grad.copy()))
    R = np.random.default_rng(1).standard_normal((3, 4))
    (h * h + h).backward(R, retain_graph=True)  # h used twice: the hook gets both uses
    np.testing.assert_allclose(seen[0], R * (2 * h.data + 1))
    handle.remove()
    (h * h).backward(R)
    assert len(seen) == 1


def test_a_tensor_hook_that_returns_an_array_replaces_the_gradient_downstream():
    x = _leaf((2, 5))
    h = F.relu(x) * 3.0
    R = np.random.default_rng(2).standard_normal((2, 5))
    h.register_hook(lambda grad: grad * 10.0)
    h.backward(R)
    np.testing.assert_allclose(x.grad, 10.0 * R * 3.0 * (x.data > 0))


def test_a_hook_on_a_leaf_changes_what_accumulates_in_grad():
    x = _leaf((4,))
    with x.register_hook(lambda grad: np.zeros_like(grad)):
        (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad, np.zeros(4))


def test_register_hook_on_a_tensor_without_grad_is_a_clear_error():
    with pytest.raises(RuntimeError, match="does not require grad"):
        minicnn.Tensor(np.ones(3)).register_hook(lambda g: None)


# ----- Module.register_full_backward_hook ------------------------------------------------------
def test_full_backward_hook_of_a_layer_gets_grad_input_and_grad_output_with_their_shapes():
    minicnn.manual_seed(0)
    layer = nn.Linear(6, 3)
    x = _leaf((5, 6)).data.astype("f4")
    x = minicnn.Tensor(x, requires_grad=True)
    calls = []
    handle = layer.register_full_backward_hook(
        lambda m, grad_input, grad_output: calls.append((m, grad_input, grad_output)))
    R = np.random.default_rng(3).standard_normal((5, 3)).astype("f4")
    layer(x).backward(R)
    module, grad_input, grad_output = calls[0]
    assert module is layer and len(calls) == 1
    assert grad_input[0].shape == (5, 6) and grad_output[0].shape == (5, 3)
    np.testing.assert_allclose(grad_output[0], R)
    np.testing.assert_allclose(grad_input[0], x.grad)
    np.testing.assert_allclose(grad_input[0], R @ layer.weight.data, rtol=1e-6)
    handle.remove()
    layer(x).backward(R)
    assert len(calls) == 1


def test_full_backward_hook_on_the_first_layer_gets_none_for_raw_images():
    model = _model()
    calls = []
    model[0].register_full_backward_hook(lambda m, gi, go: calls.append((gi, go[0].shape)))
    model(minicnn.Tensor(np.ones((2, 1, 6, 6), dtype="f4"))).sum().backward()
    assert calls == [((None,), (2, 2, 4, 4))]


def test_full_backward_hook_can_replace_grad_input():
    minicnn.manual_seed(0)
    model = _model()
    x = minicnn.Tensor(np.ones((2, 1, 6, 6), dtype="f4"), requires_grad=True)
    model[1].register_full_backward_hook(lambda m, gi, go: (gi[0] * 0,))
    model(x).sum().backward()
    np.testing.assert_array_equal(x.grad, np.zeros_like(x.data))
    assert np.abs(model[3].weight.grad).sum() > 0  # layers after the hook still learn


def _block_input_gradient(block, x_data, grad_output):
    """The gradient w.r.t. the block's input, computed on the block alone."""
    x = minicnn.Tensor(x_data.copy(), requires_grad=True)
    block(x).backward(grad_output)
    return x.grad


@pytest.mark.parametrize("model_name, block_path", [
    ("resnet18", "conv3_x.0"),     # projection shortcut: x feeds conv1 and the 1x1 shortcut
    ("resnet18", "conv2_x.1"),     # identity shortcut: x feeds conv1 and the addition
    ("googlenet_small", "inception3a"),  # x feeds four branches joined by concat
])
def test_full_backward_hook_grad_input_of_a_block_is_the_gradient_wrt_its_input(
        model_name, block_path):
    from minicnn import models
    minicnn.manual_seed(0)
    options = {"resnet18": dict(small_input=True, width=0.125, image_size=16),
               "googlenet_small": dict(width=0.125, image_size=16)}[model_name]
    model = models.build(model_name, **options).eval()  # eval: BN uses fixed statistics
    block = dict(model.named_modules())[block_path]
    captured = {}

    def keep_input(module, inputs):
        inputs[0].retain_grad()
        captured["x"] = inputs[0]

    block.register_forward_pre_hook(keep_input)
    block.register_full_backward_hook(
        lambda m, gi, go: captured.update(grad_input=gi, grad_output=go))
    x = np.random.default_rng(0).standard_normal((2, 1, 16, 16)).astype("f4")
    logits = model(minicnn.Tensor(x))
    logits.backward(np.random.default_rng(1).standard_normal(logits.shape).astype("f4"))
    grad_input = captured["grad_input"][0]
    assert grad_input.shape == captured["x"].shape
    np.testing.assert_allclose(grad_input, captured["x"].grad, rtol=1e-5, atol=1e-7)
    alone = _block_input_gradient(block, captured["x"].data, captured["grad_output"][0])
    np.testing.assert_allclose(grad_input, alone, rtol=1e-4, atol=1e-6)
