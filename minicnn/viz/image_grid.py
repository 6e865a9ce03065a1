"""Arrays to pictures: min/max scaling, a colour map, tiles in a grid, an atomic PNG write.

Every picture of minicnn.viz goes through here, so one rule holds everywhere: a tile's pixel
value is `round(255 * (a - lo) / (hi - lo))` looked up in a 256-entry colour map, where lo and
hi are the tile's own min and max (or shared ones), and each array element becomes a
`scale` x `scale` block of pixels. Tests invert exactly this mapping.
"""
import base64
import functools
import io
import os

import numpy as np
from PIL import Image

GAP = 1            # pixels of background between tiles
BACKGROUND = 255   # white


@functools.lru_cache(maxsize=None)
def colormap_lut(name="viridis"):
    """(256, 3) uint8 RGB table of a matplotlib colour map ("gray" gives a grey ramp)."""
    if name == "gray":
        ramp = np.arange(256, dtype=np.uint8)
        return np.stack([ramp, ramp, ramp], axis=1)
    from matplotlib import colormaps
    return (colormaps[name](np.linspace(0.0, 1.0, 256))[:, :3] * 255).round().astype(np.uint8)


def to_levels(array, lo=None, hi=None):
    """Map a 2-D array to uint8 levels 0..255 linearly, lo -> 0 and hi -> 255.

    lo/hi default to the array's min/max; a constant array maps to 0. NaN maps to 0.
    """
    array = np.asarray(array, dtype=np.float64)
    finite = array[np.isfinite(array)]
    lo = (finite.min() if finite.size else 0.0) if lo is None else lo
    hi = (finite.max() if finite.size else 0.0) if hi is None else hi
    span = hi - lo if hi > lo else 1.0
    levels = np.clip((np.nan_to_num(array, nan=lo) - lo) / span, 0.0, 1.0)
    return np.round(levels * 255).astype(np.uint8)


def tile_grid(tiles, columns=None, scale=1, shared=False, cmap="viridis"):
    """Lay out 2-D arrays as one RGB image.

    Args:
        tiles: sequence of K arrays, each (H, W) (all the same shape).
        columns: tiles per row (default: about sqrt(K)).
        scale: each element becomes a scale x scale block.
        shared: one min/max for all tiles (filters) instead of each tile's own (feature maps).
    Returns:
        (rows*(H*scale+GAP)-GAP, columns*(W*scale+GAP)-GAP, 3) uint8.
    """
    tiles = [np.asarray(t, dtype=np.float64) for t in tiles]
    K = len(tiles)
    H, W = tiles[0].shape
    columns = columns or int(np.ceil(np.sqrt(K)))
    rows = int(np.ceil(K / columns))
    lo, hi = (min(t.min() for t in tiles), max(t.max() for t in tiles)) if shared else (None,) * 2
    TH, TW = H * scale, W * scale
    image = np.full((rows * (TH + GAP) - GAP, columns * (TW + GAP) - GAP, 3), BACKGROUND,
                    dtype=np.uint8)
    for k, tile in enumerate(tiles):
        r, c = divmod(k, columns)
        image[r * (TH + GAP):r * (TH + GAP) + TH,
              c * (TW + GAP):c * (TW + GAP) + TW] = heatmap(tile, scale, cmap, lo, hi)
    return image


def heatmap(array, scale=1, cmap="viridis", lo=None, hi=None):
    """One (H, W) array as an (H*scale, W*scale, 3) uint8 RGB picture (lo/hi: see to_levels)."""
    levels = to_levels(array, lo, hi)
    return colormap_lut(cmap)[np.kron(levels, np.ones((scale, scale), dtype=np.uint8))]


def tile_origin(k, tile_shape, columns, scale):
    """(top, left) pixel of tile k in a tile_grid image: lets tests find each tile."""
    H, W = tile_shape
    r, c = divmod(k, columns)
    return r * (H * scale + GAP), c * (W * scale + GAP)


def save_png(path, image):
    """Write an (H, W, 3) or (H, W) uint8 image as PNG; a crash never leaves half a file."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp_path = path + ".tmp"
    Image.fromarray(image).save(tmp_path, format="PNG")
    os.replace(tmp_path, path)


def png_data_uri(image):
    """An (H, W, 3) uint8 image as a 'data:image/png;base64,...' string (for HTML)."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def default_scale(side, target=96):
    """An integer zoom that makes a side of `side` elements about `target` pixels."""
    return max(1, int(round(target / max(side, 1))))
