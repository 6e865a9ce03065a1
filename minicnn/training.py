"""The training loop: run an epoch, evaluate, log, save. `train(config, data)` reads top to
bottom like nanoGPT's train.py; `python -m minicnn.train` is its command-line front.

Every epoch ends with a checkpoint (`checkpoint.npz`), `metrics.csv`, `metrics.json` and
`curves.png` in `config.out`. Ctrl-C or SIGTERM (a timeout, Slurm, `docker stop`) finishes the
current step, saves a checkpoint and returns "interrupted"; a resumed run ends with the same
weights as an uninterrupted one, because the data order and augmentation of each batch are
drawn from (seed, epoch, batch) and the checkpoint carries the dropout generator's state.

A step never waits for the device: its loss and correct count stay there (StepTally) and are
read back in one go when a progress line is due and at the end of the epoch, which is also
when a NaN or infinite loss is noticed. `--log-grad-stats` (config.log_grad_stats) measures
the gradient health of each epoch's last step (minicnn.viz.health) into metrics.json.
"""
import contextlib
import os
import shlex
import signal
import threading
import time

import minicnn
import minicnn.functional as F
from minicnn import backend, checkpoint, files, inference, metrics, optim, rng
from minicnn.data import Batches
from minicnn.errors import ShapeError
from minicnn.progress import Progress, StepTally, TrainingDiverged, diverged, epoch_line
from minicnn.viz import health

OUTPUT_FILES = (checkpoint.NAME,) + metrics.FILES


def build_optimizer(config, model):
    """The optimiser and learning-rate schedule of the run (scheduler None for "none")."""
    params = list(model.parameters())
    if config.optimizer == "adam":
        optimizer = optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    else:
        optimizer = optim.SGD(params, lr=config.lr, momentum=config.momentum,
                              nesterov=config.nesterov, weight_decay=config.weight_decay)
    if config.schedule == "cosine":
        scheduler = optim.CosineAnnealingLR(optimizer, T_max=config.epochs)
    elif config.schedule == "step":
        scheduler = optim.StepLR(optimizer, step_size=config.step_size, gamma=config.gamma)
    else:
        scheduler = None
    return optimizer, scheduler


def train_step(model, optimizer, x, y, device, measure_health=False):
    """One forward, backward and update on a batch, without waiting for the device.

    x: (B, C, H, W) float32, y: (B,) int64, both NumPy (uploaded here). Returns (loss, correct,
    stats): the loss and the number of right predictions as 0-d device arrays (nothing comes
    back to the host inside a step; StepTally reads them every few steps), and the step's
    gradient health (minicnn.viz.health.grad_stats) when measure_health, else None.
    """
    relus = health.DeadReluCounter(model) if measure_health else contextlib.nullcontext()
    with relus:  # forward hooks on nn.ReLU only in a measured step
        logits = model(minicnn.Tensor(backend.to_device(x, device)))
    loss = F.softmax_cross_entropy(logits, y)  # NumPy labels: range-checked on the host
    y = backend.to_device(y, device)
    optimizer.zero_grad()
    loss.backward()
    before = health.weights_snapshot(model) if measure_health else None
    optimizer.step()
    correct = (logits.data.argmax(axis=1) == y).sum()
    stats = health.grad_stats(model, before, relus.fractions) if measure_health else None
    return loss.data, correct, stats


def evaluate(model, batches, device="cpu"):
    """Mean loss and accuracy of `model` over `batches`, in eval mode, without a graph."""
    logits, labels = inference.logits_of_batches(model, batches, device)
    if len(labels) == 0:
        return 0.0, 0.0
    with minicnn.no_grad():
        loss = F.softmax_cross_entropy(logits, labels).item()
    return loss, float((logits.argmax(axis=1) == labels).mean())


class StopSignals:
    """Ctrl-C (SIGINT) and SIGTERM set a flag that the loop checks after each step, so a
    checkpoint is only ever taken between two whole steps; a second signal stops at once."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.received = None  # the signal number, once one came
        self.previous = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():  # signals need the main one
            for signum in self.SIGNALS:
                self.previous[signum] = signal.signal(signum, self.handle)
        return self

    def handle(self, signum, frame):
        if self.received is not None:
            raise KeyboardInterrupt
        self.received = signum

    def __exit__(self, *exc):
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)
        return False


def save_checkpoint(path, model, optimizer, scheduler, config, position, history, running,
                    first_loss=None):
    """position: (epoch, batch) of the next step to take; running: sums of the epoch so far."""
    meta = {
        "config": config.as_dict(),
        "epoch": position[0],
        "batch": position[1],
        "running": running,
        "history": history,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "rng_state": rng.get_state(),
        "first_loss": first_loss,
    }
    checkpoint.save(path, model.state_dict(), optimizer.state_dict(), meta)


def interrupted_message(config, ckpt_path, signum=signal.SIGINT):
    name = signal.Signals(signum).name
    return (f"\ninterrupted by {name}: checkpoint saved to {ckpt_path}\n"
            f"resume with:  python -m minicnn.train {config.model} "
            f"--resume {shlex.quote(ckpt_path)}")


def _fresh_sums():
    return {"loss_sum": 0.0, "correct": 0, "seen": 0, "seconds": 0.0}


def train(config, data, resume_state=None, on_step=None, log=print, extra_metrics=()):
    """Run (or continue) training. Returns "finished" or "interrupted".

    config: a RunConfig. data: a minicnn.data.Dataset. resume_state: (model_state,
    optimizer_state, meta) from checkpoint.load_run. on_step(step): called after every
    optimiser step (tests use it). extra_metrics: functions f(model, optimizer) -> dict,
    called at the end of each epoch; their values join the epoch's row in metrics.csv/json.
    Raises TrainingDiverged on a NaN or infinite loss.
    """
    # -- model, optimiser and data ------------------------------------------------------------
    if config.out is None:
        raise ValueError("RunConfig.out: the loop needs an output folder for its checkpoint "
                         "and metrics; set out=...")
    device = config.device
    backend.set_default_device(device)
    minicnn.manual_seed(config.seed)
    model = config.build_model(data.num_classes, data.image_shape[0])
    C, H, W = model.default_input_size
    optimizer, scheduler = build_optimizer(config, model)
    train_batches = Batches(data.train_x, data.train_y, config.batch_size, data.mean,
                            data.std, size=(H, W), shuffle=True, augment=config.augment,
                            seed=config.seed)
    test_batches = Batches(data.test_x, data.test_y, config.batch_size, data.mean,
                           data.std, size=(H, W))
    config = config.replace(num_classes=data.num_classes, class_names=list(data.class_names),
                            input_shape=[C, H, W], mean=list(data.mean), std=list(data.std))
    ckpt_path = os.path.join(config.out, checkpoint.NAME)

    # -- where we start: the beginning, or the checkpoint's step -----------------------------
    start_epoch, start_batch, history, first_loss = 0, 0, [], None
    running = _fresh_sums()
    if resume_state is not None:
        model_state, optimizer_state, meta = resume_state
        try:
            model.load_state_dict(model_state)
            optimizer.load_state_dict(optimizer_state)
        except (KeyError, ShapeError, ValueError, IndexError) as error:
            message = error.args[0] if error.args else error
            raise checkpoint.CheckpointError(f"its weights do not fit model {config.model} as "
                                             f"its config describes it ({message})") from None
        if scheduler is not None and meta["scheduler"] is not None:
            scheduler.load_state_dict(meta["scheduler"])
        rng.set_state(meta["rng_state"])
        start_epoch, start_batch = meta["epoch"], meta["batch"]
        history, running = meta["history"], meta["running"]
        first_loss = meta.get("first_loss")
        log(f"resuming at epoch {start_epoch + 1}, batch {start_batch + 1}/"
            f"{len(train_batches)}")
    os.makedirs(config.out, exist_ok=True)
    files.remove_stale_temporaries(config.out, OUTPUT_FILES)  # left by a killed run
    tally = StepTally(first_loss)

    # -- the loop: epochs of steps, then evaluate, log and save -----------------------------
    model.train()
    steps_per_epoch = len(train_batches)
    with StopSignals() as stop:
        for epoch in range(start_epoch, config.epochs):
            train_batches.set_epoch(epoch)
            first = start_batch if epoch == start_epoch else 0
            if first == 0:
                running = _fresh_sums()
            progress = Progress(epoch + 1, config.epochs, steps_per_epoch, first, log)
            started = time.perf_counter() - running["seconds"]
            images_this_session, session_start = 0, time.perf_counter()
            for batch_index, (x, y) in enumerate(train_batches.iterate(first), start=first):
                step, done = epoch * steps_per_epoch + batch_index + 1, batch_index + 1
                measure = config.log_grad_stats and done == steps_per_epoch
                loss, correct, stats = train_step(model, optimizer, x, y, device, measure)
                tally.add(step, loss, correct, len(y))
                if stats is not None:  # --log-grad-stats: measured on the epoch's last step
                    running["grad_stats"] = stats
                images_this_session += len(y)
                progress.advance()
                if on_step is not None:
                    on_step(step)
                if (done % progress.every == 0 or done == steps_per_epoch
                        or stop.received is not None):  # the only reads from the device
                    try:
                        tally.read_into(running, optimizer.lr, log)
                    except TrainingDiverged as error:
                        progress.close()
                        raise diverged(error, step, steps_per_epoch, optimizer.lr) from None
                    rate = images_this_session / max(time.perf_counter() - session_start, 1e-9)
                    progress.report(done, running["loss_sum"] / running["seen"], rate)
                if stop.received is not None:
                    progress.close()
                    running["seconds"] = time.perf_counter() - started
                    save_checkpoint(ckpt_path, model, optimizer, scheduler, config,
                                    (epoch, done), history, running, tally.first_loss)
                    log(interrupted_message(config, ckpt_path, stop.received))
                    return "interrupted"
            progress.close()

            test_loss, test_acc = evaluate(model, test_batches, device)
            row = {"epoch": epoch + 1,
                   "train_loss": running["loss_sum"] / max(running["seen"], 1),
                   "train_acc": running["correct"] / max(running["seen"], 1),
                   "test_loss": test_loss, "test_acc": test_acc,
                   "seconds": time.perf_counter() - started, "lr": optimizer.lr}
            if "grad_stats" in running:  # a few summary columns, the nested numbers
                row.update(health.summary_columns(running["grad_stats"]))  # in JSON only
                row["grad_stats"] = running["grad_stats"]
            for extra in extra_metrics:
                row.update(extra(model, optimizer))
            history.append(row)
            if scheduler is not None:
                scheduler.step()
            log(epoch_line(row, config.epochs))
            running = _fresh_sums()
            save_checkpoint(ckpt_path, model, optimizer, scheduler, config, (epoch + 1, 0),
                            history, running, tally.first_loss)
            metrics.write_all(config.out, history, title=f"{config.model} on {config.dataset}")
            if stop.received is not None and epoch + 1 < config.epochs:  # during evaluation
                log(interrupted_message(config, ckpt_path, stop.received))
                return "interrupted"
    return "finished"
