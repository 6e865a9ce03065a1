"""Checkpoint files: round trip of nested state, atomic replacement, clear errors."""
import os

import numpy as np
import pytest

from minicnn import checkpoint


def _state():
    model = {"conv.weight": np.arange(6, dtype=np.float32).reshape(2, 3),
             "bn.running_var": np.ones(3, dtype=np.float64)}
    optimizer = {"lr": 0.05, "step_count": 7,
                 "state": [{"m": np.full(2, 0.5), "v": np.zeros((2, 2))}, {}]}
    meta = {"epoch": 3, "batch": 1, "config": {"model": "lenet5", "build": {"classic": True}},
            "rng_state": {"state": {"state": 2 ** 100 + 3, "inc": 5}}}
    return model, optimizer, meta


def test_round_trip(tmp_path):
    model, optimizer, meta = _state()
    path = str(tmp_path / "c.npz")
    checkpoint.save(path, model, optimizer, meta)
    model2, optimizer2, meta2 = checkpoint.load(path)
    assert set(model2) == set(model)
    for name in model:
        np.testing.assert_array_equal(model2[name], model[name])
        assert model2[name].dtype == model[name].dtype
    assert optimizer2["lr"] == 0.05 and optimizer2["step_count"] == 7
    np.testing.assert_array_equal(optimizer2["state"][0]["v"], np.zeros((2, 2)))
    assert optimizer2["state"][1] == {}
    assert meta2["rng_state"]["state"]["state"] == 2 ** 100 + 3  # big ints survive
    assert meta2["config"] == meta["config"] and meta2["epoch"] == 3


def test_failed_write_keeps_the_old_checkpoint(tmp_path, monkeypatch):
    model, optimizer, meta = _state()
    path = str(tmp_path / "c.npz")
    checkpoint.save(path, model, optimizer, meta)
    before = open(path, "rb").read()

    def crash(file, **arrays):
        file.write(b"half a checkpoint")
        raise KeyboardInterrupt  # e.g. Ctrl-C in the middle of writing

    monkeypatch.setattr(checkpoint.np, "savez", crash)
    with pytest.raises(KeyboardInterrupt):
        checkpoint.save(path, model, optimizer, {**meta, "epoch": 4})
    assert open(path, "rb").read() == before
    assert os.listdir(tmp_path) == ["c.npz"]


def test_not_a_checkpoint(tmp_path):
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"garbage")
    with pytest.raises(ValueError, match="not a readable minicnn checkpoint"):
        checkpoint.load(str(junk))
    other = tmp_path / "other.npz"
    np.savez(other, weights=np.zeros(2))
    with pytest.raises(ValueError, match="no 'meta'"):
        checkpoint.load(str(other))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        checkpoint.load(str(tmp_path / "missing.npz"))
