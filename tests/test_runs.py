"""Runs a new user can trust (issue 9, "the runs"): outputs never lost or misdirected, resume
that means what it says, SIGTERM like Ctrl-C, divergence reported, logs for people and files.
Each test reproduces a failure seen before the fix."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from test_train_command import TINY, _no_full_data

from minicnn import checkpoint, files, train, training
from minicnn import evaluate as evaluate_command
from minicnn.data import load_dataset


@pytest.fixture
def offline(monkeypatch, tmp_path):
    _no_full_data(monkeypatch, tmp_path)


def _train(*args):
    return train.main(["lenet5", "--epochs", "1", *TINY, *args])


def _ckpt(folder):
    return os.path.join(folder, checkpoint.NAME)


# -- 1. outputs are never lost ------------------------------------------------------------------

def test_out_holding_a_run_is_refused_unless_overwrite(offline, tmp_path, capsys):
    out = str(tmp_path / "run")
    assert _train("--out", out) == 0
    before = open(_ckpt(out), "rb").read()
    assert _train("--out", out, "--seed", "1") == 2  # before the fix: silently overwritten
    err = capsys.readouterr().err
    assert f"--out {out}: already holds a run" in err and "--overwrite" in err
    assert open(_ckpt(out), "rb").read() == before
    assert _train("--out", out, "--seed", "1", "--overwrite") == 0
    assert open(_ckpt(out), "rb").read() != before


def test_default_run_names_never_collide_and_latest_follows(offline, tmp_path, monkeypatch,
                                                            capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(train.time, "strftime", lambda fmt: "20260101-120000")  # same second
    assert _train() == 0
    assert _train("--seed", "1") == 0
    runs = sorted(name for name in os.listdir("runs") if name != "latest")
    assert runs == ["lenet5-fashion-mnist-20260101-120000",
                    "lenet5-fashion-mnist-20260101-120000-2"]
    seeds = [checkpoint.load_run(_ckpt(os.path.join("runs", r)))[2]["config"].seed
             for r in runs]
    assert seeds == [0, 1]  # the first run was not overwritten by the second
    # README's `evaluate runs/latest/checkpoint.npz` names the newest run, not two of them.
    assert os.path.realpath("runs/latest") == os.path.realpath(os.path.join("runs", runs[1]))
    capsys.readouterr()
    assert evaluate_command.main(["runs/latest/checkpoint.npz", "--limit-test", "8"]) == 0
    assert "test accuracy" in capsys.readouterr().out


def test_temporary_names_are_unique_and_stale_ones_are_removed(offline, tmp_path):
    seen = []
    target = str(tmp_path / "checkpoint.npz")
    for _ in range(2):
        files.write_atomically(target, lambda tmp: (seen.append(tmp), open(tmp, "w").close()))
    assert seen[0] != seen[1]  # before the fix: path + ".tmp", shared by concurrent writers
    assert all(os.path.basename(p).startswith(".checkpoint-") and p.endswith(".npz.tmp")
               for p in seen)
    # A killed run leaves a temporary behind; the next start and a resume remove it.
    out = tmp_path / "run"
    out.mkdir()
    stale = out / ".checkpoint-killed.npz.tmp"
    stale.write_bytes(b"half")
    assert _train("--out", str(out)) == 0
    assert not stale.exists()
    stale.write_bytes(b"half")
    (out / ".metrics-killed.csv.tmp").write_text("half")
    assert train.main(["lenet5", "--resume", _ckpt(out), "--epochs", "2"]) == 0
    assert sorted(os.listdir(out)) == ["checkpoint.npz", "curves.png", "metrics.csv",
                                       "metrics.json"]


# -- 2. resume means what it says ----------------------------------------------------------------

@pytest.fixture
def one_epoch_run(offline, tmp_path):
    out = str(tmp_path / "first")
    assert _train("--out", out) == 0
    return out


def test_resume_with_another_model_name_is_an_error(one_epoch_run, capsys):
    code = train.main(["alexnet", "--resume", _ckpt(one_epoch_run), "--epochs", "2"])
    assert code == 2  # before the fix: the name was dropped and lenet5 trained on
    assert "the checkpoint is a lenet5 run, not alexnet" in capsys.readouterr().err


def test_resume_applies_epochs_and_refuses_flags_that_would_change_the_run(one_epoch_run,
                                                                           tmp_path, capsys):
    ckpt = _ckpt(one_epoch_run)
    before = open(ckpt, "rb").read()
    for flag, value in (("--lr", "0.5"), ("--batch-size", "8"), ("--optimizer", "sgd"),
                        ("--seed", "3"), ("-o", "classic=True"), ("--limit-train", "16")):
        assert train.main(["lenet5", "--resume", ckpt, "--epochs", "2", flag, value]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: {flag if flag != '-o' else '--option'}: cannot change "
                              "when resuming"), err
    assert open(ckpt, "rb").read() == before
    # The same value as the run's is no change; --epochs is applied.
    assert train.main(["lenet5", "--resume", ckpt, "--epochs", "2", "--lr", "0.002"]) == 0
    history = checkpoint.load_run(ckpt)[2]["history"]
    assert [row["epoch"] for row in history] == [1, 2]


def test_every_flag_is_applied_or_refused_on_resume():
    """Before the fix most flags given with --resume were dropped without a word."""
    flags = {action.dest for action in train.build_parser()._actions} - {"help"}
    handled = set(train.RESUMABLE) | set(train.FIXED_ON_RESUME) | set(train.CHECKED_ON_RESUME)
    assert flags == handled


def test_resume_applies_log_grad_stats_and_keeps_the_checkpoints_setting(one_epoch_run,
                                                                          tmp_path):
    """--log-grad-stats only measures, so a resume may switch it; left out, the run keeps it."""
    ckpt = _ckpt(one_epoch_run)
    for epochs, flags in (("2", ["--log-grad-stats"]), ("3", []),
                          ("4", ["--no-log-grad-stats"])):
        assert train.main(["lenet5", "--resume", ckpt, "--epochs", epochs, *flags]) == 0
    history = json.loads(open(os.path.join(one_epoch_run, "metrics.json")).read())
    assert [bool(row.get("grad_stats")) for row in history] == [False, True, True, False]
    assert set(history[1]["grad_stats"]["dead_relu"]) == {"act1", "act3", "act5", "act6"}
    with open(os.path.join(one_epoch_run, "metrics.csv")) as f:
        header = f.readline().strip().split(",")
    assert "max_update_ratio" in header  # though epoch 1, the first row, has no such key


def test_grad_stats_of_an_epochs_last_step_survive_a_stop_before_its_evaluation(offline,
                                                                                tmp_path):
    args = ["lenet5", "--epochs", "1", *TINY, "--log-grad-stats"]  # 3 steps
    assert train.main(args + ["--out", str(tmp_path / "full")]) == 0
    config = train.make_config(train.parse_args(args + ["--out", str(tmp_path / "cut")]))
    data = load_dataset("fashion-mnist").limit(48, 32)
    def stop_after_step_3(step):  # the epoch's last step, before its test pass
        if step == 3:
            signal.raise_signal(signal.SIGINT)
    assert training.train(config, data, on_step=stop_after_step_3,
                          log=lambda line: None) == "interrupted"
    assert train.main(["lenet5", "--resume", _ckpt(tmp_path / "cut")]) == 0
    full, cut = (json.loads((tmp_path / name / "metrics.json").read_text())
                 for name in ("full", "cut"))
    assert cut[0]["grad_stats"] == full[0]["grad_stats"]  # kept in the checkpoint


def test_resume_applies_data_dir_and_device(one_epoch_run, tmp_path, capsys):
    ckpt = _ckpt(one_epoch_run)
    code = train.main(["lenet5", "--resume", ckpt, "--epochs", "2", "--data-dir",
                       str(tmp_path / "nowhere")])
    assert code == 2  # the flag was used (before the fix it was kept only if unset)
    assert f"--data-dir {tmp_path / 'nowhere'}: does not exist" in capsys.readouterr().err
    if not train.backend.gpu_available():
        assert train.main(["lenet5", "--resume", ckpt, "--epochs", "2", "--device",
                           "gpu"]) == 2
        assert "--device gpu: needs CuPy" in capsys.readouterr().err


def test_resume_writes_next_to_the_checkpoint_or_to_out(one_epoch_run, tmp_path):
    moved = tmp_path / "moved"
    os.rename(one_epoch_run, moved)  # the checkpoint remembers the old folder
    assert train.main(["lenet5", "--resume", _ckpt(moved), "--epochs", "2"]) == 0
    assert not os.path.exists(one_epoch_run)  # before the fix: recreated and written there
    assert len(json.loads((moved / "metrics.json").read_text())) == 2
    elsewhere = tmp_path / "elsewhere"
    assert train.main(["lenet5", "--resume", _ckpt(moved), "--epochs", "3", "--out",
                       str(elsewhere)]) == 0
    assert len(json.loads((elsewhere / "metrics.json").read_text())) == 3
    assert len(json.loads((moved / "metrics.json").read_text())) == 2
    assert checkpoint.load_run(_ckpt(elsewhere))[2]["config"].out == str(elsewhere)


def test_resuming_a_finished_run_says_so(one_epoch_run, capsys):
    ckpt = _ckpt(one_epoch_run)
    before = open(ckpt, "rb").read()
    capsys.readouterr()
    assert train.main(["lenet5", "--resume", ckpt]) == 0
    out = capsys.readouterr().out
    assert "already finished its 1 epochs; nothing to do" in out and "--epochs 2" in out
    assert "epoch" not in out.split("nothing to do")[1].split("--epochs")[0]
    assert open(ckpt, "rb").read() == before


# -- 4. SIGTERM behaves like Ctrl-C ---------------------------------------------------------------

def test_sigterm_saves_a_checkpoint_and_prints_the_resume_command(tmp_path):
    out = tmp_path / "run"
    process = subprocess.Popen(
        [sys.executable, "-u", "-m", "minicnn.train", "lenet5", "--epochs", "3",
         "--limit-train", "960", "--limit-test", "16", "--batch-size", "16", "--no-download",
         "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []
    deadline = time.monotonic() + 120
    for line in process.stdout:  # wait for the loop to run: a plain progress line
        lines.append(line)
        if line.startswith("  epoch 1/3 batch") or time.monotonic() > deadline:
            break
    process.send_signal(signal.SIGTERM)  # what `timeout`, Slurm and `docker stop` send
    rest, err = process.communicate(timeout=120)
    output = "".join(lines) + rest
    assert process.returncode == 130, err  # before the fix: killed at once, nothing saved
    assert "Traceback" not in err
    assert f"interrupted by SIGTERM: checkpoint saved to {out / 'checkpoint.npz'}" in output
    assert f"resume with:  python -m minicnn.train lenet5 --resume {out}" in output
    meta = checkpoint.load_run(str(out / "checkpoint.npz"))[2]
    assert (meta["epoch"], meta["batch"]) != (0, 0) and meta["epoch"] < 3


# -- 5. divergence is reported --------------------------------------------------------------------

def test_a_loss_that_explodes_while_finite_is_reported(offline, tmp_path, capsys):
    # Adam moves every weight by about lr per step: lr 1 blows the logits up, still finite.
    assert _train("--optimizer", "adam", "--lr", "1", "--out", str(tmp_path / "o")) == 0
    out = capsys.readouterr().out
    warning = next(line for line in out.splitlines() if line.startswith("warning: loss"))
    assert "x its first value" in warning and "try a lower --lr, e.g. 0.1" in warning
    loss = float(warning.split()[2])
    assert np.isfinite(loss) and loss > 100 * 2.0  # before the fix: printed as 123456.7890
    epoch = next(line for line in out.splitlines() if line.startswith("epoch 1/1"))
    assert "e+" in epoch.split("loss ")[1].split()[0]  # .4g: readable when it explodes


def test_a_steady_run_gives_no_divergence_warning(offline, tmp_path, capsys):
    assert _train("--out", str(tmp_path / "o")) == 0
    assert "warning" not in capsys.readouterr().out


# -- 6. logs for people and for files -------------------------------------------------------------

def test_piped_logs_have_plain_lines_and_no_carriage_returns(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "minicnn.train", "lenet5", "--epochs", "1", "--limit-train",
         "320", "--limit-test", "16", "--batch-size", "16", "--no-download", "--out",
         str(tmp_path / "o")], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "\r" not in result.stdout + result.stderr  # before the fix: 79 KB of frames
    progress = [line for line in result.stdout.splitlines()
                if line.startswith("  epoch 1/1 batch ")]
    assert [line.split()[3] for line in progress] == [f"{b}/20" for b in range(2, 20, 2)]
    assert all(" loss " in line and line.endswith(" img/s") for line in progress)


def test_epoch_line_fits_80_columns_in_the_worst_case():
    # The longest values: float32's largest finite loss, a tiny one, 999 epochs, 100 hours.
    worst = {"epoch": 999, "train_loss": float(np.finfo(np.float32).max), "train_acc": 0.123456,
             "test_loss": 1.234567e-05, "test_acc": 1.0, "seconds": 3600 * 99.9}
    line = training.epoch_line(worst, 999)
    assert len(line) < 80, line  # before the fix: 88 columns with a 4-digit loss
    assert "loss 3.403e+38 " in line and "test loss 1.235e-05 " in line


def test_help_shows_each_flags_meaning_and_the_recipes_value(capsys):
    with pytest.raises(SystemExit):
        train.parse_args(["lenet5", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for fragment in ("passes over the training set (recipe: 8)", "learning rate (recipe: 0.002)",
                     "update rule (recipe: adam)", "SGD momentum (recipe: 0.9)"):
        assert fragment in text
    with pytest.raises(SystemExit):
        train.parse_args(["--help"])
    assert "(default: the model's recipe" in capsys.readouterr().out
    parser = train.build_parser()
    assert all(action.help for action in parser._actions)  # each flag says what it means


def test_config_line_shows_momentum_and_nesterov(offline, tmp_path, capsys):
    assert _train("--optimizer", "sgd", "--nesterov", "--momentum", "0.8",
                  "--out", str(tmp_path / "o")) == 0
    assert "sgd momentum 0.8 nesterov lr 0.002" in capsys.readouterr().out
