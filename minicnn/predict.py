"""Classify image files with a checkpoint: `python -m minicnn.predict CKPT IMAGE...`.

Each PNG/JPEG is converted to the model's channels (grey or RGB) and size, normalised as in
training, and the three most probable classes are printed with their probabilities.
Fashion-MNIST pictures are light garments on a black background: for a photo of a dark
garment on a white background, pass --invert.
"""
import argparse
import sys

import numpy as np
from PIL import Image, UnidentifiedImageError

import minicnn
import minicnn.functional as F
from minicnn import backend
from minicnn.evaluate import load_model


def load_image(path, channels, size, invert=False):
    """Read an image file as (channels, H, W) float32 on a 0..1 scale, resized bilinearly."""
    try:
        with Image.open(path) as image:
            image = image.convert("L" if channels == 1 else "RGB")
            image = image.resize((size[1], size[0]), Image.BILINEAR)
            pixels = np.asarray(image, dtype=np.float32) / 255.0
    except (OSError, UnidentifiedImageError) as error:
        raise ValueError(f"{path}: cannot read the image ({error}); use a PNG or JPEG file")
    if channels == 1:
        pixels = pixels[None]                  # (1, H, W)
    else:
        pixels = pixels.transpose(2, 0, 1)     # (H, W, 3) -> (3, H, W)
    return 1.0 - pixels if invert else pixels


def top_k(model, images, config, k=3, device="cpu"):
    """images: (N, C, H, W) float32 on a 0..1 scale -> list of [(class name, probability)]."""
    mean = np.asarray(config["mean"], dtype=np.float32).reshape(1, -1, 1, 1)
    std = np.asarray(config["std"], dtype=np.float32).reshape(1, -1, 1, 1)
    x = ((images - mean) / std).astype(np.float32)
    with minicnn.no_grad():
        probabilities = F.softmax(model(minicnn.Tensor(backend.to_device(x, device))), axis=1)
    probabilities = backend.asnumpy(probabilities.data)
    names = config["class_names"]
    results = []
    for row in probabilities:
        best = np.argsort(-row)[:k]
        results.append([(names[i], float(row[i])) for i in best])
    return results


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m minicnn.predict",
                                description="Top-3 classes of PNG/JPEG images.")
    p.add_argument("checkpoint")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--invert", action="store_true",
                   help="invert grey levels (dark object on a light background)")
    p.add_argument("--device", choices=["cpu", "gpu"], default="cpu")
    args = p.parse_args(argv)
    try:
        model, config = load_model(args.checkpoint, args.device)
        C, H, W = config["input_shape"]
        images = np.stack([load_image(path, C, (H, W), args.invert) for path in args.images])
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for path, best in zip(args.images, top_k(model, images, config, 3, args.device)):
        print(path)
        for name, probability in best:
            print(f"  {probability:7.2%}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
