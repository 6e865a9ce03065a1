"""minicnn <-> TensorFlow/Keras, in one import: conventions, Keras twins, weight files.

Requires the extra `pip install minicnn[tf]` (tensorflow-cpu and h5py). `import minicnn` never
loads TensorFlow; importing this module does. Each idea lives in its own module:

    tf_conventions.py  layouts (NCHW/NHWC), weight layouts, 'same' padding, LRN and BatchNorm
                       parameters, max_rel_diff; plain NumPy, read it first
    keras_layers.py    Keras layers minicnn needs and Keras lacks (LRN in float64, -inf
                       padding, grouped convolution with a CPU gradient)
    twin_builder.py    turns one recorded forward pass into Keras layers
    keras_twin.py      keras_twin(model, input_size, dtype) -> KerasTwin (copy weights both
                       ways, predict, gradients)
    keras_weights.py   load_keras_weights: a Keras `.weights.h5` file into a minicnn model

The recorder of leaf-layer calls the twin is read from (`record_leaf_calls`, `leaf_call_names`)
is not about TensorFlow: it lives in `minicnn.layer_calls` and is re-exported here.
"""
from minicnn.interop.keras_layers import (
    ConstantPadding2D,
    GroupedConv2D,
    LocalResponseNormalization,
)
from minicnn.interop.keras_twin import KerasTwin, keras_twin
from minicnn.interop.keras_weights import h5_layer_keys, load_keras_weights
from minicnn.interop.tf_conventions import (
    bn_momentum_to_keras,
    conv_weight_from_keras,
    conv_weight_to_keras,
    linear_weight_from_keras,
    linear_weight_to_keras,
    lrn_from_tf,
    lrn_to_tf,
    max_rel_diff,
    nchw_to_nhwc,
    nhwc_to_nchw,
    same_padding,
    tf_same_padding,
)
from minicnn.interop.twin_builder import Link, Probe
from minicnn.layer_calls import leaf_call_names, record_leaf_calls

__all__ = [
    "nchw_to_nhwc", "nhwc_to_nchw", "conv_weight_to_keras", "conv_weight_from_keras",
    "linear_weight_to_keras", "linear_weight_from_keras", "same_padding", "tf_same_padding",
    "lrn_to_tf", "lrn_from_tf", "bn_momentum_to_keras", "max_rel_diff",
    "LocalResponseNormalization", "ConstantPadding2D", "GroupedConv2D",
    "keras_twin", "KerasTwin", "Link", "Probe", "load_keras_weights", "h5_layer_keys",
    "record_leaf_calls", "leaf_call_names",
]
