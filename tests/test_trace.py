"""minicnn.trace: the recorded step (docs/trace-record.md), its order, statistics and views."""
import json

import numpy as np
import pytest

import minicnn
import minicnn.functional as F
from minicnn import core, explain, models, nn, optim
from minicnn.data import Batches, load_bundled
from minicnn.trace import trace

SMALL = {  # the zoo at a small input, so a recorded step takes well under a second
    "lenet5": {},
    "resnet18": dict(small_input=True, width=0.125, image_size=16),
    "googlenet_small": dict(width=0.125, image_size=16),
    "squeezenet": dict(small_input=True),
}


def images(model, n=2):
    """The first n bundled Fashion-MNIST test images at the model's input size."""
    data = load_bundled()
    _, H, W = model.default_input_size
    return next(iter(Batches(data.test_x[:n], data.test_y[:n], n, data.mean, data.std,
                             size=(H, W))))


def recorded_step(name, keep="none", n=2):
    minicnn.manual_seed(0)
    model = models.build(name, **SMALL[name])
    x, y = images(model, n)
    return model, explain.step(model, x, y, optim.SGD(model.parameters(), lr=0.01), keep=keep,
                               name=name)


def _engine_calls(monkeypatch):
    """(op, output shape) of every Function call and the functions backward runs, observed by
    wrapping the engine itself: independent of the tracer."""
    calls = {"forward": [], "backward": []}
    original_call, original_propagate = core.Function.__call__, core._propagate

    def call(self, *inputs):
        out = original_call(self, *inputs)
        calls["forward"].append((self.op_name, out.shape))
        return out

    def propagate(function, gy, grads, *rest):
        calls["backward"].append((function.op_name, gy.shape))
        return original_propagate(function, gy, grads, *rest)

    monkeypatch.setattr(core.Function, "__call__", call)
    monkeypatch.setattr(core, "_propagate", propagate)
    return calls


@pytest.mark.parametrize("name", list(SMALL))
def test_every_forward_op_and_the_backward_in_reverse_dependency_order(name, monkeypatch):
    calls = _engine_calls(monkeypatch)
    _, record = recorded_step(name)
    forward, backward = record.forward, record.backward
    assert [(e["op"], tuple(e["outputs"][0]["shape"])) for e in forward] == calls["forward"]
    assert [(e["op"], tuple(e["outputs"][0]["shape"])) for e in backward] == calls["backward"]
    # each differentiable forward op is differentiated exactly once ...
    assert sorted(e["forward_index"] for e in backward) == [e["index"] for e in forward]
    # ... and only after every op that used its output (found from the tensors' identities)
    position = {e["forward_index"]: k for k, e in enumerate(backward)}
    for producer in forward:
        out = producer["outputs"][0]["tensor"]
        consumers = [e["index"] for e in forward
                     if any(s is not None and s["tensor"] == out for s in e["inputs"])]
        for consumer in consumers:
            assert position[consumer] < position[producer["index"]], (producer, consumer)
    phases = [e["phase"] for e in record]
    assert phases == sorted(phases, key=["forward", "backward", "update"].index)
    assert [e["index"] for e in record] == list(range(len(record)))


def test_the_statistics_equal_numbers_computed_from_hooks():
    minicnn.manual_seed(0)
    model = models.build("lenet5")
    x, y = images(model, 4)
    seen = {}

    def forward_hook(module, inputs, output):
        values = np.asarray(output.data, dtype=np.float64)
        seen[module] = dict(mean=values.mean(), std=values.std(), min=values.min(),
                            max=values.max(), zero_frac=float((values == 0).mean()))

    def backward_hook(module, grad_input, grad_output):
        seen[(module, "grad")] = float(np.linalg.norm(grad_output[0].astype(np.float64)))

    for _, module in model.named_modules():
        if module is not model:
            module.register_forward_hook(forward_hook)
            module.register_full_backward_hook(backward_hook)
    record = explain.step(model, x, y, optim.SGD(model.parameters(), lr=0.01))
    modules = dict(model.named_modules())
    for event in record.forward:
        if event["module"]:
            stats = event["outputs"][0]["stats"]
            for key, value in seen[modules[event["module"]]].items():
                assert stats[key] == pytest.approx(value, rel=1e-12, abs=1e-15), (event, key)
    for event in record.backward:
        if event["module"]:
            norm = event["outputs"][0]["stats"]["norm"]
            assert norm == pytest.approx(seen[(modules[event["module"]], "grad")], rel=1e-9)


def test_the_record_is_json_and_keeps_the_arrays_it_describes():
    _, record = recorded_step("lenet5", keep="all")
    data = json.loads(json.dumps(record.to_dict()))
    assert data["format"] == "minicnn.trace/1" and data["model"] == "lenet5"
    assert data["loss"] == pytest.approx(record.forward[-1]["outputs"][0]["stats"]["mean"])
    arrays = record.arrays()
    for event in data["events"]:
        for slot in event["inputs"] + event["outputs"]:
            if slot is not None:
                array = arrays[slot["array"]]
                assert list(array.shape) == slot["shape"]
                assert float(array.astype(np.float64).mean()) == pytest.approx(
                    slot["stats"]["mean"], rel=1e-9, abs=1e-12)
    conv = record.filter(module="c1", op="conv2d", phase="forward")[0]
    assert conv.slot("weight")["param"] == "c1.weight"
    assert conv["params"]["stride"] == [1, 1] and conv["params"]["padding"] == [2, 2, 2, 2]


def test_update_events_measure_the_step_taken():
    minicnn.manual_seed(0)
    model = models.build("lenet5")
    x, y = images(model, 4)
    before = {name: p.data.copy() for name, p in model.named_parameters()}
    record = explain.step(model, x, y, optim.SGD(model.parameters(), lr=0.05), keep="none")
    assert [e["update"]["param"] for e in record.updates] == list(before)
    for event in record.updates:
        name = event["update"]["param"]
        after = dict(model.named_parameters())[name].data
        dw = np.linalg.norm(after.astype(np.float64) - before[name])
        assert event["update"]["norm_dw"] == pytest.approx(dw, rel=1e-9)
        assert event["update"]["lr"] == 0.05 and event["op"] == "sgd"
        assert event["update"]["ratio"] == pytest.approx(dw / np.linalg.norm(before[name]))
    assert record.arrays() == {}


def test_a_tensor_used_twice_shows_its_gradient_contributions_added():
    model, record = recorded_step("resnet18", keep="all")
    summed = [e for e in record.backward if "sums" in e]
    assert summed, "a ResNet block's input feeds conv1 and the shortcut"
    arrays = record.arrays()
    for event in summed:
        assert len(event["sums"]) >= 2
        total = sum(arrays[f"{s['event']}/{s['slot']}"].astype(np.float64)
                    for s in event["sums"])
        np.testing.assert_allclose(arrays[f"{event['index']}/grad_out"], total, rtol=1e-5,
                                   atol=1e-7)
        assert all(s["event"] < event["index"] for s in event["sums"])
    assert "its gradient is the sum of the contributions" in repr(record)


def test_keep_a_list_of_modules_filter_and_diff():
    minicnn.manual_seed(0)
    model = models.build("lenet5")
    x, y = images(model, 4)
    opt = optim.SGD(model.parameters(), lr=0.1)
    first = explain.step(model, x, y, opt, keep=["c1", "output"])
    kept_modules = {key.split("/")[0] for key in first.arrays()}
    assert {first.event(int(i))["module"] for i in kept_modules} == {"c1", "output"}
    assert len(first.filter(op="conv2d")) == 3 * 2  # three convolutions, forward and backward
    assert {e["module"] for e in first.filter(module="c1")} == {"c1"}
    second = explain.step(model, x, y, opt, keep=["c1", "output"])
    diff = first.diff(second)
    assert {row["param"] for row in diff.weights} == {n for n, _ in model.named_parameters()}
    moved = {row["param"]: row["moved"] for row in diff.weights}
    assert moved["c1.weight"] is not None and moved["c3.weight"] is None  # c3 was not kept
    assert diff.gradients[0]["change"] <= diff.gradients[-1]["change"]
    assert "weights, moved most first" in repr(diff)


def test_tracing_is_off_outside_the_block_and_does_not_nest():
    model = nn.Sequential(nn.Linear(3, 2))
    with trace(model) as record:
        with pytest.raises(RuntimeError, match="already active"):
            with trace(model):
                pass
        model(minicnn.Tensor(np.ones((1, 3), dtype="f4")))
    assert core._tracer is None and len(record) == 1
    model(minicnn.Tensor(np.ones((1, 3), dtype="f4")))
    assert len(record) == 1
    assert not model[0]._forward_hooks and not model[0]._forward_pre_hooks


@pytest.mark.parametrize("keep, message", [("some", "keep must be"), (["nope"], "nope")])
def test_bad_keep_is_a_clear_error(keep, message):
    with pytest.raises(ValueError, match=message):
        with trace(nn.Sequential(nn.ReLU()), keep=keep):
            pass


def test_the_record_renders_as_text_and_html():
    _, record = recorded_step("lenet5")
    text = repr(record)
    assert all(len(line) <= 100 for line in text.splitlines())
    assert "backward: 13 ops" in text and "update: 10 parameters" in text
    html = record._repr_html_()
    assert html.count("<tr>") == len(record) + 1


def test_the_identity_ops_of_backward_hooks_stay_out_of_the_record():
    model = nn.Sequential(nn.Linear(3, 2), nn.ReLU())
    calls = []
    model[1].register_full_backward_hook(lambda m, gi, go: calls.append(gi[0].shape))
    x = minicnn.Tensor(np.ones((2, 3), dtype="f4"))
    with trace(model) as record:
        F.relu(model(x)).sum().backward()
    assert [e["op"] for e in record.forward] == ["linear", "relu", "relu", "sum"]
    assert [e["op"] for e in record.backward] == ["sum", "relu", "relu", "linear"]
    linear_out = record.forward[0]["outputs"][0]["tensor"]
    assert record.forward[1]["inputs"][0]["tensor"] == linear_out  # linked through the hook
    assert calls == [(2, 2)]


def test_kept_arrays_are_copies_taken_when_the_op_ran():
    _, record = recorded_step("lenet5", keep="all")
    conv = record.filter(module="c1", phase="forward")[0]
    update = record.filter(module="c1", phase="update")[0]
    weight_at_forward = record.array(conv["index"], "weight")
    np.testing.assert_array_equal(weight_at_forward, record.array(update["index"], "before"))
    assert not np.array_equal(weight_at_forward, record.array(update["index"], "after"))
    with pytest.raises(KeyError, match="no kept array"):
        record.array(conv["index"], "nothing")


def test_a_trace_without_a_model_records_ops_without_paths():
    x = minicnn.Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    with trace() as record:
        (F.relu(x - 2.0) * x).sum().backward()
    assert [e["op"] for e in record.forward] == ["sub", "relu", "mul", "sum"]
    assert {e["module"] for e in record} == {""} and record.loss == pytest.approx(
        float((np.maximum(x.data - 2, 0) * x.data).sum()))
    mul = record.filter(op="mul", phase="backward")[0]
    x_id = record.forward[0]["inputs"][0]["tensor"]
    assert mul.slot("grad_b")["tensor"] == x_id  # the gradient sent to x through the product
