"""Read one image file (PNG, JPEG, ...) as the float array a model takes.

Used by `python -m minicnn.predict` and the visual tools: a file that is too large, missing or
not an image is a ValueError naming the file and what to do.
"""
import numpy as np
from PIL import Image, UnidentifiedImageError

MAX_PIXELS = 50_000_000  # larger files are refused before decoding (a 50 MP photo is plenty)


def load_image(path, channels, size, invert=False):
    """Read an image file as (channels, H, W) float32 on a 0..1 scale, resized bilinearly."""
    try:
        with Image.open(path) as image:
            width, height = image.size  # read from the header: nothing decoded yet
            if width * height > MAX_PIXELS:
                raise ValueError(f"{path}: the image has {width} x {height} pixels, more than "
                                 f"{MAX_PIXELS:,}; scale it down first")
            image = image.convert("L" if channels == 1 else "RGB")
            image = image.resize((size[1], size[0]), Image.BILINEAR)
            pixels = np.asarray(image, dtype=np.float32) / 255.0
    except Image.DecompressionBombError:  # PIL's own limit, checked when the header is read
        raise ValueError(f"{path}: the image has more than {MAX_PIXELS:,} pixels; scale it "
                         "down first") from None
    except (OSError, UnidentifiedImageError) as error:
        reason = ("not an image PIL can read" if isinstance(error, UnidentifiedImageError)
                  else getattr(error, "strerror", None) or str(error))
        raise ValueError(f"{path}: cannot read the image ({reason}); use a PNG or JPEG "
                         "file") from None
    if channels == 1:
        pixels = pixels[None]                  # (1, H, W)
    else:
        pixels = pixels.transpose(2, 0, 1)     # (H, W, 3) -> (3, H, W)
    return 1.0 - pixels if invert else pixels
