"""GPU training throughput, minicnn (CuPy + its own CUDA kernels) vs PyTorch + cuDNN.

    python benchmarks/gpu.py [--models lenet5,alexnet,vgg11,resnet18] [--precision both]
                             [--steps 20] [--repeats 3] [--json results.json]

Networks and batches (the issue's list): LeNet-5 1x28x28 batch 256, AlexNet 3x224x224 batch
128, VGG-11 and ResNet-18 (CIFAR stem) 3x32x32 batch 128. Both frameworks train the same
architecture (parameter counts are checked equal) with SGD + momentum on one random batch that
stays on the device; each repeat times --steps steps after a warm-up, the frameworks
interleaved, and the table gives median images/s and minicnn / PyTorch.

Precision, one child process per mode so that CuPy reads CUPY_TF32 at import:
    fp32  strict FP32 in both: CUPY_TF32=0, torch.backends.cudnn.allow_tf32 = False and
          torch.backends.cuda.matmul.allow_tf32 = False.
    tf32  TF32 tensor cores in both: CUPY_TF32=1 and both PyTorch flags True.
The defaults differ: CuPy is strict FP32 unless CUPY_TF32=1; PyTorch allows TF32 in cuDNN
convolutions but not in matmul. Targets (issue 13): >= 0.5x for VGG-11 and ResNet-18, >= 1.0x
for LeNet-5. `--device cpu` runs the same code on the CPU (a smoke test of this script; the
figures then say nothing about GPUs). PyTorch is a benchmark reference, never a dependency.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repo
from benchmarks.models import _torch_resnet18, _torch_vgg11  # noqa: E402  (after the path)

# name -> (minicnn build options, input (C, H, W), batch size, target ratio or None)
NETWORKS = {
    "lenet5": ({}, (1, 28, 28), 256, 1.0),
    "alexnet": ({}, (3, 224, 224), 128, None),
    "vgg11": ({"image_size": 32}, (3, 32, 32), 128, 0.5),
    "resnet18": ({"small_input": True, "image_size": 32}, (3, 32, 32), 128, 0.5),
}


# ----- PyTorch twins of minicnn's models (same layers, same parameter count) ----------------
def torch_twin(name, in_channels, num_classes=10):
    import torch.nn as tnn
    if name == "lenet5":
        return tnn.Sequential(
            tnn.Conv2d(in_channels, 6, 5, padding=2), tnn.ReLU(), tnn.MaxPool2d(2),
            tnn.Conv2d(6, 16, 5), tnn.ReLU(), tnn.MaxPool2d(2),
            tnn.Conv2d(16, 120, 5), tnn.ReLU(), tnn.Flatten(),
            tnn.Linear(120, 84), tnn.ReLU(), tnn.Linear(84, num_classes))
    if name == "alexnet":
        def lrn():
            return tnn.LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0)
        return tnn.Sequential(
            tnn.Conv2d(in_channels, 96, 11, stride=4, padding=2), tnn.ReLU(), lrn(),
            tnn.MaxPool2d(3, 2),
            tnn.Conv2d(96, 256, 5, padding=2), tnn.ReLU(), lrn(), tnn.MaxPool2d(3, 2),
            tnn.Conv2d(256, 384, 3, padding=1), tnn.ReLU(),
            tnn.Conv2d(384, 384, 3, padding=1), tnn.ReLU(),
            tnn.Conv2d(384, 256, 3, padding=1), tnn.ReLU(), tnn.MaxPool2d(3, 2),
            tnn.Flatten(), tnn.Linear(256 * 6 * 6, 4096), tnn.ReLU(), tnn.Dropout(0.5),
            tnn.Linear(4096, 4096), tnn.ReLU(), tnn.Dropout(0.5), tnn.Linear(4096, num_classes))
    if name == "vgg11":  # the paper's widths on 32x32 inputs
        return _torch_vgg11(in_channels, (64, 128, 256, 512, 512), 4096, num_classes)
    if name == "resnet18":
        return _torch_resnet18(in_channels, num_classes)
    raise ValueError(f"no PyTorch twin for {name!r}")


def build_pair(name):
    """(minicnn model, PyTorch twin), checked to hold the same number of parameters."""
    from minicnn import models
    options, (C, H, W), _, _ = NETWORKS[name]
    model = models.build(name, num_classes=10, in_channels=C, **options)
    twin = torch_twin(name, C)
    ours = sum(p.size for p in model.parameters())
    theirs = sum(p.numel() for p in twin.parameters())
    if ours != theirs:
        raise RuntimeError(f"{name}: minicnn has {ours} parameters, the PyTorch twin {theirs}")
    return model, twin


# ----- timing (runs in the child process) --------------------------------------------------
def time_minicnn(model, x, y, steps, device):
    import minicnn
    import minicnn.functional as F
    from minicnn import backend, optim
    model.to(device)
    model.train()
    optimizer = optim.SGD(list(model.parameters()), lr=0.01, momentum=0.9)
    xd, yd = backend.to_device(x, device), backend.to_device(y, device)
    sync = _minicnn_sync(device)

    def step():
        loss = F.softmax_cross_entropy(model(minicnn.Tensor(xd)), yd)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss
    return _time(step, steps, sync)


def _minicnn_sync(device):
    from minicnn import backend
    if device == "gpu":
        return backend.cupy.cuda.Device().synchronize
    return lambda: None


def time_torch(twin, x, y, steps, device):
    import torch
    dev = torch.device("cuda" if device == "gpu" else "cpu")
    twin.to(dev).train()
    optimizer = torch.optim.SGD(twin.parameters(), lr=0.01, momentum=0.9)
    tx, ty = torch.from_numpy(x).to(dev), torch.from_numpy(y).to(dev)
    sync = torch.cuda.synchronize if device == "gpu" else (lambda: None)

    def step():
        loss = torch.nn.functional.cross_entropy(twin(tx), ty)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss
    return _time(step, steps, sync)


def _time(step, steps, sync):
    """Seconds per step; nothing leaves the device until the closing synchronize."""
    for _ in range(3):  # warm-up: kernel compilation, cuBLAS/cuDNN autotuning, allocator
        step()
    sync()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    sync()
    return (time.perf_counter() - start) / steps


def set_torch_precision(precision):
    import torch
    allow = precision == "tf32"
    torch.backends.cudnn.allow_tf32 = allow
    torch.backends.cuda.matmul.allow_tf32 = allow
    torch.backends.cudnn.benchmark = True  # PyTorch at its best: cuDNN picks its algorithms


def measure(name, precision, args):
    """One row of the table: median images/s of each framework over the repeats."""
    set_torch_precision(precision)
    model, twin = build_pair(name)
    _, (C, H, W), batch, target = NETWORKS[name]
    batch = args.batch_size or batch
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, C, H, W), dtype=np.float32)
    y = rng.integers(0, 10, batch)
    rates = {"minicnn": [], "pytorch": []}
    for _ in range(args.repeats):  # interleaved, so machine noise hits both alike
        rates["minicnn"].append(batch / time_minicnn(model, x, y, args.steps, args.device))
        rates["pytorch"].append(batch / time_torch(twin, x, y, args.steps, args.device))
    medians = {k: statistics.median(v) for k, v in rates.items()}
    return {"model": name, "input": f"{C}x{H}x{W}", "batch": batch, "precision": precision,
            "minicnn_img_s": medians["minicnn"], "pytorch_img_s": medians["pytorch"],
            "ratio": medians["minicnn"] / medians["pytorch"], "target": target,
            "runs": rates}


def device_name(device):
    if device != "gpu":
        return "CPU (smoke run: these figures say nothing about GPUs)"
    import torch
    return torch.cuda.get_device_name(0)


# ----- parent: one child per precision, then the table -------------------------------------
def run_child(precision, args):
    env = dict(os.environ, CUPY_TF32="1" if precision == "tf32" else "0")
    command = [sys.executable, __file__, "--child", precision, "--models", args.models,
               "--steps", str(args.steps), "--repeats", str(args.repeats),
               "--device", args.device]
    if args.batch_size:
        command += ["--batch-size", str(args.batch_size)]
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        tail = result.stderr.strip().splitlines()[-1:] or ["(no output)"]
        print(f"error: benchmark ({precision}): the child run failed: {tail[0]}",
              file=sys.stderr)
        return None
    return json.loads(result.stdout.strip().splitlines()[-1])


def table(report):
    lines = [f"GPU: {report['device']}",
             f"{'model':9} {'input':10} {'batch':>5} {'mode':5} {'minicnn img/s':>14} "
             f"{'PyTorch img/s':>14} {'ratio':>6} {'target':>7}"]
    for row in report["rows"]:
        target = "" if row["target"] is None else f">={row['target']:g}x"
        lines.append(f"{row['model']:9} {row['input']:10} {row['batch']:>5} "
                     f"{row['precision']:5} {row['minicnn_img_s']:>14.4g} "
                     f"{row['pytorch_img_s']:>14.4g} {row['ratio']:>6.3g} {target:>7}")
    return "\n".join(lines)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--models", default=",".join(NETWORKS), help="comma-separated networks")
    p.add_argument("--precision", choices=["fp32", "tf32", "both"], default="both")
    p.add_argument("--steps", type=int, default=20, help="timed steps per repeat")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=None,
                   help="override every network's batch (default: the issue's batches)")
    p.add_argument("--device", choices=["gpu", "cpu"], default="gpu",
                   help="cpu only smoke-tests this script")
    p.add_argument("--json", help="also write the results to this file")
    p.add_argument("--child", choices=["fp32", "tf32"], help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    names = [n for n in args.models.split(",") if n]
    unknown = [n for n in names if n not in NETWORKS]
    if unknown:
        print(f"error: --models: unknown {unknown}; choose from {', '.join(NETWORKS)}",
              file=sys.stderr)
        return 2
    if args.child:
        rows = [measure(name, args.child, args) for name in names]
        print(json.dumps({"device": device_name(args.device), "rows": rows}))
        return 0
    if args.device == "gpu":
        from minicnn import backend
        reason = backend.gpu_unavailable_reason()
        if reason is not None:
            print(f"error: --device gpu: {reason}", file=sys.stderr)
            return 2
    modes = ["fp32", "tf32"] if args.precision == "both" else [args.precision]
    reports = [run_child(mode, args) for mode in modes]
    if any(r is None for r in reports):
        return 1
    report = {"device": reports[0]["device"], "rows": [r for rep in reports for r in rep["rows"]]}
    print(table(report))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
