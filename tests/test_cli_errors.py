"""Every bad input gets one clear line and a non-zero exit, never a traceback (issue 9, runs 3):
damaged checkpoints, a --data-dir without the data, absurd numbers, an unusable --out, a full
disk, unreadable or huge images, Ctrl-C during start-up and near-miss model names, for train,
evaluate, predict, summary, crosscheck and recipes."""
import errno
import os
import re
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
from test_train_command import TINY, _no_full_data, make_tiny_run

from minicnn import checkpoint, crosscheck, recipes, summary, train
from minicnn import evaluate as evaluate_command
from minicnn import predict as predict_command
from minicnn.data import datasets


@pytest.fixture
def offline(monkeypatch, tmp_path):
    _no_full_data(monkeypatch, tmp_path)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """The output folder of a 2-epoch LeNet-5 run on 48 bundled images."""
    return make_tiny_run(tmp_path_factory)


def error_of(capsys, main, argv, status=2):
    """Run a command's main; check it ended with `status` and one `error:` line. Returns it.

    argparse's own refusals (a bad type or choice) exit through SystemExit(2) with its usage
    line first, then one error line: that is how every argparse program answers.
    """
    capsys.readouterr()
    try:
        code = main(argv)
    except SystemExit as stop:
        code = stop.code
    err = capsys.readouterr().err
    assert code == status, err
    assert "Traceback" not in err and "allow_pickle" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    if lines[0].startswith("usage:"):
        lines = [line for line in lines if not line.startswith(" ")][1:]
    assert len(lines) == 1, err
    assert "error:" in lines[0], err
    return lines[0]


# -- checkpoints ------------------------------------------------------------------------------

def _damaged_checkpoints(run_dir, folder):
    """name -> path of a checkpoint damaged in one way, and the words its error must hold."""
    good = str(run_dir / "checkpoint.npz")
    raw = open(good, "rb").read()
    cases = {}

    def write(name, data=None):
        path = folder / name / "checkpoint.npz"
        path.parent.mkdir()
        if data is not None:
            path.write_bytes(data)
        return str(path)

    cases["truncated"] = (write("truncated", raw[:len(raw) // 2]), "truncated or damaged")
    cases["garbage"] = (write("garbage", b"garbage" * 100), "not an .npz archive")
    pickled = write("pickled")
    np.savez(pickled, meta=np.array([{"code": "run me"}], dtype=object))
    cases["pickled"] = (pickled, "pickled objects")
    no_meta = write("no_meta")
    np.savez(no_meta, weights=np.zeros(3))
    cases["no meta"] = (no_meta, "no 'meta' entry")
    state, optimizer, meta = checkpoint.load(good)
    bare = write("bare")
    checkpoint.save(bare, state, optimizer, {"epoch": 1})
    cases["missing run keys"] = (bare, "it lacks config, batch")
    thin = write("thin")
    checkpoint.save(thin, state, optimizer, {**meta, "config": {"model": "lenet5"}})
    cases["missing config keys"] = (thin, "its run config lacks")
    missing_weight = write("missing_weight")
    checkpoint.save(missing_weight, {k: v for k, v in state.items() if k != "f6.weight"},
                    optimizer, meta)
    cases["missing weight"] = (missing_weight, "do not fit model lenet5")
    other_size = write("other_size")
    checkpoint.save(other_size, state, optimizer, {**meta, "config": {**meta["config"],
                                                                      "input_size": 32}})
    cases["mismatched shapes"] = (other_size, "do not fit model lenet5")
    cases["missing file"] = (str(folder / "nothing" / "checkpoint.npz"), "does not exist")
    return cases


@pytest.mark.parametrize("command", ["evaluate", "predict", "train --resume"])
def test_damaged_checkpoints(run_dir, tmp_path, capsys, offline, command):
    image = tmp_path / "shoe.png"
    from PIL import Image
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(image)
    for name, (path, words) in _damaged_checkpoints(run_dir, tmp_path).items():
        if command == "evaluate":
            line = error_of(capsys, evaluate_command.main, [path])
        elif command == "predict":
            line = error_of(capsys, predict_command.main, [path, str(image)])
        else:
            line = error_of(capsys, train.main, ["lenet5", "--resume", path, "--epochs", "3"])
        assert path in line and words in line, (name, line)


def test_truncated_checkpoint_in_a_real_process(run_dir, tmp_path):
    """Before the fix: a 29-line zipfile.BadZipFile traceback."""
    bad = tmp_path / "checkpoint.npz"
    bad.write_bytes((run_dir / "checkpoint.npz").read_bytes()[:5000])
    result = subprocess.run([sys.executable, "-m", "minicnn.evaluate", str(bad)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {bad}: not a readable minicnn checkpoint (it is truncated or damaged); use a "
        "checkpoint.npz written by minicnn.train"]


# -- data -------------------------------------------------------------------------------------

@pytest.mark.parametrize("state", ["missing", "empty", "incomplete"])
def test_data_dir_without_the_data(offline, tmp_path, capsys, run_dir, state):
    given = tmp_path / "given"
    if state != "missing":
        given.mkdir()
    if state == "incomplete":
        (given / datasets.FASHION_MNIST.files["train_images"].name).write_bytes(b"x")
    line = error_of(capsys, train.main, ["lenet5", "--data-dir", str(given), "--out",
                                         str(tmp_path / "o"), *TINY])
    assert line.startswith(f"error: --data-dir {given}: ")  # before: the bundled subset
    assert not (tmp_path / "o").exists()
    line = error_of(capsys, evaluate_command.main, [str(run_dir / "checkpoint.npz"),
                                                    "--data-dir", str(given)])
    assert line.startswith(f"error: --data-dir {given}: ")


# -- numbers ----------------------------------------------------------------------------------

@pytest.mark.parametrize("flag, value", [
    ("--epochs", "0"), ("--epochs", "-3"), ("--limit-train", "0"), ("--limit-test", "0"),
    ("--batch-size", "0"), ("--lr", "nan"), ("--lr", "inf"), ("--lr", "-0.1"), ("--lr", "0"),
    ("--lr", "1e30"), ("--momentum", "-0.5"), ("--momentum", "1.5"), ("--momentum", "nan"),
    ("--weight-decay", "-1e-4"), ("--weight-decay", "inf"), ("--weight-decay", "5"),
    ("--resize", "0"), ("--resize", "100000")])
def test_absurd_numbers_are_refused(offline, tmp_path, capsys, flag, value):
    line = error_of(capsys, train.main, ["lenet5", f"{flag}={value}", "--out",
                                         str(tmp_path / "o")])
    assert line.startswith("error: argument " + flag) or (
        line.startswith(f"error: {flag}: ") and "outside" in line), line
    assert not (tmp_path / "o").exists()


def test_evaluate_refuses_absurd_numbers(run_dir, capsys):
    for flag in ("--limit-test", "--batch-size"):
        line = error_of(capsys, evaluate_command.main, [str(run_dir / "checkpoint.npz"),
                                                        flag, "0"])
        assert flag in line


# -- output folder and disk -------------------------------------------------------------------

def test_out_that_is_a_file_or_cannot_be_created(offline, tmp_path, capsys):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine")
    line = error_of(capsys, train.main, ["lenet5", "--out", str(a_file), *TINY])
    assert f"--out {a_file}: is a file" in line
    line = error_of(capsys, train.main, ["lenet5", "--out", str(a_file / "run"), *TINY])
    assert str(a_file / "run") in line
    assert a_file.read_text() == "mine"


def test_full_disk_is_one_line_and_keeps_the_last_checkpoint(offline, tmp_path, capsys,
                                                             monkeypatch):
    out = tmp_path / "o"
    assert train.main(["lenet5", "--epochs", "1", "--out", str(out), *TINY]) == 0
    before = (out / "checkpoint.npz").read_bytes()

    def disk_full(file, **arrays):
        file.write(b"the first blocks")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), file.name)
    monkeypatch.setattr(checkpoint.np, "savez", disk_full)
    line = error_of(capsys, train.main, ["lenet5", "--resume", str(out / "checkpoint.npz"),
                                         "--epochs", "3"])
    assert "no space left on device; free some space" in line
    assert (out / "checkpoint.npz").read_bytes() == before  # still the epoch-1 checkpoint
    assert not [name for name in os.listdir(out) if name.endswith(".tmp")]


# -- images -----------------------------------------------------------------------------------

def _png_header(path, width, height):
    """A PNG whose header claims width x height grey pixels (no pixel data needed)."""
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
                     + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))


def test_images_too_large_or_not_images(run_dir, tmp_path, capsys):
    ckpt = str(run_dir / "checkpoint.npz")
    for width, height in ((8000, 8000), (100_000, 100_000)):  # ours, then PIL's bomb limit
        huge = tmp_path / f"huge{width}.png"
        _png_header(huge, width, height)
        line = error_of(capsys, predict_command.main, [ckpt, str(huge)])
        assert str(huge) in line and "pixels" in line and "scale it down" in line
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    line = error_of(capsys, predict_command.main, [ckpt, str(text)])
    assert "not an image PIL can read" in line
    line = error_of(capsys, predict_command.main, [ckpt, str(tmp_path / "absent.png")])
    assert "absent.png: cannot read the image (No such file or directory)" in line


# -- Ctrl-C during start-up -------------------------------------------------------------------

def _ctrl_c(*args, **kwargs):
    raise KeyboardInterrupt


def test_ctrl_c_during_start_up(offline, tmp_path, capsys, monkeypatch, run_dir):
    monkeypatch.setattr(train, "load_dataset", _ctrl_c)  # e.g. while the data is read
    capsys.readouterr()
    assert train.main(["lenet5", "--out", str(tmp_path / "o"), *TINY]) == 130
    err = capsys.readouterr().err
    assert err.strip() == "interrupted during start-up; nothing was saved"
    monkeypatch.setattr(evaluate_command, "load_dataset", _ctrl_c)
    assert evaluate_command.main([str(run_dir / "checkpoint.npz")]) == 130
    assert "Traceback" not in capsys.readouterr().err


def test_sigterm_during_start_up_is_like_ctrl_c(offline, tmp_path, capsys, monkeypatch):
    import signal
    before = signal.getsignal(signal.SIGTERM)
    monkeypatch.setattr(train, "load_dataset",
                        lambda *a, **k: signal.raise_signal(signal.SIGTERM))
    capsys.readouterr()
    assert train.main(["lenet5", "--out", str(tmp_path / "o"), *TINY]) == 130
    assert capsys.readouterr().err.strip() == "interrupted during start-up; nothing was saved"
    assert signal.getsignal(signal.SIGTERM) is before  # the command restored the handler


# -- model names and options ------------------------------------------------------------------

@pytest.mark.parametrize("main", [train.main, summary.main, crosscheck.main])
def test_near_miss_model_name(offline, tmp_path, capsys, main):
    line = error_of(capsys, main, ["lenet", "--out", str(tmp_path / "o")] if main is train.main
                    else ["lenet"])
    assert line == "error: unknown model 'lenet'; did you mean lenet5?"


def test_input_size_is_one_rule_in_models_build():
    from minicnn import models
    assert models.build("lenet5", input_size=32).default_input_size == (1, 32, 32)
    assert models.build("lenet5", input_size=(40, 40)).default_input_size == (1, 40, 40)
    assert models.build("lenet5", input_size=(32, 40)).default_input_size == (1, 28, 28)
    assert models.build("lenet5", input_size=32, image_size=32).default_input_size[1] == 32
    with pytest.raises(ValueError, match="image_size=28 and input size 32 disagree"):
        models.build("lenet5", input_size=32, image_size=28)
    with pytest.raises(ValueError, match="input_size must be a positive int"):
        models.build("lenet5", input_size=0)


def test_model_option_spellings(offline, tmp_path, capsys):
    """-o, --option and --model-option are one flag in every command."""
    for spelling in ("-o", "--option", "--model-option"):
        out = tmp_path / spelling.strip("-")
        assert train.main(["lenet5", spelling, "classic=True", "--epochs", "1", "--out",
                           str(out), *TINY]) == 0
        config = checkpoint.load_run(str(out / "checkpoint.npz"))[2]["config"]
        assert config.build == {"classic": True}
        assert summary.main(["lenet5", spelling, "classic=True"]) == 0
    line = error_of(capsys, train.main, ["lenet5", "-o", "depth=3", "--out",
                                         str(tmp_path / "x"), *TINY])
    assert "unknown option(s) depth" in line


def test_recipes_command(capsys):
    with pytest.raises(SystemExit) as stop:
        recipes.main(["--help"])  # before the fix: ValueError traceback
    assert stop.value.code == 0 and "paper" in capsys.readouterr().out
    assert recipes.main(["paper"]) == 0
    assert "alexnet" in capsys.readouterr().out
    error_of(capsys, recipes.main, ["papr"])


def test_no_command_imports_another():
    """Commands share minicnn.cli and library modules, never each other (grep of imports)."""
    commands = ("train", "evaluate", "predict", "summary", "crosscheck")
    folder = os.path.dirname(checkpoint.__file__)
    sources = {name: os.path.join(folder, f"{name}.py") for name in commands}
    for package in ("explain", "gradcheck", "viz"):  # commands that are packages
        for file in sorted(os.listdir(os.path.join(folder, package))):
            if file.endswith(".py"):
                sources[f"{package}/{file}"] = os.path.join(folder, package, file)
    for name, path in sources.items():
        source = open(path).read()
        imports = [line for line in source.splitlines()
                   if line.startswith(("import ", "from ")) or " import " in line]
        for other in commands:
            if other != name:
                pattern = rf"minicnn\.{other}\b| {other},| {other}$"  # not minicnn.training
                assert not any(re.search(pattern, line) for line in imports), (name, other)
