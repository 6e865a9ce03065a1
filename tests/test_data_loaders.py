"""Loaders on tiny files in the real formats: IDX .gz, CIFAR python-pickle .tar.gz; the search
order, checksums, downloads (file:// URLs) and the bundled fallback."""
import gzip
import hashlib
import os
import shutil

import numpy as np
import pytest

from minicnn.data import datasets, load_dataset
from minicnn.data.cifar import CIFARError, read_cifar
from minicnn.data.idx import IDXError, read_idx
from minicnn.data.sources import (
    ChecksumError,
    DataNotFoundError,
    RemoteFile,
    download_file,
    find_or_download,
)

from datafiles import (
    IDX_NAMES,
    idx_spec,
    md5,
    tiny_idx_arrays,
    write_cifar10,
    write_cifar100,
    write_idx_dataset,
)


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    """No real cache, no $MINICNN_DATA: each test sees only the files it writes."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MINICNN_DATA", raising=False)
    return tmp_path / "home" / ".cache" / "minicnn"


def test_idx_loader_reads_what_was_written(tmp_path):
    arrays = tiny_idx_arrays()
    files = write_idx_dataset(tmp_path / "d", arrays)
    data = load_dataset("mnist", data_dir=tmp_path / "d", spec=idx_spec("mnist", files),
                        allow_download=False)
    assert data.train_x.shape == (40, 1, 28, 28) and data.train_x.dtype == np.uint8
    np.testing.assert_array_equal(data.train_x[:, 0], arrays["train_images"])
    np.testing.assert_array_equal(data.test_y, arrays["test_labels"])
    assert data.train_y.dtype == np.int64
    assert data.class_names == [str(d) for d in range(10)]
    assert data.source == str(tmp_path / "d")


def test_fashion_mnist_has_its_class_names(tmp_path):
    files = write_idx_dataset(tmp_path / "d", tiny_idx_arrays())
    data = load_dataset("fashion-mnist", data_dir=tmp_path / "d",
                        spec=idx_spec("fashion-mnist", files), allow_download=False)
    assert data.class_names[0] == "T-shirt/top" and data.class_names[9] == "Ankle boot"
    assert data.notice == ""


def test_subfolder_named_after_dataset_is_found(tmp_path, monkeypatch):
    files = write_idx_dataset(tmp_path / "root" / "mnist", tiny_idx_arrays())
    monkeypatch.setenv("MINICNN_DATA", str(tmp_path / "root"))
    data = load_dataset("mnist", spec=idx_spec("mnist", files), allow_download=False)
    assert data.source == str(tmp_path / "root" / "mnist")


def test_data_dir_wins_over_environment(tmp_path, monkeypatch):
    first = tiny_idx_arrays(seed=1)
    files = write_idx_dataset(tmp_path / "a", first)
    second = tiny_idx_arrays(seed=2)
    write_idx_dataset(tmp_path / "b", second)
    monkeypatch.setenv("MINICNN_DATA", str(tmp_path / "b"))
    # The spec carries the md5s of folder a, so folder b's files would fail verification.
    data = load_dataset("mnist", data_dir=tmp_path / "a", spec=idx_spec("mnist", files),
                        allow_download=False)
    np.testing.assert_array_equal(data.train_x[:, 0], first["train_images"])


def test_cifar10_archive(tmp_path):
    path = tmp_path / "cifar-10-python.tar.gz"
    (train_rows, train_labels), (test_rows, test_labels) = write_cifar10(path)
    spec = idx_spec("cifar10", {"archive": RemoteFile(path.name, md5(path))})
    data = load_dataset("cifar10", data_dir=tmp_path, spec=spec, allow_download=False)
    assert data.train_x.shape == (20, 3, 32, 32) and data.test_x.shape == (4, 3, 32, 32)
    # The first 1024 values of a row are the red plane, row-major.
    np.testing.assert_array_equal(data.train_x[3, 0].ravel(), train_rows[3, :1024])
    np.testing.assert_array_equal(data.train_x[3, 2].ravel(), train_rows[3, 2048:])
    np.testing.assert_array_equal(data.train_y, train_labels)
    np.testing.assert_array_equal(data.test_y, test_labels)
    assert data.class_names[0] == "airplane" and len(data.class_names) == 10
    assert len(data.mean) == 3


def test_cifar100_fine_and_coarse(tmp_path):
    path = tmp_path / "cifar-100-python.tar.gz"
    train, test = write_cifar100(path)
    spec = idx_spec("cifar100", {"archive": RemoteFile(path.name, md5(path))})
    data = load_dataset("cifar100", data_dir=tmp_path, spec=spec, allow_download=False)
    assert data.num_classes == 100 and data.train_x.shape == (6, 3, 32, 32)
    np.testing.assert_array_equal(data.train_y, train[b"fine_labels"])
    coarse = read_cifar(path, coarse=True)
    np.testing.assert_array_equal(coarse[1], train[b"coarse_labels"])
    assert len(coarse[4]) == 20


def test_corrupted_file_in_data_dir_names_it(tmp_path):
    files = write_idx_dataset(tmp_path / "d", tiny_idx_arrays())
    victim = tmp_path / "d" / IDX_NAMES["train_images"]
    victim.write_bytes(victim.read_bytes()[:100])  # truncated
    with pytest.raises(ChecksumError, match="train-images-idx3-ubyte.gz"):
        load_dataset("mnist", data_dir=tmp_path / "d", spec=idx_spec("mnist", files),
                     allow_download=False)


def test_truncated_idx_with_matching_checksum_gives_clear_error(tmp_path):
    """Even when a checksum is overridden to match, the reader catches the damage itself."""
    write_idx_dataset(tmp_path / "d", tiny_idx_arrays())
    victim = tmp_path / "d" / IDX_NAMES["train_images"]
    victim.write_bytes(victim.read_bytes()[:200])
    with pytest.raises(IDXError, match="truncated or corrupted"):
        read_idx(victim)
    raw = gzip.decompress((tmp_path / "d" / IDX_NAMES["test_images"]).read_bytes())
    short = tmp_path / "short.gz"
    short.write_bytes(gzip.compress(raw[:-5]))  # valid gzip, IDX body too short
    with pytest.raises(IDXError, match="promises shape"):
        read_idx(short)


def test_truncated_cifar_archive_gives_clear_error(tmp_path):
    path = tmp_path / "cifar-10-python.tar.gz"
    write_cifar10(path)
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(CIFARError, match="truncated or corrupted"):
        read_cifar(path)


def test_recompressed_gz_accepted_by_content_md5(tmp_path):
    """A distribution's re-compressed .gz differs in bytes but holds the published content."""
    arrays = tiny_idx_arrays()
    files = write_idx_dataset(tmp_path / "d", arrays)
    recompressed = {}
    for role, remote in files.items():
        path = tmp_path / "d" / remote.name
        raw = gzip.decompress(path.read_bytes())
        path.write_bytes(gzip.compress(raw, compresslevel=1, mtime=12345))
        content = hashlib.md5(raw).hexdigest()
        recompressed[role] = RemoteFile(remote.name, remote.md5, content)
        assert md5(path) != remote.md5
    data = load_dataset("mnist", data_dir=tmp_path / "d", spec=idx_spec("mnist", recompressed),
                        allow_download=False)
    np.testing.assert_array_equal(data.train_x[:, 0], arrays["train_images"])
    with pytest.raises(ChecksumError):  # without the content md5 the same files are refused
        load_dataset("mnist", data_dir=tmp_path / "d", spec=idx_spec("mnist", files),
                     allow_download=False)


def test_download_from_file_url_into_cache(tmp_path, isolated_home):
    files = write_idx_dataset(tmp_path / "server", tiny_idx_arrays())
    spec = idx_spec("mnist", files, mirrors=("file:///nowhere/", f"file://{tmp_path}/server/"))
    data = load_dataset("mnist", spec=spec)
    assert data.source == str(isolated_home / "mnist")
    assert sorted(os.listdir(isolated_home / "mnist")) == sorted(IDX_NAMES.values())
    # The second time it comes from the cache, with the server gone.
    shutil.rmtree(tmp_path / "server")
    again = load_dataset("mnist", spec=spec)
    np.testing.assert_array_equal(again.train_x, data.train_x)


def test_download_with_wrong_checksum_leaves_nothing(tmp_path, isolated_home):
    files = write_idx_dataset(tmp_path / "server", tiny_idx_arrays())
    wrong = dict(files)
    wrong["test_labels"] = RemoteFile(files["test_labels"].name, "0" * 32)
    spec = idx_spec("mnist", wrong, mirrors=(f"file://{tmp_path}/server/",))
    with pytest.raises(DataNotFoundError, match="does not match"):
        load_dataset("mnist", spec=spec)
    cached = os.listdir(isolated_home / "mnist")
    assert IDX_NAMES["test_labels"] not in cached
    assert not [name for name in cached if name.endswith(".part")]


class _BrokenResponse:
    """A response that delivers some bytes and then fails, like a dropped connection."""

    headers = {"Content-Length": "1000"}

    def __init__(self):
        self.sent = False

    def read(self, n):
        if self.sent:
            raise ConnectionResetError("connection dropped")
        self.sent = True
        return b"x" * 100

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_interrupted_download_leaves_nothing(tmp_path):
    remote = RemoteFile("file.gz", "0" * 32)
    with pytest.raises(ConnectionResetError):
        download_file("http://example.invalid/file.gz", remote, str(tmp_path),
                      opener=lambda url, timeout: _BrokenResponse())
    assert os.listdir(tmp_path) == []


def test_missing_dataset_lists_every_place(tmp_path, monkeypatch):
    monkeypatch.setenv("MINICNN_DATA", str(tmp_path / "env"))
    files = {"archive": RemoteFile("cifar-10-python.tar.gz", "0" * 32)}
    spec = idx_spec("cifar10", files, mirrors=(f"file://{tmp_path}/no-server/",))
    with pytest.raises(DataNotFoundError) as caught:
        find_or_download(spec)
    message = str(caught.value)
    for place in ("env", ".cache/minicnn/cifar10", "download from", "--data-dir"):
        assert place in message


@pytest.mark.parametrize("state, expected", [
    ("missing", "does not exist"), ("file", "is not a folder"), ("empty", "holds none of"),
    ("incomplete", "is incomplete: it needs all of")])
def test_data_dir_that_lacks_the_data_is_an_error_not_a_fallback(tmp_path, monkeypatch, state,
                                                                 expected):
    """A --data-dir named by the user is the only place looked: no silent fallback to the
    cache, $MINICNN_DATA or the bundled subset, which would train on other data than asked."""
    files = write_idx_dataset(tmp_path / "full", tiny_idx_arrays())
    monkeypatch.setenv("MINICNN_DATA", str(tmp_path / "full"))  # a copy the user did not name
    given = tmp_path / "given"
    if state == "file":
        given.write_text("")
    elif state in ("empty", "incomplete"):
        given.mkdir()
    if state == "incomplete":
        shutil.copy(tmp_path / "full" / IDX_NAMES["train_images"], given)
    spec = idx_spec("fashion-mnist", files)
    with pytest.raises(DataNotFoundError) as caught:
        load_dataset("fashion-mnist", data_dir=given, spec=spec, allow_download=False)
    message = str(caught.value)
    assert message.startswith(f"--data-dir {given}: {expected}")
    assert "t10k-labels-idx1-ubyte.gz" in message or state in ("missing", "file")


def test_fashion_mnist_falls_back_to_bundled_subset(tmp_path):
    files = {role: RemoteFile(name, "0" * 32) for role, name in IDX_NAMES.items()}
    spec = idx_spec("fashion-mnist", files, mirrors=(f"file://{tmp_path}/no-server/",))
    data = load_dataset("fashion-mnist", spec=spec)
    assert "bundled" in data.notice and "apt-get install dataset-fashion-mnist" in data.notice
    assert data.train_x.shape == (6000, 1, 28, 28) and data.test_x.shape == (1000, 1, 28, 28)
    with pytest.raises(DataNotFoundError):
        load_dataset("fashion-mnist", spec=spec, allow_bundled=False)


def test_unknown_dataset_name():
    with pytest.raises(ValueError, match="unknown dataset 'svhn'"):
        load_dataset("svhn")


def test_published_checksums_are_recorded():
    assert datasets.FASHION_MNIST.files["train_images"].md5 == "8d4fb7e6c68d591d4c3dfef9ec88bf0d"
    assert datasets.CIFAR10.files["archive"].md5 == "c58f30108f718f92721af3b95e74349a"
    for spec in datasets.SPECS.values():
        assert spec.mirrors and all(len(f.md5) == 32 for f in spec.files.values())
