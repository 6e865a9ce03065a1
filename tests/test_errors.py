"""Bad input gets a clear error that starts with the op's name and shows the shapes involved.

Each test asserts on the message, so a bare NumPy broadcasting error (or a message that names
nothing) fails it.
"""
import re

import numpy as np
import pytest

import minicnn
import minicnn.functional as F
from minicnn import DeviceError, DTypeError, ShapeError


def t(*shape, dtype=np.float64):
    return minicnn.Tensor(np.ones(shape, dtype=dtype), requires_grad=True)


def shape_text(shape):
    """How a shape appears in a message: the Python tuple, e.g. '(2, 3, 8, 8)'."""
    return re.escape(str(tuple(shape)))


# --- rank -------------------------------------------------------------------------------------

@pytest.mark.parametrize("op, call", [
    ("conv2d", lambda x: F.conv2d(x, t(4, 3, 3, 3))),
    ("max_pool2d", lambda x: F.max_pool2d(x, 2)),
    ("avg_pool2d", lambda x: F.avg_pool2d(x, 2)),
    ("global_avg_pool2d", F.global_avg_pool2d),
    ("global_max_pool2d", F.global_max_pool2d),
    ("local_response_norm", F.local_response_norm),
])
def test_wrong_rank_names_op_and_shape(op, call):
    with pytest.raises(ShapeError, match=rf"^{op}\b.*{shape_text((3, 8, 8))}"):
        call(t(3, 8, 8))


def test_conv2d_weight_of_wrong_rank():
    with pytest.raises(ShapeError, match=rf"^conv2d\b.*{shape_text((4, 3, 3))}"):
        F.conv2d(t(2, 3, 8, 8), t(4, 3, 3))


def test_batch_norm_wrong_rank():
    with pytest.raises(ShapeError, match=rf"^batch_norm\b.*{shape_text((2, 3, 4))}"):
        F.batch_norm(t(2, 3, 4), t(3), t(3), np.zeros(3), np.ones(3), training=True)


def test_linear_wrong_rank():
    with pytest.raises(ShapeError, match=rf"^linear\b.*{shape_text((2, 3, 4))}"):
        F.linear(t(2, 3, 4), t(5, 4))


# --- channel and feature mismatches -----------------------------------------------------------

def test_conv2d_channel_mismatch_names_both_shapes():
    pattern = (rf"^conv2d: input has 3 channels but weight expects 4 .*"
               rf"{shape_text((2, 3, 8, 8))}.*{shape_text((5, 4, 3, 3))}")
    with pytest.raises(ShapeError, match=pattern):
        F.conv2d(t(2, 3, 8, 8), t(5, 4, 3, 3))


def test_conv2d_grouped_channel_mismatch():
    # groups=2 with 6 input channels needs weight (OC, 3, KH, KW); (4, 6, 3, 3) expects 12.
    with pytest.raises(ShapeError, match=rf"^conv2d\b.*{shape_text((4, 6, 3, 3))}"):
        F.conv2d(t(1, 6, 5, 5), t(4, 6, 3, 3), groups=2)


def test_conv2d_groups_must_divide_channels():
    with pytest.raises(ShapeError, match=r"^conv2d\b.*groups"):
        F.conv2d(t(1, 5, 5, 5), t(4, 2, 3, 3), groups=2)


def test_conv2d_bias_of_wrong_length():
    with pytest.raises(ShapeError, match=rf"^conv2d\b.*bias.*{shape_text((3,))}"):
        F.conv2d(t(1, 3, 5, 5), t(4, 3, 3, 3), t(3))


def test_linear_feature_mismatch_names_both_shapes():
    with pytest.raises(ShapeError, match=rf"^linear\b.*{shape_text((2, 7))}.*{shape_text((5, 6))}"):
        F.linear(t(2, 7), t(5, 6))


@pytest.mark.parametrize("wrong", ["gamma", "beta", "running_mean", "running_var"])
def test_batch_norm_parameter_length_mismatch(wrong):
    # x has 3 channels; one of the four per-channel arrays has 4 entries.
    args = dict(gamma=t(3), beta=t(3), running_mean=np.zeros(3), running_var=np.ones(3))
    args[wrong] = t(4) if wrong in ("gamma", "beta") else np.ones(4)
    x_shape = (2, 3, 4, 4)
    pattern = (rf"^batch_norm\b(?=.*{shape_text((4,))})"
               rf"(?=.*({shape_text(x_shape)}|3 channels))")
    with pytest.raises(ShapeError, match=pattern):
        F.batch_norm(t(*x_shape), training=True, **args)


def test_matmul_inner_dimension_mismatch():
    with pytest.raises(ShapeError, match=rf"^matmul\b.*{shape_text((3, 4))}.*{shape_text((5, 2))}"):
        t(3, 4) @ t(5, 2)


def test_concat_mismatched_shapes():
    with pytest.raises(ShapeError, match=rf"^concat\b.*{shape_text((2, 3, 4, 4))}.*"
                                         rf"{shape_text((2, 3, 5, 4))}"):
        F.concat([t(2, 3, 4, 4), t(2, 3, 5, 4)], axis=1)


# --- windows that do not fit ------------------------------------------------------------------

@pytest.mark.parametrize("op, call", [
    ("conv2d", lambda x: F.conv2d(x, t(2, 3, 5, 5), padding=0)),
    ("conv2d", lambda x: F.conv2d(x, t(2, 3, 7, 1), padding=1)),   # 7 > 4 + 2 rows
    ("max_pool2d", lambda x: F.max_pool2d(x, 5)),
    ("avg_pool2d", lambda x: F.avg_pool2d(x, (2, 6), padding=0)),
])
def test_kernel_larger_than_padded_input(op, call):
    with pytest.raises(ShapeError, match=rf"^{op}\b.*larger.*{shape_text((1, 3, 4, 4))}"):
        call(t(1, 3, 4, 4))


# --- labels and targets -----------------------------------------------------------------------

@pytest.mark.parametrize("bad_label", [5, 9, -1])
def test_labels_out_of_range(bad_label):
    labels = np.array([0, bad_label, 2])
    with pytest.raises(ValueError, match=rf"^softmax_cross_entropy\b.*{bad_label}"):
        F.softmax_cross_entropy(t(3, 5), labels)


def test_label_count_must_match_batch():
    with pytest.raises(ShapeError, match=rf"^softmax_cross_entropy\b.*{shape_text((3, 5))}"):
        F.softmax_cross_entropy(t(3, 5), np.array([0, 1]))


def test_probability_target_shape_must_match_logits():
    with pytest.raises(ShapeError, match=rf"^softmax_cross_entropy\b.*{shape_text((3, 5))}.*"
                                         rf"{shape_text((3, 4))}"):
        F.softmax_cross_entropy(t(3, 5), np.full((3, 4), 0.25))


# --- dtypes -----------------------------------------------------------------------------------

@pytest.mark.parametrize("op, call", [
    ("add", lambda a, b: a + b),
    ("mul", lambda a, b: a * b),
    ("matmul", lambda a, b: a @ b),
])
def test_float64_tensor_mixed_with_float32_tensor(op, call):
    a, b = t(3, 3, dtype=np.float64), t(3, 3, dtype=np.float32)
    with pytest.raises(DTypeError, match=rf"^{op}\b.*float32.*float64"):
        call(a, b)


def test_conv2d_float64_input_with_float32_weight():
    with pytest.raises(DTypeError, match=r"^conv2d\b.*float32.*float64"):
        F.conv2d(t(1, 3, 5, 5, dtype=np.float64), t(2, 3, 3, 3, dtype=np.float32))


@pytest.mark.parametrize("op, call", [
    ("linear", lambda: F.linear(t(2, 3), t(4, 3, dtype=np.float32))),
    ("batch_norm", lambda: F.batch_norm(t(2, 3), t(3, dtype=np.float32), t(3), np.zeros(3),
                                        np.ones(3), training=True)),
    ("concat", lambda: F.concat([t(1, 2), t(1, 2, dtype=np.float32)], axis=1)),
])
def test_mixed_float_dtypes_in_layers(op, call):
    with pytest.raises(DTypeError, match=rf"^{op}\b.*float32.*float64"):
        call()


def test_gradcheck_refuses_float32_inputs():
    with pytest.raises(DTypeError, match=r"^gradcheck\b.*float32"):
        minicnn.gradcheck(lambda x: x * 2.0, [t(3, dtype=np.float32)])


# --- devices ----------------------------------------------------------------------------------

@pytest.fixture
def pretend_gpu(monkeypatch):
    """Mark chosen arrays as living on the GPU by patching minicnn.backend.device_of.

    CuPy is not needed: the op's device check must consult backend.device_of and refuse to mix
    devices before it touches the data.
    """
    on_gpu = set()
    real_device_of = minicnn.backend.device_of

    def device_of(array):
        return "gpu" if id(array) in on_gpu else real_device_of(array)

    monkeypatch.setattr(minicnn.backend, "device_of", device_of)
    return lambda tensor: on_gpu.add(id(tensor.data)) or tensor


@pytest.mark.parametrize("op, call, shape_a, shape_b", [
    ("add", lambda a, b: a + b, (3, 3), (3, 3)),
    ("matmul", lambda a, b: a @ b, (3, 3), (3, 3)),
    ("conv2d", F.conv2d, (1, 2, 4, 4), (3, 2, 3, 3)),
    ("linear", F.linear, (2, 3), (4, 3)),
])
def test_tensors_on_different_devices(pretend_gpu, op, call, shape_a, shape_b):
    a, b = t(*shape_a), pretend_gpu(t(*shape_b))
    with pytest.raises(DeviceError, match=rf"^{op}\b.*(cpu.*gpu|gpu.*cpu)"):
        call(a, b)


def test_unknown_device_name():
    with pytest.raises(ValueError, match=r"'tpu'"):
        t(2).to("tpu")


@pytest.mark.skipif(minicnn.backend.gpu_available(), reason="a GPU is present here")
def test_asking_for_the_gpu_without_one_says_how_to_get_it():
    with pytest.raises(RuntimeError, match=r"(?i)cupy"):
        t(2).to("gpu")


def test_same_device_is_fine_with_the_patch(pretend_gpu):
    a = t(2, 2)
    np.testing.assert_array_equal((a + a).numpy(), np.full((2, 2), 2.0))


# --- broadcasting, reshaping, backward --------------------------------------------------------

@pytest.mark.parametrize("op, call", [
    ("add", lambda a, b: a + b),
    ("sub", lambda a, b: a - b),
    ("mul", lambda a, b: a * b),
    ("div", lambda a, b: a / b),
])
def test_bad_broadcasting_names_op_and_both_shapes(op, call):
    with pytest.raises(ShapeError, match=rf"^{op}\b.*{shape_text((2, 3))}.*{shape_text((4, 5))}"):
        call(t(2, 3), t(4, 5))


def test_reshape_to_an_incompatible_size():
    with pytest.raises(ShapeError, match=rf"^reshape\b.*{shape_text((2, 3))}"):
        t(2, 3).reshape(4, 2)


def test_backward_without_grad_on_a_non_scalar():
    y = t(2, 3) * 2.0
    with pytest.raises(ShapeError, match=rf"^backward\b.*{shape_text((2, 3))}"):
        y.backward()


def test_backward_of_a_tensor_that_does_not_require_grad():
    # e.g. a loss computed inside no_grad(): silently doing nothing leaves stale gradients
    x = t(3)
    with minicnn.no_grad():
        loss = (x * 2.0).sum()
    with pytest.raises((RuntimeError, ValueError), match=r"^backward\b.*requires_grad"):
        loss.backward()


def test_backward_with_a_gradient_of_the_wrong_shape():
    y = t(2, 3) * 2.0
    with pytest.raises(ShapeError, match=rf"^backward\b.*{shape_text((3, 2))}"):
        y.backward(np.ones((3, 2)))


# --- invalid hyper-parameters: a ValueError naming the op and the argument --------------------

@pytest.mark.parametrize("op, argument, call", [
    ("conv2d", "stride", lambda x: F.conv2d(x, t(2, 3, 3, 3), stride=0)),
    ("conv2d", "stride", lambda x: F.conv2d(x, t(2, 3, 3, 3), stride=(1, -1))),
    ("conv2d", "padding", lambda x: F.conv2d(x, t(2, 3, 3, 3), padding=-1)),
    ("conv2d", "padding", lambda x: F.conv2d(x, t(2, 3, 3, 3), padding=(0, -1))),
    ("max_pool2d", "kernel", lambda x: F.max_pool2d(x, 0)),
    ("max_pool2d", "stride", lambda x: F.max_pool2d(x, 2, stride=0)),
    ("avg_pool2d", "kernel", lambda x: F.avg_pool2d(x, (2, 0))),
    ("local_response_norm", "size", lambda x: F.local_response_norm(x, size=0)),
], ids=["conv_stride0", "conv_stride_neg", "conv_pad_neg", "conv_pad_pair_neg", "maxpool_k0",
        "maxpool_stride0", "avgpool_k0", "lrn_size0"])
def test_invalid_hyper_parameters(op, argument, call):
    with pytest.raises(ValueError, match=rf"^{op}\b.*{argument}"):
        call(t(1, 3, 6, 6))


@pytest.mark.parametrize("op, call", [
    # PyTorch's rule: padding at most half the kernel, so no window lies wholly in the padding
    # (it would give -inf for max pooling and 0/0 for an average that excludes the padding).
    ("max_pool2d", lambda x: F.max_pool2d(x, 2, stride=1, padding=2)),
    ("max_pool2d", lambda x: F.max_pool2d(x, 3, stride=1, padding=((0, 0), (3, 0)))),
    ("avg_pool2d", lambda x: F.avg_pool2d(x, 2, stride=1, padding=2, count_include_pad=False)),
], ids=["max_pad2_k2", "max_left_pad3_k3", "avg_pad2_k2_exclude_pad"])
def test_pool_padding_larger_than_half_the_kernel(op, call):
    with pytest.raises(ValueError, match=rf"^{op}\b.*padding"):
        call(t(1, 3, 6, 6))


@pytest.mark.parametrize("p", [-0.1, 1.0, 1.5])
def test_dropout_probability_out_of_range(p):
    with pytest.raises(ValueError, match=rf"^dropout\b.*{p}"):
        F.dropout(t(2, 3), p=p)


def test_batch_norm_training_with_one_value_per_channel():
    with pytest.raises(ShapeError, match=rf"^batch_norm\b.*{shape_text((1, 3))}"):
        F.batch_norm(t(1, 3), t(3), t(3), np.zeros(3), np.ones(3), training=True)


def test_pow_with_a_tensor_exponent_says_what_is_supported():
    with pytest.raises(TypeError, match=r"^pow\b"):
        t(2) ** t(2)
