"""Packaging: the wheel installs `kernels/` as `minicnn.kernels` (never as a top-level `kernels`),
ships the bundled data, builds without deprecation warnings, and an editable install of a fresh
clone is not shadowed by the clone's own folder."""
import pathlib
import shutil
import subprocess
import sys
import zipfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
# What pip prints when setuptools deprecates something in pyproject.toml or the package layout.
DEPRECATION_SIGNS = ("deprecat", "is absent from the `packages` configuration")


def _setuptools_version():
    import setuptools
    return tuple(int(part) for part in setuptools.__version__.split(".")[:2])


needs_setuptools_77 = pytest.mark.skipif(
    _setuptools_version() < (77, 0),
    reason="the SPDX `license` string needs setuptools >= 77: pip install -e '.[test]'")


def _pip(*args, cwd=None):
    """Run pip verbosely (so the build backend's warnings show); fail with its output."""
    result = subprocess.run([sys.executable, "-m", "pip", "-v", "--disable-pip-version-check",
                             *map(str, args)], capture_output=True, text=True, cwd=cwd)
    if result.returncode != 0:
        pytest.fail(f"pip {' '.join(map(str, args))} failed:\n{result.stderr[-3000:]}")
    return result.stdout + result.stderr


def _deprecations(output):
    return [line for line in output.splitlines()
            if any(sign in line.lower() for sign in DEPRECATION_SIGNS)]


@pytest.fixture(scope="module")
def built_wheel(tmp_path_factory):
    """(names in the wheel, pip's output) for `pip wheel` of this checkout."""
    if _setuptools_version() < (77, 0):
        pytest.skip("the SPDX `license` string needs setuptools >= 77: pip install -e '.[test]'")
    out = tmp_path_factory.mktemp("wheel")
    output = _pip("wheel", ROOT, "--no-deps", "--no-build-isolation", "-w", out)
    wheel, = out.glob("minicnn-*.whl")
    return zipfile.ZipFile(wheel).namelist(), output


def test_kernels_ship_inside_the_package(built_wheel):
    names, _ = built_wheel
    assert "minicnn/kernels/__init__.py" in names
    assert "minicnn/kernels/windows_numba.py" in names
    assert not any(name.startswith("kernels/") for name in names)


def test_the_bundled_fashion_mnist_subset_ships_with_its_licence(built_wheel):
    names, _ = built_wheel
    for name in ("train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", "LICENSE",
                 "SHA256SUMS"):
        assert f"minicnn/data/bundled/{name}" in names


def test_every_source_package_is_in_the_wheel(built_wheel):
    """A sub-package missing from pyproject's explicit list would be left out of the wheel."""
    names, _ = built_wheel
    for init in (ROOT / "minicnn").rglob("__init__.py"):
        relative = init.relative_to(ROOT).as_posix()
        assert relative in names, f"{relative} missing: add it to pyproject packages"


def test_building_the_wheel_prints_no_deprecation_warning(built_wheel):
    _, output = built_wheel
    assert _deprecations(output) == []


@needs_setuptools_77
def test_editable_install_of_a_clone_is_not_shadowed_by_the_folder_holding_it(tmp_path):
    """`import minicnn` from the folder that contains a clone named `minicnn`.

    Python sees that folder (no __init__.py) as a namespace package `minicnn`; setuptools'
    editable import hook comes after it and lost: `minicnn` was empty, with no manual_seed.
    """
    clone = tmp_path / "minicnn"
    shutil.copytree(ROOT, clone, symlinks=True, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "dist", "runs", "__pycache__", "*.egg-info", ".*_cache"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", "--system-site-packages",
                    venv], check=True)
    python = venv / "bin" / "python"
    output = _pip("--python", python, "install", "--no-deps", "--no-build-isolation",
                  "-e", clone)
    assert _deprecations(output) == []
    probe = ("import minicnn, minicnn.kernels; "
             "print(minicnn.__file__, minicnn.kernels.__file__, hasattr(minicnn, 'manual_seed'))")
    result = subprocess.run([python, "-c", probe], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    package_file, kernels_file, has_manual_seed = result.stdout.split()
    assert has_manual_seed == "True"
    assert pathlib.Path(package_file).resolve() == (clone / "minicnn" / "__init__.py").resolve()
    assert pathlib.Path(kernels_file).resolve() == (clone / "kernels" / "__init__.py").resolve()
    no_top_level = subprocess.run([python, "-c", "import kernels"], cwd=tmp_path,
                                  capture_output=True, text=True)
    assert no_top_level.returncode != 0, "an editable install must not expose `kernels`"
