"""LeNet-5 training speed, minicnn vs PyTorch (CPU) in the same run.

    python benchmarks/lenet_train.py [--batch-size 256] [--steps 30] [--repeats 5]

Both frameworks train the same network (ReLU + max pooling, SGD with momentum 0.9) on the same
random batch; each repeat times `--steps` steps and the report gives the median images/s and
the ratio. PyTorch is only a benchmark reference, never a dependency of minicnn
(`pip install torch` to run this).
"""
import argparse
import statistics
import time

import numpy as np

import minicnn
import minicnn.functional as F
from minicnn import nn, optim


def minicnn_lenet():
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))


def time_minicnn(x, y, steps):
    model = minicnn_lenet()
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def step():
        loss = F.softmax_cross_entropy(model(minicnn.Tensor(x)), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return _time(step, steps)


def time_torch(x, y, steps):
    import torch
    tnn = torch.nn
    model = tnn.Sequential(
        tnn.Conv2d(1, 6, 5, padding=2), tnn.ReLU(), tnn.MaxPool2d(2),
        tnn.Conv2d(6, 16, 5), tnn.ReLU(), tnn.MaxPool2d(2), tnn.Flatten(),
        tnn.Linear(400, 120), tnn.ReLU(), tnn.Linear(120, 84), tnn.ReLU(), tnn.Linear(84, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)

    def step():
        loss = tnn.functional.cross_entropy(model(tx), ty)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return _time(step, steps)


def _time(step, steps):
    for _ in range(3):  # warm-up: numba compilation, allocator
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - start) / steps


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.batch_size, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, args.batch_size)
    rates = {"minicnn": [], "pytorch": []}
    for _ in range(args.repeats):  # interleave, so machine noise hits both alike
        rates["minicnn"].append(args.batch_size / time_minicnn(x, y, args.steps))
        rates["pytorch"].append(args.batch_size / time_torch(x, y, args.steps))
    medians = {name: statistics.median(r) for name, r in rates.items()}
    for name, median in medians.items():
        runs = ", ".join(f"{rate:.0f}" for rate in rates[name])
        print(f"{name:8s} median {median:8.0f} img/s  (runs: {runs})")
    print(f"minicnn / pytorch = {medians['minicnn'] / medians['pytorch']:.2f}")


if __name__ == "__main__":
    main()
