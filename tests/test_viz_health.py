"""minicnn.viz health: the numbers of one step, and the pictures of a step and of a run."""
import json

import numpy as np
import pytest
from PIL import Image

import minicnn
import minicnn.functional as F
from minicnn import nn, optim
from minicnn.viz.__main__ import main
from minicnn.viz.health import grad_stats, measure_step


def tiny_model():
    minicnn.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 4 * 4, 5))
    model[0].bias.data[0] = -100.0  # channel 0 can never fire: all its units are dead
    return model


def batch(seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((6, 1, 6, 6)).astype(np.float32), rng.integers(0, 5, 6)


def test_step_numbers_match_an_independent_computation():
    model = tiny_model()
    x, y = batch()
    before = {name: p.data.copy() for name, p in model.named_parameters()}
    lr = 0.1
    stats = measure_step(model, x, y, optim.SGD(list(model.parameters()), lr=lr))
    assert json.loads(json.dumps(stats)) == stats  # JSON-able as it is
    params = dict(model.named_parameters())
    for layer in ("0", "3"):
        grads = np.concatenate([params[f"{layer}.weight"].grad.ravel(),
                                params[f"{layer}.bias"].grad.ravel()])
        assert stats["layers"][layer]["grad_mean_abs"] == pytest.approx(np.abs(grads).mean())
        assert stats["layers"][layer]["grad_max_abs"] == pytest.approx(np.abs(grads).max())
    for name, param in params.items():  # plain SGD: ||dW|| = lr ||grad||
        expected = lr * np.linalg.norm(param.grad) / np.linalg.norm(before[name])
        assert stats["params"][name]["update_ratio"] == pytest.approx(expected, rel=1e-4)
    conv = F.conv2d(minicnn.Tensor(x), before["0.weight"], before["0.bias"]).data
    dead = 1.0 - (np.maximum(conv, 0) > 0).any(axis=0).mean()
    assert stats["dead_relu"] == {"1": pytest.approx(dead)}
    assert dead >= 1 / 3  # the channel we killed
    loss = F.softmax_cross_entropy(
        F.linear(F.relu(minicnn.Tensor(conv)).reshape(6, -1), before["3.weight"],
                 before["3.bias"]), y)
    assert stats["loss"] == pytest.approx(float(loss.data), rel=1e-5)


def test_without_a_snapshot_there_is_no_update_ratio():
    model = tiny_model()
    x, y = batch()
    F.softmax_cross_entropy(model(minicnn.Tensor(x)), y).backward()
    stats = grad_stats(model)
    assert all(row["update_ratio"] is None for row in stats["params"].values())
    assert stats["dead_relu"] == {}


def png_size(path):
    with Image.open(path) as image:
        assert image.format == "PNG"
        return image.size


def test_command_draws_one_step(tmp_path, capsys):
    out = tmp_path / "health.png"
    assert main(["health", "lenet5", "--batch-size", "8", "--out", str(out)]) == 0
    width, height = png_size(out)
    assert width > 800 and height > 200
    printed = capsys.readouterr().out
    for layer in ("c1", "c3", "c5", "f6", "output"):
        assert f"\n{layer} " in printed
    assert "dead ReLU act1" in printed


def test_command_draws_the_epochs_of_metrics_json(tmp_path, capsys):
    model = tiny_model()
    optimizer = optim.SGD(list(model.parameters()), lr=0.1)
    history = [{"epoch": epoch, "train_loss": 1.0, "grad_stats":
                measure_step(model, *batch(epoch), optimizer)} for epoch in (1, 2, 3)]
    (tmp_path / "metrics.json").write_text(json.dumps(history))
    out = tmp_path / "epochs.png"
    assert main(["health", str(tmp_path / "metrics.json"), "--out", str(out)]) == 0
    assert png_size(out)[0] > 800
    assert "3 epochs" in capsys.readouterr().out
    for row in history:
        row.pop("grad_stats")
    (tmp_path / "plain.json").write_text(json.dumps(history))
    assert main(["health", str(tmp_path / "plain.json"), "--out", str(out)]) == 2
    assert main(["health", "lenet5", "--batch-size", "0", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "--log-grad-stats" in err[0] and err[1].startswith("error: --batch-size 0")


# -- --log-grad-stats: a real run's metrics.json, checked against its last step redone here ----

def test_a_runs_grad_stats_match_its_last_step_redone_and_draw(tmp_path, monkeypatch, capsys):
    from test_train_command import TINY, _interrupt_at, _no_full_data

    from minicnn import checkpoint, train, training
    from minicnn.data import Batches, load_dataset
    _no_full_data(monkeypatch, tmp_path)
    args = ["lenet5", "--epochs", "2", "--log-grad-stats", *TINY]  # 3 steps an epoch
    assert train.main(args + ["--out", str(tmp_path / "full")]) == 0
    history = json.loads((tmp_path / "full" / "metrics.json").read_text())
    stats = history[1]["grad_stats"]  # epoch 2, measured on step 6
    # The weights before step 6: the same run, stopped after step 5.
    config = train.make_config(train.parse_args(args + ["--out", str(tmp_path / "cut")]))
    data = load_dataset("fashion-mnist").limit(48, 32)
    assert training.train(config, data, on_step=_interrupt_at(5)) == "interrupted"
    model, _ = checkpoint.load_model(str(tmp_path / "cut" / "checkpoint.npz"))
    before = {name: p.data.copy() for name, p in model.named_parameters()}
    after = checkpoint.load(str(tmp_path / "full" / "checkpoint.npz"))[0]
    batches = Batches(data.train_x, data.train_y, 16, data.mean, data.std, size=(28, 28),
                      shuffle=True, seed=0)
    batches.set_epoch(1)
    x, y = next(iter(batches.iterate(2)))  # the epoch's third and last batch
    model.train()
    relu_outputs = {}
    for name in ("act1", "act3", "act5", "act6"):
        getattr(model, name).register_forward_hook(
            lambda module, inputs, output, name=name: relu_outputs.update({name: output.data}))
    F.softmax_cross_entropy(model(minicnn.Tensor(x)), y).backward()
    grads = {name: p.grad for name, p in model.named_parameters()}
    for layer in ("c1", "f6", "output"):
        both = np.abs(np.concatenate([grads[f"{layer}.weight"].ravel(),
                                      grads[f"{layer}.bias"].ravel()]))
        assert stats["layers"][layer]["grad_mean_abs"] == pytest.approx(both.mean(), rel=1e-5)
        assert stats["layers"][layer]["grad_max_abs"] == pytest.approx(both.max(), rel=1e-5)
    for name in ("c1.weight", "output.bias"):  # Adam's step: the change of the saved weights
        ratio = np.linalg.norm(after[name] - before[name]) / np.linalg.norm(before[name])
        assert stats["params"][name]["update_ratio"] == pytest.approx(ratio, rel=1e-4)
        assert stats["params"][name]["grad_norm"] == pytest.approx(
            np.linalg.norm(grads[name]), rel=1e-5)
    for name, output in relu_outputs.items():
        dead = 1.0 - (output > 0).any(axis=0).mean()
        assert stats["dead_relu"][name] == pytest.approx(dead)
    assert history[1]["max_dead_relu"] == max(stats["dead_relu"].values())
    # The resumed cut run measures step 6 as the uninterrupted run did.
    assert train.main(["lenet5", "--resume", str(tmp_path / "cut" / "checkpoint.npz")]) == 0
    resumed = json.loads((tmp_path / "cut" / "metrics.json").read_text())
    assert resumed[1]["grad_stats"] == stats
    # metrics.csv stays a flat table: summary columns, no nested dicts.
    header = (tmp_path / "full" / "metrics.csv").read_text().splitlines()[0].split(",")
    assert header[-3:] == ["grad_norm", "max_update_ratio", "max_dead_relu"]
    assert "grad_stats" not in header
    # ... and `viz health` draws the run, from metrics.json or from the run's folder.
    for given in (tmp_path / "full" / "metrics.json", tmp_path / "full"):
        out = tmp_path / "health.png"
        capsys.readouterr()
        assert main(["health", str(given), "--out", str(out)]) == 0
        assert "2 epochs" in capsys.readouterr().out
        assert png_size(out)[0] > 800
        out.unlink()
