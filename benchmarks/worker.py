"""One framework in its own process, driven by `run.py` through JSON lines on stdin/stdout.

    python -m benchmarks.worker minicnn|pytorch|tensorflow

Commands (one JSON object per line; one JSON reply per line):
    {"cmd": "setup", "model": "lenet5"}   build the model, measure a training step's peak memory
    {"cmd": "time", "mode": "train"|"infer", "min_time": 1.0}   seconds per step
    {"cmd": "quit"}
Every framework trains with SGD (lr 0.01, momentum 0.9) and softmax cross-entropy on one fixed
random batch; inference is a forward pass in evaluation mode without a graph.
"""
import sys

if sys.argv[1:2] == ["minicnn"]:
    # minicnn before NumPy, as in `python -m minicnn.train`, so that its thread policy
    # (OPENBLAS_THREAD_TIMEOUT, minicnn/__init__.py) applies here too
    import minicnn  # noqa: F401

import ctypes
import gc
import json
import time

import numpy as np

from benchmarks.models import SPECS, build_minicnn, build_torch


def rss_mb(field="VmRSS"):
    """Resident memory of this process in MB (VmHWM: the peak since the last reset)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def reset_peak_rss():
    """Return freed heap to the OS and restart VmHWM from the current RSS (Linux)."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        pass


def batch(name):
    """The fixed random (images, labels) batch of benchmark `name`."""
    _, _, (C, H, W), N = SPECS[name]
    rng = np.random.default_rng(0)
    return rng.standard_normal((N, C, H, W), dtype=np.float32), rng.integers(0, 10, N)


def minicnn_steps(name):
    import minicnn
    import minicnn.functional as F
    from minicnn import optim
    model = build_minicnn(name)
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x, y = batch(name)

    def train():
        model.train()
        loss = F.softmax_cross_entropy(model(minicnn.Tensor(x)), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    def infer():
        model.eval()
        with minicnn.no_grad():
            model(minicnn.Tensor(x))
    return train, infer


def pytorch_steps(name):
    import torch
    model = build_torch(name)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x, y = (torch.from_numpy(a) for a in batch(name))

    def train():
        model.train()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    def infer():
        model.eval()
        with torch.no_grad():
            model(x)
    return train, infer


def tensorflow_steps(name):
    import tensorflow as tf

    from minicnn.interop.tensorflow import keras_twin
    _, _, input_size, _ = SPECS[name]
    model = keras_twin(build_minicnn(name), input_size).model  # no dropout (see keras_twin)
    opt = tf.keras.optimizers.SGD(learning_rate=0.01, momentum=0.9)
    images, labels = batch(name)
    x, y = tf.constant(images.transpose(0, 2, 3, 1)), tf.constant(labels)
    loss_fn = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    @tf.function
    def train_graph():
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    @tf.function
    def infer_graph():
        return model(x, training=False)
    return (lambda: train_graph().numpy()), (lambda: infer_graph().numpy())


FRAMEWORKS = {"minicnn": minicnn_steps, "pytorch": pytorch_steps,
              "tensorflow": tensorflow_steps}


def version(framework):
    """The framework's version string (imports it)."""
    module = {"minicnn": "minicnn", "pytorch": "torch", "tensorflow": "tensorflow"}[framework]
    return __import__(module).__version__


def seconds_per_step(step, min_time):
    """Run `step` at least twice and for at least `min_time` seconds; mean seconds per step."""
    steps, start = 0, time.perf_counter()
    while steps < 2 or time.perf_counter() - start < min_time:
        step()
        steps += 1
    return (time.perf_counter() - start) / steps, steps


def setup(framework, name):
    """Build the steps; warm up; measure the peak memory added by one training step."""
    train, infer = FRAMEWORKS[framework](name)
    start = time.perf_counter()
    train()  # first step: compilation (numba, tf.function), allocator growth
    first_step = time.perf_counter() - start
    infer()
    train()
    reset_peak_rss()
    before = rss_mb()
    train()
    peak = rss_mb("VmHWM") - before
    return (train, infer), {"first_step_s": first_step, "train_peak_mb": peak,
                            "rss_mb": before}


def main():
    framework = sys.argv[1]
    steps, out = None, sys.stdout
    sys.stdout = sys.stderr  # only replies go to the real stdout
    out.write(json.dumps({"version": version(framework)}) + "\n")
    out.flush()
    for line in sys.stdin:
        request = json.loads(line)
        if request["cmd"] == "quit":
            break
        if request["cmd"] == "setup":
            steps = None
            reset_peak_rss()
            steps, reply = setup(framework, request["model"])
        elif request["cmd"] == "time":
            step = steps[0] if request["mode"] == "train" else steps[1]
            seconds, count = seconds_per_step(step, request["min_time"])
            reply = {"seconds": seconds, "steps": count}
        out.write(json.dumps(reply) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
