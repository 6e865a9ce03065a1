"""The four datasets by name: their files, class names, normalisation, and how to load them.

`load_dataset("fashion-mnist")` returns a `Dataset` of uint8 NCHW images and int64 labels.
When the full Fashion-MNIST is nowhere to be found, it falls back to the subset that ships
inside the package (see `minicnn.data.bundled`) and says so in `Dataset.notice`; never when
a data_dir was given: a folder named by the user that lacks the files is an error.
"""
import os
from dataclasses import dataclass

import numpy as np

from minicnn.data import bundled
from minicnn.data.cifar import read_cifar
from minicnn.data.idx import read_idx
from minicnn.data.sources import (
    DataNotFoundError,
    DatasetSpec,
    RemoteFile,
    find_or_download,
)

FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
MNIST_CLASSES = [str(d) for d in range(10)]

# md5s from torchvision's dataset definitions. content_md5: of the decompressed IDX bytes,
# measured on the Debian package dataset-fashion-mnist, whose .gz files are re-compressed.
FASHION_MNIST = DatasetSpec(
    name="fashion-mnist",
    files={
        "train_images": RemoteFile("train-images-idx3-ubyte.gz",
                                   "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                                   "f4a8712d7a061bf5bd6d2ca38dc4d50a"),
        "train_labels": RemoteFile("train-labels-idx1-ubyte.gz",
                                   "25c81989df183df01b3e8a0aad5dffbe",
                                   "9018921c3c673c538a1fc5bad174d6f9"),
        "test_images": RemoteFile("t10k-images-idx3-ubyte.gz",
                                  "bef4ecab320f06d8554ea6380940ec79",
                                  "8181f5470baa50b63fa0f6fddb340f0a"),
        "test_labels": RemoteFile("t10k-labels-idx1-ubyte.gz",
                                  "bb300cfdad3c16e7a12a480ee83cd310",
                                  "15d484375f8d13e6eb1aabb0c3f46965"),
    },
    mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
    system_dirs=("/usr/share/datasets/fashion-mnist",),
    hint="On Debian/Ubuntu: sudo apt-get install dataset-fashion-mnist",
)
MNIST = DatasetSpec(
    name="mnist",
    files={
        "train_images": RemoteFile("train-images-idx3-ubyte.gz",
                                   "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
        "train_labels": RemoteFile("train-labels-idx1-ubyte.gz",
                                   "d53e105ee54ea40749a09fcbcd1e9432"),
        "test_images": RemoteFile("t10k-images-idx3-ubyte.gz",
                                  "9fb629c4189551a2d022fa330f9573f3"),
        "test_labels": RemoteFile("t10k-labels-idx1-ubyte.gz",
                                  "ec29112dd5afa0611ce80d1b7f02629c"),
    },
    mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/",),
)
CIFAR10 = DatasetSpec(
    name="cifar10",
    files={"archive": RemoteFile("cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a")},
    mirrors=("https://www.cs.toronto.edu/~kriz/",),
)
CIFAR100 = DatasetSpec(
    name="cifar100",
    files={"archive": RemoteFile("cifar-100-python.tar.gz", "eb9058c3a382ffc7106e4002c42a8d85")},
    mirrors=("https://www.cs.toronto.edu/~kriz/",),
)

SPECS = {s.name: s for s in (FASHION_MNIST, MNIST, CIFAR10, CIFAR100)}

# Per-channel mean and std of the training images on a 0..1 scale (the usual published values).
NORMALISATION = {
    "fashion-mnist": ((0.2860,), (0.3530,)),
    "mnist": ((0.1307,), (0.3081,)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
}


@dataclass
class Dataset:
    """Images and labels of one dataset, as stored (no normalisation yet).

    train_x: (N, C, H, W) uint8, train_y: (N,) int64; test_x, test_y likewise.
    source: the folder the files came from. notice: a message for the user, or "".
    """
    name: str
    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    class_names: list
    mean: tuple
    std: tuple
    source: str
    notice: str = ""

    @property
    def num_classes(self):
        return len(self.class_names)

    @property
    def image_shape(self):
        """(C, H, W) of the stored images."""
        return tuple(self.train_x.shape[1:])

    def limit(self, train=None, test=None):
        """Keep only the first `train` training and `test` test images (views, no copy)."""
        if train is not None:
            self.train_x, self.train_y = self.train_x[:train], self.train_y[:train]
        if test is not None:
            self.test_x, self.test_y = self.test_x[:test], self.test_y[:test]
        return self


def names():
    return sorted(SPECS)


def _check_pairs(name, images, labels, split):
    if len(images) != len(labels):
        raise ValueError(f"{name}: {split} has {len(images)} images but {len(labels)} labels")


def load_idx_files(paths, name, class_names):
    """Read the four IDX files into (train_x, train_y, test_x, test_y), images as N1HW."""
    train_x = read_idx(paths["train_images"])[:, None]
    train_y = read_idx(paths["train_labels"]).astype(np.int64)
    test_x = read_idx(paths["test_images"])[:, None]
    test_y = read_idx(paths["test_labels"]).astype(np.int64)
    _check_pairs(name, train_x, train_y, "train")
    _check_pairs(name, test_x, test_y, "test")
    for y, split in ((train_y, "train"), (test_y, "test")):
        if len(y) and y.max() >= len(class_names):
            raise ValueError(f"{name}: {split} label {y.max()} outside 0..{len(class_names) - 1}")
    return train_x, train_y, test_x, test_y


def load_dataset(name="fashion-mnist", data_dir=None, allow_download=True, spec=None,
                 allow_bundled=True, opener=None):
    """Find (or download) and read a dataset. `spec` overrides the built-in file list (tests)."""
    if name not in SPECS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(names())}")
    spec = spec or SPECS[name]
    kwargs = {} if opener is None else {"opener": opener}
    try:
        paths, folder = find_or_download(spec, data_dir, allow_download, **kwargs)
    except DataNotFoundError as error:
        if name == "fashion-mnist" and allow_bundled and data_dir is None:
            return load_bundled(error.looked)
        raise
    mean, std = NORMALISATION[name]
    if name in ("fashion-mnist", "mnist"):
        classes = FASHION_CLASSES if name == "fashion-mnist" else MNIST_CLASSES
        arrays = load_idx_files(paths, name, classes)
    else:
        train_x, train_y, test_x, test_y, classes = read_cifar(paths["archive"])
        arrays = (train_x, train_y, test_x, test_y)
    return Dataset(name, *arrays, class_names=list(classes), mean=mean, std=std, source=folder)


def load_bundled(looked=()):
    """The Fashion-MNIST subset shipped inside the package, with a notice saying so.

    looked: the places searched for the full set, listed in the notice.
    """
    paths = bundled.paths()
    for path in paths.values():
        bundled.verify(path)
    arrays = load_idx_files(paths, "fashion-mnist (bundled subset)", FASHION_CLASSES)
    notice = (f"Using the bundled Fashion-MNIST subset ({len(arrays[0])} training and "
              f"{len(arrays[2])} test images) that ships with minicnn, because the full set "
              "was not found; accuracy will be lower than with the full 60,000 images.")
    if looked:
        notice += "\nLooked for the full set in:\n  - " + "\n  - ".join(looked)
    notice += ("\nTo use the full set: `sudo apt-get install dataset-fashion-mnist`, or run "
               "once with internet access (it downloads into ~/.cache/minicnn), or pass "
               "--data-dir DIR.")
    mean, std = NORMALISATION["fashion-mnist"]
    return Dataset("fashion-mnist", *arrays, class_names=list(FASHION_CLASSES), mean=mean,
                   std=std, source=os.path.dirname(paths["train_images"]) + " (bundled subset)",
                   notice=notice)
