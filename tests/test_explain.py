"""`python -m minicnn.explain`: the listing, --step through stdin, errors, --html."""
import os
import subprocess
import sys
import types

import numpy as np
import pytest

from minicnn import explain
from minicnn.explain import __main__ as command
from minicnn.explain.text import stats_text

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(argv, capsys, stdin=None):
    code = command.main(argv, stdin=stdin)
    out, err = capsys.readouterr()
    return code, out, err


def test_the_listing_shows_each_op_with_the_statistics_hooks_compute(capsys, monkeypatch):
    seen = []
    real_step = explain.step

    def step_with_hooks(model, x, y, optimizer, **kwargs):
        for name, module in model.named_modules():
            if name:
                module.register_forward_hook(
                    lambda m, i, out, name=name: seen.append((name, out.data.copy())))
        return real_step(model, x, y, optimizer, **kwargs)

    monkeypatch.setattr(command, "step", step_with_hooks)
    code, out, _ = run(["lenet5", "--batch", "4"], capsys)
    assert code == 0
    lines = out.splitlines()
    assert all(len(line) <= 100 for line in lines)
    assert "bundled Fashion-MNIST subset, test images 0..3" in lines[0]
    for name, output in seen:  # each module's output line, recomputed from the hook's array
        values = output.astype(np.float64)
        stats = {"mean": values.mean(), "std": values.std(), "min": values.min(),
                 "max": values.max(), "zero_frac": float((values == 0).mean()), "nan": 0,
                 "inf": 0}
        head = next(k for k, line in enumerate(lines) if line.split()[1:2] == [name])
        assert lines[head + 1].strip() == "out  " + stats_text(stats)
    titles = [line for line in lines if line and not line.startswith(" ")]
    assert [t.split(":")[0] for t in titles[2:5]] == ["forward", "backward", "update"]
    assert "loss " in out and "image 0: true Ankle boot" in out


def test_step_pauses_after_each_op_driven_through_stdin():
    script = "\n\np\nq\n"  # two ops, then print the third op's arrays, then quit
    result = subprocess.run(
        [sys.executable, "-m", "minicnn.explain", "lenet5", "--batch", "2", "--step"],
        input=script, capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.count("[Enter] next op") == 4  # after ops 0, 1, then twice after op 2
    assert "  x[0, 0] of x (2, 6, 28, 28):" in out and "out[0, 0] of out (2, 6, 14, 14):" in out
    assert out.rstrip().endswith("quit")
    assert "backward:" not in out and "   3  c3" not in out


def test_step_with_enter_to_the_end_prints_everything(capsys):
    stream = types.SimpleNamespace(readline=lambda: "\n")
    code, out, _ = run(["lenet5", "--batch", "2", "--step"], capsys, stdin=stream)
    assert code == 0
    assert out.count("[Enter] next op") == 13 + 13 + 10
    assert "image 1: true" in out


@pytest.mark.parametrize("argv, message", [
    (["lenet5", "--batch", "0"], "--batch: must be at least 1"),
    (["nosuchnet"], "unknown model 'nosuchnet'"),
    (["lenet5", "--op", "c9"], "--op c9: no module path or op of that name"),
    (["lenet5", "--op", "flatten"], "no worked example for op 'reshape'"),
    (["lenet5", "--checkpoint", "missing.npz"], "missing.npz"),
    (["lenet5", "--model-option", "width"], "KEY=VALUE"),
])
def test_bad_input_is_one_clear_line(argv, message, capsys):
    code, out, err = run(argv, capsys)
    assert code == 2 and err.startswith("error: ") and message in err
    assert len(err.strip().splitlines()) == 1


def test_html_without_the_explorer_is_a_clear_error(capsys, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "minicnn.viz.explorer", None)  # import fails
    code, _, err = run(["lenet5", "--batch", "2", "--html", str(tmp_path / "p.html")], capsys)
    assert code == 2 and "--html" in err and len(err.strip().splitlines()) == 1


def test_html_hands_the_record_to_the_explorer(capsys, monkeypatch, tmp_path):
    written = []
    fake = types.ModuleType("minicnn.viz.explorer")
    fake.write_html = lambda record, path: written.append((record, path))
    monkeypatch.setitem(sys.modules, "minicnn.viz.explorer", fake)
    path = str(tmp_path / "p.html")
    code, out, _ = run(["lenet5", "--batch", "2", "--html", path], capsys)
    assert code == 0 and written[0][1] == path and len(written[0][0].forward) == 13


def test_a_checkpoint_is_explained_with_its_own_weights(capsys, tmp_path):
    from minicnn.train import main as train_main
    out_dir = str(tmp_path / "run")
    assert train_main(["lenet5", "--epochs", "1", "--limit-train", "64", "--limit-test", "16",
                       "--out", out_dir, "--no-download"]) == 0
    capsys.readouterr()
    code, out, _ = run(["lenet5", "--checkpoint", os.path.join(out_dir, "checkpoint.npz"),
                        "--batch", "2"], capsys)
    assert code == 0 and "update: 10 parameters" in out
    code, _, err = run(["alexnet", "--checkpoint", os.path.join(out_dir, "checkpoint.npz")],
                       capsys)
    assert code == 2 and "holds a lenet5" in err


SMALL = {"lenet5": [], "resnet18": ["width=0.125", "small_input=True", "image_size=16"],
         "googlenet_small": ["width=0.125", "image_size=16"], "squeezenet": []}


@pytest.mark.parametrize("name", list(SMALL))
def test_the_listing_has_every_forward_op_and_the_backward_in_engine_order(
        name, capsys, monkeypatch):
    from minicnn import core
    engine = {"forward": [], "backward": []}
    original_call, original_propagate = core.Function.__call__, core._propagate

    def call(self, *inputs):  # what the engine runs, seen without the tracer
        engine["forward"].append(self.op_name)
        return original_call(self, *inputs)

    def propagate(function, gy, grads, *rest):
        engine["backward"].append(function.op_name)
        return original_propagate(function, gy, grads, *rest)

    monkeypatch.setattr(core.Function, "__call__", call)
    monkeypatch.setattr(core, "_propagate", propagate)
    argv = [name, "--batch", "2"] + [f"--model-option={o}" for o in SMALL[name]]
    code, out, _ = run(argv, capsys)
    assert code == 0
    listed, phase = {"forward": [], "backward": []}, None
    for line in out.splitlines():
        if line.startswith(("forward:", "backward:", "update:")):
            phase = line.split(":")[0]
        elif phase in listed and line[:4].strip().isdigit():
            listed[phase].append(line.split()[2])  # "  12  module  op ..."
    assert listed["forward"] == engine["forward"]
    assert listed["backward"] == engine["backward"]
    assert len(listed["forward"]) == len(listed["backward"]) > 10
