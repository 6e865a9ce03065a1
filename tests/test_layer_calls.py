"""The recorder of leaf-layer calls (minicnn.layer_calls), built on the Module forward hooks."""
import numpy as np
import pytest

import minicnn
import minicnn.functional as F
from minicnn import nn
from minicnn.layer_calls import leaf_call_names, leaf_modules, module_paths, record_leaf_calls


class ConvTwiceThenIdentity(nn.Module):
    """One convolution called twice, a pass-through layer, then a nested block."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 3, padding=1)
        self.skip = nn.Identity()
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(16, 2))

    def forward(self, x):
        return self.head(self.skip(self.conv(F.relu(self.conv(x)))))


def _model():
    minicnn.manual_seed(0)
    return ConvTwiceThenIdentity()


def _x():
    return minicnn.Tensor(np.random.default_rng(0).standard_normal((2, 1, 4, 4)).astype("f4"))


def test_leaf_modules_are_the_modules_without_children_with_their_paths():
    model = _model()
    assert [(path, type(m).__name__) for path, m in leaf_modules(model)] == [
        ("conv", "Conv2d"), ("skip", "Identity"), ("head.0", "Flatten"), ("head.1", "Linear")]


def test_every_leaf_call_is_recorded_in_execution_order_with_its_tensors():
    model = _model()
    x = _x()
    with record_leaf_calls(model) as calls:
        y = model(x)
    assert [call.path for call in calls] == ["conv", "conv", "skip", "head.0", "head.1"]
    assert calls[0].input is x and calls[0].inputs == (x,)
    assert calls[1].input is not x  # the second call sees relu of the first output
    np.testing.assert_array_equal(calls[1].input.data, np.maximum(calls[0].output.data, 0))
    assert calls[2].output is calls[2].input  # Identity passes its input through
    assert calls[-1].output is y
    assert [tuple(call.output.shape) for call in calls] == [
        (2, 1, 4, 4), (2, 1, 4, 4), (2, 1, 4, 4), (2, 16), (2, 2)]


def test_names_number_repeated_calls_and_skip_pass_throughs():
    model = _model()
    with record_leaf_calls(model) as calls:
        model(_x())
    assert leaf_call_names(calls) == ["conv", "conv_1", None, "head.0", "head.1"]


def test_the_hooks_are_removed_on_exit_even_after_an_error():
    model = _model()
    with pytest.raises(minicnn.ShapeError):
        with record_leaf_calls(model) as calls:
            model(minicnn.Tensor(np.zeros((2, 3, 4, 4), "f4")))  # 3 channels, conv wants 1
    assert calls == []
    assert all(not m._forward_hooks for m in model.modules())
    with record_leaf_calls(model) as calls:
        pass
    model(_x())  # calls outside the block are not recorded
    assert calls == []


def test_recording_keeps_the_models_output_and_the_users_own_hooks():
    model = _model()
    plain = model(_x()).data.copy()
    seen = []
    handle = model.head[1].register_forward_hook(lambda m, inputs, out: seen.append(out.shape))
    with record_leaf_calls(model) as calls:
        recorded = model(_x()).data
    np.testing.assert_array_equal(recorded, plain)
    assert seen == [(2, 2)] and len(calls) == 5
    assert len(model.head[1]._forward_hooks) == 1  # the user's hook is still there
    handle.remove()


def test_module_paths_is_the_stack_of_running_modules_with_callbacks():
    model = _model()
    seen = []  # (event, path, the stack at that moment)
    with module_paths(model, before=lambda path, m, inputs: seen.append(("in", path, list(stack))),
                      after=lambda path, m, inputs, out: seen.append(("out", path, list(stack)))
                      ) as stack:
        model(_x())
        assert stack == []  # nothing runs now
    assert seen[:3] == [("in", "", [""]), ("in", "conv", ["", "conv"]), ("out", "conv", [""])]
    assert ("in", "head.1", ["", "head", "head.1"]) in seen
    assert seen[-1] == ("out", "", [])  # the model returns last
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


def test_module_paths_recovers_from_a_forward_that_raised():
    model = _model()
    with module_paths(model) as stack:
        with pytest.raises(minicnn.ShapeError):
            model(minicnn.Tensor(np.zeros((2, 3, 4, 4), "f4")))
        assert stack == ["", "conv"]  # the failed modules never returned
        model(_x())
        assert stack == ["", "conv"]  # a later call pops back to where it started
    assert all(not m._forward_pre_hooks for m in model.modules())


def test_the_recorder_the_conventions_and_the_commands_load_no_tensorflow():
    """Only `minicnn.interop.tensorflow` (and the Keras modules it gathers) may import TF."""
    import subprocess
    import sys

    probe = ("import sys, minicnn.layer_calls, minicnn.interop.tf_conventions, minicnn.summary, "
             "minicnn.crosscheck; print(sorted(m for m in sys.modules "
             "if m.split('.')[0] in ('tensorflow', 'keras')))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
