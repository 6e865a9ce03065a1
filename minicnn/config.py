"""RunConfig: every setting of one training run, typed, checked, and saved in its checkpoint.

A run is fully described by its RunConfig: the training command builds one from the model's
recipe (minicnn/recipes.py) and the flags given, the training loop reads only it, and the
checkpoint stores it as JSON so that a resumed run, `evaluate` and `predict` rebuild the same
model on the same data. The fields after `download` are filled in once the data is loaded.

    >>> from minicnn import recipes
    >>> from minicnn.config import RunConfig
    >>> config = RunConfig(model="lenet5", epochs=8, batch_size=64, optimizer="adam", lr=2e-3)
    >>> config = RunConfig(model="lenet5", **recipes.get("lenet5").as_dict())  # its recipe
    >>> config.check()          # raises ValueError naming the first bad field
"""
import math
from dataclasses import dataclass, fields, replace

from minicnn import models
from minicnn.recipes import Recipe


@dataclass(frozen=True, kw_only=True)
class RunConfig(Recipe):
    """The settings of one run: the training recipe (epochs, batch_size, optimizer, lr, ...;
    see minicnn.recipes.Recipe) plus what the run trains, on what, where and how."""
    model: str
    dataset: str = "fashion-mnist"
    profile: str = "cpu"            # the recipe profile the run started from
    device: str = "cpu"
    seed: int = 0
    limit_train: int = None         # use the first N training images
    limit_test: int = None
    out: str = None                 # output folder
    data_dir: str = None
    log_grad_stats: bool = False    # gradient health of each epoch's last step in metrics.json
    download: bool = True
    # Known once the data is loaded (evaluate and predict need them):
    num_classes: int = None
    class_names: list = None
    input_shape: list = None        # [C, H, W] the model was trained on
    mean: list = None
    std: list = None

    def replace(self, **changes):
        return replace(self, **changes)

    def build_model(self, num_classes=None, in_channels=None):
        """The model of this run: minicnn.models.build with its name, options and input size.
        num_classes and in_channels default to the saved ones (after the data was loaded)."""
        in_channels = in_channels or self.input_shape[0]
        return models.build(self.model, num_classes=num_classes or self.num_classes,
                            in_channels=in_channels, input_size=self.input_size, **self.build)

    @classmethod
    def from_dict(cls, saved):
        """The config saved in a checkpoint (a plain dict). Raises ValueError naming any key
        that is missing or unknown (a checkpoint of another minicnn version)."""
        if not isinstance(saved, dict):
            raise ValueError("its run config is not a JSON object")
        unknown = sorted(set(saved) - {f.name for f in fields(cls)})
        missing = sorted(set(SAVED_AFTER_LOADING) - set(saved))
        if missing:
            raise ValueError(f"its run config lacks {', '.join(missing)}")
        if unknown:
            raise ValueError(f"its run config has unknown keys {', '.join(unknown)}")
        return cls(**saved)

    def check(self):
        """Raise ValueError `--flag: what is wrong; what to do` for the first absurd setting."""
        for name in ("epochs", "batch_size", "limit_train", "limit_test", "step_size"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"{_flag(name)}: must be a whole number of at least 1, "
                                 f"got {value!r}")
        _check_range("lr", self.lr, 0.0, 10.0, low_open=True)
        _check_range("momentum", self.momentum, 0.0, 1.0, high_open=True)
        _check_range("weight_decay", self.weight_decay, 0.0, 1.0, high_open=True)
        _check_range("gamma", self.gamma, 0.0, 1.0, low_open=True)
        if self.input_size is not None and not 8 <= self.input_size <= 1024:
            raise ValueError(f"--resize: {self.input_size} px is outside 8..1024; "
                             "pick a size the model can take, e.g. 28 or 32")
        return self


# The keys a checkpoint's config must hold for a model to be rebuilt from it.
SAVED_AFTER_LOADING = ("model", "epochs", "batch_size", "build", "input_size", "dataset",
                       "num_classes", "class_names", "input_shape", "mean", "std")


def _flag(name):
    return "--" + name.replace("_", "-")


def _check_range(name, value, low, high, low_open=False, high_open=False):
    """A finite float in [low, high] (open ends where asked), else a ValueError naming it."""
    too_low = value <= low if low_open else value < low
    too_high = value >= high if high_open else value > high
    if not isinstance(value, (int, float)) or not math.isfinite(value) or too_low or too_high:
        interval = (("(" if low_open else "[") + f"{low:g}, {high:g}"
                    + (")" if high_open else "]"))
        raise ValueError(f"{_flag(name)}: {value!r} is outside {interval}; "
                         f"use a finite value in that range")
