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
