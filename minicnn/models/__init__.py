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


def build(name, num_classes=10, in_channels=1, **options_):
    """Build model `name` for (N, in_channels, H, W) inputs and num_classes outputs.

    Raises ValueError for an unknown name, bad sizes, or an option the model does not take.
    """
    model_class, fixed = _lookup(name)
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


def _lookup(name):
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; choose one of: {', '.join(names())}")
    return _REGISTRY[name]
