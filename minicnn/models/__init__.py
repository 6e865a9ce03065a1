"""The model zoo: the classic CNN lineage, one readable file per family.

    >>> from minicnn import models
    >>> models.names()[:2]
    ['lenet5', 'alexnet']
    >>> net = models.build("lenet5", num_classes=10, in_channels=1, classic=True)
    >>> net.default_input_size
    (1, 28, 28)

Every model takes (N, C, H, W) images, returns (N, num_classes) logits, and carries
`default_input_size` (C, H, W): the input it was built for, which the training command resizes
the images to unless told otherwise.
"""

import ast
import difflib
import inspect

from .alexnet import AlexNet
from .googlenet import GoogLeNet, GoogLeNetSmall
from .lenet import LeNet5
from .nin import NiN
from .resnet import ResNet
from .squeezenet import SqueezeNet
from .vgg import VGG, VGG16BN

# name -> (model class, the arguments that make this member of its family)
_REGISTRY = {
    "lenet5": (LeNet5, {}),
    "alexnet": (AlexNet, {}),
    "vgg11": (VGG, {"config": "vgg11"}),
    "vgg13": (VGG, {"config": "vgg13"}),
    "vgg16": (VGG, {"config": "vgg16"}),
    "vgg19": (VGG, {"config": "vgg19"}),
    "vgg16_bn": (VGG16BN, {}),
    "vgg16_bigconv": (VGG, {"config": "vgg16_bigconv"}),
    "nin": (NiN, {}),
    "googlenet": (GoogLeNet, {}),
    "googlenet_small": (GoogLeNetSmall, {}),
    "resnet18": (ResNet, {"config": "resnet18"}),
    "resnet34": (ResNet, {"config": "resnet34"}),
    "squeezenet": (SqueezeNet, {}),
}


def names():
    """Names accepted by build(), in the order of the lineage."""
    return list(_REGISTRY)


def options(name):
    """The options model `name` accepts besides num_classes and in_channels: name -> default."""
    model_class, fixed = _lookup(name)
    parameters = inspect.signature(model_class.__init__).parameters
    skip = {"self", "num_classes", "in_channels", *fixed}
    return {key: p.default for key, p in parameters.items() if key not in skip}


def split_option(text):
    """'key=value' -> (key, value), the value read as a Python literal (True, 0.25, 32) or kept
    as a string (a config name). Used by the commands' --option / --model-option flags."""
    key, sep, value = text.partition("=")
    key, value = key.strip(), value.strip()
    if not sep or not key:
        raise ValueError(f"must be KEY=VALUE (e.g. width=0.5), got {text!r}")
    try:
        return key, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return key, value


def build(name, num_classes=10, in_channels=1, input_size=None, **options_):
    """Build model `name` for (N, in_channels, H, W) inputs and num_classes outputs.

    input_size: None (the model's own default), an int S (S x S images) or (H, W). This is the
    one rule turning an input size into a model: a model with an `image_size` option is built
    for square inputs of that side (an explicit image_size that differs is an error); a model
    without one adapts to any size by itself, and so does any model given non-square inputs.
    Raises ValueError for an unknown name, bad sizes, or an option the model does not take.
    """
    model_class, fixed = _lookup(name)
    side = _square_side(name, input_size)
    if side is not None and "image_size" in options(name):
        given = options_.get("image_size")
        if given is not None and given != side:
            raise ValueError(f"{name}: image_size={given} and input size {side} disagree; "
                             "give only one of them")
        options_["image_size"] = side
    if not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"{name}: num_classes must be a positive int, got {num_classes!r}")
    if not isinstance(in_channels, int) or in_channels < 1:
        raise ValueError(f"{name}: in_channels must be a positive int, got {in_channels!r}")
    accepted = options(name)
    unknown = sorted(set(options_) - set(accepted))
    if unknown:
        raise ValueError(
            f"{name}: unknown option(s) {', '.join(unknown)}; "
            f"it accepts: {', '.join(accepted) or 'none'}"
        )
    return model_class(num_classes=num_classes, in_channels=in_channels, **fixed, **options_)


def _square_side(name, input_size):
    """The side of square inputs, or None (no size given, or H != W)."""
    if input_size is None:
        return None
    size = (input_size, input_size) if isinstance(input_size, int) else tuple(input_size)
    if len(size) != 2 or not all(isinstance(s, int) and s >= 1 for s in size):
        raise ValueError(f"{name}: input_size must be a positive int or (H, W), "
                         f"got {input_size!r}")
    return size[0] if size[0] == size[1] else None


def check_name(name):
    """Raise ValueError naming the closest model (`did you mean lenet5?`) for an unknown name."""
    if name in _REGISTRY:
        return name
    ratio = {n: difflib.SequenceMatcher(None, str(name).lower(), n).ratio() for n in names()}
    best = max(ratio.values())
    close = [n for n in names() if ratio[n] >= max(best - 0.02, 0.6)]  # the nearest, tied
    hint = (f"did you mean {' or '.join(close)}?" if close
            else f"choose one of: {', '.join(names())}")
    raise ValueError(f"unknown model {name!r}; {hint}")


def _lookup(name):
    check_name(name)
    return _REGISTRY[name]
