"""Small helpers shared by the model files: channel scaling, input-size checks, init."""

import math

import minicnn
from minicnn import backend, nn, rng
from minicnn.kernels import conv_output_size


def scaled(channels, width, multiple=1):
    """Channel count `channels * width` rounded to a multiple of `multiple` (at least one)."""
    if not width > 0:
        raise ValueError(f"width must be positive (1.0 is the paper's width), got {width!r}")
    return max(multiple, int(round(channels * width / multiple)) * multiple)


def out_size(size, kernel_size, stride=1, padding=0):
    """Output height (or width) of a convolution or pooling window sliding over `size` pixels."""
    return conv_output_size(size, kernel_size, stride, padding, padding)


def check_image_size(model_name, image_size, feature_size):
    """Return feature_size(image_size), the side of the last feature map, checking it is >= 1.

    feature_size: function from the input side to the side of the map the head sees. On a
    too-small input, the ValueError names the smallest image_size this configuration accepts.
    """
    if isinstance(image_size, int) and image_size > 0 and feature_size(image_size) >= 1:
        return feature_size(image_size)
    smallest = next(size for size in range(1, 4097) if feature_size(size) >= 1)
    raise ValueError(
        f"{model_name}: image_size must be an int >= {smallest} (pixels) for this "
        f"configuration, got {image_size!r}; resize the images (the training command's "
        f"--resize) or use the model's small-input option where it has one"
    )


def check_input(model_name, x, expected):
    """Raise a ShapeError unless x is (N, C, H, W) with (C, H, W) == expected.

    Models with a fully connected head size their first Linear layer from the input size
    they were built for; a different input would otherwise fail deep inside `linear`.
    """
    if x.ndim == 4 and tuple(x.shape[1:]) == tuple(expected):
        return
    C, H, W = expected
    raise minicnn.ShapeError(
        f"{model_name}: expected input (N, {C}, {H}, {W}) but got {tuple(x.shape)}; "
        f"resize the images to {H}x{W}, or build the model with in_channels=<C> and "
        f"image_size=<H> matching your data"
    )


INITS = ("he", "default")


def init_weights(model, init):
    """Re-draw the weights of every Conv2d and Linear in model for init = "he" or "default".

    "he": K. He et al., "Delving Deep into Rectifiers", ICCV 2015, Section 2.2: weights
    U(-b, b) with b = sqrt(6 / fan_in), i.e. variance 2 / fan_in, and zero biases. It keeps
    the variance of the signal constant through ReLU layers, so deep networks without
    BatchNorm (VGG, NiN, AlexNet, SqueezeNet) start learning at once instead of sitting at
    chance for epochs. The ResNet paper (Section 3.4) initialises this way too.
    "default": keep the layers' own initialisation (PyTorch's, variance 1 / (3 fan_in)).
    """
    if init not in INITS:
        raise ValueError(f"init must be one of {INITS}, got {init!r}")
    if init == "default":
        return
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            weight = module.weight.data
            fan_in = weight[0].size  # C_in/groups * KH * KW, or in_features
            bound = math.sqrt(6.0 / fan_in)
            xp = backend.get_array_module(weight)
            weight[...] = rng.uniform(-bound, bound, weight.shape, weight.dtype, xp)
            if module.bias is not None:
                module.bias.data[...] = 0
