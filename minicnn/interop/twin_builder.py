"""Builds the Keras layers of a minicnn model's twin from one recorded forward pass.

The twin is read from one traced forward pass, so every zoo model gets one without
model-specific code: the leaf layer calls (`minicnn.layer_calls`) become Keras layers named after
their minicnn path, and the ops between them (residual additions, concatenations, flatten,
activations, found through each tensor's `grad_fn`) become Keras merge and activation layers.
It uses Keras 'same' where minicnn's explicit padding equals it, otherwise ZeroPadding2D (or
-inf padding before max pooling) and 'valid'; grouped convolutions become `GroupedConv2D`
(TensorFlow has no CPU gradient for Conv2D(groups > 1)); Dropout is left out. One class holding
one walk over the graph, with a builder per layer type: it stays in one file for that reason.
"""
import collections
import functools

import numpy as np

from minicnn import nn
from minicnn.interop import tf_conventions as conventions
from minicnn.interop.keras_layers import (
    ConstantPadding2D,
    GroupedConv2D,
    LocalResponseNormalization,
)
from minicnn.interop.tf_import import keras
from minicnn.layer_calls import leaf_call_names
from minicnn.ops.utils import padding4, pair


class KerasValue(collections.namedtuple("KerasValue", "tensor layout chw")):
    """A Keras tensor and how its layout relates to the minicnn tensor it stands for.

    layout: 'nhwc' (a feature map), 'flat' (features in the same order in both frameworks) or
    'flat_hwc' (a flattened map: Keras's order is (H, W, C), minicnn's (C, H, W); chw holds
    (C, H, W) so that the next Linear layer can permute its weight).
    """


Link = collections.namedtuple("Link", "name variable layer to_keras from_keras trainable")
Link.__doc__ = """One minicnn parameter or buffer (state_dict name), its Keras variable and layer.

to_keras / from_keras convert the array between the two layouts (also used for gradients)."""

Probe = collections.namedtuple("Probe", "name kind tensor layout chw")
Probe.__doc__ = """A leaf layer call: its minicnn module path, class name and Keras output."""


class TwinBuilder:
    """Turns the traced minicnn graph into Keras layers, from the output back to the input."""

    def __init__(self, calls, dtype):
        """calls: the LeafCalls of one forward pass (minicnn.layer_calls); dtype: Keras dtype."""
        self.dtype = dtype
        self.producer = {id(c.output): c for c in calls if c.output is not c.input}
        self.call_names = {id(c.output): name for c, name in zip(calls, leaf_call_names(calls))
                           if name is not None}  # a pass-through call must not hide a name
        self._module_paths = {id(c.module): c.path for c in calls}
        self.converted = {}   # id(minicnn tensor) -> KerasValue
        self.layers = {}      # id(module) -> Keras layer holding its weights (shared by calls)
        self.links, self.probes = [], []
        self.used_names = collections.Counter()

    def convert(self, tensor):
        """The KerasValue standing for minicnn `tensor` (built on first request)."""
        key = id(tensor)
        if key not in self.converted:
            if key in self.producer:
                value = self._leaf(self.producer[key])
            elif tensor.grad_fn is not None:
                value = self._function(tensor.grad_fn)
            else:
                raise ValueError(f"keras_twin: a tensor of shape {tensor.shape} is neither the "
                                 f"input nor the output of a layer or op")
            _check_shape(value, tensor)
            self.converted[key] = value
        return self.converted[key]

    def _name(self, base):
        """A unique Keras layer name: base, then base_1, base_2, ... for repeated calls."""
        count = self.used_names[base]
        self.used_names[base] += 1
        return base if count == 0 else f"{base}_{count}"

    # ----- leaf modules ---------------------------------------------------------------------
    def _leaf(self, call):
        x = self.convert(call.input)
        module = call.module
        builders = [
            (nn.Conv2d, self._conv), (nn.Linear, self._linear), (nn.BatchNorm2d, self._bn),
            (nn.BatchNorm1d, self._bn), (nn.MaxPool2d, self._max_pool),
            (nn.AvgPool2d, self._avg_pool), (nn.LocalResponseNorm, self._lrn),
        ]
        simple = {
            nn.ReLU: lambda name: keras.layers.Activation("relu", name=name, dtype=self.dtype),
            nn.Sigmoid: lambda name: keras.layers.Activation("sigmoid", name=name,
                                                             dtype=self.dtype),
            nn.Tanh: lambda name: keras.layers.Activation("tanh", name=name, dtype=self.dtype),
            nn.GlobalAvgPool2d: lambda name: keras.layers.GlobalAveragePooling2D(
                name=name, dtype=self.dtype),
            nn.GlobalMaxPool2d: lambda name: keras.layers.GlobalMaxPooling2D(
                name=name, dtype=self.dtype),
        }
        name = self.call_names[id(call.output)]
        self.used_names[name] += 1
        value = None
        for module_class, build in builders:
            if isinstance(module, module_class):
                value = build(module, x, name)
        for module_class, make_layer in simple.items():
            if isinstance(module, module_class):
                layout = "flat" if "Global" in module_class.__name__ else x.layout
                value = KerasValue(make_layer(name)(x.tensor), layout, x.chw)
        if isinstance(module, nn.Flatten):
            value = self._flatten(x, name)
        if isinstance(module, (nn.Dropout, nn.Identity)):
            value = x
        if value is None:
            raise NotImplementedError(f"keras_twin: no Keras equivalent for layer {call.path!r} "
                                      f"({type(module).__name__})")
        self.probes.append(Probe(name, type(module).__name__, value.tensor, value.layout,
                                 value.chw))
        return value

    def _pad(self, x, pads, kernel, stride, name, value=0.0):
        """Keras padding for minicnn's explicit pads: 'valid', 'same' when TF's 'same' gives the
        same pixels, otherwise a padding layer followed by 'valid'."""
        same = sum(conventions.tf_same_padding(x.tensor.shape[1:3], kernel, stride), ())
        if pads == (0, 0, 0, 0):
            return x.tensor, "valid"
        if pads == same:
            return x.tensor, "same"
        padding = (pads[:2], pads[2:])
        if value == 0.0:
            layer = keras.layers.ZeroPadding2D(padding, name=f"{name}_pad", dtype=self.dtype)
        else:
            layer = ConstantPadding2D(padding, value, name=f"{name}_pad", dtype=self.dtype)
        return layer(x.tensor), "valid"

    def _conv(self, module, x, name):
        kernel, stride = pair(module.kernel_size), pair(module.stride)
        tensor, padding = self._pad(x, padding4(module.padding), kernel, stride, name)
        Layer = keras.layers.Conv2D if module.groups == 1 else GroupedConv2D
        layer = self._weighted_layer(module, lambda: Layer(
            module.out_channels, kernel, stride, padding, groups=module.groups,
            use_bias=module.bias is not None, name=name, dtype=self.dtype))
        output = layer(tensor)
        weight = ("weight", layer.kernel, conventions.conv_weight_to_keras,
                  conventions.conv_weight_from_keras)
        self._link_once(module, layer, [weight] + self._bias_link(module, layer))
        return KerasValue(output, "nhwc", None)

    def _linear(self, module, x, name):
        if x.layout == "nhwc":
            raise ValueError(f"keras_twin: Linear layer {name!r} receives a 4-D feature map; "
                             f"flatten it first")
        chw = x.chw if x.layout == "flat_hwc" else None
        layer = self._weighted_layer(module, lambda: keras.layers.Dense(
            module.out_features, use_bias=module.bias is not None, name=name, dtype=self.dtype))
        output = layer(x.tensor)
        to_keras = functools.partial(conventions.linear_weight_to_keras, flat_chw=chw)
        from_keras = functools.partial(conventions.linear_weight_from_keras, flat_chw=chw)
        self._link_once(module, layer, [("weight", layer.kernel, to_keras, from_keras)]
                        + self._bias_link(module, layer))
        return KerasValue(output, "flat", None)

    def _bn(self, module, x, name):
        if x.layout == "flat_hwc":
            raise NotImplementedError(f"keras_twin: BatchNorm {name!r} after a Flatten of a "
                                      f"feature map would need its features permuted")
        layer = self._weighted_layer(module, lambda: keras.layers.BatchNormalization(
            axis=-1, momentum=conventions.bn_momentum_to_keras(module.momentum), epsilon=module.eps,
            name=name, dtype=self.dtype))
        output = layer(x.tensor)
        same = (lambda a: a, lambda a: a)
        self._link_once(module, layer, [
            ("weight", layer.gamma, *same), ("bias", layer.beta, *same),
            ("running_mean", layer.moving_mean, *same),
            ("running_var", layer.moving_variance, *same),
        ])
        return KerasValue(output, x.layout, x.chw)

    def _max_pool(self, module, x, name):
        kernel = pair(module.kernel_size)
        stride = kernel if module.stride is None else pair(module.stride)
        tensor, padding = self._pad(x, padding4(module.padding), kernel, stride, name,
                                    value=-np.inf)
        layer = keras.layers.MaxPooling2D(kernel, stride, padding, name=name, dtype=self.dtype)
        return KerasValue(layer(tensor), "nhwc", None)

    def _avg_pool(self, module, x, name):
        kernel = pair(module.kernel_size)
        stride = kernel if module.stride is None else pair(module.stride)
        pads = padding4(module.padding)
        same = sum(conventions.tf_same_padding(x.tensor.shape[1:3], kernel, stride), ())
        if pads != (0, 0, 0, 0) and not module.count_include_pad and pads != same:
            raise NotImplementedError(
                f"keras_twin: AvgPool2d {name!r} excludes a padding {pads} that is not "
                f"TensorFlow's 'same' {same}; Keras has no such average pooling")
        if module.count_include_pad:
            tensor, padding = self._pad(x, pads, kernel, stride, name)
            if padding == "same":  # TF's 'same' would not count the padding: pad explicitly
                pad = keras.layers.ZeroPadding2D((pads[:2], pads[2:]), name=f"{name}_pad",
                                                 dtype=self.dtype)
                tensor, padding = pad(x.tensor), "valid"
        else:
            tensor, padding = x.tensor, "valid" if pads == (0, 0, 0, 0) else "same"
        layer = keras.layers.AveragePooling2D(kernel, stride, padding, name=name,
                                              dtype=self.dtype)
        return KerasValue(layer(tensor), "nhwc", None)

    def _lrn(self, module, x, name):
        params = conventions.lrn_to_tf(module.size, module.alpha, module.beta, module.k)
        layer = LocalResponseNormalization(**params, name=name, dtype=self.dtype)
        return KerasValue(layer(x.tensor), "nhwc", None)

    def _flatten(self, x, name):
        if x.layout != "nhwc":
            return x
        H, W, C = x.tensor.shape[1:]
        layer = keras.layers.Flatten(name=name, dtype=self.dtype)
        return KerasValue(layer(x.tensor), "flat_hwc", (C, H, W))

    def _weighted_layer(self, module, make):
        """The module's Keras layer, made on its first call and shared by later calls."""
        if id(module) not in self.layers:
            self.layers[id(module)] = make()
        return self.layers[id(module)]

    def _link_once(self, module, layer, entries):
        """Record (attribute, variable, to_keras, from_keras) links on the module's first call."""
        path = self._module_paths[id(module)]
        if any(link.layer is layer for link in self.links):
            return
        for attribute, variable, to_keras, from_keras in entries:
            self.links.append(Link(f"{path}.{attribute}" if path else attribute, variable, layer,
                                   to_keras, from_keras, variable.trainable))

    def _bias_link(self, module, layer):
        if module.bias is None:
            return []
        same = lambda a: a  # noqa: E731
        return [("bias", layer.bias, same, same)]

    # ----- ops between the layers -----------------------------------------------------------
    def _function(self, function):
        op = function.op_name
        inputs = [self.convert(t) for t in function.inputs if t is not None and t.requires_grad]
        name = self._name(op)
        if op == "add" and len(inputs) == 2:
            _same_layouts(inputs, op)
            layer = keras.layers.Add(name=name, dtype=self.dtype)
            return KerasValue(layer([v.tensor for v in inputs]), inputs[0].layout, inputs[0].chw)
        if op == "concat" and function.axis in (1, -inputs[0].tensor.ndim + 1):
            _same_layouts(inputs, op)
            if inputs[0].layout == "flat_hwc":
                raise NotImplementedError("keras_twin: concatenating flattened feature maps")
            layer = keras.layers.Concatenate(axis=-1, name=name, dtype=self.dtype)
            return KerasValue(layer([v.tensor for v in inputs]), inputs[0].layout, None)
        if op in ("relu", "sigmoid", "tanh"):
            layer = keras.layers.Activation(op, name=name, dtype=self.dtype)
            return KerasValue(layer(inputs[0].tensor), inputs[0].layout, inputs[0].chw)
        if op == "reshape" and inputs[0].layout == "nhwc" and len(function.shape) == 2:
            return self._flatten(inputs[0], name)
        if op in ("global_avg_pool2d", "global_max_pool2d"):
            Layer = (keras.layers.GlobalAveragePooling2D if op == "global_avg_pool2d"
                     else keras.layers.GlobalMaxPooling2D)
            return KerasValue(Layer(name=name, dtype=self.dtype)(inputs[0].tensor), "flat", None)
        raise NotImplementedError(f"keras_twin: no Keras equivalent for the op {op!r} used "
                                  f"between layers; wrap it in a layer the twin knows")


def _same_layouts(values, op):
    if len({(v.layout, v.chw) for v in values}) != 1:
        raise ValueError(f"keras_twin: the inputs of {op} have different layouts")


def _check_shape(value, tensor):
    """Fail early, naming the shapes, if the Keras tensor cannot stand for the minicnn one."""
    keras_shape = tuple(value.tensor.shape[1:])
    expected = tuple(tensor.shape[1:])
    if value.layout == "nhwc":
        expected = (expected[1], expected[2], expected[0])
    if keras_shape != expected:
        raise ValueError(f"keras_twin: Keras gives per-example shape {keras_shape} where "
                         f"minicnn has {tuple(tensor.shape[1:])} (layout {value.layout})")
