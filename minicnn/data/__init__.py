"""Datasets for minicnn: Fashion-MNIST (the default, with a bundled subset), MNIST, CIFAR-10/100.

    from minicnn.data import load_dataset, Batches
    data = load_dataset("fashion-mnist")          # uint8 NCHW images, int64 labels
    for x, y in Batches(data.train_x, data.train_y, 64, data.mean, data.std, shuffle=True):
        ...                                       # float32 (64, 1, 28, 28), int64 (64,)
"""
from minicnn.data.batching import (
           Batches,
           bilinear_resize,
           first_test_batch,
           random_crop,
           random_flip,
)
from minicnn.data.datasets import SPECS, Dataset, load_bundled, load_dataset, names
from minicnn.data.sources import ChecksumError, DataNotFoundError, DatasetSpec, RemoteFile

__all__ = ["Batches", "bilinear_resize", "first_test_batch", "random_crop", "random_flip",
           "SPECS", "Dataset",
           "load_bundled", "load_dataset", "names", "ChecksumError", "DataNotFoundError",
           "DatasetSpec", "RemoteFile"]
