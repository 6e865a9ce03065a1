"""Keras layers that the twins of minicnn models need and Keras lacks.

- `LocalResponseNormalization`: across-channel LRN in TensorFlow's parameters, also in float64;
- `ConstantPadding2D`: -inf padding before max pooling (ZeroPadding2D would let a 0 win);
- `GroupedConv2D`: Conv2D(groups > 1) whose gradient runs on CPU.

Each is registered as Keras-serialisable under the package name "minicnn".
"""
from minicnn.interop.tf_import import keras, tf


@keras.saving.register_keras_serializable(package="minicnn")
class LocalResponseNormalization(keras.layers.Layer):
    """Across-channel LRN of NHWC inputs, in TensorFlow's parameters (see `lrn_to_tf`).

    float32 runs tf.nn.local_response_normalization. TensorFlow has no float64 LRN kernel, so
    other dtypes evaluate TF's documented formula with TF ops:
    y_c = x_c / (bias + alpha * sum_{|c' - c| <= depth_radius} x_c'^2) ** beta.
    """

    def __init__(self, depth_radius, bias, alpha, beta, **kwargs):
        super().__init__(**kwargs)
        self.depth_radius, self.bias, self.alpha, self.beta = depth_radius, bias, alpha, beta

    def call(self, x):
        r = self.depth_radius
        if x.dtype == tf.float32:
            return tf.nn.local_response_normalization(x, r, self.bias, self.alpha, self.beta)
        channels = x.shape[-1]
        squares = tf.pad(tf.square(x), [[0, 0], [0, 0], [0, 0], [r, r]])  # zeros past the edges
        window_sum = tf.add_n([squares[..., i:i + channels] for i in range(2 * r + 1)])
        return x / (self.bias + self.alpha * window_sum) ** self.beta

    def get_config(self):
        return {**super().get_config(), "depth_radius": self.depth_radius, "bias": self.bias,
                "alpha": self.alpha, "beta": self.beta}


@keras.saving.register_keras_serializable(package="minicnn")
class ConstantPadding2D(keras.layers.Layer):
    """Pads H and W of NHWC inputs with `value`: -inf before max pooling, so that the padding
    never wins (Keras's ZeroPadding2D would let a 0 beat negative inputs)."""

    def __init__(self, padding, value, **kwargs):
        super().__init__(**kwargs)
        self.padding, self.value = tuple(map(tuple, padding)), float(value)

    def call(self, x):
        (top, bottom), (left, right) = self.padding
        paddings = [[0, 0], [top, bottom], [left, right], [0, 0]]
        return tf.pad(x, paddings, constant_values=tf.cast(self.value, x.dtype))

    def get_config(self):
        return {**super().get_config(), "padding": self.padding, "value": self.value}


@keras.saving.register_keras_serializable(package="minicnn")
class GroupedConv2D(keras.layers.Conv2D):
    """Conv2D(groups=G) computed as one convolution per group, concatenated.

    Same kernel (KH, KW, C_in/G, C_out) and outputs as keras.layers.Conv2D(groups=G), but its
    gradient runs on CPU: TensorFlow has no CPU gradient for grouped convolutions.
    """

    def convolution_op(self, inputs, kernel):
        padding = self.padding.upper()
        xs = tf.split(inputs, self.groups, axis=-1)
        kernels = tf.split(kernel, self.groups, axis=-1)
        ys = [tf.nn.conv2d(x, k, self.strides, padding) for x, k in zip(xs, kernels)]
        return tf.concat(ys, axis=-1)
