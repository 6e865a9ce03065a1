"""The bundled Fashion-MNIST subset: present, intact, balanced, licensed, reproducible."""
import os

import numpy as np
import pytest

from minicnn.data import bundled, load_bundled, load_dataset, make_bundled
from minicnn.data.idx import read_idx
from minicnn.data.sources import DataNotFoundError


def test_bundled_subset_is_balanced_and_verified():
    data = load_bundled()
    assert data.train_x.shape == (6000, 1, 28, 28) and data.test_x.shape == (1000, 1, 28, 28)
    np.testing.assert_array_equal(np.bincount(data.train_y), [600] * 10)
    np.testing.assert_array_equal(np.bincount(data.test_y), [100] * 10)
    assert "bundled" in data.notice
    for path in bundled.paths().values():
        bundled.verify(path)  # raises on a mismatch with SHA256SUMS


def test_damaged_bundled_file_is_detected(tmp_path):
    for name in os.listdir(bundled.FOLDER):
        with open(os.path.join(bundled.FOLDER, name), "rb") as f:
            (tmp_path / name).write_bytes(f.read())
    victim = tmp_path / bundled.FILES["test_labels"]
    victim.write_bytes(victim.read_bytes()[:-3])
    with pytest.raises(ValueError, match="damaged"):
        bundled.verify(str(victim), folder=str(tmp_path))


def test_licence_notice_ships_with_the_files():
    text = open(os.path.join(bundled.FOLDER, "LICENSE")).read()
    assert "Zalando SE" in text and "MIT" in text and "2017" in text


def test_balanced_indices_draws_per_class_without_replacement():
    labels = np.repeat(np.arange(3), [5, 7, 9])
    chosen = make_bundled.balanced_indices(labels, 4, np.random.default_rng(0))
    assert len(set(chosen)) == 12 and list(chosen) == sorted(chosen)
    np.testing.assert_array_equal(np.bincount(labels[chosen]), [4, 4, 4])
    with pytest.raises(ValueError, match="only 5"):
        make_bundled.balanced_indices(labels, 6, np.random.default_rng(0))


def test_regenerating_from_the_full_set_gives_the_same_images():
    try:
        full = load_dataset("fashion-mnist", allow_download=False, allow_bundled=False)
    except DataNotFoundError:
        pytest.skip("full Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
    train_x, train_y, test_x, test_y = make_bundled.make_subset(full)
    shipped = load_bundled()
    np.testing.assert_array_equal(train_x, shipped.train_x[:, 0])
    np.testing.assert_array_equal(train_y, shipped.train_y)
    np.testing.assert_array_equal(test_x, shipped.test_x[:, 0])
    np.testing.assert_array_equal(test_y, shipped.test_y)


def test_write_subset_round_trips_with_checksums(tmp_path):
    rng = np.random.default_rng(0)
    arrays = (rng.integers(0, 256, (20, 28, 28), dtype=np.uint8),
              np.arange(20, dtype=np.uint8) % 10,
              rng.integers(0, 256, (10, 28, 28), dtype=np.uint8), np.arange(10, dtype=np.uint8))
    make_bundled.write_subset(arrays, str(tmp_path))
    assert sorted(bundled.recorded_sums(str(tmp_path))) == sorted(bundled.FILES.values())
    for (role, path), array in zip(bundled.paths(str(tmp_path)).items(), arrays):
        bundled.verify(path, folder=str(tmp_path))
        np.testing.assert_array_equal(read_idx(path), array)
    assert not [name for name in os.listdir(tmp_path) if name.endswith(".tmp")]


def test_loader_and_regeneration_command_do_not_import_each_other():
    """The runtime loader never imports the regeneration command (no datasets <-> bundled
    cycle); `python -m minicnn.data.make_bundled --help` runs."""
    import subprocess
    import sys
    code = ("import sys, minicnn.data; "
            "assert 'minicnn.data.make_bundled' not in sys.modules, 'command imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
    source = open(bundled.__file__).read()
    code_only = source.split('"""', 2)[2]  # after the docstring
    assert "datasets" not in code_only and "make_bundled" not in code_only
    result = subprocess.run([sys.executable, "-m", "minicnn.data.make_bundled", "--help"],
                            capture_output=True, text=True)
    assert result.returncode == 0 and "Regenerate" in result.stdout
