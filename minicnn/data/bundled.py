"""The small real Fashion-MNIST subset that ships inside the package (`minicnn/data/bundled/`).

600 training images per class (6,000) and 100 test images per class (1,000), drawn without
replacement from the full set by a fixed seed, kept in their original order and stored in the
original IDX `.gz` format, so the bare `python -m minicnn.train lenet5` works offline with
nothing else installed. `SHA256SUMS` records the files; `LICENSE` is Fashion-MNIST's MIT notice.

Regenerate it from the full set (found the usual way: --data-dir, $MINICNN_DATA, cache,
/usr/share/datasets/fashion-mnist, download) with:

    python -m minicnn.data.bundled [--data-dir DIR] [--out DIR]
"""
import argparse
import hashlib
import os

import numpy as np

FOLDER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bundled")
FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
TRAIN_PER_CLASS = 600
TEST_PER_CLASS = 100
SEED = 2017  # the year Fashion-MNIST was published; any fixed number would do


def paths(folder=FOLDER):
    return {role: os.path.join(folder, name) for role, name in FILES.items()}


def sha256_of_file(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def recorded_sums(folder=FOLDER):
    """{file name: sha256} from the folder's SHA256SUMS (the `sha256sum` format)."""
    sums = {}
    with open(os.path.join(folder, "SHA256SUMS")) as f:
        for line in f:
            digest, name = line.split()
            sums[name.lstrip("*")] = digest
    return sums


def verify(path, folder=FOLDER):
    """Raise ValueError if a bundled file does not match SHA256SUMS (a damaged install)."""
    expected = recorded_sums(folder)[os.path.basename(path)]
    actual = sha256_of_file(path)
    if actual != expected:
        raise ValueError(f"{path}: sha256 {actual} does not match the recorded {expected}; "
                         "the minicnn installation is damaged: reinstall it")


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
    from minicnn.data.idx import write_idx_gz
    os.makedirs(folder, exist_ok=True)
    lines = []
    for name, array in zip(FILES.values(), arrays):
        final = os.path.join(folder, name)
        tmp = final + ".tmp"
        write_idx_gz(tmp, array)
        os.replace(tmp, final)
        lines.append(f"{sha256_of_file(final)}  {name}\n")
    with open(os.path.join(folder, "SHA256SUMS.tmp"), "w") as f:
        f.writelines(lines)
    os.replace(os.path.join(folder, "SHA256SUMS.tmp"), os.path.join(folder, "SHA256SUMS"))


def main(argv=None):
    from minicnn.data.datasets import load_dataset
    parser = argparse.ArgumentParser(prog="python -m minicnn.data.bundled",
                                     description="Regenerate the bundled Fashion-MNIST subset.")
    parser.add_argument("--data-dir", help="folder holding the full Fashion-MNIST .gz files")
    parser.add_argument("--out", default=FOLDER, help="where to write (default: the package)")
    args = parser.parse_args(argv)
    full = load_dataset("fashion-mnist", args.data_dir, allow_bundled=False)
    arrays = make_subset(full)
    write_subset(arrays, args.out)
    print(f"wrote {len(arrays[0])} training and {len(arrays[2])} test images to {args.out}")


if __name__ == "__main__":
    main()
