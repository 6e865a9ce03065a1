"""The training command end to end on tiny runs: outputs, resume, Ctrl-C, NaN, missing data,
and evaluate/predict on the checkpoint it leaves."""
import csv
import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import minicnn
from minicnn import backend, checkpoint, train, training
from minicnn import evaluate as evaluate_command
from minicnn import predict as predict_command
from minicnn.data import datasets, load_dataset
from minicnn.data.sources import RemoteFile

TINY = ["--limit-train", "48", "--limit-test", "32", "--batch-size", "16"]


def _no_full_data(monkeypatch, tmp_path):
    """Make every place empty: no cache, no $MINICNN_DATA, no system folder, no download."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MINICNN_DATA", raising=False)
    for name, spec in list(datasets.SPECS.items()):
        empty = datasets.DatasetSpec(
            name=name, files={r: RemoteFile(f.name, f.md5) for r, f in spec.files.items()},
            mirrors=(f"file://{tmp_path}/no-server/",), system_dirs=(), hint=spec.hint)
        monkeypatch.setitem(datasets.SPECS, name, empty)


@pytest.fixture
def offline(monkeypatch, tmp_path):
    _no_full_data(monkeypatch, tmp_path)


def make_tiny_run(tmp_path_factory):
    """One 2-epoch LeNet-5 run on 48 bundled images; returns its output folder."""
    tmp_path = tmp_path_factory.mktemp("run")
    with pytest.MonkeyPatch.context() as monkeypatch:
        _no_full_data(monkeypatch, tmp_path)
        out = tmp_path / "out"
        code = train.main(["lenet5", "--epochs", "2", "--out", str(out), *TINY])
    assert code == 0
    return out


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """The run shared by the tests that read its output."""
    return make_tiny_run(tmp_path_factory)


def test_bare_command_uses_bundled_subset_and_says_so(offline, tmp_path, capsys):
    code = train.main(["lenet5", "--epochs", "1", "--out", str(tmp_path / "o"), *TINY])
    captured = capsys.readouterr()
    assert code == 0
    assert "bundled Fashion-MNIST subset" in captured.out
    assert "apt-get install dataset-fashion-mnist" in captured.out
    assert "epoch 1/1  loss " in captured.out


def test_outputs_of_a_run(tiny_run):
    assert {"checkpoint.npz", "metrics.csv", "metrics.json", "curves.png"} <= set(
        os.listdir(tiny_run))
    rows = json.loads((tiny_run / "metrics.json").read_text())
    assert [row["epoch"] for row in rows] == [1, 2]
    for row in rows:
        for key in ("train_loss", "train_acc", "test_loss", "test_acc", "seconds"):
            assert np.isfinite(row[key])
        assert 0 <= row["test_acc"] <= 1 and row["seconds"] > 0
    with open(tiny_run / "metrics.csv") as f:
        table = list(csv.DictReader(f))
    assert len(table) == 2 and float(table[1]["test_acc"]) == pytest.approx(rows[1]["test_acc"])
    assert (tiny_run / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    model_state, optimizer_state, meta = checkpoint.load(str(tiny_run / "checkpoint.npz"))
    assert meta["epoch"] == 2 and meta["config"]["model"] == "lenet5"
    assert model_state["c1.weight"].shape == (6, 1, 5, 5)
    assert optimizer_state["step_count"] == 2 * 3  # 48 images / batch 16, two epochs


def test_training_lowers_the_loss(tiny_run):
    rows = json.loads((tiny_run / "metrics.json").read_text())
    assert rows[1]["train_loss"] < rows[0]["train_loss"]


def _interrupt_at(step_to_stop):
    def on_step(step):
        if step == step_to_stop:
            signal.raise_signal(signal.SIGINT)  # what Ctrl-C sends
    return on_step


@pytest.mark.parametrize("model_args", [
    [],                                                    # lenet5, Adam
    ["--optimizer", "sgd", "--nesterov", "--schedule", "step", "--augment"],
])
def test_resume_equals_uninterrupted(offline, tmp_path, model_args, capsys):
    args = ["lenet5", "--epochs", "2", *TINY, *model_args]
    assert train.main(args + ["--out", str(tmp_path / "full")]) == 0

    config = train.make_config(train.parse_args(args + ["--out", str(tmp_path / "cut")]))
    data = load_dataset("fashion-mnist").limit(48, 32)
    status = training.train(config, data, on_step=_interrupt_at(4))  # mid-epoch 2 (3 steps each)
    assert status == "interrupted"
    assert "resume with:  python -m minicnn.train lenet5 --resume" in capsys.readouterr().out
    ckpt = str(tmp_path / "cut" / "checkpoint.npz")
    assert checkpoint.load(ckpt)[2]["batch"] == 1
    assert train.main(["lenet5", "--resume", ckpt]) == 0

    full_state, full_optimizer, full_meta = checkpoint.load(str(tmp_path / "full" /
                                                                "checkpoint.npz"))
    cut_state, cut_optimizer, cut_meta = checkpoint.load(ckpt)
    for name in full_state:
        np.testing.assert_array_equal(cut_state[name], full_state[name], err_msg=name)
    for full_buffers, cut_buffers in zip(full_optimizer["state"], cut_optimizer["state"]):
        for key in full_buffers:
            np.testing.assert_array_equal(cut_buffers[key], full_buffers[key])
    for full_row, cut_row in zip(full_meta["history"], cut_meta["history"]):
        for key in ("train_loss", "train_acc", "test_loss", "test_acc", "lr"):
            assert cut_row[key] == full_row[key], key


def test_resume_restores_dropout_generator(offline, tmp_path):
    """AlexNet (tiny) draws dropout masks: a resume must continue the same random stream."""
    args = ["alexnet", "--epochs", "1", "--limit-train", "48", "--limit-test", "16",
            "--batch-size", "16", "--model-option", "width=0.03"]
    assert train.main(args + ["--out", str(tmp_path / "full")]) == 0
    config = train.make_config(train.parse_args(args + ["--out", str(tmp_path / "cut")]))
    data = load_dataset("fashion-mnist").limit(48, 16)
    assert training.train(config, data, on_step=_interrupt_at(1)) == "interrupted"
    ckpt = str(tmp_path / "cut" / "checkpoint.npz")
    assert train.main(["alexnet", "--resume", ckpt]) == 0
    full_state = checkpoint.load(str(tmp_path / "full" / "checkpoint.npz"))[0]
    cut_state = checkpoint.load(ckpt)[0]
    for name in full_state:
        np.testing.assert_array_equal(cut_state[name], full_state[name], err_msg=name)


def _make_the_loss_nan_at_step(step, monkeypatch):
    """The training loop's loss function returns NaN at the given step (1-based)."""
    real_loss, calls = training.F.softmax_cross_entropy, []

    def loss_nan_at_that_step(logits, labels):
        calls.append(1)
        loss = real_loss(logits, labels)
        return loss * float("nan") if len(calls) == step else loss
    monkeypatch.setattr(training.F, "softmax_cross_entropy", loss_nan_at_that_step)


def test_nan_loss_stops_and_names_the_step(offline, tmp_path, capsys, monkeypatch):
    """A NaN loss at step 2 (made here by the loss function itself) stops the run before the
    update, naming the step and suggesting a lower learning rate."""
    _make_the_loss_nan_at_step(2, monkeypatch)
    code = train.main(["lenet5", "--epochs", "1", "--optimizer", "adam", "--lr", "0.5",
                       "--out", str(tmp_path / "o"), *TINY])
    err = capsys.readouterr().err
    assert code == 1
    assert "the loss became nan at step 2 (epoch 1, batch 2/3)" in err
    assert "lower learning rate" in err and "--lr 0.05" in err


def test_explicit_dataset_missing_lists_places(offline, tmp_path, capsys):
    code = train.main(["lenet5", "--dataset", "mnist", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in err
    for place in (".cache/minicnn/mnist", "download from"):
        assert place in err


def test_unknown_model_option_is_a_clear_error(offline, tmp_path, capsys):
    code = train.main(["lenet5", "--model-option", "depth=3", "--epochs", "1",
                       "--out", str(tmp_path / "o"), *TINY])
    assert code == 2
    assert "unknown option(s) depth" in capsys.readouterr().err


def test_resize_builds_the_model_for_that_size(offline, tmp_path):
    assert train.main(["lenet5", "--resize", "32", "--epochs", "1", "--out",
                       str(tmp_path / "o"), *TINY]) == 0
    state, _, meta = checkpoint.load(str(tmp_path / "o" / "checkpoint.npz"))
    assert meta["config"]["input_shape"] == [1, 32, 32]
    assert state["f6.weight"].shape == (84, 120 * 2 * 2)  # C5 output 2x2 on 32x32 inputs


def test_evaluate_prints_accuracy_and_confusion_matrix(tiny_run, tmp_path, monkeypatch, capsys):
    _no_full_data(monkeypatch, tmp_path)
    assert evaluate_command.main([str(tiny_run / "checkpoint.npz"), "--limit-test", "40"]) == 0
    out = capsys.readouterr().out
    line = next(l for l in out.splitlines() if l.startswith("test accuracy"))
    correct, total = line.split("(")[1].split(" ")[0].split("/")
    assert int(total) == 40
    assert float(line.split()[2]) == pytest.approx(int(correct) / 40)
    assert "Ankle boot" in out and "confusion matrix" in out
    matrix_rows = out.split("predicted class):\n")[1].strip().splitlines()[1:]
    counts = np.array([[int(v) for v in row.split()[1:]] for row in matrix_rows])
    assert counts.shape == (10, 10) and counts.sum() == 40 and np.trace(counts) == int(correct)


def test_confusion_matrix_counts():
    matrix = evaluate_command.confusion_matrix(np.array([0, 0, 1, 2]), np.array([0, 1, 1, 1]),
                                               3)
    np.testing.assert_array_equal(matrix, [[1, 1, 0], [0, 1, 0], [0, 1, 0]])


def test_predict_top3_on_png_and_jpeg(tiny_run, tmp_path, capsys):
    data = load_dataset("fashion-mnist", allow_download=False, allow_bundled=True)
    grey = tmp_path / "grey.png"
    Image.fromarray(data.test_x[0, 0]).save(grey)
    colour = tmp_path / "colour.jpg"
    Image.fromarray(data.test_x[1, 0]).resize((56, 40)).convert("RGB").save(colour)
    ckpt = str(tiny_run / "checkpoint.npz")
    assert predict_command.main([ckpt, str(grey), str(colour)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == str(grey) and out[4] == str(colour)
    for block in (out[1:4], out[5:8]):
        probabilities = [float(line.split("%")[0]) / 100 for line in block]
        assert probabilities == sorted(probabilities, reverse=True)
        assert 0 < sum(probabilities) <= 1.0001
    # The printed probabilities are the model's softmax on the same image.
    model, config = checkpoint.load_model(ckpt)
    image = predict_command.load_image(grey, 1, (28, 28))[None]
    best = predict_command.top_k(model, image, config)[0]
    assert out[1].split()[-1] == best[0][0].split()[-1]
    np.testing.assert_allclose(image[0, 0], data.test_x[0, 0] / 255.0, atol=1e-6)


def test_predict_unreadable_image(tiny_run, tmp_path, capsys):
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    assert predict_command.main([str(tiny_run / "checkpoint.npz"), str(bad)]) == 2
    assert "cannot read the image" in capsys.readouterr().err


def test_gpu_without_cuda_is_a_clear_error(offline, tmp_path, capsys):
    if backend.gpu_available():
        pytest.skip("a GPU is available here: the error path cannot be reached")
    code = train.main(["lenet5", "--device", "gpu", "--out", str(tmp_path / "o"), *TINY])
    assert code == 2
    assert "--device gpu: needs CuPy and a CUDA device" in capsys.readouterr().err


def test_module_entry_point_runs(tmp_path):
    """`python -m minicnn.train` itself, as a learner types it (whatever data is installed)."""
    result = subprocess.run(
        [sys.executable, "-m", "minicnn.train", "lenet5", "--epochs", "1", "--limit-train", "32",
         "--limit-test", "16", "--no-download", "--out", str(tmp_path / "o")],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "epoch 1/1  loss " in result.stdout
    assert (tmp_path / "o" / "checkpoint.npz").is_file()


def test_cifar10_colour_images_train_end_to_end(offline, tmp_path, monkeypatch, capsys):
    from datafiles import md5, write_cifar10
    archive = tmp_path / "data" / "cifar-10-python.tar.gz"
    archive.parent.mkdir()
    write_cifar10(archive, n_per_batch=8)
    spec = datasets.DatasetSpec(name="cifar10",
                                files={"archive": RemoteFile(archive.name, md5(archive))},
                                mirrors=("file:///nonexistent/",))
    monkeypatch.setitem(datasets.SPECS, "cifar10", spec)
    code = train.main(["lenet5", "--dataset", "cifar10", "--data-dir", str(tmp_path / "data"),
                       "--resize", "32", "--augment", "--epochs", "1", "--batch-size", "16",
                       "--out", str(tmp_path / "o")])
    assert code == 0, capsys.readouterr().err
    state, _, meta = checkpoint.load(str(tmp_path / "o" / "checkpoint.npz"))
    assert state["c1.weight"].shape == (6, 3, 5, 5)  # built for RGB input
    assert meta["config"]["class_names"][0] == "airplane"


# -- issue 13: nothing comes back from the device inside a step -----------------------------------

STEPS_20 = ["lenet5", "--epochs", "1", "--limit-train", "320", "--limit-test", "16",
            "--batch-size", "16"]  # 20 steps; the progress line every 2 steps


def test_steps_read_nothing_back_and_grad_stats_cost_nothing_when_off(offline, tmp_path,
                                                                       monkeypatch):
    """Before the fix every step called loss.item() and copied the logits to the host."""
    reads, last_step = [], [0]
    real_asnumpy, real_item = backend.asnumpy, minicnn.Tensor.item

    def counted(real):
        def read(*args):
            reads.append(last_step[0])  # the step after which the read happened
            return real(*args)
        return read
    monkeypatch.setattr(backend, "asnumpy", counted(real_asnumpy))
    monkeypatch.setattr(backend, "to_device", lambda array, device: np.asarray(array))  # an
    # upload is no read; on the CPU, to_device would call asnumpy
    monkeypatch.setattr(minicnn.Tensor, "item", counted(real_item))
    for name in ("DeadReluCounter", "weights_snapshot", "grad_stats"):  # off: never called
        monkeypatch.setattr(training.health, name, lambda *a, name=name: pytest.fail(name))
    config = train.make_config(train.parse_args(STEPS_20 + ["--out", str(tmp_path / "o")]))
    data = load_dataset("fashion-mnist").limit(320, 16)
    assert training.train(config, data, on_step=lambda step: last_step.__setitem__(0, step),
                          log=lambda line: None) == "finished"
    during_steps = [step for step in reads if step < 20]  # after step 20 the test pass runs
    assert sorted(set(during_steps)) == list(range(2, 20, 2))
    assert all(during_steps.count(step) == 2 for step in range(2, 20, 2))  # losses, counts


def test_a_nan_found_at_a_later_read_names_its_own_step(offline, tmp_path, capsys,
                                                        monkeypatch):
    _make_the_loss_nan_at_step(3, monkeypatch)
    assert train.main(STEPS_20 + ["--no-download", "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert ("the loss became nan at step 3 (epoch 1, batch 3/20; read back after step 4); "
            "the run stopped") in err
    assert not (tmp_path / "o" / "checkpoint.npz").exists()  # no epoch ended: nothing saved


def test_log_grad_stats_only_measures(offline, tmp_path):
    """The same run with and without --log-grad-stats ends with the same weights and losses."""
    for name, flags in (("plain", []), ("logged", ["--log-grad-stats"])):
        assert train.main(["lenet5", "--epochs", "2", *TINY, *flags,
                           "--out", str(tmp_path / name)]) == 0
    plain, logged = (checkpoint.load(str(tmp_path / name / "checkpoint.npz"))
                     for name in ("plain", "logged"))
    for key in plain[0]:
        np.testing.assert_array_equal(logged[0][key], plain[0][key], err_msg=key)
    for plain_row, logged_row in zip(plain[2]["history"], logged[2]["history"]):
        assert "grad_stats" not in plain_row and "grad_stats" in logged_row
        assert logged_row["train_loss"] == plain_row["train_loss"]
