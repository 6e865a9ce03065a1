"""What the training loop tells while it runs: the losses and correct counts of its steps, kept
on the device and read back every few steps (StepTally), the progress bar or plain lines, one
line per epoch, and the divergence warning or error.
"""
import math

from tqdm import tqdm

from minicnn import backend

DIVERGENCE_FACTOR = 100.0  # warn when the loss is this many times its first value


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite (at step number `step`, counted from 1)."""

    def __init__(self, message, step=None):
        super().__init__(message)
        self.step = step


class StepTally:
    """The losses and correct counts of the last steps, left on the device until `read_into`
    copies them to the host in one go (every few steps: a GPU never waits for the host).

    It also watches the losses it reads: the first non-finite one raises TrainingDiverged
    naming its step, and one above DIVERGENCE_FACTOR x the run's first loss warns once.
    """

    def __init__(self, first_loss=None):
        self.first_loss = first_loss  # the run's first loss (saved in checkpoints)
        self.warned = False
        self.steps, self.sizes, self.losses, self.corrects = [], [], [], []

    def add(self, step, loss, correct, size):
        """loss, correct: 0-d device arrays of step number `step`, a batch of `size` images."""
        self.steps.append(step)
        self.sizes.append(size)
        self.losses.append(loss)
        self.corrects.append(correct)

    def read_into(self, running, lr, log):
        """Add the pending steps, in order, to the sums of `running`; then forget them."""
        if not self.steps:
            return
        xp = backend.get_array_module(self.losses[0])
        losses = backend.asnumpy(xp.stack(self.losses)).tolist()  # Python floats
        corrects = backend.asnumpy(xp.stack(self.corrects)).tolist()
        for step, size, value, correct in zip(self.steps, self.sizes, losses, corrects):
            if not math.isfinite(value):
                raise TrainingDiverged(f"the loss became {value} at step {step}", step)
            if self.first_loss is None:
                self.first_loss = value
            elif value > DIVERGENCE_FACTOR * self.first_loss and not self.warned:
                log(divergence_warning(value, self.first_loss, lr))
                self.warned = True
            running["loss_sum"] += value * size
            running["correct"] += int(correct)
            running["seen"] += size
        self.steps, self.sizes, self.losses, self.corrects = [], [], [], []


class Progress:
    """A tqdm bar when stderr is a terminal; otherwise (a pipe, a file, a notebook log) one
    plain line every tenth of the epoch, never carriage-return frames."""

    def __init__(self, epoch, epochs, total, first, log):
        self.bar = tqdm(total=total, initial=first, leave=False, unit="batch", disable=None,
                        desc=f"epoch {epoch}/{epochs}", dynamic_ncols=True)
        self.epoch, self.epochs, self.total, self.log = epoch, epochs, total, log
        self.every = max(1, total // 10)

    def advance(self):
        """One more step done."""
        if not self.bar.disable:
            self.bar.update(1)

    def report(self, batch, loss, images_per_second):
        """After batch number `batch` (1-based), when the sums were read back from the device:
        loss is the epoch's mean so far. Prints a plain line every tenth of the epoch."""
        if not self.bar.disable:
            self.bar.set_postfix(loss=f"{loss:.4g}", img_s=f"{images_per_second:.0f}")
        elif batch % self.every == 0 and batch < self.total:
            self.log(f"  epoch {self.epoch}/{self.epochs} batch {batch}/{self.total}  "
                     f"loss {loss:.4g}  {images_per_second:.0f} img/s")

    def close(self):
        self.bar.close()


def diverged(error, step, steps_per_epoch, lr):
    """The TrainingDiverged of StepTally with the epoch and batch of its step, read back after
    step number `step`, and what to try."""
    epoch, batch = divmod(error.step - 1, steps_per_epoch)
    noticed = f"; read back after step {step}" if step != error.step else ""
    return TrainingDiverged(f"{error} (epoch {epoch + 1}, batch {batch + 1}/{steps_per_epoch}"
                            f"{noticed}); the run stopped. Try a lower learning rate, e.g. "
                            f"--lr {lr / 10:g}", error.step)


def epoch_line(row, total_epochs):
    """One line per epoch that fits an 80-column terminal, even for exploded losses (.4g),
    runs of 999 epochs and epochs of hours."""
    seconds = row["seconds"]
    duration = f"{seconds:.0f}s" if seconds < 1000 else f"{seconds / 60:.0f}m"
    width = len(str(total_epochs))
    return (f"epoch {row['epoch']:>{width}}/{total_epochs}  loss {row['train_loss']:<6.4g} "
            f"acc {row['train_acc']:.4f}  test loss {row['test_loss']:<6.4g} "
            f"acc {row['test_acc']:.4f}  {duration}")


def divergence_warning(loss, first_loss, lr):
    return (f"warning: loss {loss:.4g} is {loss / first_loss:.2g} x its first value "
            f"{first_loss:.4g}: diverging; try a lower --lr, e.g. {lr / 10:g}")
