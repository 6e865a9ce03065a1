"""The default training recipe of every model: what the bare `python -m minicnn.train MODEL` does.

Each model has two profiles:
- "paper": the model as published (224x224 inputs for the ImageNet networks, full width) and
  the paper's kind of optimiser. It is meant for a GPU (`--device gpu`): on a 2-core CPU one
  epoch of AlexNet at 224x224 over 60,000 images takes hours.
- "cpu": the same family shrunk to run on a laptop CPU in minutes per epoch: the models' own
  small-input options (28 or 32 px, Fashion-MNIST's size), fewer channels.

The training command picks "cpu" on `--device cpu` (the default) and "paper" on `--device gpu`;
`--profile` overrides, and every field can be overridden on the command line.
LeNet-5 is the same in both: it was designed for 28-32 px digits.

The cpu recipes of lenet5, alexnet, vgg11, nin, googlenet and resnet18 were run end to end on
the full Fashion-MNIST on this project's 2-core reference machine (README, "Training the zoo");
the other models were run for one short epoch only. The paper profiles follow the papers and
have not been run (they need a GPU).
"""
from dataclasses import asdict, dataclass, field, replace

PROFILES = ("cpu", "paper")


@dataclass(frozen=True)
class Recipe:
    """Training settings for one model. input_size None: the built model's default_input_size."""
    epochs: int
    batch_size: int
    optimizer: str = "sgd"          # "sgd" or "adam"
    lr: float = 0.01
    momentum: float = 0.9           # SGD only
    nesterov: bool = False          # SGD only
    weight_decay: float = 0.0
    schedule: str = "cosine"        # "none", "step" or "cosine"
    step_size: int = 10             # epochs between lr drops for "step"
    gamma: float = 0.1              # lr factor at each drop for "step"
    input_size: int = None          # images are resized to input_size x input_size
    augment: bool = False           # random crop + horizontal flip
    build: dict = field(default_factory=dict)  # options for minicnn.models.build

    def as_dict(self):
        return asdict(self)


# LeNet-5: Adam, lr 2e-3 annealed to 0 by a cosine schedule over 8 epochs of batch 64.
# Chosen by a search with the same network in PyTorch (test accuracy after 6 / 7 / 8 epochs:
# 0.905-0.906 / 0.908 / 0.908-0.913 over seeds; lr 3e-3 about the same; batch 128 lower;
# random flips lower in so few epochs), then measured with minicnn, seed 0: 0.9039 / 0.9075 /
# 0.9115 on the full Fashion-MNIST test set (0.9096, then 0.9092, 0.9097 and 0.9100, after the
# conv2d speed work changed the order of float32 sums, 2026-11-23/24). 8 epochs keeps a margin
# over 0.90.
LENET5 = Recipe(epochs=8, batch_size=64, optimizer="adam", lr=2e-3, schedule="cosine")

# The ImageNet papers' optimiser: SGD, momentum 0.9, weight decay 5e-4, lr divided by 10 every
# few epochs, random crops and flips (AlexNet section 4.1; VGG section 3.1).
_PAPER_SGD = dict(optimizer="sgd", momentum=0.9, weight_decay=5e-4, schedule="step",
                  augment=True)
# Small images on a CPU, networks with BatchNorm: SGD with Nesterov momentum, cosine schedule.
_CPU_SGD = dict(optimizer="sgd", momentum=0.9, nesterov=True, weight_decay=5e-4,
                schedule="cosine", augment=True)
# Short CPU runs (6-10 epochs at 28-32 px): Adam lr 1e-3 starts the networks without
# BatchNorm reliably. Measured on 8,000 training images, 3 epochs (test accuracy, Adam vs
# SGD+Nesterov of _CPU_SGD): NiN 0.65 vs 0.10 (SGD lr 0.05 stalled at chance), VGG-11 0.74 vs
# 0.66, AlexNet 0.77 vs 0.69; SqueezeNet 0.72 and GoogLeNet 0.73 with Adam. No augmentation and
# no weight decay: both lowered test accuracy in runs this short (VGG-11 at channel_ratio 8, 10
# epochs with crops, flips and weight decay 5e-4: 0.885, against 0.886 after 3 epochs without
# them; at channel_ratio 4 crops and flips alone trailed the plain run at each of 5 epochs).
_CPU_ADAM = dict(optimizer="adam", lr=1e-3, weight_decay=0.0, schedule="cosine", augment=False)

_RECIPES = {
    "lenet5": {"cpu": LENET5, "paper": LENET5},
    "alexnet": {
        "paper": Recipe(epochs=30, batch_size=128, lr=0.01, step_size=10, **_PAPER_SGD),
        "cpu": Recipe(epochs=8, batch_size=128, build=dict(small_input=True, width=0.25),
                      **_CPU_ADAM),
    },
    "nin": {
        "paper": Recipe(epochs=30, batch_size=128, lr=0.05, step_size=10, **_PAPER_SGD),
        "cpu": Recipe(epochs=10, batch_size=128, build=dict(small_input=True, width=0.25),
                      **_CPU_ADAM),
    },
    "vgg16_bn": {
        # A CIFAR-style network: 32 px inputs even in the paper profile.
        "paper": Recipe(epochs=30, batch_size=128, lr=0.05, **_CPU_SGD),
        # Without dropout on the CPU: with it, a quarter-width network evaluated at chance
        # after a short run although it was learning (dropout_scale in minicnn/models/vgg.py).
        # Measured, one epoch on 30,000 images: 0.8449 without dropout, 0.1013 with it.
        "cpu": Recipe(epochs=10, batch_size=128, build=dict(channel_ratio=4, dropout_scale=0.0),
                      **_CPU_ADAM),
    },
}
_RECIPES.update({
    # GoogLeNet section 6: SGD with momentum 0.9, lr down 4% every 8 epochs. The cpu profile
    # runs it on 28 px inputs at half width: 7.35 M multiply-adds per image instead of 30.7 M
    # (measured: 0.8952 test accuracy after 10 epochs on the full set, ~104 s per epoch; 0.8973
    # and 71-93 s with the seventh session's conv paths).
    "googlenet": {
        "paper": Recipe(epochs=30, batch_size=128, lr=0.01, optimizer="sgd", momentum=0.9,
                        weight_decay=2e-4, schedule="step", step_size=8, gamma=0.96,
                        augment=True),
        "cpu": Recipe(epochs=10, batch_size=128, build=dict(image_size=28, width=0.5),
                      **_CPU_ADAM),
    },
    # Already the CIFAR-sized member (32 px, BatchNorm). It keeps 32x32 maps through the first
    # Inception stage, so even at a quarter of the width a CPU manages about 50 images/s.
    "googlenet_small": {
        "paper": Recipe(epochs=30, batch_size=128, lr=0.05, **_CPU_SGD),
        "cpu": Recipe(epochs=10, batch_size=128, lr=0.05, build=dict(width=0.25), **_CPU_SGD),
    },
    # SqueezeNet v1.1's released solver: SGD, momentum 0.9, lr 0.04 with polynomial decay
    # (cosine here), weight decay 2e-4.
    "squeezenet": {
        "paper": Recipe(epochs=30, batch_size=128, lr=0.04, optimizer="sgd", momentum=0.9,
                        weight_decay=2e-4, schedule="cosine", augment=True),
        # Adam 1e-3 killed the final conv10 + ReLU (loss stuck at ln 10 for 100 steps); 3e-4
        # learns (measured: 0.78 after one epoch on 30,000 images).
        "cpu": Recipe(epochs=10, batch_size=128, build=dict(small_input=True),
                      **{**_CPU_ADAM, "lr": 3e-4}),
    },
})
for _resnet in ("resnet18", "resnet34"):
    # ResNet section 3.4: SGD lr 0.1, momentum 0.9, weight decay 1e-4, lr / 10 on plateaus.
    # The cpu profile keeps the ImageNet stem and full width on 28 px inputs: about as many
    # multiply-adds as the CIFAR stem at quarter width (33 M vs 28.6 M) but 2x faster per
    # image here (0.41 s vs 0.88 s per batch of 128). Measured: ResNet-18 0.9139 after these
    # 6 epochs on the full set, ~196 s per epoch at first; 0.9118 with the seventh session's
    # conv paths (float32 rounding), 97-114 s per epoch.
    _RECIPES[_resnet] = {
        "paper": Recipe(epochs=30, batch_size=128, lr=0.1, optimizer="sgd", momentum=0.9,
                        weight_decay=1e-4, schedule="step", step_size=10, augment=True),
        "cpu": Recipe(epochs=6, batch_size=128,
                      build=dict(small_input=False, width=1.0, image_size=28), **_CPU_ADAM),
    }
for _vgg in ("vgg11", "vgg13", "vgg16", "vgg19", "vgg16_bigconv"):
    # VGG without BatchNorm: the paper trained VGG-11 first and initialised the deeper ones
    # from it; from scratch we rely on Kaiming initialisation and a smaller lr. A quarter of
    # the channels, as in d2l's VGG-11 run (76 s per epoch of VGG-11 here at first, 33-41 s
    # with the eighth session's kernels; 40 s at an eighth of the channels then).
    # Batch 64 and weight decay 1e-4: VGG-11 overfits from epoch 7 (training accuracy 0.98);
    # measured, 10 epochs: 0.9200 test accuracy (0.9174 and 0.9184 with the seventh and eighth
    # sessions' conv paths, float32 rounding elsewhere), against 0.9145 with batch 128 and no
    # decay.
    _RECIPES[_vgg] = {
        "paper": Recipe(epochs=30, batch_size=128, lr=0.01, step_size=10, **_PAPER_SGD),
        "cpu": Recipe(epochs=10, batch_size=64,
                      build=dict(channel_ratio=4, fc_width=512, image_size=32),
                      **{**_CPU_ADAM, "weight_decay": 1e-4}),
    }


def names():
    """Models with a recipe, in the zoo's lineage order."""
    from minicnn import models
    lineage = [name for name in models.names() if name in _RECIPES]
    return lineage + sorted(set(_RECIPES) - set(lineage))


def get(model, profile="cpu"):
    """The Recipe for `model` in `profile` ("cpu" or "paper")."""
    if profile not in PROFILES:
        raise ValueError(f"unknown recipe profile {profile!r}; choose one of {PROFILES}")
    if model not in _RECIPES:
        raise ValueError(f"no recipe for model {model!r}; recipes exist for: "
                         f"{', '.join(names())}")
    return _RECIPES[model][profile]


def with_overrides(recipe, **overrides):
    """A copy of `recipe` with the fields given (None values are ignored)."""
    return replace(recipe, **{k: v for k, v in overrides.items() if v is not None})


def table(profile="cpu"):
    """The recipes of one profile as a text table (`python -m minicnn.recipes [paper]`)."""
    header = (f"{'model':<16}{'epochs':>7}{'batch':>6}  {'optimizer':<14}{'lr':>7}  "
              f"{'schedule':<9}{'augment':<8} build options")
    lines = [header, "-" * len(header)]
    for name in names():
        r = get(name, profile)
        optimizer = r.optimizer + (" nesterov" if r.nesterov and r.optimizer == "sgd" else "")
        build = ", ".join(f"{k}={v}" for k, v in r.build.items()) or "-"
        lines.append(f"{name:<16}{r.epochs:>7}{r.batch_size:>6}  {optimizer:<14}{r.lr:>7g}  "
                     f"{r.schedule:<9}{str(r.augment):<8} {build}")
    return "\n".join(lines)


def main(argv=None):
    """`python -m minicnn.recipes [cpu|paper]`: print the table of one profile."""
    import argparse
    parser = argparse.ArgumentParser(
        prog="python -m minicnn.recipes",
        description="Print every model's default training recipe (what the bare "
                    "`python -m minicnn.train MODEL` does).")
    parser.add_argument("profile", nargs="?", default="cpu", choices=PROFILES,
                        help="cpu: shrunk to train on a laptop CPU (default); paper: the "
                             "published model and optimiser, for a GPU")
    args = parser.parse_args(argv)
    print(table(args.profile))
    return 0


if __name__ == "__main__":
    import sys
    sys.exit(main())
