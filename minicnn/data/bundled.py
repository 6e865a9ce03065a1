"""The small real Fashion-MNIST subset that ships inside the package (`minicnn/data/bundled/`).

600 training images per class (6,000) and 100 test images per class (1,000), drawn without
replacement from the full set by a fixed seed, kept in their original order and stored in the
original IDX `.gz` format, so the bare `python -m minicnn.train lenet5` works offline with
nothing else installed. `SHA256SUMS` records the files; `LICENSE` is Fashion-MNIST's MIT notice.

This module is what loading needs (where the files are, their checksums); the command that
regenerates them from the full set is `python -m minicnn.data.make_bundled` (make_bundled.py),
kept apart so that loading never imports the command nor the command the loader twice.
"""
import hashlib
import os

FOLDER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bundled")
FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}


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
