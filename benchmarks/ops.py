"""Per-op microbenchmarks: conv2d forward and backward against the GEMM peak, kernel compile times.

    python -m benchmarks.ops [--quick]            prints JSON (run.py renders it as a table)
    python -m benchmarks.ops --compile-times      first-call times of the numba kernels

Achieved GFLOP/s counts 2 * N*OH*OW * OC * (C/groups)*KH*KW floating-point operations for the
forward pass and twice that for the backward pass (input and weight gradients); the GEMM peak is
NumPy's float32 matmul of two 2048x2048 matrices, measured in the same process. Each framework
runs in its own process (`--framework`), as in the model benchmarks: minicnn's thread settings
(minicnn/__init__.py) apply only when it is imported before NumPy and PyTorch, and would then
apply to PyTorch's OpenMP threads too.
"""
import sys

if "minicnn" in sys.argv[1:]:  # --framework minicnn: before NumPy, as `python -m minicnn.train`
    import minicnn  # noqa: F401

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

# (label, x shape (N, C, H, W), OC, kernel, stride, padding, groups)
CONV_SHAPES = [
    ("lenet5 c1 5x5", (256, 1, 28, 28), 6, 5, 1, 2, 1),
    ("lenet5 c3 5x5", (256, 6, 14, 14), 16, 5, 1, 0, 1),
    ("resnet 3x3 64", (64, 64, 32, 32), 64, 3, 1, 1, 1),
    ("resnet 3x3 256", (64, 256, 8, 8), 256, 3, 1, 1, 1),
    ("resnet 3x3 s2", (64, 128, 16, 16), 256, 3, 2, 1, 1),
    ("resnet 1x1 s2", (64, 128, 16, 16), 256, 1, 2, 0, 1),
    ("grouped g=32", (32, 256, 28, 28), 256, 3, 1, 1, 32),
    ("depthwise 3x3", (32, 256, 28, 28), 256, 3, 1, 1, 256),
]
QUICK = {"lenet5 c1 5x5", "resnet 3x3 64", "depthwise 3x3"}


def median_time(fn, repeats, min_time=0.2):
    """Median over `repeats` of the mean seconds of fn() over at least `min_time` seconds."""
    fn()  # warm-up
    samples = []
    for _ in range(repeats):
        count, start = 0, time.perf_counter()
        while count < 1 or time.perf_counter() - start < min_time:
            fn()
            count += 1
        samples.append((time.perf_counter() - start) / count)
    return statistics.median(samples)


def gemm_peak_gflops(repeats=5):
    """NumPy float32 GEMM throughput (GFLOP/s), 2048x2048 @ 2048x2048."""
    a = np.random.default_rng(0).standard_normal((2048, 2048), dtype=np.float32)
    seconds = min(median_time(lambda: a @ a, 1, 0.3) for _ in range(repeats))
    return 2 * 2048 ** 3 / seconds / 1e9


def conv_flops(x_shape, OC, K, S, P, G):
    N, C, H, W = x_shape
    OH, OW = (H + 2 * P - K) // S + 1, (W + 2 * P - K) // S + 1
    return 2 * N * OH * OW * OC * (C // G) * K * K


def minicnn_conv(x_shape, OC, K, S, P, G):
    """(forward, forward+backward) closures of minicnn's conv2d on float32 data."""
    import minicnn
    import minicnn.functional as F
    rng = np.random.default_rng(0)
    x = minicnn.Tensor(rng.standard_normal(x_shape, dtype=np.float32), requires_grad=True)
    w = minicnn.Tensor(rng.standard_normal((OC, x_shape[1] // G, K, K), dtype=np.float32),
                       requires_grad=True)
    gy = rng.standard_normal(F.conv2d(x, w, None, S, P, G).shape, dtype=np.float32)

    def forward():
        return F.conv2d(x, w, None, S, P, G)

    def forward_backward():
        x.grad = w.grad = None
        forward().backward(gy)
    return forward, forward_backward


def torch_conv(x_shape, OC, K, S, P, G):
    import torch
    x = torch.randn(x_shape, requires_grad=True)
    w = torch.randn((OC, x_shape[1] // G, K, K), requires_grad=True)
    gy = torch.randn(torch.nn.functional.conv2d(x, w, None, S, P, 1, G).shape)

    def forward():
        return torch.nn.functional.conv2d(x, w, None, S, P, 1, G)

    def forward_backward():
        x.grad = w.grad = None
        forward().backward(gy)
    return forward, forward_backward


def conv_benchmarks(shapes, repeats, framework):
    """One row per shape: forward and backward seconds of `framework` ("minicnn", "pytorch")."""
    build = {"minicnn": minicnn_conv, "pytorch": torch_conv}[framework]
    rows = []
    for label, *shape in shapes:
        row = {"label": label, "shape": shape, "gflop": conv_flops(*shape) / 1e9}
        forward, forward_backward = build(*shape)
        t_fwd = median_time(forward, repeats)
        t_all = median_time(forward_backward, repeats)
        row[framework] = {"forward_s": t_fwd, "backward_s": max(t_all - t_fwd, 1e-9)}
        rows.append(row)
    return rows


def compile_times():
    """Seconds of the first and the second call of each numba kernel, on tiny inputs."""
    start = time.perf_counter()
    import minicnn
    import minicnn.functional as F
    from minicnn import kernels
    times = {"import minicnn": time.perf_counter() - start}
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 4, 8, 8), dtype=np.float32)
    w = rng.standard_normal((4, 4, 3, 3), dtype=np.float32)
    dw = rng.standard_normal((4, 1, 3, 3), dtype=np.float32)
    x16 = rng.standard_normal((2, 1, 16, 16), dtype=np.float32)
    calls = {
        "im2col": lambda: kernels.im2col(x, 3, 3, 1, 1, (1, 1, 1, 1)),
        "col2im": lambda: kernels.col2im(np.ones((128, 36), np.float32), x.shape, 3, 3, 1, 1,
                                         (1, 1, 1, 1)),
        "max_pool fwd+bwd": lambda: F.max_pool2d(minicnn.Tensor(x, requires_grad=True), 2)
        .backward(np.ones((2, 4, 4, 4), np.float32)),
        "conv2d fwd+bwd": lambda: F.conv2d(minicnn.Tensor(x, requires_grad=True),
                                           minicnn.Tensor(w, requires_grad=True), padding=1)
        .backward(np.ones((2, 4, 8, 8), np.float32)),
        "first-layer conv2d": lambda: F.conv2d(  # one input channel, 16x16: the shifted
            minicnn.Tensor(x16, requires_grad=True), minicnn.Tensor(w[:, :1]), padding=1)
        .backward(np.ones((2, 4, 16, 16), np.float32)),  # kernels (flat planes >= 128)
        "batch_norm fwd+bwd": lambda: F.batch_norm(minicnn.Tensor(x, requires_grad=True), None,
                                                   None, None, None, True)
        .backward(np.ones(x.shape, np.float32)),
        "depthwise fwd+bwd": lambda: F.conv2d(minicnn.Tensor(x, requires_grad=True),
                                              minicnn.Tensor(dw, requires_grad=True),
                                              padding=1, groups=4)
        .backward(np.ones((2, 4, 8, 8), np.float32)),
        # Winograd's and grouped products: one loop calling OpenBLAS, compiled in every
        # process (a cached function cannot hold the library's address)
        "stacked products": lambda: kernels.matmul(x.reshape(8, 8, 8), x.reshape(8, 8, 8)),
    }
    for name, call in calls.items():
        start = time.perf_counter()
        call()
        first = time.perf_counter() - start
        start = time.perf_counter()
        call()
        times[name] = {"first_s": first, "second_s": time.perf_counter() - start}
    return times


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="three shapes, fewer repeats")
    parser.add_argument("--shapes", help="only the shapes whose label contains this text")
    parser.add_argument("--compile-times", action="store_true",
                        help="only the numba kernels' first-call times")
    parser.add_argument("--framework", choices=("minicnn", "pytorch"), default="minicnn",
                        help="whose conv2d to time (default minicnn)")
    args = parser.parse_args()
    if args.compile_times:
        result = compile_times()
    else:
        shapes = [s for s in CONV_SHAPES if (not args.quick or s[0] in QUICK)
                  and (args.shapes is None or args.shapes in s[0])]
        result = {"gemm_peak_gflops": gemm_peak_gflops(),
                  "conv2d": conv_benchmarks(shapes, 2 if args.quick else 3, args.framework)}
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
