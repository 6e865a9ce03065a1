"""Where the visual tools get models and images: checkpoints, zoo names, image files, batches.

The checkpoint loader is imported here and nowhere else in minicnn.viz. A checkpoint's config
is its `minicnn.config.RunConfig`.
"""
import os

import numpy as np

from minicnn import models
from minicnn.checkpoint import CheckpointError
from minicnn.checkpoint import load_model as load_checkpoint_model  # -> (model in eval, config)
from minicnn.cli import parse_input_size  # noqa: F401 (re-exported for the viz commands)
from minicnn.data.image_file import load_image


class VizInputError(ValueError):
    """Bad user input for a minicnn.viz command (printed as one `error:` line)."""


def load_checkpoint(path):
    """(model in eval mode, config) from a training checkpoint, with a clear error."""
    try:
        return load_checkpoint_model(path)
    except CheckpointError as error:
        raise VizInputError(str(error)) from None
    except (FileNotFoundError, ValueError, KeyError) as error:
        raise VizInputError(f"{path}: {error}") from None


def model_or_checkpoint(spec, input_size=None, num_classes=10):
    """A checkpoint path or a zoo name -> (model, config or None).

    A zoo model is freshly initialised; input_size (C, H, W) sets its channels and image size.
    """
    if os.path.isfile(spec) or spec.endswith(".npz"):
        return load_checkpoint(spec)
    if spec in models.names():
        try:
            C, H, W = input_size or (1, None, None)
            size = None if H is None else (H, W)
            return models.build(spec, num_classes=num_classes, in_channels=C,
                                input_size=size), None
        except ValueError as error:
            raise VizInputError(str(error)) from None
    raise VizInputError(f"{spec}: neither a checkpoint file nor a model name; give a "
                        f"checkpoint.npz or one of: {', '.join(models.names())}")


def normalised_image(path, config, invert=False):
    """An image file as the (1, C, H, W) float32 batch a checkpoint's model expects.

    Read exactly as `python -m minicnn.predict` reads it, then normalised with the run's
    mean and std. Returns (x, pixels) where pixels is the (C, H, W) 0..1 image for display.
    """
    C, H, W = config.input_shape
    try:
        pixels = load_image(path, C, (H, W), invert)
    except (FileNotFoundError, ValueError) as error:
        raise VizInputError(str(error)) from None
    mean = np.asarray(config.mean, dtype=np.float32).reshape(-1, 1, 1)
    std = np.asarray(config.std, dtype=np.float32).reshape(-1, 1, 1)
    return ((pixels - mean) / std)[None].astype(np.float32), pixels


def sample_batch(input_size, n=16, config=None):
    """(x, y): n bundled Fashion-MNIST test images resized and normalised for input_size.

    With a checkpoint's config, its dataset's mean/std are used; a colour model gets the grey
    image in every channel (good enough to look at gradients, not to judge accuracy).
    """
    from minicnn.data import first_test_batch, load_bundled
    return first_test_batch(load_bundled(), n, input_size, config.mean if config else None,
                            config.std if config else None)
