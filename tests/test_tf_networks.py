"""Every zoo network against its Keras twin: logits, loss and every parameter's gradient.

The twin's Keras-initialised weights are copied into minicnn (NHWC -> NCHW, HWIO -> OIHW, Dense
transposes with the Flatten permutation, BatchNorm statistics), one batch runs through both in
float64 with BatchNorm in training mode (dropout off in both), and every layer's output and
parameter gradients must agree to 1e-9 relative (crosscheck.TOLERANCE). The per-layer table is
printed (pytest -s shows it; a failure always does).
"""
import numpy as np
import pytest

pytest.importorskip("tensorflow", reason="TensorFlow is not installed: pip install 'minicnn[tf]'")

from minicnn import crosscheck  # noqa: E402
from minicnn.interop import tensorflow as mtf  # noqa: E402

pytestmark = pytest.mark.tf

FLOAT64 = crosscheck.TOLERANCE["float64"]

# name, input (C, H, W), options: small inputs and widths so the whole file runs in seconds,
# each covering what makes its family different
NETWORKS = [
    ("lenet5", (1, 28, 28), {}),
    ("lenet5", (1, 28, 28), {"classic": True}),                     # tanh + average pooling
    ("alexnet", (1, 28, 28), {"small_input": True, "width": 0.1}),  # LRN, flatten 2x2 -> fc6
    ("alexnet", (3, 67, 67), {"width": 0.05, "two_towers": True}),  # 11x11/4 pad 2, groups=2
    ("vgg11", (1, 32, 32), {"channel_ratio": 16, "fc_width": 32}),
    ("vgg16_bn", (1, 32, 32), {"channel_ratio": 16}),               # BatchNorm1d in the head
    ("vgg16_bigconv", (1, 32, 32), {"channel_ratio": 16, "fc_width": 32}),
    ("nin", (1, 28, 28), {"small_input": True, "width": 0.125}),
    ("googlenet", (1, 32, 32), {"width": 0.125}),                   # Inception concat, LRN
    ("googlenet_small", (1, 32, 32), {"width": 0.125}),
    ("resnet18", (1, 32, 32), {"width": 0.125}),                    # max pool padded with -inf
    ("resnet34", (1, 16, 16), {"small_input": True, "width": 0.0625}),
    ("squeezenet", (1, 28, 28), {"small_input": True}),             # Fire concat, no Linear
]


def _batch(input_size, seed=1, batch=4):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((batch,) + input_size), rng.integers(0, 10, size=batch)


@pytest.mark.parametrize("name, input_size, options", NETWORKS,
                         ids=[f"{n}-{'-'.join(map(str, o.values()))}" for n, _, o in NETWORKS])
def test_network_matches_keras_twin(name, input_size, options):
    model, twin, _ = crosscheck.build_pair(name, input_size, "float64", options=options)
    images, labels = _batch(input_size)
    rows = crosscheck.compare(model, twin, images, labels, FLOAT64, training=True)
    print(f"\n{name} {input_size} {options}\n" + crosscheck.format_table(rows))

    failed = [row for row in rows if not row.passed]
    assert not failed, f"{name}: layers disagree with Keras: {[r.layer for r in failed]}"
    assert rows[-2].layer == "logits" and rows[-1].layer == "loss"
    # every parameter was compared: each module with parameters has a gradient row
    graded = {row.layer for row in rows if row.grad_rel is not None}
    owners = {n.rsplit(".", 1)[0] for n, _ in model.named_parameters()}
    assert owners <= graded, f"{name}: gradients never compared for {sorted(owners - graded)}"


@pytest.mark.parametrize("name, input_size, options", [
    ("resnet18", (1, 32, 32), {"width": 0.125}),
    ("vgg16_bn", (1, 32, 32), {"channel_ratio": 16}),
])
def test_inference_uses_copied_running_statistics(name, input_size, options):
    """In eval mode BatchNorm uses the running statistics: random ones, copied minicnn -> Keras."""
    model, twin, _ = crosscheck.build_pair(name, input_size, "float64", options=options)
    rng = np.random.default_rng(5)
    for buffer_name, buffer in model.named_buffers():
        if buffer_name.endswith("running_mean"):
            buffer[...] = rng.standard_normal(buffer.shape)
        else:
            buffer[...] = rng.uniform(0.5, 2.0, buffer.shape)
    twin.copy_from(model)
    images, labels = _batch(input_size, seed=2)
    rows = crosscheck.compare(model, twin, images, labels, FLOAT64, training=False)
    failed = [row.layer for row in rows if not row.passed]
    assert not failed, crosscheck.format_table(rows)


def test_float32_lenet5_agrees_to_1e_4():
    model, twin, input_size = crosscheck.build_pair("lenet5", None, "float32")
    images, labels = _batch(input_size)
    rows = crosscheck.compare(model, twin, images.astype(np.float32), labels, (1e-4, 1e-4))
    assert all(row.passed for row in rows), crosscheck.format_table(rows)


def test_a_wrong_weight_is_caught():
    """The comparison is not vacuous: one weight off by 1e-6 fails its layer, the layers after
    it and (through the backward pass) the gradients of the layers before it."""
    model, twin, input_size = crosscheck.build_pair("lenet5", None, "float64")
    model.c3.weight.data[0, 0, 0, 0] += 1e-6
    images, labels = _batch(input_size)
    rows = {row.layer: row for row in crosscheck.compare(model, twin, images, labels, FLOAT64)}
    assert rows["c1"].forward_rel <= FLOAT64[0]  # upstream of the error: outputs still agree
    assert not rows["c1"].passed and not rows["c3"].passed and not rows["logits"].passed


def test_copy_round_trip_is_exact():
    model, twin, _ = crosscheck.build_pair("resnet18", (1, 32, 32), "float64",
                                           options={"width": 0.125})
    before = model.state_dict()
    twin.copy_from(model)
    twin.copy_to(model)
    for name, array in model.state_dict().items():
        np.testing.assert_array_equal(array, before[name], err_msg=name)


def test_twin_needs_every_parameter_linked():
    model, twin, _ = crosscheck.build_pair("lenet5", None, "float64")
    twin.links = [link for link in twin.links if link.name != "f6.bias"]
    with pytest.raises(ValueError, match="f6.bias"):
        twin.copy_from(model)


def test_unknown_layer_is_named():
    from minicnn import nn

    class Square(nn.Module):
        def forward(self, x):
            return x * x

    model = nn.Sequential(nn.Conv2d(1, 2, 3), Square(), nn.Flatten(), nn.Linear(2 * 4 * 4, 3))
    with pytest.raises(NotImplementedError, match="'1' \\(Square\\)"):
        mtf.keras_twin(model, (1, 6, 6))
