"""Load Keras `.weights.h5` files saved for the twin of a minicnn model (needs h5py)."""
import collections
import re

from minicnn.interop.keras_twin import keras_twin


def load_keras_weights(model, path, input_size=None):
    """Load a `.weights.h5` file that Keras saved for the twin of `model` into `model`.

    Args:
        model: the minicnn model (its parameters and buffers are overwritten in place).
        path: the file written by `keras_model.save_weights("....weights.h5")`.
        input_size: (C, H, W) the twin was built for (default: model.default_input_size).
    Keras 3 stores the i-th variable of a layer under `layers/<name>/vars/<i>`, where <name> is
    the snake_case class name numbered in the order of model.layers (conv2d, conv2d_1, ...),
    not the layer's own name. The twin is rebuilt (no weights needed) to know that order; the
    arrays are read with h5py and converted to minicnn's layouts.
    """
    import h5py

    twin = keras_twin(model, input_size or model.default_input_size)
    keys = h5_layer_keys(twin.model)
    state = {}
    with h5py.File(path, "r") as store:
        for link in twin.links:
            variables = link.layer.trainable_weights + link.layer.non_trainable_weights
            index = [id(v) for v in variables].index(id(link.variable))
            key = f"{keys[id(link.layer)]}/vars/{index}"
            if key not in store:
                raise ValueError(f"load_keras_weights: {path} has no {key} (for {link.name}); "
                                 f"was it saved from the twin of this model and input size?")
            array = store[key][()]
            if tuple(array.shape) != tuple(link.variable.shape):
                raise ValueError(f"load_keras_weights: {key} in {path} has shape {array.shape} "
                                 f"but {link.name} needs {tuple(link.variable.shape)} in Keras "
                                 f"layout; was it saved for another model or input size?")
            state[link.name] = link.from_keras(array)
    model.load_state_dict(state)
    return model


def h5_layer_keys(keras_model):
    """id(layer) -> the group Keras 3 saves that layer's variables under, e.g. 'layers/conv2d_1'."""
    used, keys = collections.Counter(), {}
    for layer in keras_model.layers:
        base = _snake_case(type(layer).__name__)
        keys[id(layer)] = f"layers/{base}" if used[base] == 0 else f"layers/{base}_{used[base]}"
        used[base] += 1
    return keys


def _snake_case(name):
    """Keras's naming.to_snake_case: 'BatchNormalization' -> 'batch_normalization'."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()
