"""Train a model of the zoo: `python -m minicnn.train lenet5`.

Reads top to bottom: arguments and the model's recipe, data, model and optimiser, then a flat
loop over epochs and batches, one line per epoch. Every epoch ends with a checkpoint
(`checkpoint.npz`), `metrics.csv`, `metrics.json` and `curves.png` in the output folder.

Ctrl-C finishes the current step, saves a checkpoint and prints the command that resumes it; a
resumed run ends with the same weights as an uninterrupted one, because the data order and
augmentation of each batch are drawn from (seed, epoch, batch) and the checkpoint carries the
dropout generator's state.
"""
import argparse
import math
import os
import shlex
import signal
import sys
import threading
import time

from tqdm import tqdm

import minicnn
import minicnn.functional as F
from minicnn import backend, checkpoint, metrics, models, optim, recipes, rng
from minicnn.data import Batches, DataNotFoundError, load_dataset
from minicnn.data import names as dataset_names


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        prog="python -m minicnn.train",
        description="Train a model on Fashion-MNIST (default), MNIST, CIFAR-10 or CIFAR-100. "
                    "Options left out come from the model's recipe (minicnn/recipes.py).")
    p.add_argument("model", help="one of: " + ", ".join(models.names()))
    p.add_argument("--dataset", choices=dataset_names(), default=None,
                   help="default fashion-mnist (the bundled subset if the full set is missing)")
    p.add_argument("--data-dir", help="folder holding the dataset files")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--optimizer", choices=["sgd", "adam"])
    p.add_argument("--momentum", type=float)
    p.add_argument("--nesterov", action=argparse.BooleanOptionalAction, default=None)
    p.add_argument("--weight-decay", type=float)
    p.add_argument("--schedule", choices=["none", "step", "cosine"])
    p.add_argument("--resize", type=int, metavar="SIZE",
                   help="resize images to SIZE x SIZE (default: the model's input size)")
    p.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None,
                   help="random crop + horizontal flip")
    p.add_argument("--model-option", action="append", default=[], metavar="KEY=VALUE",
                   help="a model build option, e.g. classic=True or width=0.5 (repeatable); "
                        "see minicnn.models.options(MODEL)")
    p.add_argument("--profile", choices=recipes.PROFILES,
                   help="recipe profile (default: cpu on --device cpu, paper on --device gpu)")
    p.add_argument("--device", choices=["cpu", "gpu"], default=None)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--limit-train", type=int, metavar="N", help="use the first N training images")
    p.add_argument("--limit-test", type=int, metavar="N", help="use the first N test images")
    p.add_argument("--out", help="output folder (default runs/MODEL-DATASET-TIMESTAMP)")
    p.add_argument("--resume", metavar="CKPT", help="continue from a checkpoint")
    p.add_argument("--no-download", action="store_true", help="never download datasets")
    return p.parse_args(argv)


def parse_model_options(pairs):
    """["width=0.5", "classic=True"] -> {"width": 0.5, "classic": True}."""
    try:
        return dict(models.split_option(pair) for pair in pairs)
    except ValueError as error:
        raise ValueError(f"--model-option {error}") from None


def make_config(args):
    """The run's settings: the recipe, overridden by whatever was given on the command line."""
    device = args.device or "cpu"
    profile = args.profile or ("paper" if device == "gpu" else "cpu")
    recipe = recipes.with_overrides(
        recipes.get(args.model, profile), epochs=args.epochs, batch_size=args.batch_size,
        optimizer=args.optimizer, lr=args.lr, momentum=args.momentum, nesterov=args.nesterov,
        weight_decay=args.weight_decay, schedule=args.schedule, input_size=args.resize,
        augment=args.augment)
    recipe = recipes.with_overrides(
        recipe, build={**recipe.build, **parse_model_options(args.model_option)})
    dataset = args.dataset or "fashion-mnist"
    out = args.out or os.path.join(
        "runs", f"{args.model}-{dataset}-{time.strftime('%Y%m%d-%H%M%S')}")
    return {"model": args.model, "dataset": dataset, "profile": profile, **recipe.as_dict(),
            "device": device, "seed": 0 if args.seed is None else args.seed,
            "limit_train": args.limit_train, "limit_test": args.limit_test, "out": out,
            "data_dir": args.data_dir, "download": not args.no_download}


def resumed_config(args, saved):
    """A resumed run keeps its saved settings; --epochs, --device, --data-dir and --out may
    change (a longer run, another machine)."""
    config = dict(saved)
    for key in ("epochs", "device", "data_dir", "out"):
        value = getattr(args, key)
        if value is not None:
            config[key] = value
    if args.no_download:
        config["download"] = False
    if config["out"] is None:
        config["out"] = os.path.dirname(os.path.abspath(args.resume))
    return config


def build_model(config, num_classes, in_channels):
    """The model of the recipe; an explicit input size becomes the model's image_size."""
    options = dict(config["build"])
    if config["input_size"] is not None and "image_size" in models.options(config["model"]):
        options["image_size"] = config["input_size"]
    model = models.build(config["model"], num_classes=num_classes, in_channels=in_channels,
                         **options)
    return model


def build_optimizer(config, model):
    params = list(model.parameters())
    if config["optimizer"] == "adam":
        optimizer = optim.Adam(params, lr=config["lr"], weight_decay=config["weight_decay"])
    else:
        optimizer = optim.SGD(params, lr=config["lr"], momentum=config["momentum"],
                              nesterov=config["nesterov"], weight_decay=config["weight_decay"])
    if config["schedule"] == "cosine":
        scheduler = optim.CosineAnnealingLR(optimizer, T_max=config["epochs"])
    elif config["schedule"] == "step":
        scheduler = optim.StepLR(optimizer, step_size=config["step_size"], gamma=config["gamma"])
    else:
        scheduler = None
    return optimizer, scheduler


def evaluate(model, batches, device="cpu"):
    """Mean loss and accuracy of `model` over `batches`, in eval mode, without a graph."""
    model.eval()
    loss_sum, correct, seen = 0.0, 0, 0
    with minicnn.no_grad():
        for x, y in batches:
            logits = model(minicnn.Tensor(backend.to_device(x, device)))
            loss = F.softmax_cross_entropy(logits, backend.to_device(y, device))
            loss_sum += loss.item() * len(y)
            correct += int((backend.asnumpy(logits.data).argmax(axis=1) == y).sum())
            seen += len(y)
    model.train()
    return loss_sum / max(seen, 1), correct / max(seen, 1)


class InterruptFlag:
    """Ctrl-C sets a flag that the loop checks after each step, so a checkpoint is only ever
    taken between two whole steps; a second Ctrl-C stops at once."""

    def __init__(self):
        self.raised = False
        self.previous = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():  # signals need the main one
            self.previous = signal.signal(signal.SIGINT, self.handle)
        return self

    def handle(self, signum, frame):
        if self.raised:
            raise KeyboardInterrupt
        self.raised = True

    def __exit__(self, *exc):
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
        return False


def save_checkpoint(path, model, optimizer, scheduler, config, position, history, running):
    """position: (epoch, batch) of the next step to take; running: sums of the epoch so far."""
    meta = {
        "config": config,
        "epoch": position[0],
        "batch": position[1],
        "running": running,
        "history": history,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "rng_state": rng.get_state(),
    }
    checkpoint.save(path, model.state_dict(), optimizer.state_dict(), meta)


def epoch_line(row, total_epochs):
    return (f"epoch {row['epoch']:>3}/{total_epochs}  train loss {row['train_loss']:.4f}  "
            f"train acc {row['train_acc']:.4f}  test loss {row['test_loss']:.4f}  "
            f"test acc {row['test_acc']:.4f}  {row['seconds']:.1f}s")


def train_step(model, optimizer, x, y, device):
    """One forward, backward and update on a batch. Returns (loss, number correct).

    x: (B, C, H, W) float32, y: (B,) int64, both NumPy. The update is skipped, and
    TrainingDiverged raised, when the loss is not finite: the weights stay as they were.
    """
    logits = model(minicnn.Tensor(backend.to_device(x, device)))
    loss = F.softmax_cross_entropy(logits, backend.to_device(y, device))
    value = loss.item()
    if not math.isfinite(value):
        raise TrainingDiverged(f"the loss became {value}")
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    correct = int((backend.asnumpy(logits.data).argmax(axis=1) == y).sum())
    return value, correct


def train(config, data, resume_state=None, on_step=None, log=print):
    """Run (or continue) training. Returns "finished" or "interrupted".

    data: a minicnn.data.Dataset. resume_state: (model_state, optimizer_state, meta) from
    checkpoint.load. on_step(step): called after every optimiser step (tests use it).
    Raises TrainingDiverged on a NaN or infinite loss.
    """
    device = config["device"]
    backend.set_default_device(device)
    minicnn.manual_seed(config["seed"])
    model = build_model(config, data.num_classes, data.image_shape[0])
    C, H, W = model.default_input_size
    optimizer, scheduler = build_optimizer(config, model)
    train_batches = Batches(data.train_x, data.train_y, config["batch_size"], data.mean,
                            data.std, size=(H, W), shuffle=True, augment=config["augment"],
                            seed=config["seed"])
    test_batches = Batches(data.test_x, data.test_y, config["batch_size"], data.mean,
                           data.std, size=(H, W))
    config = {**config, "num_classes": data.num_classes, "class_names": list(data.class_names),
              "input_shape": [C, H, W],
              "mean": list(data.mean), "std": list(data.std)}
    ckpt_path = os.path.join(config["out"], "checkpoint.npz")

    start_epoch, start_batch, history = 0, 0, []
    running = {"loss_sum": 0.0, "correct": 0, "seen": 0, "seconds": 0.0}
    if resume_state is not None:
        model_state, optimizer_state, meta = resume_state
        model.load_state_dict(model_state)
        optimizer.load_state_dict(optimizer_state)
        if scheduler is not None and meta["scheduler"] is not None:
            scheduler.load_state_dict(meta["scheduler"])
        rng.set_state(meta["rng_state"])
        start_epoch, start_batch = meta["epoch"], meta["batch"]
        history, running = meta["history"], meta["running"]
        log(f"resuming at epoch {start_epoch + 1}, batch {start_batch + 1}/"
            f"{len(train_batches)}")

    os.makedirs(config["out"], exist_ok=True)
    model.train()
    steps_per_epoch = len(train_batches)
    with InterruptFlag() as interrupt:
        for epoch in range(start_epoch, config["epochs"]):
            train_batches.set_epoch(epoch)
            first = start_batch if epoch == start_epoch else 0
            if first == 0:
                running = {"loss_sum": 0.0, "correct": 0, "seen": 0, "seconds": 0.0}
            bar = tqdm(total=steps_per_epoch, initial=first, leave=False, unit="batch",
                       desc=f"epoch {epoch + 1}/{config['epochs']}", dynamic_ncols=True)
            started = time.perf_counter() - running["seconds"]
            images_this_session, session_start = 0, time.perf_counter()
            for batch_index, (x, y) in enumerate(train_batches.iterate(first), start=first):
                step = epoch * steps_per_epoch + batch_index + 1
                try:
                    value, correct = train_step(model, optimizer, x, y, device)
                except TrainingDiverged as error:
                    bar.close()
                    raise TrainingDiverged(
                        f"{error} at step {step} (epoch {epoch + 1}, batch {batch_index + 1}/"
                        f"{steps_per_epoch}); the run stopped. Try a lower learning rate, "
                        f"e.g. --lr {optimizer.lr / 10:g}") from None
                running["loss_sum"] += value * len(y)
                running["correct"] += correct
                running["seen"] += len(y)
                images_this_session += len(y)
                rate = images_this_session / max(time.perf_counter() - session_start, 1e-9)
                bar.set_postfix(loss=f"{running['loss_sum'] / running['seen']:.4f}",
                                img_s=f"{rate:.0f}", refresh=False)
                bar.update(1)
                if on_step is not None:
                    on_step(step)
                if interrupt.raised:
                    bar.close()
                    running["seconds"] = time.perf_counter() - started
                    save_checkpoint(ckpt_path, model, optimizer, scheduler, config,
                                    (epoch, batch_index + 1), history, running)
                    log(interrupted_message(config, ckpt_path))
                    return "interrupted"
            bar.close()

            test_loss, test_acc = evaluate(model, test_batches, device)
            row = {"epoch": epoch + 1,
                   "train_loss": running["loss_sum"] / max(running["seen"], 1),
                   "train_acc": running["correct"] / max(running["seen"], 1),
                   "test_loss": test_loss, "test_acc": test_acc,
                   "seconds": time.perf_counter() - started, "lr": optimizer.lr}
            history.append(row)
            if scheduler is not None:
                scheduler.step()
            log(epoch_line(row, config["epochs"]))
            running = {"loss_sum": 0.0, "correct": 0, "seen": 0, "seconds": 0.0}
            save_checkpoint(ckpt_path, model, optimizer, scheduler, config, (epoch + 1, 0),
                            history, running)
            metrics.write_all(config["out"], history,
                              title=f"{config['model']} on {config['dataset']}")
            if interrupt.raised and epoch + 1 < config["epochs"]:  # Ctrl-C during evaluation
                log(interrupted_message(config, ckpt_path))
                return "interrupted"
    return "finished"


def interrupted_message(config, ckpt_path):
    return (f"\ninterrupted: checkpoint saved to {ckpt_path}\n"
            f"resume with:  python -m minicnn.train {config['model']} "
            f"--resume {shlex.quote(ckpt_path)}")


def describe(config, data):
    lines = [f"model {config['model']} ({config['profile']} recipe"
             + (f", {config['build']}" if config["build"] else "") + f") on {data.name}: "
             f"{len(data.train_x)} training / {len(data.test_x)} test images from {data.source}",
             f"{config['epochs']} epochs, batch {config['batch_size']}, {config['optimizer']} "
             f"lr {config['lr']:g}, schedule {config['schedule']}, weight decay "
             f"{config['weight_decay']:g}, augment {config['augment']}, device "
             f"{config['device']}, seed {config['seed']}, output {config['out']}"]
    return "\n".join(lines)


def main(argv=None):
    args = parse_args(argv)
    resume_state = None
    try:
        if args.resume:
            resume_state = checkpoint.load(args.resume)
            config = resumed_config(args, resume_state[2]["config"])
        else:
            config = make_config(args)
        data = load_dataset(config["dataset"], config["data_dir"],
                            allow_download=config["download"])
    except (DataNotFoundError, FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if config["device"] == "gpu" and not backend.gpu_available():
        print("error: --device gpu needs CuPy and a CUDA device (pip install minicnn[gpu]); "
              "none is available here", file=sys.stderr)
        return 2
    if data.notice:
        print(data.notice)
    data.limit(config["limit_train"], config["limit_test"])
    print(describe(config, data))
    try:
        status = train(config, data, resume_state)
    except TrainingDiverged as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except ValueError as error:  # e.g. an option the model does not take, a too-small size
        print(f"error: {error}", file=sys.stderr)
        return 2
    if status == "interrupted":
        return 130
    print(f"done: checkpoint, metrics.csv, metrics.json and curves.png in {config['out']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
