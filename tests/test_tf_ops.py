"""Every op against TensorFlow: outputs and gradients (tf.GradientTape) agree.

Tolerance: max |ours - tf| / max |tf| <= 1e-4 in float32 and 1e-9 in float64, for the output and
for the gradient w.r.t. every input and parameter. The upstream gradient is random (a plain sum
would hide a wrong backward pass: the sum of a softmax does not depend on its input).
TensorFlow receives its natural layouts (NHWC, HWIO kernels, (in, out) Dense kernels, 'SAME'
padding), made with the converters of minicnn.interop.tensorflow, so the tests also prove the
conventions those converters encode.
"""
import numpy as np
import pytest

pytest.importorskip("tensorflow", reason="TensorFlow is not installed: pip install 'minicnn[tf]'")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

import minicnn  # noqa: E402
import minicnn.functional as F  # noqa: E402
from minicnn.interop import tensorflow as mtf  # noqa: E402
from minicnn.ops.utils import pair  # noqa: E402

pytestmark = pytest.mark.tf

RTOL = {np.dtype(np.float32): 1e-4, np.dtype(np.float64): 1e-9}
DTYPES = [np.float32, np.float64]
N, C, H, W = 2, 4, 8, 7  # H != W catches swapped axes
FLAT_CHW = (3, 2, 4)     # a feature map flattened before a Linear layer

# layout name -> (minicnn array -> TF array, TF array -> minicnn array)
LAYOUTS = {
    None: (lambda a: a, lambda a: a),
    "nchw": (mtf.nchw_to_nhwc, mtf.nhwc_to_nchw),
    "oihw": (mtf.conv_weight_to_keras, mtf.conv_weight_from_keras),
    "dense": (mtf.linear_weight_to_keras, mtf.linear_weight_from_keras),
    "dense_after_flatten": (lambda w: mtf.linear_weight_to_keras(w, flat_chw=FLAT_CHW),
                            lambda k: mtf.linear_weight_from_keras(k, flat_chw=FLAT_CHW)),
}


def random(shape, dtype, seed, scale=1.0):
    return (scale * np.random.default_rng(seed).standard_normal(shape)).astype(dtype)


def assert_agree(ours, theirs, what):
    dtype = np.asarray(ours).dtype
    error = mtf.max_rel_diff(ours, theirs)
    assert error <= RTOL[dtype], f"{what}: max rel diff {error:.2e} > {RTOL[dtype]:.0e} ({dtype})"


def compare(ours_fn, tf_fn, arrays, layouts, out_layout, what):
    """Run fn in both frameworks on the same numbers; check the output and every gradient.

    ours_fn takes minicnn Tensors, tf_fn TF tensors in TF's layouts (`layouts`, one per array,
    keys of LAYOUTS); out_layout converts TF's output back to minicnn's layout.
    """
    tensors = [minicnn.Tensor(a, requires_grad=True) for a in arrays]
    y = ours_fn(*tensors)
    upstream = random(y.shape, y.dtype, seed=99)
    y.backward(upstream)

    tf_inputs = [tf.constant(LAYOUTS[kind][0](a)) for a, kind in zip(arrays, layouts)]
    tf_upstream = tf.constant(LAYOUTS[out_layout][0](upstream))
    with tf.GradientTape() as tape:
        tape.watch(tf_inputs)
        y_tf = tf_fn(*tf_inputs)
    grads_tf = tape.gradient(y_tf, tf_inputs, output_gradients=tf_upstream)

    assert_agree(y.numpy(), LAYOUTS[out_layout][1](y_tf.numpy()), f"{what} output")
    for i, (t, g, kind) in enumerate(zip(tensors, grads_tf, layouts)):
        assert_agree(t.grad, LAYOUTS[kind][1](g.numpy()), f"{what} gradient of input {i}")


# ----- convolution -------------------------------------------------------------------------
CONV_CASES = [  # kernel, stride, TF padding, groups, C_out, bias
    (3, 1, "VALID", 1, 5, True),
    (3, 1, "SAME", 1, 5, True),
    (3, 2, "SAME", 1, 5, False),        # H=8: ((0, 1), (1, 1)), the odd pixel after
    (4, 2, "SAME", 1, 3, True),         # even kernel: asymmetric on both axes
    ((5, 3), (2, 1), "SAME", 1, 5, True),
    (5, 2, ((2, 1), (1, 2)), 1, 5, True),  # arbitrary explicit asymmetric padding
    (3, 1, "SAME", 2, 6, True),         # grouped
    (3, 2, "VALID", 4, 8, True),        # depthwise (one group per input channel)
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kernel, stride, padding, groups, C_out, bias", CONV_CASES)
def test_conv2d(dtype, kernel, stride, padding, groups, C_out, bias):
    KH, KW = pair(kernel)
    if padding == "SAME":
        ours_padding = mtf.tf_same_padding((H, W), kernel, stride)
        tf_padding = "SAME"
    elif padding == "VALID":
        ours_padding, tf_padding = 0, "VALID"
    else:
        ours_padding = padding
        tf_padding = [[0, 0], list(padding[0]), list(padding[1]), [0, 0]]
    arrays = [random((N, C, H, W), dtype, 1), random((C_out, C // groups, KH, KW), dtype, 2)]
    layouts = ["nchw", "oihw"]
    if bias:
        arrays.append(random((C_out,), dtype, 3))
        layouts.append(None)

    def ours(x, w, b=None):
        return F.conv2d(x, w, b, stride=stride, padding=ours_padding, groups=groups)

    def theirs(x, k, b=None):
        y = tf_grouped_conv2d(x, k, pair(stride), tf_padding, groups)
        return y if b is None else y + b

    compare(ours, theirs, arrays, layouts, "nchw", f"conv2d k={kernel} s={stride} {padding}")


def tf_grouped_conv2d(x, kernel, strides, padding, groups):
    """TF convolution with groups; TF has no grouped-convolution gradient on CPU, so:

    groups == 1: tf.nn.conv2d; groups == channels: tf.nn.depthwise_conv2d (output channel
    c * multiplier + m in both frameworks); otherwise one tf.nn.conv2d per group, concatenated.
    """
    if groups == 1:
        return tf.nn.conv2d(x, kernel, strides, padding)
    KH, KW, Cg, OC = kernel.shape
    channels = x.shape[-1]
    if groups == channels:
        depthwise = tf.reshape(kernel, (KH, KW, channels, OC // channels))
        return tf.nn.depthwise_conv2d(x, depthwise, (1,) + strides + (1,), padding)
    xs = tf.split(x, groups, axis=-1)
    ks = tf.split(kernel, groups, axis=-1)
    return tf.concat([tf.nn.conv2d(xg, kg, strides, padding) for xg, kg in zip(xs, ks)], -1)


@pytest.mark.parametrize("groups", [2, 4])
def test_grouped_conv2d_reference_matches_tf_native_forward(groups):
    """The per-group reference above equals TF's own grouped conv2d (forward only on CPU)."""
    x = tf.constant(random((N, H, W, C), np.float64, 30))
    kernel = tf.constant(random((3, 3, C // groups, 8), np.float64, 31))
    native = tf.nn.conv2d(x, kernel, (2, 2), "SAME")
    reference = tf_grouped_conv2d(x, kernel, (2, 2), "SAME", groups)
    assert mtf.max_rel_diff(reference.numpy(), native.numpy()) <= 1e-12


# ----- pooling -----------------------------------------------------------------------------
POOL_CASES = [  # kernel, stride, TF padding
    (2, 2, "VALID"),
    (3, 2, "VALID"),           # overlapping windows (AlexNet)
    (3, 2, "SAME"),            # asymmetric on H=8
    (3, 1, "SAME"),
    ((3, 2), (2, 1), "SAME"),
]


def _pool_padding(kernel, stride, padding):
    return mtf.tf_same_padding((H, W), kernel, stride) if padding == "SAME" else 0


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kernel, stride, padding", POOL_CASES)
def test_max_pool2d(dtype, kernel, stride, padding):
    pads = _pool_padding(kernel, stride, padding)
    x = random((N, C, H, W), dtype, 4) - 3.0  # mostly negative: zero padding would win

    def theirs(x):
        return tf.nn.max_pool2d(x, pair(kernel), pair(stride), padding)

    compare(lambda x: F.max_pool2d(x, kernel, stride, pads), theirs, [x], ["nchw"], "nchw",
            f"max_pool2d k={kernel} s={stride} {padding}")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kernel, stride, padding", POOL_CASES)
def test_avg_pool2d_tf_padding(dtype, kernel, stride, padding):
    """TF 'SAME' average pooling divides by the real inputs: count_include_pad=False."""
    pads = _pool_padding(kernel, stride, padding)

    def ours(x):
        return F.avg_pool2d(x, kernel, stride, pads, count_include_pad=False)

    def theirs(x):
        return tf.nn.avg_pool2d(x, pair(kernel), pair(stride), padding)

    compare(ours, theirs, [random((N, C, H, W), dtype, 5) + 1.0], ["nchw"], "nchw",
            f"avg_pool2d k={kernel} s={stride} {padding}")


@pytest.mark.parametrize("dtype", DTYPES)
def test_avg_pool2d_zero_padding_counts_the_pad(dtype):
    """PyTorch-style padding (count_include_pad=True) = tf.pad with zeros, then 'VALID'."""
    def ours(x):
        return F.avg_pool2d(x, 3, 2, padding=((1, 0), (2, 1)), count_include_pad=True)

    def theirs(x):
        x = tf.pad(x, [[0, 0], [1, 0], [2, 1], [0, 0]])
        return tf.nn.avg_pool2d(x, 3, 2, "VALID")

    compare(ours, theirs, [random((N, C, H, W), dtype, 6) + 1.0], ["nchw"], "nchw",
            "avg_pool2d with zero padding")


@pytest.mark.parametrize("dtype", DTYPES)
def test_global_pools(dtype):
    x = random((N, C, H, W), dtype, 7)
    compare(F.global_avg_pool2d, lambda x: tf.reduce_mean(x, axis=(1, 2)), [x], ["nchw"], None,
            "global_avg_pool2d")
    compare(F.global_max_pool2d, lambda x: tf.reduce_max(x, axis=(1, 2)), [x], ["nchw"], None,
            "global_max_pool2d")


# ----- local response normalisation --------------------------------------------------------
LRN_CASES = [  # minicnn (size, alpha, beta, k)
    (5, 1e-4, 0.75, 2.0),  # AlexNet's paper values
    (5, 0.1, 0.75, 2.0),   # alpha large enough that the window sum matters
    (3, 0.5, 0.5, 1.0),
]


@pytest.mark.parametrize("size, alpha, beta, k", LRN_CASES)
def test_local_response_norm(size, alpha, beta, k):
    """float32 only: TensorFlow registers LRN for half/bfloat16/float32, not float64."""
    x = random((N, 7, 3, 4), np.float32, 8, scale=3.0)  # 7 channels: windows reach both edges
    tf_params = mtf.lrn_to_tf(size, alpha, beta, k)

    def ours(x):
        return F.local_response_norm(x, size=size, alpha=alpha, beta=beta, k=k)

    compare(ours, lambda x: tf.nn.local_response_normalization(x, **tf_params), [x], ["nchw"],
            "nchw", f"local_response_norm {tf_params}")


def test_float64_lrn_layer_equals_tf_kernel():
    """The twins' float64 LRN (TF's formula from TF ops; TF has no float64 kernel) equals
    tf.nn.local_response_normalization evaluated in float32."""
    x = random((N, H, W, 7), np.float64, 9, scale=3.0)
    params = mtf.lrn_to_tf(5, 0.1, 0.75, 2.0)
    ours = mtf.LocalResponseNormalization(**params, dtype="float64")(tf.constant(x))
    kernel = tf.nn.local_response_normalization(tf.constant(x, tf.float32), **params)
    assert ours.dtype == tf.float64
    assert mtf.max_rel_diff(ours.numpy(), kernel.numpy()) <= 1e-6  # float32 rounding of TF's


def test_lrn_parameter_mapping_round_trips():
    tf_params = mtf.lrn_to_tf(5, 1e-4, 0.75, 2.0)
    assert tf_params == {"depth_radius": 2, "bias": 2.0, "alpha": 1e-4 / 5, "beta": 0.75}
    assert mtf.lrn_from_tf(**tf_params) == pytest.approx(
        {"size": 5, "alpha": 1e-4, "beta": 0.75, "k": 2.0})
    with pytest.raises(ValueError, match="odd"):
        mtf.lrn_to_tf(4, 1e-4, 0.75, 2.0)


# ----- batch normalisation -----------------------------------------------------------------
def _keras_bn(dtype, input_shape, momentum, eps, stats):
    layer = keras.layers.BatchNormalization(
        momentum=mtf.bn_momentum_to_keras(momentum), epsilon=eps, dtype=np.dtype(dtype).name)
    layer.build((None,) + input_shape[1:])
    layer.set_weights([s.copy() for s in stats])  # gamma, beta, moving mean, moving variance
    return layer


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(6, 3), (3, 3, 4, 5)], ids=["BatchNorm1d", "BatchNorm2d"])
@pytest.mark.parametrize("training", [True, False], ids=["training", "inference"])
def test_batch_norm(dtype, shape, training):
    momentum, eps = 0.1, 1e-5
    features = shape[1]
    gamma, beta = random((features,), dtype, 10) + 1.0, random((features,), dtype, 11)
    mean0 = random((features,), dtype, 12)
    var0 = np.abs(random((features,), dtype, 13)) + 0.5
    x = random(shape, dtype, 14, scale=2.0) + 0.5
    layout = "nchw" if len(shape) == 4 else None

    running_mean, running_var = mean0.copy(), var0.copy()
    ours = [minicnn.Tensor(a, requires_grad=True) for a in (x, gamma, beta)]
    y = F.batch_norm(*ours, running_mean, running_var, training, momentum, eps)
    upstream = random(y.shape, dtype, 15)
    y.backward(upstream)

    x_tf = tf.constant(LAYOUTS[layout][0](x))
    layer = _keras_bn(dtype, x_tf.shape, momentum, eps, [gamma, beta, mean0, var0])
    with tf.GradientTape() as tape:
        tape.watch(x_tf)
        y_tf = layer(x_tf, training=training)
    wrt = [x_tf, layer.gamma, layer.beta]
    grads = tape.gradient(y_tf, wrt, output_gradients=tf.constant(LAYOUTS[layout][0](upstream)))

    assert_agree(y.numpy(), LAYOUTS[layout][1](y_tf.numpy()), "batch_norm output")
    for name, tensor, g in zip(["x", "gamma", "beta"], ours, grads):
        expected = LAYOUTS[layout][1](g.numpy()) if name == "x" else g.numpy()
        assert_agree(tensor.grad, expected, f"batch_norm gradient of {name}")

    moving_mean, moving_var = layer.moving_mean.numpy(), layer.moving_variance.numpy()
    assert_agree(running_mean, moving_mean, "running_mean vs Keras moving_mean")
    if not training:
        np.testing.assert_array_equal(running_var, var0)
        np.testing.assert_array_equal(moving_var, var0)
        return
    # Keras moved its average by the biased batch variance, minicnn by the unbiased one
    n = x.size // features
    keras_batch_var = (moving_var - (1 - momentum) * var0) / momentum
    expected_var = (1 - momentum) * var0 + momentum * keras_batch_var * n / (n - 1)
    assert_agree(running_var, expected_var, "running_var vs Keras moving_variance * n/(n-1)")


# ----- element-wise, linear, softmax -------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["relu", "sigmoid", "tanh"])
def test_activations(dtype, name):
    x = random((N, C, 3, 2), dtype, 16, scale=2.0)
    compare(getattr(F, name), getattr(tf.nn, name), [x], [None], None, name)


@pytest.mark.parametrize("dtype", DTYPES)
def test_linear(dtype):
    arrays = [random((N, 6), dtype, 17), random((5, 6), dtype, 18), random((5,), dtype, 19)]
    compare(F.linear, lambda x, k, b: tf.matmul(x, k) + b, arrays, [None, "dense", None], None,
            "linear")


@pytest.mark.parametrize("dtype", DTYPES)
def test_linear_after_flatten_permutes_rows(dtype):
    """minicnn flattens (C, H, W), Keras (H, W, C): the Dense kernel rows are permuted."""
    arrays = [random((N,) + FLAT_CHW, dtype, 20), random((5, 24), dtype, 21)]

    def theirs(x, k):
        return tf.matmul(tf.reshape(x, (len(x), -1)), k)  # what Keras Flatten does to NHWC

    compare(lambda x, w: F.linear(F.flatten(x), w), theirs, arrays,
            ["nchw", "dense_after_flatten"], None, "flatten + linear")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("scale", [1.0, 50.0], ids=["moderate", "large-logits"])
def test_softmax_cross_entropy_int_targets(dtype, scale):
    labels = np.array([0, 3, 4, 1, 3])

    def theirs(z):
        return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, z))

    compare(lambda z: F.softmax_cross_entropy(z, labels), theirs,
            [random((5, 6), dtype, 22, scale)], [None], None, "softmax_cross_entropy (int)")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["one-hot", "probabilities"])
def test_softmax_cross_entropy_float_targets(dtype, kind):
    if kind == "one-hot":
        target = np.eye(6, dtype=dtype)[[2, 0, 5, 5, 1]]
    else:
        target = np.random.default_rng(23).dirichlet(np.ones(6), size=5).astype(dtype)

    def theirs(z):
        return tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(target, z))

    compare(lambda z: F.softmax_cross_entropy(z, target), theirs,
            [random((5, 6), dtype, 24, 3.0)], [None], None, f"softmax_cross_entropy ({kind})")


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_and_log_softmax(dtype):
    z = random((5, 6), dtype, 25, 3.0)
    compare(F.softmax, tf.nn.softmax, [z], [None], None, "softmax")
    compare(F.log_softmax, tf.nn.log_softmax, [z], [None], None, "log_softmax")
