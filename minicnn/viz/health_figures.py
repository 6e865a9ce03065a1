"""Pictures of gradient health (minicnn.viz.health): one step, or a run's epochs."""
import os

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, NullFormatter

HEALTHY_RATIO = 1e-3  # rule of thumb for the update/weight ratio of one step


def _save(figure, path):
    figure.tight_layout()
    tmp_path = path + ".tmp"
    figure.savefig(tmp_path, dpi=100, format=os.path.splitext(path)[1].lstrip(".") or "png")
    os.replace(tmp_path, path)


def _positive(value):
    """Log axes cannot show 0 or None: draw those at a tiny value."""
    return value if value else 1e-12


def draw_step(stats, path, title=""):
    """Three panels: mean/max |grad| per layer, dead ReLU fraction, update/weight ratio."""
    layers = list(stats["layers"])
    params = [name for name, p in stats["params"].items() if p["update_ratio"] is not None]
    relus = list(stats["dead_relu"])
    rows = max(len(layers), len(params), len(relus), 1)
    figure = Figure(figsize=(13, 1.2 + 0.28 * rows))
    FigureCanvasAgg(figure)
    grads, dead, ratios = figure.subplots(1, 3)
    positions = range(len(layers))
    grads.barh([p + 0.2 for p in positions], [_positive(stats["layers"][n]["grad_max_abs"])
                                              for n in layers], height=0.4, label="max |grad|")
    grads.barh([p - 0.2 for p in positions], [_positive(stats["layers"][n]["grad_mean_abs"])
                                              for n in layers], height=0.4, label="mean |grad|")
    grads.set(yticks=list(positions), yticklabels=layers, xscale="log", title="|gradient|")
    grads.legend(fontsize=8)
    dead.barh(range(len(relus)), [stats["dead_relu"][n] for n in relus], color="#c0504d")
    dead.set(yticks=list(range(len(relus))), yticklabels=relus, xlim=(0, 1),
             title="dead ReLU units (0 for the whole batch)")
    ratios.barh(range(len(params)), [_positive(stats["params"][n]["update_ratio"])
                                     for n in params], color="#4f81bd")
    ratios.axvline(HEALTHY_RATIO, color="#555555", linestyle="--", label="1e-3")
    ratios.set(yticks=list(range(len(params))), yticklabels=params, xscale="log",
               title="update / weight ratio")
    ratios.legend(fontsize=8)
    for axes in (grads, ratios):
        axes.xaxis.set_minor_formatter(NullFormatter())  # 2x10^-3 labels would overlap
    for axes in (grads, dead, ratios):
        axes.invert_yaxis()  # first layer on top, as in the model
        axes.tick_params(labelsize=8)
        axes.grid(axis="x", alpha=0.3)
    if title:
        figure.suptitle(title)
    _save(figure, path)


def draw_epochs(history, path, title=""):
    """Per-epoch lines from metrics.json rows that carry "grad_stats"."""
    rows = [row for row in history if row.get("grad_stats")]
    epochs = [row["epoch"] for row in rows]
    figure = Figure(figsize=(13, 4))
    FigureCanvasAgg(figure)
    grads, dead, ratios = figure.subplots(1, 3)
    for layer in rows[-1]["grad_stats"]["layers"]:
        grads.plot(epochs, [_positive(r["grad_stats"]["layers"].get(layer, {})
                                      .get("grad_mean_abs")) for r in rows], "o-", label=layer)
    for relu in rows[-1]["grad_stats"]["dead_relu"]:
        dead.plot(epochs, [r["grad_stats"]["dead_relu"].get(relu, 0.0) for r in rows], "o-",
                  label=relu)
    for name, last in rows[-1]["grad_stats"]["params"].items():
        if last.get("update_ratio") is not None:
            ratios.plot(epochs, [_positive(r["grad_stats"]["params"].get(name, {})
                                           .get("update_ratio")) for r in rows], "o-", label=name)
    ratios.axhline(HEALTHY_RATIO, color="#555555", linestyle="--")
    grads.set(yscale="log", title="mean |grad| per layer", xlabel="epoch")
    dead.set(ylim=(0, 1), title="dead ReLU fraction", xlabel="epoch")
    ratios.set(yscale="log", title="update / weight ratio", xlabel="epoch")
    for axes in (grads, dead, ratios):
        if axes.get_legend_handles_labels()[0]:
            axes.legend(fontsize=6, ncol=2)
        axes.grid(alpha=0.3)
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
    if title:
        figure.suptitle(title)
    _save(figure, path)
