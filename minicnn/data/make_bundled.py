"""Regenerate the bundled Fashion-MNIST subset: `python -m minicnn.data.make_bundled`.

Draws 600 training and 100 test images per class without replacement from the full set (found
the usual way: --data-dir, $MINICNN_DATA, cache, /usr/share/datasets/fashion-mnist, download)
by a fixed seed, keeps them in their original order, and writes them with their SHA256SUMS
into `minicnn/data/bundled/` (or --out). The runtime loader is minicnn.data.bundled.
"""
import argparse
import os
import sys

import numpy as np

from minicnn.data.bundled import FILES, FOLDER, sha256_of_file
from minicnn.data.datasets import load_dataset
from minicnn.data.idx import write_idx_gz
from minicnn.data.sources import DataNotFoundError
from minicnn.files import write_atomically

TRAIN_PER_CLASS = 600
TEST_PER_CLASS = 100
SEED = 2017  # the year Fashion-MNIST was published; any fixed number would do


def balanced_indices(labels, per_class, rng):
    """`per_class` indices of each class drawn without replacement, returned in sorted order."""
    chosen = []
    for label in np.unique(labels):
        of_class = np.flatnonzero(labels == label)
        if len(of_class) < per_class:
            raise ValueError(f"class {label} has only {len(of_class)} images, {per_class} asked")
        chosen.append(rng.choice(of_class, size=per_class, replace=False))
    return np.sort(np.concatenate(chosen))


def make_subset(dataset, seed=SEED):
    """(train_x, train_y, test_x, test_y) of the subset, images as (N, 28, 28) uint8."""
    rng = np.random.default_rng(seed)
    train = balanced_indices(dataset.train_y, TRAIN_PER_CLASS, rng)
    test = balanced_indices(dataset.test_y, TEST_PER_CLASS, rng)
    return (dataset.train_x[train, 0], dataset.train_y[train].astype(np.uint8),
            dataset.test_x[test, 0], dataset.test_y[test].astype(np.uint8))


def write_subset(arrays, folder):
    """Write the four IDX .gz files and SHA256SUMS into `folder` (each file atomically)."""
    os.makedirs(folder, exist_ok=True)
    lines = []
    for name, array in zip(FILES.values(), arrays):
        final = os.path.join(folder, name)
        write_atomically(final, lambda tmp, array=array: write_idx_gz(tmp, array))
        lines.append(f"{sha256_of_file(final)}  {name}\n")

    def write_sums(tmp):
        with open(tmp, "w") as f:
            f.writelines(lines)
    write_atomically(os.path.join(folder, "SHA256SUMS"), write_sums)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m minicnn.data.make_bundled",
                                     description="Regenerate the bundled Fashion-MNIST subset.")
    parser.add_argument("--data-dir", help="folder holding the full Fashion-MNIST .gz files")
    parser.add_argument("--out", default=FOLDER, help="where to write (default: the package)")
    args = parser.parse_args(argv)
    try:
        full = load_dataset("fashion-mnist", args.data_dir, allow_bundled=False)
        arrays = make_subset(full)
        write_subset(arrays, args.out)
    except (DataNotFoundError, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {len(arrays[0])} training and {len(arrays[2])} test images to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
