"""The Keras twin of a minicnn model: a Keras model computing the same function, and the map
between its variables and the minicnn model's parameters and buffers.

    twin = keras_twin(model, input_size=(1, 28, 28), dtype="float64")
    twin.copy_from(model)                 # minicnn weights -> Keras (or twin.copy_to(model))
    logits = twin.predict(images)         # NCHW NumPy images in, (N, num_classes) logits out

The layers are built by `twin_builder.TwinBuilder` from one recorded forward pass.
"""
import numpy as np

import minicnn
from minicnn.interop.tf_conventions import nchw_to_nhwc, nhwc_to_nchw
from minicnn.interop.tf_import import keras, tf
from minicnn.interop.twin_builder import KerasValue, TwinBuilder
from minicnn.layer_calls import record_leaf_calls


def keras_twin(model, input_size, dtype="float32"):
    """Build the Keras model that computes what the minicnn `model` computes.

    Args:
        model: a minicnn nn.Module taking (N, C, H, W) inputs.
        input_size: (C, H, W) of the inputs; the twin takes (N, H, W, C).
        dtype: 'float32' or 'float64' (every Keras layer gets this dtype).
    The structure is read from one traced forward pass (in eval mode, then the modes are
    restored): leaf modules become Keras layers named after their minicnn path, and the ops
    between them (residual additions, concatenations, flatten, activations) become Keras merge
    and activation layers. Dropout is left out: it is the identity at inference and would make
    the two frameworks draw different masks in training. Weights are not copied: see
    `KerasTwin.copy_from`.
    """
    dtype = np.dtype(dtype).name
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    model_dtype = next(model.parameters()).dtype
    x = minicnn.Tensor(np.zeros((1,) + tuple(input_size), model_dtype), requires_grad=True)
    try:
        with record_leaf_calls(model) as calls:
            y = model(x)
    finally:
        for module, training in modes:
            object.__setattr__(module, "training", training)
    builder = TwinBuilder(calls, dtype)
    inputs = keras.Input(shape=(input_size[1], input_size[2], input_size[0]), dtype=dtype,
                         name="input")
    builder.converted[id(x)] = KerasValue(inputs, "nhwc", None)
    logits = builder.convert(y)
    if logits.layout != "flat":
        raise ValueError(f"keras_twin: the model's output has shape {y.shape}; expected "
                         f"(N, num_classes) logits")
    return KerasTwin(keras.Model(inputs, logits.tensor), builder.links, builder.probes,
                     tuple(input_size), dtype)


class KerasTwin:
    """A Keras model and the map between its variables and a minicnn model's state.

    Attributes:
        model: keras.Model, (N, H, W, C) images -> (N, num_classes) logits.
        probe_model: keras.Model with the same layers, returning the logits followed by the
            output of every leaf layer (in the order of `probes`).
        links: one `Link` per minicnn parameter and buffer.
        probes: one `Probe` per leaf layer call.
        input_size: (C, H, W); dtype: 'float32' or 'float64'.
    """

    def __init__(self, model, links, probes, input_size, dtype):
        self.model, self.links, self.probes = model, links, probes
        self.input_size, self.dtype = input_size, dtype
        self.probe_model = keras.Model(model.input, [model.output]
                                       + [p.tensor for p in probes])

    def copy_from(self, minicnn_model):
        """Copy every minicnn parameter and buffer into the Keras variables."""
        state = minicnn_model.state_dict()
        self._check_covers(state)
        for link in self.links:
            link.variable.assign(link.to_keras(state[link.name]).astype(self.dtype))

    def copy_to(self, minicnn_model):
        """Copy the Keras variables into the minicnn model's parameters and buffers."""
        self._check_covers(minicnn_model.state_dict())
        minicnn_model.load_state_dict({link.name: link.from_keras(link.variable.numpy())
                                       for link in self.links})

    def predict(self, images, training=False):
        """Logits (N, num_classes) for NCHW `images` (a NumPy array)."""
        return self.model(nchw_to_nhwc(images), training=training).numpy()

    def gradients(self, images, labels, training=True):
        """Softmax cross-entropy (mean) of the twin on NCHW images and integer labels.

        Returns (logits, loss, {minicnn parameter name: gradient in minicnn's layout}) and the
        leaf outputs in minicnn's layouts ({probe name: array}).
        """
        trainable = [link for link in self.links if link.trainable]
        with tf.GradientTape() as tape:
            logits, *outputs = self.probe_model(nchw_to_nhwc(images), training=training)
            losses = tf.nn.sparse_softmax_cross_entropy_with_logits(np.asarray(labels), logits)
            loss = tf.reduce_mean(losses)
        grads = tape.gradient(loss, [link.variable for link in trainable])
        param_grads = {link.name: link.from_keras(g.numpy()) for link, g in zip(trainable, grads)}
        layer_outputs = {p.name: _to_minicnn_layout(out.numpy(), p)
                         for p, out in zip(self.probes, outputs)}
        return logits.numpy(), float(loss.numpy()), param_grads, layer_outputs

    def _check_covers(self, state):
        linked = {link.name for link in self.links}
        missing = sorted(set(state) - linked)
        if missing:
            raise ValueError(f"KerasTwin: the twin has no Keras variable for {missing}; was it "
                             f"built from this model?")


def _to_minicnn_layout(array, probe):
    """A Keras leaf output in the layout of the minicnn tensor it stands for."""
    if probe.layout == "nhwc":
        return nhwc_to_nchw(array)
    if probe.layout == "flat_hwc":
        C, H, W = probe.chw
        return array.reshape(-1, H, W, C).transpose(0, 3, 1, 2).reshape(len(array), -1)
    return array
