"""The CUDA kernels of kernels/cuda_src/: they compile, export what kernels/cuda.py loads, and
compute what their NumPy references compute.

Four ways of running them:
  * nvcc compiles every .cu file for sm_90 (H100) to PTX, each template kernel instantiated
    for float and double (skipped when nvcc is missing);
  * NVRTC, the runtime compiler CuPy's RawModule uses, compiles them with kernels/cuda.py's
    options, without a GPU (skipped when no libnvrtc is found, e.g. pip's
    nvidia-cuda-nvrtc-cu12);
  * "emulated": the host C++ compiler runs the same source thread by thread on the CPU
    (tests/cuda_emulation.py), through kernels/cuda.py's own wrappers;
  * "gpu": CuPy compiles them with NVRTC and runs them on a CUDA device (marked `gpu`; skipped
    without CuPy and a device).
"""
import ctypes
import ctypes.util
import glob
import os
import pathlib
import re
import shutil
import subprocess
import types

import numpy as np
import pytest
from cuda_emulation import SOURCE_DIR, Emulator, entry_points

import minicnn
import minicnn.functional as F
from minicnn import backend
from minicnn.kernels import cuda, lrn, pooling, windows
from minicnn.ops.pooling import AvgPool2d
from minicnn.ops.utils import padding4, pair

from op_cases import CONV_CASES, POOL_CASES

NVCC = shutil.which("nvcc") or ("/usr/local/bin/nvcc"
                                if pathlib.Path("/usr/local/bin/nvcc").exists() else None)
RTOL = {np.float32: 1e-5, np.float64: 1e-12}


def test_every_cu_file_is_loaded_and_declares_what_the_loader_expects():
    on_disk = sorted(path.name for path in SOURCE_DIR.glob("*.cu"))
    assert on_disk == sorted(cuda.KERNELS)
    for file, names in cuda.entry_points().items():
        declared = [name for name, _ in entry_points((SOURCE_DIR / file).read_text())]
        assert sorted(declared) == sorted(names), file


def _mangled(instance):
    """The start of the Itanium C++ name of kernel `instance`: im2col<float> -> _Z6im2colIfE
    (name length, name, then I...E around the template argument: f float, d double)."""
    name, element = instance.rstrip(">").split("<")
    return f"_Z{len(name)}{name}I{element[0]}E"


def _ptx_entries(ptx):
    """The kernels a PTX module exports (template instances are `.weak` in NVRTC's output)."""
    return re.findall(r"\.(?:visible|weak) \.entry (\w+)\(", ptx)


@pytest.mark.skipif(NVCC is None, reason="nvcc (the CUDA toolkit) is not installed")
def test_every_kernel_compiles_with_nvcc_for_sm90(tmp_path):
    """nvcc -arch=sm_90 --ptx: compiles the device code for an H100 without linking (fast).
    A template emits no code until used, so each file is compiled through a small unit that
    includes it and takes the address of every instance kernels/cuda.py loads."""
    units = []
    for file, instances in cuda.entry_points().items():
        unit = tmp_path / file.replace(".cu", "_instances.cu")
        addresses = ", ".join(f"(void*){instance}" for instance in instances)
        unit.write_text(f'#include "{SOURCE_DIR / file}"\nvoid* instances[] = {{{addresses}}};\n')
        units.append(str(unit))
    command = [NVCC, "-arch=sm_90", "--ptx", "-Werror", "all-warnings", "-odir", str(tmp_path)]
    result = subprocess.run(command + units, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    for file, instances in cuda.entry_points().items():
        entries = _ptx_entries((tmp_path / file.replace(".cu", "_instances.ptx")).read_text())
        assert len(entries) == len(instances), (file, entries)
        for instance in instances:
            assert sum(entry.startswith(_mangled(instance)) for entry in entries) == 1, instance


def _find_nvrtc():
    """Path of an NVRTC library: pip's nvidia-cuda-nvrtc-cu12 wheel, or the system's."""
    try:
        import nvidia.cuda_nvrtc
        for folder in nvidia.cuda_nvrtc.__path__:
            found = sorted(glob.glob(os.path.join(folder, "lib", "libnvrtc.so.*")))
            if found:
                return found[0]
    except ImportError:
        pass
    return ctypes.util.find_library("nvrtc")


NVRTC = _find_nvrtc()


def _nvrtc_compile(library, source, name, options, name_expressions=()):
    """(result code, log, PTX, {name expression: lowered name}) of NVRTC compiling `source` as
    CuPy's RawModule does: every name expression is added before compiling (which instantiates
    the template) and looked up after (its mangled name, the PTX entry to load)."""
    program = ctypes.c_void_p()
    assert library.nvrtcCreateProgram(ctypes.byref(program), source.encode(), name.encode(),
                                      0, None, None) == 0
    for expression in name_expressions:
        assert library.nvrtcAddNameExpression(program, expression.encode()) == 0, expression
    encoded = [option.encode() for option in options]
    code = library.nvrtcCompileProgram(program, len(encoded),
                                       (ctypes.c_char_p * len(encoded))(*encoded))
    size = ctypes.c_size_t()
    library.nvrtcGetProgramLogSize(program, ctypes.byref(size))
    log = ctypes.create_string_buffer(size.value)
    library.nvrtcGetProgramLog(program, log)
    ptx, lowered = b"", {}
    if code == 0:
        library.nvrtcGetPTXSize(program, ctypes.byref(size))
        buffer = ctypes.create_string_buffer(size.value)
        library.nvrtcGetPTX(program, buffer)
        ptx = buffer.value
        for expression in name_expressions:
            mangled = ctypes.c_char_p()
            if library.nvrtcGetLoweredName(program, expression.encode(),
                                           ctypes.byref(mangled)) == 0:
                lowered[expression] = mangled.value.decode()
    library.nvrtcDestroyProgram(ctypes.byref(program))
    return code, log.value.decode(errors="replace"), ptx.decode(errors="replace"), lowered


@pytest.mark.skipif(NVRTC is None, reason="no NVRTC library (pip install nvidia-cuda-nvrtc-cu12)")
def test_every_kernel_compiles_with_nvrtc_as_cupy_loads_it():
    """NVRTC has no host headers: this catches what nvcc forgives (std::, INFINITY, ...).
    Every name kernels/cuda.py asks for lowers to an entry of the PTX, and nothing else is."""
    library = ctypes.CDLL(NVRTC)
    options = list(cuda.NVRTC_OPTIONS) + ["-arch=compute_90"]
    for file, instances in cuda.entry_points().items():
        source = (SOURCE_DIR / file).read_text()
        code, log, ptx, lowered = _nvrtc_compile(library, source, file, options, instances)
        assert code == 0 and not log.strip(), f"{file}: {log}"
        assert sorted(lowered) == sorted(instances), file
        assert sorted(_ptx_entries(ptx)) == sorted(lowered.values()), file
        for instance, mangled in lowered.items():
            assert mangled.startswith(_mangled(instance)), (instance, mangled)
    code, log, _, _ = _nvrtc_compile(library, "__global__ void k() { undefined_name(); }",
                                     "broken.cu", options)
    assert code != 0 and "undefined_name" in log  # the check can fail


# ----- one parity test per kernel, run emulated on the CPU and on a GPU ---------------------
class Runner:
    """Moves inputs to where the kernels run, and results back to NumPy."""

    def __init__(self, to_device):
        self.to_device = to_device

    def __call__(self, fn, *args, **kwargs):
        moved = [self.to_device(a) if isinstance(a, np.ndarray) else a for a in args]
        out = fn(*moved, **kwargs)
        if isinstance(out, tuple):
            return tuple(backend.asnumpy(o) for o in out)
        return backend.asnumpy(out)


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    if shutil.which("g++") is None:
        pytest.skip("g++ is not installed: cannot emulate the CUDA kernels on the CPU")
    return Emulator(tmp_path_factory.mktemp("cuda_emulation"))


@pytest.fixture(params=["emulated", pytest.param("gpu", marks=pytest.mark.gpu)])
def run(request, monkeypatch):
    """Run kernels/cuda.py's functions emulated on the CPU, or on a CUDA device."""
    if request.param == "gpu":
        reason = backend.gpu_unavailable_reason()
        if reason is not None:
            pytest.skip(f"no GPU: {reason}")
        return Runner(lambda a: backend.to_device(a, "gpu"))
    emulator = request.getfixturevalue("emulator")
    monkeypatch.setattr(cuda, "launch", emulator.launch)
    return Runner(lambda a: a)


def _window_args(kernel, stride, padding):
    KH, KW = pair(kernel, "test", "kernel")
    SH, SW = pair(kernel if stride is None else stride, "test", "stride")
    return KH, KW, SH, SW, padding4(padding, "test")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(CONV_CASES))
def test_im2col_and_col2im_match_the_reference(run, rng, name, dtype):
    x_shape, (_, KH, KW), stride, padding, _, _ = CONV_CASES[name]
    _, _, SH, SW, pads = _window_args((KH, KW), stride, padding)
    x = rng.standard_normal(x_shape).astype(dtype)
    col = run(cuda.im2col, x, KH, KW, SH, SW, pads)
    np.testing.assert_array_equal(col, windows.im2col(x, KH, KW, SH, SW, pads))
    gcol = rng.standard_normal(col.shape).astype(dtype)
    gx = run(cuda.col2im, gcol, x_shape, KH, KW, SH, SW, pads)
    np.testing.assert_allclose(gx, windows.col2im(gcol, x_shape, KH, KW, SH, SW, pads),
                               rtol=RTOL[dtype], atol=RTOL[dtype])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(POOL_CASES))
def test_max_pool_matches_the_reference(run, rng, name, dtype):
    x_shape, kernel, stride, padding = POOL_CASES[name]
    args = _window_args(kernel, stride, padding)
    x = rng.standard_normal(x_shape).astype(dtype)
    x.flat[::7] = x.flat[1]  # ties: the first maximum wins, as in NumPy's argmax
    y, argmax = run(cuda.max_pool_forward, x, *args)
    y_ref, argmax_ref = pooling.max_pool_forward(x, *args)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(argmax, argmax_ref)
    gy = rng.standard_normal(y.shape).astype(dtype)
    gx = run(cuda.max_pool_backward, gy, argmax, x_shape, *args)
    np.testing.assert_allclose(gx, pooling.max_pool_backward(gy, argmax_ref, x_shape, *args),
                               rtol=RTOL[dtype], atol=RTOL[dtype])


@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("name", sorted(POOL_CASES))
def test_avg_pool_matches_the_reference(run, rng, name, count_include_pad):
    x_shape, kernel, stride, padding = POOL_CASES[name]
    args = _window_args(kernel, stride, padding)
    x = rng.standard_normal(x_shape).astype(np.float32)
    counts = AvgPool2d(kernel, stride, padding, count_include_pad)._window_counts(x)
    y = run(cuda.avg_pool_forward, x, *args, counts=counts)
    np.testing.assert_allclose(y, pooling.avg_pool_forward(x, *args, counts), rtol=1e-5,
                               atol=1e-6)
    gy = rng.standard_normal(y.shape).astype(np.float32)
    gx = run(cuda.avg_pool_backward, gy, x_shape, *args, counts=counts)
    np.testing.assert_allclose(gx, pooling.avg_pool_backward(gy, x_shape, *args, counts),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, size, alpha, beta, k", [
    ((2, 7, 3, 3), 5, 0.5, 0.75, 2.0), ((1, 4, 2, 5), 2, 1e-2, 0.5, 1.0),
    ((2, 3, 2, 2), 1, 1.0, 1.5, 0.5), ((1, 6, 4, 1), 8, 5e-4, 0.75, 2.0)])
def test_lrn_matches_the_reference(run, rng, dtype, shape, size, alpha, beta, k):
    x = rng.standard_normal(shape).astype(dtype)
    y_ref, scale_ref = lrn.lrn_forward(x, size, alpha, beta, k)
    y, scale = run(cuda.lrn_forward, x, size, alpha, beta, k)
    np.testing.assert_allclose(y, y_ref, rtol=RTOL[dtype], atol=RTOL[dtype])
    np.testing.assert_allclose(scale, scale_ref, rtol=RTOL[dtype])
    gy = rng.standard_normal(shape).astype(dtype)
    gx = run(cuda.lrn_backward, gy, x, y, scale, size, alpha, beta)
    np.testing.assert_allclose(gx, lrn.lrn_backward(gy, x, y_ref, scale_ref, size, alpha, beta),
                               rtol=RTOL[dtype] * 10, atol=RTOL[dtype])


def _autograd(fn, arrays, gy):
    """fn of minicnn Tensors on the CPU: the output and every input's gradient, as NumPy."""
    tensors = [minicnn.Tensor(a, requires_grad=True) for a in arrays]
    out = fn(*tensors)
    out.backward(gy)
    return out.numpy(), [t.grad for t in tensors]


@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (4, 6)])
def test_bias_relu_matches_relu_of_x_plus_b(run, rng, shape):
    x = rng.standard_normal(shape).astype(np.float32)
    b = rng.standard_normal(shape[1]).astype(np.float32)
    gy = rng.standard_normal(shape).astype(np.float32)
    broadcast = (shape[1],) + (1,) * (len(shape) - 2)
    y_ref, (gx_ref, gb_ref) = _autograd(lambda x, b: F.relu(x + b.reshape(broadcast)),
                                        [x, b], gy)
    y = run(cuda.bias_relu_forward, x, b)
    np.testing.assert_allclose(y, y_ref, rtol=1e-6)
    gx, gb = run(cuda.bias_relu_backward, gy, y)
    np.testing.assert_allclose(gx, gx_ref, rtol=1e-6)
    np.testing.assert_allclose(gb, gb_ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", [(3, 4, 3, 2), (5, 3)])
def test_bn_relu_matches_relu_of_batch_norm(run, rng, shape, training):
    x = rng.standard_normal(shape) * 2 + 0.5
    C, eps = shape[1], 1e-5
    gamma, beta = rng.standard_normal(C), rng.standard_normal(C)
    running_mean, running_var = rng.standard_normal(C), rng.uniform(0.5, 2.0, C)
    gy = rng.standard_normal(shape)
    axes = (0,) + tuple(range(2, len(shape)))
    y_ref, (gx_ref, ggamma_ref, gbeta_ref) = _autograd(
        lambda x, g, b: F.relu(F.batch_norm(x, g, b, running_mean.copy(), running_var.copy(),
                                            training=training, eps=eps)),
        [x, gamma, beta], gy)
    mean = x.mean(axis=axes) if training else running_mean
    var = x.var(axis=axes) if training else running_var
    inv_std = 1.0 / np.sqrt(var + eps)
    y = run(cuda.bn_relu_forward, x, mean, inv_std, gamma, beta)
    np.testing.assert_allclose(y, y_ref, rtol=1e-12, atol=1e-12)
    gx, ggamma, gbeta = run(cuda.bn_relu_backward, gy, y, x, mean, inv_std, gamma, training)
    for got, want in ((gx, gx_ref), (ggamma, ggamma_ref), (gbeta, gbeta_ref)):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_the_kernels_refuse_integer_arrays_with_a_clear_message(run):
    with pytest.raises(TypeError, match="float32 or float64"):
        run(cuda.bias_relu_forward, np.ones((2, 3), dtype=np.int64), np.ones(3, np.int64))


def test_ops_reach_the_cuda_kernels_through_the_dispatch(emulator, monkeypatch, rng):
    """conv2d, max_pool2d and avg_pool2d forward and backward, with minicnn.kernels routing
    every window kernel to kernels/cuda.py (emulated), equal the CPU kernels' results."""
    x, w = rng.standard_normal((2, 3, 9, 8)), rng.standard_normal((4, 3, 3, 3))

    def net(x, w):
        h = F.max_pool2d(F.conv2d(x, w, stride=1, padding=1), 3, 2, 1)
        return F.avg_pool2d(h, 2, 1, count_include_pad=False)

    gy = rng.standard_normal(net(minicnn.Tensor(x), minicnn.Tensor(w)).shape)
    y_cpu, grads_cpu = _autograd(net, [x, w], gy)
    monkeypatch.setattr(cuda, "use_cuda", lambda array: True)
    monkeypatch.setattr(cuda, "launch", emulator.launch)
    # the emulated arrays are NumPy arrays, which would take the numba-only shifted path
    monkeypatch.setattr(minicnn.ops.conv.Conv2d, "SHIFTED_MAX_TAPS", 0)
    emulator.launched.clear()
    y_cuda, grads_cuda = _autograd(net, [x, w], gy)
    assert sorted(set(emulator.launched)) == sorted(
        f"{name}<double>" for name in ("im2col", "col2im", "max_pool_forward", "max_pool_backward",
                                   "avg_pool_forward", "avg_pool_backward"))
    np.testing.assert_allclose(y_cuda, y_cpu, rtol=1e-12)
    for got, want in zip(grads_cuda, grads_cpu):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_the_gpu_launch_path_compiles_each_file_once_and_covers_every_element(
        emulator, monkeypatch, rng):
    """kernels/cuda.launch_on_gpu with CuPy's RawModule played by the emulator: the source
    and options handed to NVRTC, the kernel name, and a grid that covers all elements."""
    compiled = []

    class RawModule:
        def __init__(self, code, options, name_expressions):
            compiled.append(code)
            assert options == cuda.NVRTC_OPTIONS
            self.file = next(f for f in cuda.KERNELS if (SOURCE_DIR / f).read_text() == code)
            assert sorted(name_expressions) == sorted(cuda.entry_points()[self.file])
            self.name_expressions = name_expressions

        def get_function(self, name):
            assert name in self.name_expressions  # CuPy finds only the names given to NVRTC
            def kernel(grid, block, args):
                assert block == (cuda.THREADS_PER_BLOCK,)
                total = int(args[[p for _, _, p in emulator.signatures[name]].index("total")])
                assert (grid[0] - 1) * block[0] < total <= grid[0] * block[0]
                emulator.launch(self.file, name, total, args)
            return kernel

    fake_cupy = types.SimpleNamespace(RawModule=RawModule, ndarray=type(None),
                                      get_array_module=lambda *arrays: np)
    monkeypatch.setattr(backend, "cupy", fake_cupy)
    monkeypatch.setattr(cuda, "_modules", {})
    x = rng.standard_normal((2, 3, 7, 6)).astype(np.float32)
    for _ in range(2):
        y, argmax = cuda.max_pool_forward(x, 3, 3, 2, 2, (1, 1, 1, 1))
    np.testing.assert_array_equal(y, pooling.max_pool_forward(x, 3, 3, 2, 2, (1, 1, 1, 1))[0])
    gx = cuda.max_pool_backward(np.ones_like(y), argmax, x.shape, 3, 3, 2, 2, (1, 1, 1, 1))
    assert gx.sum() == y.size
    assert len(compiled) == 1  # windows.cu compiled once, both kernels taken from it
