"""Weights saved by Keras (`.weights.h5`) load into the minicnn model, and predictions agree.

The file is written by Keras itself (`keras.Model.save_weights`) from the twin, after the twin's
weights and BatchNorm statistics were randomised in Keras; minicnn reads it with h5py only.
"""
import numpy as np
import pytest

pytest.importorskip("tensorflow", reason="TensorFlow is not installed: pip install 'minicnn[tf]'")
pytest.importorskip("h5py", reason="h5py is not installed: pip install 'minicnn[tf]'")

import minicnn  # noqa: E402
from minicnn import crosscheck, models  # noqa: E402
from minicnn.interop import tensorflow as mtf  # noqa: E402

pytestmark = [
    pytest.mark.tf,
    # raised inside Keras's own save_weights under NumPy 2, not by minicnn
    pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning"),
]

CASES = [  # grouped convolutions, LRN, Flatten of a 2x2 map into fc6 (row permutation)
    ("alexnet", (1, 28, 28), {"small_input": True, "width": 0.1, "two_towers": True}),
    ("resnet18", (1, 32, 32), {"width": 0.125}),  # BatchNorm gamma/beta/moving statistics
]


def _randomise_keras_weights(twin, seed):
    rng = np.random.default_rng(seed)
    for variable in twin.model.weights:
        shape = tuple(variable.shape)
        if "moving_variance" in variable.path:
            variable.assign(rng.uniform(0.5, 2.0, shape))
        else:
            variable.assign(0.1 * rng.standard_normal(shape))


@pytest.mark.parametrize("name, input_size, options", CASES, ids=[c[0] for c in CASES])
def test_keras_weights_file_loads_and_predictions_agree(tmp_path, name, input_size, options):
    _, twin, _ = crosscheck.build_pair(name, input_size, "float32", options=options)
    _randomise_keras_weights(twin, seed=7)
    path = tmp_path / f"{name}.weights.h5"
    twin.model.save_weights(path)

    minicnn.manual_seed(123)  # a fresh model with other weights
    model = models.build(name, in_channels=input_size[0], **options)
    mtf.load_keras_weights(model, path, input_size)
    model.eval()

    images = np.random.default_rng(8).standard_normal((3,) + input_size).astype(np.float32)
    ours = model(minicnn.Tensor(images)).numpy()
    theirs = twin.predict(images)
    assert mtf.max_rel_diff(ours, theirs) <= 1e-4, (ours, theirs)
    assert (ours.argmax(axis=1) == theirs.argmax(axis=1)).all()
    state = model.state_dict()
    for link in twin.links:  # every array, not just the logits
        np.testing.assert_array_equal(state[link.name], link.from_keras(link.variable.numpy()),
                                      err_msg=link.name)


def test_file_of_another_architecture_is_refused(tmp_path):
    _, twin, _ = crosscheck.build_pair("lenet5", None, "float32")
    path = tmp_path / "lenet5.weights.h5"
    twin.model.save_weights(path)
    other = models.build("lenet5", num_classes=5)
    with pytest.raises(ValueError, match="output.weight.*another model"):
        mtf.load_keras_weights(other, path)
