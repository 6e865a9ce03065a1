"""The zooms: each op's worked arithmetic equals the value the engine computed."""
import json

import numpy as np
import pytest

import minicnn
from minicnn import explain, nn, optim
from minicnn.explain import __main__ as command
from minicnn.explain.zoom import ZOOMS, zoom, zoom_lines


def all_ops_model():
    return nn.Sequential(
        nn.Conv2d(2, 4, 3, stride=1, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
        nn.LocalResponseNorm(3, alpha=0.5, beta=0.75, k=1.0), nn.MaxPool2d(3, stride=2),
        nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False), nn.Dropout(0.5),
        nn.Flatten(), nn.Linear(4 * 3 * 3, 5))


def all_ops_step(training=True):
    minicnn.manual_seed(0)
    model = all_ops_model().train(training)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 2, 13, 13)).astype("f4")
    y = rng.integers(0, 5, 4)
    return explain.step(model, x, y, optim.SGD(model.parameters(), lr=0.1))


@pytest.mark.parametrize("op", list(ZOOMS))
def test_each_zoom_works_out_values_that_equal_the_engines(op):
    record = all_ops_step()
    event = record.filter(op=op, phase="forward")[0]
    data = zoom(record, event["index"])
    json.dumps(data)
    assert data["op"] == op and len(data["checks"]) >= 2  # an output and a gradient element
    for check in data["checks"]:
        assert check["ok"], check
    assert all(len(line) <= 100 for line in zoom_lines(data))


@pytest.mark.parametrize("op", ["batch_norm", "dropout"])
def test_zooms_in_evaluation_mode(op):
    record = all_ops_step(training=False)
    events = record.filter(op=op, phase="forward")
    if op == "dropout":  # evaluation: dropout is the identity and runs no op at all
        assert len(events) == 0
        return
    data = record.zoom(events[0]["index"])
    assert all(check["ok"] for check in data["checks"])
    assert "eval mode" in "\n".join(data["lines"])


@pytest.mark.parametrize("op, slot", [("conv2d", "out"), ("max_pool2d", "grad_x"),
                                      ("batch_norm", "grad_weight"), ("linear", "grad_weight"),
                                      ("softmax_cross_entropy", "grad_x")])
def test_a_wrong_engine_value_would_be_caught(op, slot):
    record = all_ops_step()
    forward = record.filter(op=op, phase="forward")[0]
    event = forward if slot == "out" else next(
        e for e in record.backward if e["forward_index"] == forward["index"])
    record.arrays()[event.slot(slot)["array"]][...] += 0.5  # as if the engine were off
    assert not all(check["ok"] for check in zoom(record, forward["index"])["checks"])


def test_a_zoom_needs_the_arrays(capsys):
    minicnn.manual_seed(0)
    model = all_ops_model()
    x = np.ones((2, 2, 13, 13), dtype="f4")
    record = explain.step(model, x, np.array([0, 1]), optim.SGD(model.parameters(), lr=0.1),
                          keep="none")
    with pytest.raises(ValueError, match="keep='all'"):
        record.zoom(0)
    with pytest.raises(ValueError, match="no worked example for op 'reshape'"):
        record.zoom(record.filter(op="reshape")[0]["index"])


@pytest.mark.parametrize("target", ["c1", "s2", "act1", "f6", "softmax_cross_entropy"])
def test_the_op_flag_zooms_into_lenet5_on_real_images(target, capsys):
    assert command.main(["lenet5", "--batch", "4", "--op", target]) == 0
    out = capsys.readouterr().out
    assert "zoom into #" in out and ": matches" in out and "DOES NOT MATCH" not in out
    assert all(len(line) <= 100 for line in out.splitlines())


def test_views_hold_the_numbers_of_the_arrays():
    """The explorer draws zoom["view"]: each view equals values computed here from the arrays."""
    record = all_ops_step()

    def forward(op):
        event = record.filter(op=op, phase="forward")[0]
        return event, record.zoom(event["index"])["view"]

    conv, v = forward("conv2d")
    x = record.array(conv["index"], "x")
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))  # the conv has padding 1
    window = padded[v["n"], :, v["top"] + 1:v["top"] + 4, v["left"] + 1:v["left"] + 4]
    np.testing.assert_allclose(v["column"], window.ravel(), rtol=1e-6)
    np.testing.assert_allclose(v["weights"], record.array(conv["index"], "weight")[v["oc"]]
                               .ravel(), rtol=1e-6)
    out = record.array(conv["index"], "out")[v["n"], v["oc"], v["oh"], v["ow"]]
    assert v["out"] == pytest.approx(float(out))
    assert np.dot(v["column"], v["weights"]) + v["bias"] == pytest.approx(float(out), abs=1e-5)

    pool, v = forward("max_pool2d")  # kernel 3, stride 2, no padding
    x = record.array(pool["index"], "x")[v["n"], v["c"]]
    OH, OW = pool["outputs"][0]["shape"][2:]
    cells = []
    for i in range(OH):
        for j in range(OW):
            r, s = np.unravel_index(np.argmax(x[2 * i:2 * i + 3, 2 * j:2 * j + 3]), (3, 3))
            cells.append([2 * i + int(r), 2 * j + int(s)])
    assert v["argmax"] == cells

    bn, v = forward("batch_norm")
    x = record.array(bn["index"], "x").astype(np.float64)
    np.testing.assert_allclose(v["mean"], x.mean(axis=(0, 2, 3)), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(v["var"], x.var(axis=(0, 2, 3)), rtol=1e-5)
    assert v["source"] == "batch" and v["gamma"] == [1.0] * 4

    loss, v = forward("softmax_cross_entropy")
    z = record.array(loss["index"], "x").astype(np.float64)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    labels = loss["params"]["target"]
    np.testing.assert_allclose(v["p"], p, rtol=1e-5)
    np.testing.assert_allclose(v["p_minus_y"], p - np.eye(5)[labels], rtol=1e-5, atol=1e-7)
    grad = record.array(record.backward[0]["index"], "grad_x")  # the loss's backward runs first
    np.testing.assert_allclose(np.array(v["p_minus_y"]) / v["N"], grad, rtol=1e-4, atol=1e-7)
