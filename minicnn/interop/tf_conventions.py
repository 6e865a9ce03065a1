"""minicnn <-> TensorFlow/Keras conventions: layouts, weight layouts, 'same' padding, LRN and
BatchNorm parameters. Plain NumPy: this module does not import TensorFlow.

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
"""
import numpy as np

from minicnn.ops.utils import pair


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
    KH, KW = pair(kernel, "tf_same_padding", "kernel")
    SH, SW = pair(stride, "tf_same_padding", "stride")
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
