"""Module.to(device=None, dtype=None): one place that moves and casts a model's arrays."""
import numpy as np
import pytest

import minicnn
from minicnn import nn


def _model():
    minicnn.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), nn.Flatten(),
                         nn.Linear(2 * 4 * 4, 3))


def test_dtype_casts_every_parameter_and_buffer_keeping_the_values():
    model = _model()
    before = model.state_dict()
    assert model.to(dtype="float64") is model
    after = model.state_dict()
    assert set(after) == set(before) and "1.running_var" in after
    for name, value in after.items():
        assert value.dtype == np.float64, name
        np.testing.assert_array_equal(value, before[name])
    assert model[1].running_mean.dtype == np.float64  # a buffer, not only the state copy


def test_a_cast_model_computes_in_that_dtype_and_drops_stale_gradients():
    model = _model()
    x = minicnn.Tensor(np.random.default_rng(0).standard_normal((2, 1, 6, 6)).astype("f4"))
    model(x).sum().backward()
    assert model[0].weight.grad is not None
    model.to(dtype=np.float64)
    assert all(param.grad is None for param in model.parameters())
    y = model(minicnn.Tensor(x.data.astype(np.float64)))
    assert y.dtype == np.float64


def test_device_stays_the_first_positional_argument():
    model = _model().to(dtype="float64")
    model.to("cpu")
    assert all(isinstance(p.data, np.ndarray) and p.dtype == np.float64
               for p in model.parameters())
    model.to("cpu", "float32")
    assert all(p.dtype == np.float32 for p in model.parameters())


def test_a_non_floating_dtype_is_refused_naming_the_method():
    with pytest.raises(minicnn.DTypeError, match="Module.to: dtype must be a floating type"):
        _model().to(dtype="int64")
