"""A run's numbers on disk: metrics.csv, metrics.json and curves.png, rewritten every epoch.

`history` is a list with one dict per finished epoch holding at least
epoch, train_loss, train_acc, test_loss, test_acc, seconds (and lr); extra keys (from the
training loop's extra_metrics, --log-grad-stats' summary) become extra columns; nested
values (grad_stats) are kept in metrics.json only. Each file is replaced atomically.
"""
import csv
import json
import os

# The Agg canvas draws straight to a PNG: no window, no display needed, and unlike
# matplotlib.use("Agg") it does not change the backend of a notebook that imports us.
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from minicnn.files import write_atomically

COLUMNS = ["epoch", "train_loss", "train_acc", "test_loss", "test_acc", "seconds", "lr"]

FILES = ("metrics.csv", "metrics.json", "curves.png")


def csv_columns(history):
    """COLUMNS, then every other key of any row in first-seen order, except nested values
    (dicts and lists such as grad_stats: they go to metrics.json only)."""
    extra = []
    for row in history:
        extra += [key for key, value in row.items() if key not in COLUMNS + extra
                  and not isinstance(value, (dict, list))]
    return COLUMNS + extra


def write_csv(path, history):
    def write(tmp_path):
        with open(tmp_path, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=csv_columns(history), extrasaction="ignore")
            writer.writeheader()
            writer.writerows(history)
    write_atomically(path, write)


def write_json(path, history):
    def write(tmp_path):
        with open(tmp_path, "w") as f:
            json.dump(history, f, indent=1)
    write_atomically(path, write)


def plot_curves(path, history, title=""):
    """Loss (left) and accuracy (right) per epoch, train vs test."""
    epochs = [row["epoch"] for row in history]
    figure = Figure(figsize=(10, 4))
    FigureCanvasAgg(figure)
    loss_axes, acc_axes = figure.subplots(1, 2)
    for split, style in (("train", "o-"), ("test", "s--")):
        loss_axes.plot(epochs, [row[f"{split}_loss"] for row in history], style, label=split)
        acc_axes.plot(epochs, [row[f"{split}_acc"] for row in history], style, label=split)
    loss_axes.set(xlabel="epoch", ylabel="cross-entropy loss", title="loss")
    acc_axes.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    for axes in (loss_axes, acc_axes):
        axes.grid(alpha=0.3)
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
        axes.legend()
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    write_atomically(path, lambda tmp: figure.savefig(tmp, dpi=100, format="png"))


def write_all(out_dir, history, title=""):
    """metrics.csv, metrics.json and curves.png in out_dir."""
    write_csv(os.path.join(out_dir, "metrics.csv"), history)
    write_json(os.path.join(out_dir, "metrics.json"), history)
    plot_curves(os.path.join(out_dir, "curves.png"), history, title)
