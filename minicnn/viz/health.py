"""Gradient health: are the gradients vanishing or exploding, the ReLUs dead, the steps sane?

    python -m minicnn.viz health lenet5 --out health.png                  # one step, fresh model
    python -m minicnn.viz health runs/lenet5/checkpoint.npz --out h.png   # one step, trained
    python -m minicnn.viz health runs/lenet5/metrics.json --out h.png     # across the epochs
    python -m minicnn.viz health runs/lenet5 --out h.png                  # the same

For one training step it measures, per layer, the mean and the max |gradient| of its
parameters; per nn.ReLU layer, the fraction of dead units (output 0 for every image of the
batch); per parameter, the update/weight ratio ||W_after - W_before|| / ||W_before|| (a common
rule of thumb puts healthy steps near 1e-3). `grad_stats` returns these as JSON-able numbers;
`python -m minicnn.train MODEL --log-grad-stats` stores them per epoch under "grad_stats" in
metrics.json (measured on each epoch's last step), and a run's epochs can then be drawn.
"""
import json
import os

import minicnn
import minicnn.functional as F
from minicnn import backend, nn, optim


class DeadReluCounter:
    """Forward hooks on every nn.ReLU: `fractions[path]` is the fraction of its units (one per
    (C, H, W) position) whose output was 0 for every image of the last batch."""

    def __init__(self, model):
        self.model = model
        self.fractions = {}
        self.handles = []

    def __enter__(self):
        for path, module in self.model.named_modules():
            if isinstance(module, nn.ReLU):
                self.handles.append(module.register_forward_hook(self._counter(path)))
        return self

    def __exit__(self, *exc):
        for handle in self.handles:
            handle.remove()

    def _counter(self, path):
        def count(module, inputs, output):
            alive = (output.data > 0).any(axis=0)  # (C, H, W): positive for some image
            self.fractions[path] = 1.0 - float(alive.mean())
        return count


def weights_snapshot(model):
    """{parameter name: copy of its array}, taken before optimizer.step() for update ratios."""
    return {name: param.data.copy() for name, param in model.named_parameters()}


def _owner(name):
    return name.rsplit(".", 1)[0] if "." in name else ""


def grad_stats(model, before=None, dead_relu=None):
    """JSON-able health numbers of the gradients the last backward left in `model`.

    Args:
        before: weights_snapshot(model) from before optimizer.step(), for update ratios.
        dead_relu: DeadReluCounter.fractions of the forward pass.
    Returns:
        {"layers": {module path: {"grad_mean_abs", "grad_max_abs"}},
         "params": {name: {"grad_norm", "weight_norm", "update_ratio" (None without before)}},
         "dead_relu": {ReLU module path: fraction}}
    """
    sums, counts, maxima, params = {}, {}, {}, {}
    for name, param in model.named_parameters():
        if param.grad is None:
            continue
        xp = backend.get_array_module(param.grad)
        magnitude = xp.abs(param.grad)
        layer = _owner(name)
        sums[layer] = sums.get(layer, 0.0) + float(magnitude.sum())
        counts[layer] = counts.get(layer, 0) + magnitude.size
        maxima[layer] = max(maxima.get(layer, 0.0), float(magnitude.max()))
        weight_norm = float(xp.linalg.norm(param.data.ravel()))
        ratio = None
        if before is not None and name in before:
            old = before[name]
            old_norm = float(xp.linalg.norm(old.ravel()))
            ratio = float(xp.linalg.norm((param.data - old).ravel())) / max(old_norm, 1e-12)
        params[name] = {"grad_norm": float(xp.linalg.norm(param.grad.ravel())),
                        "weight_norm": weight_norm, "update_ratio": ratio}
    layers = {layer: {"grad_mean_abs": sums[layer] / counts[layer],
                      "grad_max_abs": maxima[layer]} for layer in sums}
    return {"layers": layers, "params": params, "dead_relu": dict(dead_relu or {})}


def summary_columns(stats):
    """Three numbers of grad_stats(...) for one row of metrics.csv: the norm of all gradients
    together, the largest update/weight ratio and the largest dead-ReLU fraction (None when
    there is nothing to measure)."""
    grad_norms = [row["grad_norm"] for row in stats["params"].values()]
    ratios = [row["update_ratio"] for row in stats["params"].values()
              if row["update_ratio"] is not None]
    dead = list(stats["dead_relu"].values())
    return {"grad_norm": sum(n * n for n in grad_norms) ** 0.5 if grad_norms else None,
            "max_update_ratio": max(ratios) if ratios else None,
            "max_dead_relu": max(dead) if dead else None}


def measure_step(model, x, y, optimizer):
    """One training step on (x, y) with every health number measured; returns grad_stats(...)
    plus "loss". The model's weights change (it is a real step)."""
    model.train()
    with DeadReluCounter(model) as relus:
        logits = model(minicnn.Tensor(x))
    loss = F.softmax_cross_entropy(logits, y)
    optimizer.zero_grad()
    loss.backward()
    before = weights_snapshot(model)
    optimizer.step()
    stats = grad_stats(model, before, relus.fractions)
    stats["loss"] = float(backend.asnumpy(loss.data))
    return stats


def format_stats(stats):
    """The numbers of one step as text lines (for the terminal)."""
    lines = [f"{'layer':<24} {'mean |grad|':>12} {'max |grad|':>12}"]
    for layer, row in stats["layers"].items():
        lines.append(f"{layer or '(top)':<24} {row['grad_mean_abs']:>12.4g} "
                     f"{row['grad_max_abs']:>12.4g}")
    lines.append(f"{'parameter':<24} {'update/weight':>12}")
    for name, row in stats["params"].items():
        ratio = "-" if row["update_ratio"] is None else f"{row['update_ratio']:.4g}"
        lines.append(f"{name:<24} {ratio:>12}")
    for path, fraction in stats["dead_relu"].items():
        lines.append(f"dead ReLU {path:<14} {fraction:>12.2%}")
    return "\n".join(lines)


def read_history(path):
    """metrics.json rows that carry grad_stats; VizInputError when there are none."""
    from minicnn.viz.loading import VizInputError
    try:
        with open(path) as f:
            history = json.load(f)
    except (OSError, ValueError) as error:
        raise VizInputError(f"{path}: cannot read it as metrics.json ({error})") from None
    if not isinstance(history, list) or not any(isinstance(r, dict) and r.get("grad_stats")
                                                for r in history):
        raise VizInputError(f"{path}: no epoch has grad_stats; train with --log-grad-stats "
                            f"to record them, or give a checkpoint or model name for one step")
    return history


def run(args):
    """`health` subcommand: one measured step, or a run's epochs from metrics.json."""
    from minicnn.viz import health_figures, loading
    if os.path.isdir(args.model):  # a run's folder: its metrics.json
        args.model = os.path.join(args.model, "metrics.json")
    if args.model.endswith(".json"):
        history = read_history(args.model)
        health_figures.draw_epochs(history, args.out, title=f"gradient health: {args.model}")
        print(f"{sum(1 for r in history if r.get('grad_stats'))} epochs -> {args.out}")
        return 0
    if args.batch_size < 1 or args.lr <= 0:
        raise loading.VizInputError(f"--batch-size {args.batch_size} / --lr {args.lr}: both "
                                    f"must be positive")
    model, config = loading.model_or_checkpoint(args.model, args.input)
    input_size = tuple(config.input_shape) if config else (args.input or
                                                               model.default_input_size)
    minicnn.manual_seed(0)
    x, y = loading.sample_batch(input_size, args.batch_size, config)
    optimizer = optim.SGD(list(model.parameters()), lr=args.lr)
    stats = measure_step(model, x, y, optimizer)
    name = config.model if config else args.model
    health_figures.draw_step(stats, args.out,
                             title=f"{name}: one SGD step (lr {args.lr:g}, batch {len(y)}), "
                                   f"loss {stats['loss']:.4g}")
    print(format_stats(stats))
    print(f"-> {args.out}")
    return 0


def add_parser(subparsers):
    from minicnn.viz.loading import parse_input_size
    p = subparsers.add_parser("health", help="gradient health of one step or of a run",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("model", help="a zoo model name, a checkpoint.npz, or a run's metrics.json "
                                 "or folder (trained with --log-grad-stats)")
    p.add_argument("--out", required=True, help="picture to write (.png or .svg)")
    p.add_argument("--input", type=parse_input_size, metavar="C,H,W",
                   help="input size of a zoo model (default: its own)")
    p.add_argument("--batch-size", type=int, default=32, help="images in the measured step")
    p.add_argument("--lr", type=float, default=0.01, help="learning rate of the SGD step")
    p.set_defaults(run=run)
