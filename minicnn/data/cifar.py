"""Read CIFAR-10 and CIFAR-100 from their original python-pickle `.tar.gz` archives.

Each batch inside the archive is a pickled dict with b"data" (N, 3072) uint8 rows (1024 red,
then 1024 green, then 1024 blue values of a 32x32 image) and the labels under b"labels"
(CIFAR-10) or b"fine_labels" (CIFAR-100). We read the members straight from the archive,
without extracting it.
"""
import pickle
import tarfile
import zlib

import numpy as np

CIFAR10_MEMBERS = {
    "train": [f"cifar-10-batches-py/data_batch_{i}" for i in range(1, 6)],
    "test": ["cifar-10-batches-py/test_batch"],
    "meta": "cifar-10-batches-py/batches.meta",
}
CIFAR100_MEMBERS = {
    "train": ["cifar-100-python/train"],
    "test": ["cifar-100-python/test"],
    "meta": "cifar-100-python/meta",
}


class CIFARError(ValueError):
    """A CIFAR archive that is truncated, corrupted or laid out unexpectedly."""


def _load_member(archive, member, path):
    try:
        f = archive.extractfile(member)
    except KeyError:
        raise CIFARError(f"{path}: member {member!r} is missing; is this the python version "
                         "of the CIFAR archive?") from None
    return pickle.load(f, encoding="bytes")


def _images_and_labels(batches, label_key):
    """Stack pickled batches into (N, 3, 32, 32) uint8 images and (N,) int64 labels."""
    data = np.concatenate([np.asarray(b[b"data"], dtype=np.uint8) for b in batches])
    labels = np.concatenate([np.asarray(b[label_key], dtype=np.int64) for b in batches])
    return data.reshape(-1, 3, 32, 32), labels


def read_cifar(path, coarse=False):
    """Load a CIFAR archive. Returns (train_x, train_y, test_x, test_y, class_names).

    Which of the two it is follows from the members inside. For CIFAR-100, `coarse=True`
    gives the 20 superclasses instead of the 100 fine classes.
    """
    path = str(path)
    try:
        with tarfile.open(path, "r:gz") as archive:
            names = set(archive.getnames())
            if CIFAR10_MEMBERS["meta"] in names:
                members, label_key, names_key = CIFAR10_MEMBERS, b"labels", b"label_names"
            elif CIFAR100_MEMBERS["meta"] in names:
                members = CIFAR100_MEMBERS
                label_key = b"coarse_labels" if coarse else b"fine_labels"
                names_key = b"coarse_label_names" if coarse else b"fine_label_names"
            else:
                raise CIFARError(f"{path}: neither cifar-10-batches-py/ nor cifar-100-python/ "
                                 "inside; is this the python version of the CIFAR archive?")
            train = [_load_member(archive, m, path) for m in members["train"]]
            test = [_load_member(archive, m, path) for m in members["test"]]
            meta = _load_member(archive, members["meta"], path)
    except (tarfile.TarError, EOFError, OSError, zlib.error, pickle.UnpicklingError) as error:
        raise CIFARError(f"{path}: cannot read the archive ({error}); it is truncated or "
                         "corrupted: delete it and fetch it again") from error
    train_x, train_y = _images_and_labels(train, label_key)
    test_x, test_y = _images_and_labels(test, label_key)
    class_names = [n.decode() for n in meta[names_key]]
    return train_x, train_y, test_x, test_y, class_names
