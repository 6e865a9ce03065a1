"""Shared helpers for the engine-core tests: seeded float64 inputs and float64 modules.

Gradient checks run in float64 (central differences in float32 are too noisy to catch
small backward errors), so the helpers here make float64 tensors and convert a module's
parameters and buffers to float64.
"""
import numpy as np
import pytest

import minicnn


@pytest.fixture
def rng():
    """A fresh, fixed-seed NumPy generator per test, so every test is reproducible alone."""
    return np.random.default_rng(0)


def tensor64(rng, *shape, requires_grad=True, low=None, high=None):
    """A float64 Tensor of standard-normal values (or uniform in [low, high))."""
    if low is None:
        data = rng.standard_normal(shape)
    else:
        data = rng.uniform(low, high, size=shape)
    return minicnn.Tensor(data.astype(np.float64), requires_grad=requires_grad)


def distinct64(rng, *shape, spacing=0.05):
    """A float64 Tensor whose values are pairwise at least `spacing` apart.

    Max pooling and ReLU have kinks where two values tie (or a value is 0); a central
    difference with eps=1e-6 that straddles a kink gives a meaningless numeric gradient.
    Spacing the values out (and keeping them away from 0) makes that impossible.
    """
    size = int(np.prod(shape))
    values = (rng.permutation(size) - size / 2 + 0.25) * spacing  # never within spacing/4 of 0
    return minicnn.Tensor(values.reshape(shape).astype(np.float64), requires_grad=True)


def module_to_float64(module):
    """Convert every parameter and buffer of `module` (in place) to float64; returns it."""
    state = {name: value.astype(np.float64) for name, value in module.state_dict().items()}
    module.to(dtype=np.float64)
    for name, value in module.state_dict().items():
        assert value.dtype == np.float64, f"{name} is still {value.dtype}"
        np.testing.assert_array_equal(value, state[name])
    return module


def assert_gradcheck(fn, inputs, **kwargs):
    """Run minicnn.gradcheck and also assert every per-input report says it passed."""
    reports = minicnn.gradcheck(fn, inputs, **kwargs)
    assert len(reports) == len(inputs)
    for report in reports:
        assert report["passed"], report
    return reports


@pytest.fixture(params=["numba", "reference"])
def kernels(request, monkeypatch):
    """Run a test once with the numba kernels and once with the plain NumPy references.

    minicnn.kernels picks numba for NumPy arrays unless MINICNN_KERNELS=reference; both paths
    must give the same, correct numbers.
    """
    import minicnn.kernels
    if request.param == "numba" and minicnn.kernels.windows_numba is None:
        pytest.skip("numba is not installed: only the reference kernels exist")
    monkeypatch.setenv("MINICNN_KERNELS", request.param)
    assert minicnn.kernels.use_numba(np.zeros(1)) == (request.param == "numba")
    return request.param
