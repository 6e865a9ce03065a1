"""The built wheel installs `kernels/` as `minicnn.kernels`, never as a top-level `kernels`."""
import pathlib
import subprocess
import sys
import zipfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel_names(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation",
         "-q", "-w", str(out)], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.fail(f"pip wheel failed:\n{result.stderr[-2000:]}")
    wheel, = out.glob("minicnn-*.whl")
    return zipfile.ZipFile(wheel).namelist()


def test_kernels_ship_inside_the_package(wheel_names):
    assert "minicnn/kernels/__init__.py" in wheel_names
    assert "minicnn/kernels/windows_numba.py" in wheel_names
    assert not any(name.startswith("kernels/") for name in wheel_names)


def test_the_bundled_fashion_mnist_subset_ships_with_its_licence(wheel_names):
    for name in ("train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", "LICENSE"):
        assert f"minicnn/data/bundled/{name}" in wheel_names


def test_every_source_package_is_in_the_wheel(wheel_names):
    """A sub-package missing from pyproject's explicit list would be left out of the wheel."""
    for init in (ROOT / "minicnn").rglob("__init__.py"):
        relative = init.relative_to(ROOT).as_posix()
        assert relative in wheel_names, f"{relative} missing: add it to pyproject packages"
