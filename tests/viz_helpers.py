"""Helpers shared by the tests of minicnn.viz: a tiny trained run, reading PNG tiles back."""
import numpy as np
from PIL import Image

from minicnn import train
from minicnn.viz import image_grid

TINY_RUN = ["lenet5", "--epochs", "1", "--limit-train", "48", "--limit-test", "16",
            "--batch-size", "16", "--no-download"]


def tiny_checkpoint(folder):
    """Train LeNet-5 for one epoch on 48 images into folder; return checkpoint.npz's path."""
    assert train.main([*TINY_RUN, "--out", str(folder)]) == 0
    return folder / "checkpoint.npz"


def read_tile(path, k, tile_shape, columns, scale):
    """The RGB of every element of tile k of a PNG grid: (H, W, 3) uint8.

    Each element is a scale x scale block; this reads the block's top-left pixel, and checks
    that the whole block has that one colour.
    """
    with Image.open(path) as image:
        pixels = np.asarray(image.convert("RGB"))
    top, left = image_grid.tile_origin(k, tile_shape, columns, scale)
    H, W = tile_shape
    tile = pixels[top:top + H * scale, left:left + W * scale]
    blocks = tile.reshape(H, scale, W, scale, 3)
    assert (blocks == blocks[:, :1, :, :1]).all(), "an element is not one flat block"
    return blocks[:, 0, :, 0]


def expected_tile(array, cmap, lo=None, hi=None):
    """The colours image_grid promises: lut[round(255 * (a - lo) / (hi - lo))]."""
    return image_grid.colormap_lut(cmap)[expected_levels(array, lo, hi)]


def expected_levels(array, lo=None, hi=None):
    """round(255 * (a - lo) / (hi - lo)), lo/hi defaulting to the array's min/max."""
    array = np.asarray(array, dtype=np.float64)
    lo = array.min() if lo is None else lo
    hi = array.max() if hi is None else hi
    return np.round((array - lo) / (hi - lo) * 255).astype(int)
