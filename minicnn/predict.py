"""Classify image files with a checkpoint: `python -m minicnn.predict CKPT IMAGE...`.

Each PNG/JPEG is converted to the model's channels (grey or RGB) and size, normalised as in
training, and the three most probable classes are printed with their probabilities.
Fashion-MNIST pictures are light garments on a black background: for a photo of a dark
garment on a white background, pass --invert.
"""
import sys

import numpy as np

import minicnn.functional as F
from minicnn import cli, inference
from minicnn.checkpoint import load_model
from minicnn.data.image_file import MAX_PIXELS, load_image  # noqa: F401  (their old home)


def top_k(model, images, config, k=3, device="cpu"):
    """images: (N, C, H, W) float32 on a 0..1 scale -> list of [(class name, probability)]."""
    mean = np.asarray(config.mean, dtype=np.float32).reshape(1, -1, 1, 1)
    std = np.asarray(config.std, dtype=np.float32).reshape(1, -1, 1, 1)
    x = ((images - mean) / std).astype(np.float32)
    probabilities = F.softmax(inference.logits(model, x, device), axis=1).data  # (N, K)
    results = []
    for row in probabilities:
        best = np.argsort(-row)[:k]
        results.append([(config.class_names[i], float(row[i])) for i in best])
    return results


def run(argv=None):
    p = cli.parser("minicnn.predict", "Top-3 classes of PNG/JPEG images.")
    cli.add_checkpoint(p)
    p.add_argument("images", nargs="+", metavar="IMAGE", help="PNG or JPEG files")
    p.add_argument("--invert", action="store_true",
                   help="invert grey levels (dark object on a light background)")
    cli.add_device(p)
    args = p.parse_args(argv)
    model, config = load_model(args.checkpoint, args.device)
    C, H, W = config.input_shape
    images = np.stack([load_image(path, C, (H, W), args.invert) for path in args.images])
    for path, best in zip(args.images, top_k(model, images, config, 3, args.device)):
        print(path)
        for name, probability in best:
            print(f"  {probability:7.2%}  {name}")
    return 0


def main(argv=None):
    return cli.run(run, argv)


if __name__ == "__main__":
    sys.exit(main())
