"""Helpers for the data tests: tiny datasets written in the real file formats."""
import hashlib
import io
import os
import pickle
import tarfile

import numpy as np

from minicnn.data.idx import write_idx_gz
from minicnn.data.sources import DatasetSpec, RemoteFile

IDX_NAMES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}


def md5(path):
    with open(path, "rb") as f:
        return hashlib.md5(f.read()).hexdigest()


def tiny_idx_arrays(n_train=40, n_test=20, seed=0, size=28):
    """Random uint8 images (N, size, size) and labels 0..9 with every class present."""
    rng = np.random.default_rng(seed)
    return {
        "train_images": rng.integers(0, 256, (n_train, size, size), dtype=np.uint8),
        "train_labels": (np.arange(n_train) % 10).astype(np.uint8),
        "test_images": rng.integers(0, 256, (n_test, size, size), dtype=np.uint8),
        "test_labels": (np.arange(n_test) % 10).astype(np.uint8),
    }


def write_idx_dataset(folder, arrays):
    """Write the four .gz files; returns {role: RemoteFile} with their true md5s."""
    os.makedirs(folder, exist_ok=True)
    files = {}
    for role, name in IDX_NAMES.items():
        path = os.path.join(folder, name)
        write_idx_gz(path, arrays[role])
        files[role] = RemoteFile(name, md5(path))
    return files


def idx_spec(name, files, mirrors=("file:///nonexistent/",)):
    return DatasetSpec(name=name, files=files, mirrors=mirrors, system_dirs=())


def _pickled(obj):
    return pickle.dumps(obj, protocol=2)


def write_cifar10(path, n_per_batch=4, seed=0):
    """A miniature cifar-10-python.tar.gz with the real layout. Returns (train, test) arrays."""
    rng = np.random.default_rng(seed)
    members, train_rows, train_labels = {}, [], []
    for i in range(1, 6):
        rows = rng.integers(0, 256, (n_per_batch, 3072), dtype=np.uint8)
        labels = list(rng.integers(0, 10, n_per_batch))
        members[f"cifar-10-batches-py/data_batch_{i}"] = {b"data": rows, b"labels": labels}
        train_rows.append(rows)
        train_labels += labels
    test_rows = rng.integers(0, 256, (n_per_batch, 3072), dtype=np.uint8)
    test_labels = list(rng.integers(0, 10, n_per_batch))
    members["cifar-10-batches-py/test_batch"] = {b"data": test_rows, b"labels": test_labels}
    names = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse",
             b"ship", b"truck"]
    members["cifar-10-batches-py/batches.meta"] = {b"label_names": names}
    _write_tar(path, members)
    return (np.concatenate(train_rows), np.array(train_labels)), (test_rows, np.array(test_labels))


def write_cifar100(path, n_train=6, n_test=3, seed=0):
    rng = np.random.default_rng(seed)
    train = {b"data": rng.integers(0, 256, (n_train, 3072), dtype=np.uint8),
             b"fine_labels": list(rng.integers(0, 100, n_train)),
             b"coarse_labels": list(rng.integers(0, 20, n_train))}
    test = {b"data": rng.integers(0, 256, (n_test, 3072), dtype=np.uint8),
            b"fine_labels": list(rng.integers(0, 100, n_test)),
            b"coarse_labels": list(rng.integers(0, 20, n_test))}
    meta = {b"fine_label_names": [f"fine{i}".encode() for i in range(100)],
            b"coarse_label_names": [f"coarse{i}".encode() for i in range(20)]}
    _write_tar(path, {"cifar-100-python/train": train, "cifar-100-python/test": test,
                      "cifar-100-python/meta": meta})
    return train, test


def _write_tar(path, members):
    with tarfile.open(path, "w:gz") as archive:
        for name, obj in members.items():
            data = _pickled(obj)
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
