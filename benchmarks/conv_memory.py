"""Peak extra memory of conv2d forward + backward, measured with tracemalloc.

    python benchmarks/conv_memory.py [--shape 64,64,56,56] [--kernel 3] [--no-winograd]

NumPy reports its allocations to tracemalloc, so the peak seen while a forward and a backward
run, minus what was allocated before (input, weight, upstream gradient), is the conv's extra
memory: the im2col buffer (or, for a 3x3 stride-1 layer on the CPU, Winograd's transformed
input and output), the output, and the gradients. --no-winograd measures the im2col path.
"""
import argparse
import tracemalloc

import numpy as np

import minicnn
import minicnn.functional as F
from minicnn.kernels import workspace
from minicnn.ops.conv import Conv2d


def measure(shape, kernel, out_channels):
    """Return (input MB, peak extra MB of forward+backward, col MB, the path conv2d took)."""
    N, C, H, W = shape
    rng = np.random.default_rng(0)
    x = minicnn.Tensor(rng.standard_normal(shape, dtype=np.float32), requires_grad=True)
    w = minicnn.Tensor(rng.standard_normal((out_channels, C, kernel, kernel),
                                           dtype=np.float32), requires_grad=True)
    gy = np.ones((N, out_channels, H, W), dtype=np.float32)
    F.conv2d(x, w, padding=kernel // 2).backward(gy)  # warm up numba before measuring
    x.grad = w.grad = None
    workspace.release()  # count the col buffer, as on a layer's first call
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    y = F.conv2d(x, w, padding=kernel // 2)
    y.backward(gy)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    col_bytes = N * H * W * C * kernel * kernel * 4
    winograd = Conv2d(1, kernel // 2, 1)._takes_winograd(x.data, w.data)  # conv2d's own rule
    m = Conv2d.WINOGRAD_TILE
    path = f"Winograd F({m}x{m}, 3x3)" if winograd else "im2col"
    return x.data.nbytes / 1e6, (peak - before) / 1e6, col_bytes / 1e6, path


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--shape", default="64,64,56,56", help="N,C,H,W of the input")
    parser.add_argument("--kernel", type=int, default=3, help="KH = KW, padding kernel // 2")
    parser.add_argument("--out-channels", type=int, default=64, help="OC")
    parser.add_argument("--no-winograd", action="store_true",
                        help="measure the im2col path of a 3x3 stride-1 layer")
    args = parser.parse_args()
    if args.no_winograd:
        Conv2d.WINOGRAD_MIN_MACS = 2**62
    try:
        shape = tuple(int(s) for s in args.shape.split(","))
    except ValueError:
        shape = ()
    if len(shape) != 4 or min(shape) < 1:
        parser.error(f"--shape: expected N,C,H,W (four positive integers), got {args.shape!r}")
    if args.kernel < 1 or args.out_channels < 1:
        parser.error("--kernel and --out-channels must be at least 1")
    input_mb, peak_mb, col_mb, path = measure(shape, args.kernel, args.out_channels)
    print(f"input {shape} float32: {input_mb:.1f} MB; im2col buffer {col_mb:.1f} MB "
          f"({col_mb / input_mb:.1f}x input)")
    print("path:", path)
    print(f"peak extra memory of forward+backward: {peak_mb:.1f} MB "
          f"({peak_mb / input_mb:.1f}x input, {peak_mb / col_mb:.2f}x col)")


if __name__ == "__main__":
    main()
