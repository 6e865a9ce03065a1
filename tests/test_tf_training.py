"""20 steps of SGD with momentum in minicnn and in Keras, from the same weights and batches.

SGD mapping (see minicnn.interop.tensorflow): minicnn/PyTorch b = mu*b + g, w -= lr*b; Keras 3
m = mu*m - lr*g, w += m. With a constant learning rate m = -lr*b, so the weights must agree.
float64, tolerance 1e-9 relative per parameter after the last step. BatchNorm: the moving means
agree; the moving variances differ by the documented n/(n-1) factor on every update.
"""
import numpy as np
import pytest

pytest.importorskip("tensorflow", reason="TensorFlow is not installed: pip install 'minicnn[tf]'")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

import minicnn  # noqa: E402
import minicnn.functional as F  # noqa: E402
from minicnn import crosscheck, optim  # noqa: E402
from minicnn.interop import tensorflow as mtf  # noqa: E402

pytestmark = pytest.mark.tf

# Keras keeps the learning rate in a float32 variable and passes momentum through float32 even for
# float64 weights (0.9 becomes 0.899999976, 2.6e-8 off): use values exact in float32.
STEPS, BATCH, LR, MOMENTUM = 20, 8, 2.0 ** -5, 0.875
RTOL = 1e-9


def train_minicnn(model, batches):
    model.train()
    optimizer = optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    losses = []
    for images, labels in batches:
        optimizer.zero_grad()
        loss = F.softmax_cross_entropy(model(minicnn.Tensor(images)), labels)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def train_keras(twin, batches):
    optimizer = keras.optimizers.SGD(learning_rate=LR, momentum=MOMENTUM)
    variables = twin.model.trainable_variables
    losses = []
    for images, labels in batches:
        with tf.GradientTape() as tape:
            logits = twin.model(mtf.nchw_to_nhwc(images), training=True)
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        losses.append(float(loss))
    return losses


@pytest.mark.parametrize("name, input_size, options", [
    ("lenet5", (1, 28, 28), {}),
    ("resnet18", (1, 16, 16), {"small_input": True, "width": 0.125}),
], ids=["lenet5", "small-resnet18"])
def test_sgd_momentum_training_matches_keras(name, input_size, options):
    model, twin, _ = crosscheck.build_pair(name, input_size, "float64", options=options)
    rng = np.random.default_rng(3)
    batches = [(rng.standard_normal((BATCH,) + input_size), rng.integers(0, 10, size=BATCH))
               for _ in range(STEPS)]
    start = {link.name: link.variable.numpy().copy() for link in twin.links}

    ours = train_minicnn(model, batches)
    theirs = train_keras(twin, batches)

    np.testing.assert_allclose(ours, theirs, rtol=RTOL, err_msg="losses per step")
    assert ours[-1] < ours[0], "the loss should fall over 20 steps (the run is not a no-op)"
    state = model.state_dict()
    worst = {}
    for link in twin.links:
        keras_value = link.from_keras(link.variable.numpy())
        if link.name.endswith("running_var"):
            keras_value = _expected_running_var(link, keras_value, start, twin)
        worst[link.name] = mtf.max_rel_diff(state[link.name], keras_value)
        moved = mtf.max_rel_diff(link.from_keras(start[link.name]), keras_value)
        assert moved > 1e3 * RTOL or "running" in link.name, f"{link.name} did not train"
    print("\n" + "\n".join(f"{k:<32} {v:.1e}" for k, v in worst.items()))
    bad = {k: v for k, v in worst.items() if v > RTOL}
    assert not bad, f"{name}: weights differ after {STEPS} steps: {bad}"


def _expected_running_var(link, keras_moving_var, start, twin):
    """minicnn's running_var from Keras's moving_variance after STEPS training updates.

    Both start from v0 and apply v <- (1 - m) v + m s_t; Keras's s_t is the biased batch
    variance, minicnn's the unbiased one, n / (n - 1) times larger (n values per channel).
    So minicnn_T - (1 - m)^T v0 = n / (n - 1) * (keras_T - (1 - m)^T v0).
    """
    m = 1.0 - link.layer.momentum
    H, W = link.layer.output.shape[1:3] if len(link.layer.output.shape) == 4 else (1, 1)
    n = BATCH * H * W
    decayed = (1 - m) ** STEPS * start[link.name]
    return decayed + n / (n - 1) * (keras_moving_var - decayed)
