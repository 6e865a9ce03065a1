"""GPU (CuPy) against CPU (NumPy): the same ops give the same numbers, forward and backward.

Tests marked `gpu` skip, with the reason, where CuPy or a CUDA device is missing; the rest run
everywhere: the errors a machine without a GPU gives, and the device bookkeeping (moving
modules, state dicts, checkpoints) on a stand-in "GPU" array type.
"""
import types

import numpy as np
import pytest

import minicnn
import minicnn.functional as F
from minicnn import backend, checkpoint, models, nn, optim
from minicnn.kernels import cuda

from conftest import distinct64
from op_cases import CONV_CASES, POOL_CASES

NO_GPU = backend.gpu_unavailable_reason()
on_gpu = [pytest.mark.gpu, pytest.mark.skipif(NO_GPU is not None, reason=f"no GPU: {NO_GPU}")]
no_gpu_here = pytest.mark.skipif(NO_GPU is None, reason="a GPU is present: nothing to refuse")


def _run(fn, arrays, device, upstream):
    """fn(*tensors) on `device`; returns the output and every input gradient, as NumPy."""
    tensors = [minicnn.Tensor(backend.to_device(a, device), requires_grad=True) for a in arrays]
    out = fn(*tensors)
    assert out.device == device
    out.backward(backend.to_device(upstream, device))
    return out.numpy(), [backend.asnumpy(t.grad) for t in tensors]


def _assert_close(got, want, rtol):
    """Relative to the array's scale, so entries near zero do not demand exact equality."""
    scale = max(float(np.abs(want).max()), 1e-30)
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * scale)


def _same_on_both_devices(fn, arrays, rng, rtol):
    upstream = rng.standard_normal(fn(*[minicnn.Tensor(a) for a in arrays]).shape)
    upstream = upstream.astype(arrays[0].dtype)
    out_cpu, grads_cpu = _run(fn, arrays, "cpu", upstream)
    out_gpu, grads_gpu = _run(fn, arrays, "gpu", upstream)
    _assert_close(out_gpu, out_cpu, rtol)
    for g_gpu, g_cpu in zip(grads_gpu, grads_cpu):
        _assert_close(g_gpu, g_cpu, rtol)


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
    "relu_sigmoid_tanh": (lambda x: F.relu(x) + F.sigmoid(x) * F.tanh(x), [(3, 4, 2)]),
    "dropout_eval": (lambda x: F.dropout(x, 0.5, training=False), [(3, 4)]),
    "softmax": (lambda x: F.log_softmax(x, axis=1) * F.softmax(x, axis=1), [(3, 6)]),
    "arithmetic": (lambda a, b: (a * b + a / (b * b + 1.0)) ** 2 - a.exp().mean(axis=0),
                   [(3, 4), (4,)]),
}
DTYPES = {"float32": (np.float32, 1e-5), "float64": (np.float64, 1e-10)}


@pytest.mark.parametrize("dtype", sorted(DTYPES))
@pytest.mark.parametrize("name", sorted(OPS))
def test_op_matches_between_cpu_and_gpu(rng, name, dtype):
    fn, shapes = OPS[name]
    real, rtol = DTYPES[dtype]
    _same_on_both_devices(fn, [rng.standard_normal(s).astype(real) for s in shapes], rng, rtol)


@pytest.mark.parametrize("dtype", sorted(DTYPES))
@pytest.mark.parametrize("name", sorted(CONV_CASES))
def test_conv2d_grid_matches_between_cpu_and_gpu(rng, name, dtype):
    x_shape, (OC, KH, KW), stride, padding, groups, bias = CONV_CASES[name]
    real, rtol = DTYPES[dtype]
    shapes = [x_shape, (OC, x_shape[1] // groups, KH, KW)] + ([(OC,)] if bias else [])
    arrays = [rng.standard_normal(s).astype(real) for s in shapes]
    _same_on_both_devices(lambda *t: F.conv2d(*t, stride=stride, padding=padding,
                                              groups=groups), arrays, rng, rtol)


@pytest.mark.parametrize("pool", ["max", "avg_include_pad", "avg_exclude_pad"])
@pytest.mark.parametrize("name", sorted(POOL_CASES))
def test_pool_grid_matches_between_cpu_and_gpu(rng, name, pool):
    x_shape, kernel, stride, padding = POOL_CASES[name]
    if pool == "max":
        def fn(x):
            return F.max_pool2d(x, kernel, stride, padding)
    else:
        def fn(x):
            return F.avg_pool2d(x, kernel, stride, padding, pool == "avg_include_pad")
    x = distinct64(rng, *x_shape).data.astype(np.float32)  # no ties: one argmax on both
    _same_on_both_devices(fn, [x], rng, 1e-5)


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

    for on_gpu_, on_cpu in zip(run("gpu"), run("cpu")):
        np.testing.assert_allclose(on_gpu_, on_cpu, rtol=1e-10, atol=1e-12)


def _gpu64(rng, shape, distinct=False):
    data = distinct64(rng, *shape).data if distinct else rng.standard_normal(shape)
    return minicnn.Tensor(backend.to_device(data, "gpu"), requires_grad=True)


@pytest.mark.parametrize("name", sorted(CONV_CASES))
def test_gradcheck_conv2d_on_the_gpu(rng, name):
    """float64 central differences against the analytic gradient, computed on the GPU."""
    x_shape, (OC, KH, KW), stride, padding, groups, bias = CONV_CASES[name]
    inputs = [_gpu64(rng, x_shape), _gpu64(rng, (OC, x_shape[1] // groups, KH, KW))]
    inputs += [_gpu64(rng, (OC,))] if bias else []
    reports = minicnn.gradcheck(
        lambda *t: F.conv2d(*t, stride=stride, padding=padding, groups=groups), inputs)
    assert all(report["passed"] for report in reports), reports


@pytest.mark.parametrize("name", sorted(POOL_CASES))
def test_gradcheck_pools_and_lrn_on_the_gpu(rng, name):
    x_shape, kernel, stride, padding = POOL_CASES[name]
    x = _gpu64(rng, x_shape, distinct=True)
    for fn in (lambda x: F.max_pool2d(x, kernel, stride, padding),
               lambda x: F.avg_pool2d(x, kernel, stride, padding, count_include_pad=False),
               lambda x: F.local_response_norm(x, 3, 0.5, 0.75, 2.0)):
        reports = minicnn.gradcheck(fn, [x])
        assert reports[0]["passed"], reports


def test_gradcheck_batch_norm_on_the_gpu(rng):
    x, gamma, beta = _gpu64(rng, (4, 3, 2, 2)), _gpu64(rng, (3,)), _gpu64(rng, (3,))
    reports = minicnn.gradcheck(
        lambda x, g, b: F.batch_norm(x, g, b, None, None, training=True), [x, gamma, beta])
    assert all(report["passed"] for report in reports), reports


def _lenet_losses(device, steps=15, seed=0):
    """Losses of a short LeNet-5 run from one initialisation, on `device`: 15 Adam steps on
    one fixed random batch, which the network memorises."""
    minicnn.manual_seed(seed)
    model = models.build("lenet5", num_classes=10, in_channels=1)
    model.to(device)
    optimizer = optim.Adam(list(model.parameters()), lr=1e-2)
    data_rng = np.random.default_rng(seed)
    x = data_rng.standard_normal((32, 1, 28, 28)).astype(np.float32)
    y = data_rng.integers(0, 10, 32)
    losses = []
    for _ in range(steps):
        loss = F.softmax_cross_entropy(model(minicnn.Tensor(backend.to_device(x, device))),
                                       backend.to_device(y, device))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return np.array(losses)


def test_lenet5_training_on_the_gpu_follows_the_cpu_loss_curve():
    cpu, gpu = _lenet_losses("cpu"), _lenet_losses("gpu")
    assert cpu[-1] < cpu[0] - 0.5  # it learns (memorises the batch: 2.30 -> 1.50 here)
    np.testing.assert_allclose(gpu, cpu, rtol=1e-3)


def test_seeding_is_deterministic_on_the_gpu(rng):
    """Same seed, same GPU run: parameters drawn on the GPU, dropout masks, no atomics."""
    def run():
        backend.set_default_device("gpu")
        try:
            minicnn.manual_seed(3)
            layer = nn.Linear(6, 4)
            x = minicnn.Tensor(backend.to_device(rng.standard_normal((5, 6)), "gpu"))
            out = F.dropout(layer(x.to("gpu")), 0.5)
            out.backward(backend.to_device(np.ones(out.shape, dtype=out.dtype), "gpu"))
            return out.numpy(), backend.asnumpy(layer.weight.grad)
        finally:
            backend.set_default_device("cpu")
    first, second = run(), run()
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)


def test_module_optimizer_and_checkpoint_move_between_devices(rng, tmp_path):
    minicnn.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Flatten(), nn.Linear(12, 2))
    x = rng.standard_normal((2, 1, 4, 4)).astype(np.float32)
    labels = np.array([0, 1])
    cpu_loss = F.softmax_cross_entropy(model(minicnn.Tensor(x)), labels)
    model.to("gpu")
    assert all(p.device == "gpu" for p in model.parameters())
    gpu_loss = F.softmax_cross_entropy(model(minicnn.Tensor(backend.to_device(x, "gpu"))), labels)
    np.testing.assert_allclose(gpu_loss.item(), cpu_loss.item(), rtol=1e-5)
    optimizer = optim.Adam(model.parameters(), lr=0.01)
    gpu_loss.backward()
    optimizer.step()
    assert all(p.device == "gpu" for p in model.parameters())
    checkpoint.save(tmp_path / "gpu.npz", model.state_dict(), optimizer.state_dict(), {})
    model_state, optimizer_state, _ = checkpoint.load(tmp_path / "gpu.npz")
    restored = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU(),
                             nn.MaxPool2d(2), nn.Flatten(), nn.Linear(12, 2))
    restored.load_state_dict(model_state)  # a GPU model's checkpoint loads on the CPU
    for (name, value), original in zip(restored.state_dict().items(),
                                       model.state_dict().values()):
        np.testing.assert_array_equal(value, original, err_msg=name)


# ----- the CUDA kernels themselves, on the device (the CPU emulation is in test_cuda_compile)
def test_cuda_kernels_are_the_ones_used_for_gpu_arrays():
    x = backend.to_device(np.zeros((1, 1, 4, 4), dtype=np.float32), "gpu")
    assert cuda.use_cuda(x)
    assert not cuda.use_cuda(np.zeros(1))


# every test above this line needs a GPU; mark them so in one place
for _name, _test in list(globals().items()):
    if _name.startswith("test_") and callable(_test):
        for _mark in on_gpu:
            _test = _mark(_test)
        globals()[_name] = _test


# ----- what a machine without a GPU says, and device bookkeeping on a stand-in ------------
@no_gpu_here
@pytest.mark.parametrize("move", [
    lambda: minicnn.Tensor([1.0]).to("gpu"),
    lambda: nn.Linear(2, 3).to("gpu"),
    lambda: backend.set_default_device("gpu"),
    lambda: backend.to_device(np.zeros(2), "gpu"),
])
def test_asking_for_the_gpu_here_is_one_line_saying_what_to_install(move):
    with pytest.raises(minicnn.DeviceError) as error:
        move()
    message = str(error.value)
    assert message.startswith("device 'gpu': ")
    assert "pip install minicnn[gpu]" in message and "cupy-cuda1" in message
    assert "\n" not in message
    assert backend.get_default_device() == "cpu"


@no_gpu_here
def test_a_failed_move_leaves_the_module_whole_on_the_cpu():
    model = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    with pytest.raises(minicnn.DeviceError):
        model.to("gpu")
    assert all(p.device == "cpu" for p in model.parameters())
    assert all(backend.device_of(b) == "cpu" for b in model.buffers())


def _fake_cupy(device_count=1, error=None):
    """Enough of CuPy's surface for backend.gpu_unavailable_reason."""
    def get_device_count():
        if error is not None:
            raise error
        return device_count
    runtime = types.SimpleNamespace(getDeviceCount=get_device_count)
    return types.SimpleNamespace(cuda=types.SimpleNamespace(runtime=runtime))


@pytest.mark.parametrize("cupy, import_error, expected", [
    (None, ModuleNotFoundError("No module named 'cupy'"), "pip install minicnn[gpu]"),
    (None, ImportError("libcudart.so.12: cannot open shared object file\nmore"),
     "failed to import (ImportError: libcudart.so.12: cannot open shared object file)"),
    (_fake_cupy(error=RuntimeError("cudaErrorInsufficientDriver")), None,
     "no usable CUDA driver (RuntimeError: cudaErrorInsufficientDriver)"),
    (_fake_cupy(device_count=0), None, "sees no CUDA device"),
])
def test_each_reason_for_no_gpu_is_named(monkeypatch, cupy, import_error, expected):
    monkeypatch.setattr(backend, "cupy", cupy)
    monkeypatch.setattr(backend, "_CUPY_ERROR", import_error)
    reason = backend.gpu_unavailable_reason()
    assert expected in reason and "\n" not in reason
    assert not backend.gpu_available()
    with pytest.raises(minicnn.DeviceError, match="^device 'gpu': "):
        backend.to_device(np.zeros(1), "gpu")


def test_a_bad_device_name_is_refused():
    with pytest.raises(ValueError, match="^device: must be 'cpu' or 'gpu', got 'cuda'"):
        minicnn.Tensor([1.0]).to("cuda")


class StandInGpuArray(np.ndarray):
    """A NumPy array that backend.device_of calls 'gpu' (CuPy's role, played on the CPU)."""


@pytest.fixture
def stand_in_gpu(monkeypatch):
    """CuPy replaced by NumPy arrays of the StandInGpuArray type: moves, not maths."""
    def to_host(array):
        return np.array(array).view(np.ndarray)
    fake = _fake_cupy(device_count=1)
    fake.ndarray = StandInGpuArray
    fake.asarray = lambda array, dtype=None: np.array(array, dtype=dtype).view(StandInGpuArray)
    fake.asnumpy = to_host
    fake.get_array_module = lambda *arrays: np
    fake.random = types.SimpleNamespace(seed=lambda seed: None)  # manual_seed seeds the GPU too
    monkeypatch.setattr(backend, "cupy", fake)
    monkeypatch.setattr(backend, "_CUPY_ERROR", None)
    return fake


def test_checkpoints_of_a_device_model_hold_host_arrays_and_load_anywhere(stand_in_gpu,
                                                                         tmp_path, rng):
    minicnn.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(8, 2))
    optimizer = optim.SGD(list(model.parameters()), lr=0.1, momentum=0.9)
    for param in model.parameters():  # momentum buffers to save
        param.grad = rng.standard_normal(param.shape).astype(param.dtype)
    optimizer.step()
    model.to("gpu")
    assert all(type(p.data) is StandInGpuArray for p in model.parameters())
    assert all(type(b) is StandInGpuArray for b in model.buffers())
    state = model.state_dict()
    assert all(type(v) is np.ndarray for v in state.values())
    checkpoint.save(tmp_path / "c.npz", state, optimizer.state_dict(), {"epoch": 1})
    model_state, optimizer_state, meta = checkpoint.load(tmp_path / "c.npz")
    assert meta["epoch"] == 1
    for device, kind in (("cpu", np.ndarray), ("gpu", StandInGpuArray)):
        minicnn.manual_seed(1)  # different initial weights, overwritten by the load
        other = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten(),
                              nn.Linear(8, 2)).to(device)
        other.load_state_dict(model_state)
        assert all(type(p.data) is kind for p in other.parameters())
        for name, value in other.state_dict().items():
            np.testing.assert_array_equal(value, state[name], err_msg=name)


def test_the_gpu_benchmark_compares_like_with_like():
    """benchmarks/gpu.py's PyTorch twins: same parameter count and output shape as minicnn."""
    torch = pytest.importorskip("torch", reason="PyTorch is the benchmark's reference")
    import importlib.util
    import pathlib
    path = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "gpu.py"
    spec = importlib.util.spec_from_file_location("gpu_benchmark", path)
    benchmark = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(benchmark)
    for name in ("lenet5", "vgg11", "resnet18"):  # AlexNet at 224 px is too slow for a test
        model, twin = benchmark.build_pair(name)  # raises if the parameter counts differ
        _, (C, H, W), _, _ = benchmark.NETWORKS[name]
        x = np.zeros((2, C, H, W), dtype=np.float32)
        model.eval()
        with minicnn.no_grad():
            ours = model(minicnn.Tensor(x)).shape
        assert tuple(twin.eval()(torch.from_numpy(x)).shape) == ours == (2, 10), name


@no_gpu_here
@pytest.mark.parametrize("command", ["evaluate", "predict"])
def test_commands_asked_for_the_gpu_here_print_one_line_and_exit_2(command, tmp_path, capsys):
    import importlib
    main = importlib.import_module(f"minicnn.{command}").main
    checkpoint.save(tmp_path / "checkpoint.npz", {}, {}, {"config": {}})  # read before the GPU
    argv = [str(tmp_path / "checkpoint.npz"), "--device", "gpu"]
    if command == "predict":
        argv.insert(1, str(tmp_path / "image.png"))
    try:
        code = main(argv)
    finally:
        backend.set_default_device("cpu")
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: device 'gpu': ") and err.count("\n") == 1
