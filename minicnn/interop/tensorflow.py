"""minicnn <-> TensorFlow/Keras: conventions, Keras twins of minicnn models, weight copies.

Requires the extra `pip install minicnn[tf]` (tensorflow-cpu and h5py). `import minicnn` never
loads TensorFlow; importing this module does.

How the conventions map (minicnn follows PyTorch; Keras 3 on the TensorFlow backend):

- Layout: minicnn activations are NCHW, Keras's are NHWC; `nchw_to_nhwc`, `nhwc_to_nchw`.
- Convolution weights: minicnn (C_out, C_in/groups, KH, KW) "OIHW"; Keras Conv2D kernels
  (KH, KW, C_in/groups, C_out) "HWIO". Grouped convolutions map group by group in both.
- Dense weights: minicnn Linear weight is (out, in) and computes x @ W.T; a Keras Dense kernel is
  (in, out) and computes x @ K, so K = W.T. After a Flatten the order of the features differs:
  minicnn flattens (C, H, W), Keras flattens (H, W, C); the Dense that follows gets its rows
  permuted (`linear_weight_to_keras(W, flat_chw=(C, H, W))`), so a natural Keras model (plain
  Flatten on NHWC) and the minicnn model compute the same logits.
- 'same' padding: TensorFlow pads a total of max((ceil(n/s) - 1) * s + k - n, 0) and puts the
  odd pixel at the bottom/right; minicnn pads explicitly, so 'same' becomes the asymmetric
  padding ((top, bottom), (left, right)) of `tf_same_padding`. TF 'same' max pooling never picks
  the padding (minicnn pads max pooling with -inf); TF 'same' average pooling divides by the
  number of real inputs in the window, which is minicnn's `count_include_pad=False`.
- Local response normalisation: TF's (depth_radius r, bias, alpha, beta) sums 2r+1 channels and
  does not divide alpha by the window; minicnn (PyTorch) uses size = 2r+1, k = bias,
  alpha = alpha_tf * size, beta = beta (`lrn_to_tf`, `lrn_from_tf`). TF has no float64 LRN kernel.
- BatchNorm: Keras momentum is the weight of the *old* moving average, minicnn's (PyTorch's) the
  weight of the *new* batch statistic: momentum_keras = 1 - momentum. Both normalise a training
  batch with its biased variance (divide by n) and use gamma/beta and the moving statistics the
  same way in inference, but Keras updates moving_variance with the biased batch variance while
  minicnn updates running_var with the unbiased one (n / (n - 1) times larger). Copying weights
  is therefore exact; after training steps the running variances differ by that factor on each
  update's contribution. Keras's default epsilon is 1e-3, minicnn's 1e-5: twins copy minicnn's.
- SGD with momentum: PyTorch/minicnn keep b = mu * b + g and step w -= lr * b; Keras 3 keeps
  m = mu * m - lr * g and steps w += m. With a constant learning rate m = -lr * b at every step,
  so the two produce the same weights (not so for Nesterov, nor when lr changes mid-run).
  Keras keeps the learning rate in a float32 variable and casts momentum through float32 even
  for float64 weights: to match float64 runs digit for digit, use values exact in float32
  (lr = 2**-5, momentum = 0.875); 0.9 becomes 0.899999976 in Keras.

The twin (`keras_twin`) is read from one traced forward pass, so every zoo model gets one without
model-specific code. It uses Keras 'same' where minicnn's explicit padding equals it, otherwise
ZeroPadding2D (or -inf padding before max pooling) and 'valid'; grouped convolutions become
`GroupedConv2D` (TensorFlow has no CPU gradient for Conv2D(groups > 1)); Dropout is left out.
"""
import collections
import contextlib
import functools
import os
import re

# Quieter TensorFlow logs. TF 2.21 still prints its oneDNN notice to stderr unless the variable
# is set in the shell before Python starts.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

try:
    import keras
    import tensorflow as tf
except ImportError as error:  # pragma: no cover - depends on the installation
    raise ImportError("minicnn.interop.tensorflow needs TensorFlow: pip install 'minicnn[tf]' "
                      f"(tensorflow-cpu and h5py) ({error})") from error

import numpy as np


# ----- layouts and weights -----------------------------------------------------------------
def nchw_to_nhwc(array):
    """(N, C, H, W) -> (N, H, W, C)."""
    return np.ascontiguousarray(np.asarray(array).transpose(0, 2, 3, 1))


def nhwc_to_nchw(array):
    """(N, H, W, C) -> (N, C, H, W)."""
    return np.ascontiguousarray(np.asarray(array).transpose(0, 3, 1, 2))


def conv_weight_to_keras(weight):
    """minicnn weight (C_out, C_in/groups, KH, KW) -> Keras kernel (KH, KW, C_in/groups, C_out)."""
    return np.ascontiguousarray(np.asarray(weight).transpose(2, 3, 1, 0))


def conv_weight_from_keras(kernel):
    """Keras kernel (KH, KW, C_in/groups, C_out) -> minicnn weight (C_out, C_in/groups, KH, KW)."""
    return np.ascontiguousarray(np.asarray(kernel).transpose(3, 2, 0, 1))


def linear_weight_to_keras(weight, flat_chw=None):
    """minicnn Linear weight (out, in) -> Keras Dense kernel (in, out).

    flat_chw: (C, H, W) when the input is a flattened feature map: minicnn's columns are in
    (c, h, w) order, the Keras rows must be in (h, w, c) order (Flatten of NHWC).
    """
    weight = np.asarray(weight)
    if flat_chw is not None:
        C, H, W = flat_chw
        weight = weight.reshape(-1, C, H, W).transpose(0, 2, 3, 1).reshape(len(weight), -1)
    return np.ascontiguousarray(weight.T)


def linear_weight_from_keras(kernel, flat_chw=None):
    """Keras Dense kernel (in, out) -> minicnn Linear weight (out, in); see the inverse above."""
    weight = np.asarray(kernel).T
    if flat_chw is not None:
        C, H, W = flat_chw
        weight = weight.reshape(-1, H, W, C).transpose(0, 3, 1, 2).reshape(len(weight), -1)
    return np.ascontiguousarray(weight)


# ----- padding, LRN and BatchNorm parameters -----------------------------------------------
def same_padding(size, kernel, stride):
    """(before, after) pixels TensorFlow's 'same' adds along one axis of length `size`."""
    out = -(-size // stride)  # ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2  # the odd pixel goes after (bottom / right)


def tf_same_padding(input_hw, kernel, stride):
    """TF 'same' for an (H, W) input as minicnn padding ((top, bottom), (left, right))."""
    KH, KW = _pair(kernel)
    SH, SW = _pair(stride)
    return same_padding(input_hw[0], KH, SH), same_padding(input_hw[1], KW, SW)


def lrn_to_tf(size, alpha, beta, k):
    """minicnn/PyTorch LRN (size, alpha, beta, k) -> tf.nn.local_response_normalization kwargs.

    TF's window is 2 * depth_radius + 1 channels centred on c, so only odd sizes map exactly.
    """
    if size % 2 != 1:
        raise ValueError(f"lrn_to_tf: size must be odd to map onto TensorFlow's centred window "
                         f"of 2 * depth_radius + 1 channels, got size={size}")
    return {"depth_radius": (size - 1) // 2, "bias": k, "alpha": alpha / size, "beta": beta}


def lrn_from_tf(depth_radius, bias, alpha, beta):
    """tf.nn.local_response_normalization parameters -> minicnn (size, alpha, beta, k) kwargs."""
    size = 2 * depth_radius + 1
    return {"size": size, "alpha": alpha * size, "beta": beta, "k": bias}


def bn_momentum_to_keras(momentum):
    """minicnn/PyTorch BatchNorm momentum (weight of the new batch) -> Keras momentum."""
    return 1.0 - momentum


def max_rel_diff(ours, theirs):
    """max |ours - theirs| / max |theirs|: the worst error relative to the tensor's scale.

    Scaling by the largest magnitude (not element by element) keeps entries that happen to be
    near zero from turning rounding noise into huge ratios; 0 when both are all zeros.
    """
    ours, theirs = np.asarray(ours, dtype=np.float64), np.asarray(theirs, dtype=np.float64)
    if ours.shape != theirs.shape:
        raise ValueError(f"max_rel_diff: shapes differ, {ours.shape} vs {theirs.shape}")
    scale = np.abs(theirs).max(initial=0.0)
    error = np.abs(ours - theirs).max(initial=0.0)
    return error / scale if scale > 0 else error


def _pair(value):
    return (value, value) if isinstance(value, int) else tuple(value)


def _padding4(padding):
    """int, (PH, PW) or ((PT, PB), (PL, PR)) -> (PT, PB, PL, PR), like minicnn's conv2d."""
    if isinstance(padding, int):
        return (padding,) * 4
    first, second = padding
    if isinstance(first, int):
        return (first, first, second, second)
    return (*first, *second)


# ----- Keras layers that minicnn needs and Keras lacks --------------------------------------
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


# ----- the Keras twin of a minicnn model ---------------------------------------------------
class _Value(collections.namedtuple("_Value", "tensor layout chw")):
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


class _LeafCall(collections.namedtuple("_LeafCall", "path module input output")):
    """One call of a leaf module (a layer without sub-modules) during a minicnn forward pass."""


@contextlib.contextmanager
def record_leaf_calls(model):
    """Inside the block, every call of a leaf module of `model` is appended to the yielded list.

    Works by shadowing each leaf's `forward` with a recording wrapper (removed on exit), so the
    model's own code runs unchanged.
    """
    calls = []
    leaves = [(path, m) for path, m in model.named_modules() if next(m.children(), None) is None]
    for path, module in leaves:
        object.__setattr__(module, "forward", _recording_forward(path, module, calls))
    try:
        yield calls
    finally:
        for _, module in leaves:
            del module.__dict__["forward"]


def leaf_call_names(calls):
    """A name per recorded call: the module path, then path_1, path_2 ... for repeated calls;
    None for calls that return their input unchanged (Identity, Dropout in eval mode)."""
    seen = collections.Counter()
    names = []
    for call in calls:
        if call.output is call.input:
            names.append(None)
            continue
        count = seen[call.path]
        seen[call.path] += 1
        names.append(call.path if count == 0 else f"{call.path}_{count}")
    return names


def _recording_forward(path, module, calls):
    forward = type(module).forward.__get__(module)  # the class's forward, bound to module

    def recorded(x, *args, **kwargs):
        y = forward(x, *args, **kwargs)
        calls.append(_LeafCall(path, module, x, y))
        return y
    return recorded


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
    import minicnn
    from minicnn import nn

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
    builder = _TwinBuilder(nn, calls, dtype)
    inputs = keras.Input(shape=(input_size[1], input_size[2], input_size[0]), dtype=dtype,
                         name="input")
    builder.converted[id(x)] = _Value(inputs, "nhwc", None)
    logits = builder.convert(y)
    if logits.layout != "flat":
        raise ValueError(f"keras_twin: the model's output has shape {y.shape}; expected "
                         f"(N, num_classes) logits")
    return KerasTwin(keras.Model(inputs, logits.tensor), builder.links, builder.probes,
                     tuple(input_size), dtype)


class _TwinBuilder:
    """Turns the traced minicnn graph into Keras layers, from the output back to the input."""

    def __init__(self, nn, calls, dtype):
        self.nn, self.dtype = nn, dtype
        self.producer = {id(c.output): c for c in calls if c.output is not c.input}
        self.call_names = {id(c.output): name for c, name in zip(calls, leaf_call_names(calls))
                           if name is not None}  # a pass-through call must not hide a name
        self._module_paths = {id(c.module): c.path for c in calls}
        self.converted = {}   # id(minicnn tensor) -> _Value
        self.layers = {}      # id(module) -> Keras layer holding its weights (shared by calls)
        self.links, self.probes = [], []
        self.used_names = collections.Counter()

    def convert(self, tensor):
        """The _Value standing for minicnn `tensor` (built on first request)."""
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
        nn, module = self.nn, call.module
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
                value = _Value(make_layer(name)(x.tensor), layout, x.chw)
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
        same = sum(tf_same_padding(x.tensor.shape[1:3], kernel, stride), ())
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
        kernel, stride = _pair(module.kernel_size), _pair(module.stride)
        tensor, padding = self._pad(x, _padding4(module.padding), kernel, stride, name)
        Layer = keras.layers.Conv2D if module.groups == 1 else GroupedConv2D
        layer = self._weighted_layer(module, lambda: Layer(
            module.out_channels, kernel, stride, padding, groups=module.groups,
            use_bias=module.bias is not None, name=name, dtype=self.dtype))
        output = layer(tensor)
        self._link_once(module, layer, [("weight", layer.kernel, conv_weight_to_keras,
                                         conv_weight_from_keras)] + self._bias_link(module, layer))
        return _Value(output, "nhwc", None)

    def _linear(self, module, x, name):
        if x.layout == "nhwc":
            raise ValueError(f"keras_twin: Linear layer {name!r} receives a 4-D feature map; "
                             f"flatten it first")
        chw = x.chw if x.layout == "flat_hwc" else None
        layer = self._weighted_layer(module, lambda: keras.layers.Dense(
            module.out_features, use_bias=module.bias is not None, name=name, dtype=self.dtype))
        output = layer(x.tensor)
        to_keras = functools.partial(linear_weight_to_keras, flat_chw=chw)
        from_keras = functools.partial(linear_weight_from_keras, flat_chw=chw)
        self._link_once(module, layer, [("weight", layer.kernel, to_keras, from_keras)]
                        + self._bias_link(module, layer))
        return _Value(output, "flat", None)

    def _bn(self, module, x, name):
        if x.layout == "flat_hwc":
            raise NotImplementedError(f"keras_twin: BatchNorm {name!r} after a Flatten of a "
                                      f"feature map would need its features permuted")
        layer = self._weighted_layer(module, lambda: keras.layers.BatchNormalization(
            axis=-1, momentum=bn_momentum_to_keras(module.momentum), epsilon=module.eps,
            name=name, dtype=self.dtype))
        output = layer(x.tensor)
        same = (lambda a: a, lambda a: a)
        self._link_once(module, layer, [
            ("weight", layer.gamma, *same), ("bias", layer.beta, *same),
            ("running_mean", layer.moving_mean, *same),
            ("running_var", layer.moving_variance, *same),
        ])
        return _Value(output, x.layout, x.chw)

    def _max_pool(self, module, x, name):
        kernel = _pair(module.kernel_size)
        stride = kernel if module.stride is None else _pair(module.stride)
        tensor, padding = self._pad(x, _padding4(module.padding), kernel, stride, name,
                                    value=-np.inf)
        layer = keras.layers.MaxPooling2D(kernel, stride, padding, name=name, dtype=self.dtype)
        return _Value(layer(tensor), "nhwc", None)

    def _avg_pool(self, module, x, name):
        kernel = _pair(module.kernel_size)
        stride = kernel if module.stride is None else _pair(module.stride)
        pads = _padding4(module.padding)
        same = sum(tf_same_padding(x.tensor.shape[1:3], kernel, stride), ())
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
        return _Value(layer(tensor), "nhwc", None)

    def _lrn(self, module, x, name):
        params = lrn_to_tf(module.size, module.alpha, module.beta, module.k)
        layer = LocalResponseNormalization(**params, name=name, dtype=self.dtype)
        return _Value(layer(x.tensor), "nhwc", None)

    def _flatten(self, x, name):
        if x.layout != "nhwc":
            return x
        H, W, C = x.tensor.shape[1:]
        layer = keras.layers.Flatten(name=name, dtype=self.dtype)
        return _Value(layer(x.tensor), "flat_hwc", (C, H, W))

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
            return _Value(layer([v.tensor for v in inputs]), inputs[0].layout, inputs[0].chw)
        if op == "concat" and function.axis in (1, -inputs[0].tensor.ndim + 1):
            _same_layouts(inputs, op)
            if inputs[0].layout == "flat_hwc":
                raise NotImplementedError("keras_twin: concatenating flattened feature maps")
            layer = keras.layers.Concatenate(axis=-1, name=name, dtype=self.dtype)
            return _Value(layer([v.tensor for v in inputs]), inputs[0].layout, None)
        if op in ("relu", "sigmoid", "tanh"):
            layer = keras.layers.Activation(op, name=name, dtype=self.dtype)
            return _Value(layer(inputs[0].tensor), inputs[0].layout, inputs[0].chw)
        if op == "reshape" and inputs[0].layout == "nhwc" and len(function.shape) == 2:
            return self._flatten(inputs[0], name)
        if op in ("global_avg_pool2d", "global_max_pool2d"):
            Layer = (keras.layers.GlobalAveragePooling2D if op == "global_avg_pool2d"
                     else keras.layers.GlobalMaxPooling2D)
            return _Value(Layer(name=name, dtype=self.dtype)(inputs[0].tensor), "flat", None)
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


# ----- Keras .weights.h5 files -------------------------------------------------------------
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
