"""GPU (CuPy) against CPU (NumPy): the same ops give the same numbers, forward and backward.

Skipped, with the reason, where CuPy or a CUDA device is missing.
"""
import numpy as np
import pytest

import minicnn
import minicnn.functional as F
from minicnn import backend, nn, optim

pytestmark = pytest.mark.skipif(not backend.gpu_available(),
                                reason="needs CuPy and a CUDA device (pip install minicnn[gpu])")


def _run(fn, arrays, device, upstream):
    """fn(*tensors) on `device`; returns the output and every input gradient, as NumPy."""
    tensors = [minicnn.Tensor(backend.to_device(a, device), requires_grad=True) for a in arrays]
    out = fn(*tensors)
    assert out.device == device
    out.backward(backend.to_device(upstream, device))
    return out.numpy(), [backend.asnumpy(t.grad) for t in tensors]


def _same_on_both_devices(fn, arrays, rng, rtol=1e-10):
    upstream = rng.standard_normal(fn(*[minicnn.Tensor(a) for a in arrays]).shape)
    out_cpu, grads_cpu = _run(fn, arrays, "cpu", upstream)
    out_gpu, grads_gpu = _run(fn, arrays, "gpu", upstream)
    np.testing.assert_allclose(out_gpu, out_cpu, rtol=rtol, atol=1e-12)
    for g_gpu, g_cpu in zip(grads_gpu, grads_cpu):
        np.testing.assert_allclose(g_gpu, g_cpu, rtol=rtol, atol=1e-12)


OPS = {
    "conv2d": (lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1),
               [(2, 4, 9, 8), (6, 4, 3, 3), (6,)]),
    "conv2d_groups_asym": (lambda x, w: F.conv2d(x, w, padding=((0, 1), (1, 0)), groups=2),
                           [(2, 4, 6, 7), (6, 2, 2, 2)]),
    "max_pool2d": (lambda x: F.max_pool2d(x, 3, 2, 1), [(2, 3, 9, 8)]),
    "avg_pool2d": (lambda x: F.avg_pool2d(x, 3, 2, 1, count_include_pad=False), [(2, 3, 9, 8)]),
    "global_pools": (lambda x: F.global_avg_pool2d(x) + F.global_max_pool2d(x), [(2, 5, 4, 3)]),
    "lrn": (lambda x: F.local_response_norm(x, 5, 0.5, 0.75, 2.0), [(2, 7, 3, 3)]),
    "linear": (F.linear, [(3, 5), (4, 5), (4,)]),
    "softmax": (lambda x: F.log_softmax(x, axis=1) * F.softmax(x, axis=1), [(3, 6)]),
    "arithmetic": (lambda a, b: (a * b + a / (b * b + 1.0)) ** 2 - a.exp().mean(axis=0),
                   [(3, 4), (4,)]),
}


@pytest.mark.parametrize("name", sorted(OPS))
def test_op_matches_between_cpu_and_gpu(rng, name):
    fn, shapes = OPS[name]
    _same_on_both_devices(fn, [rng.standard_normal(shape) for shape in shapes], rng)


def test_batch_norm_and_cross_entropy_match_between_cpu_and_gpu(rng):
    labels = np.array([1, 0, 3])
    x_values = rng.standard_normal((3, 4, 3, 3))

    def run(device):
        """Loss and gradients, with the running statistics on the same device as the input."""
        x = minicnn.Tensor(backend.to_device(x_values, device), requires_grad=True)
        gamma = minicnn.Tensor(backend.to_device(np.ones(4) * 1.5, device), requires_grad=True)
        beta = minicnn.Tensor(backend.to_device(np.zeros(4), device), requires_grad=True)
        running_mean = backend.to_device(np.zeros(4), device)
        running_var = backend.to_device(np.ones(4), device)
        h = F.batch_norm(x, gamma, beta, running_mean, running_var, training=True)
        loss = F.softmax_cross_entropy(F.global_avg_pool2d(h), labels)
        loss.backward()
        return [loss.numpy(), backend.asnumpy(x.grad), backend.asnumpy(gamma.grad),
                backend.asnumpy(running_mean), backend.asnumpy(running_var)]

    for on_gpu, on_cpu in zip(run("gpu"), run("cpu")):
        np.testing.assert_allclose(on_gpu, on_cpu, rtol=1e-10, atol=1e-12)


def test_gradcheck_runs_on_the_gpu(rng):
    x = minicnn.Tensor(backend.to_device(rng.standard_normal((1, 2, 5, 5)), "gpu"),
                       requires_grad=True)
    w = minicnn.Tensor(backend.to_device(rng.standard_normal((3, 2, 3, 3)), "gpu"),
                       requires_grad=True)
    reports = minicnn.gradcheck(lambda x, w: F.max_pool2d(F.conv2d(x, w, padding=1), 2), [x, w])
    assert all(report["passed"] for report in reports)


def test_module_and_optimizer_on_the_gpu(rng):
    minicnn.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Flatten(), nn.Linear(12, 2))
    x = rng.standard_normal((2, 1, 4, 4)).astype(np.float32)
    labels = np.array([0, 1])
    cpu_loss = F.softmax_cross_entropy(model(minicnn.Tensor(x)), labels)
    model.to("gpu")
    assert all(p.device == "gpu" for p in model.parameters())
    gpu_loss = F.softmax_cross_entropy(model(minicnn.Tensor(backend.to_device(x, "gpu"))), labels)
    np.testing.assert_allclose(gpu_loss.item(), cpu_loss.item(), rtol=1e-4)
    optimizer = optim.Adam(model.parameters(), lr=0.01)
    gpu_loss.backward()
    optimizer.step()
    assert all(p.device == "gpu" for p in model.parameters())
    restored = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU(),
                             nn.MaxPool2d(2), nn.Flatten(), nn.Linear(12, 2))
    restored.load_state_dict(model.state_dict())  # a GPU model's state loads on the CPU
    assert all(isinstance(v, np.ndarray) for v in model.state_dict().values())
