"""Train a model of the zoo: `python -m minicnn.train lenet5`.

The command part of training: the arguments, the run's settings (the model's recipe,
overridden by the flags given; a RunConfig), the output folder, the data, then one call to the
training loop (minicnn.training.train), which reads top to bottom.

Outputs are never lost: `--out` that already holds a run is refused unless `--resume` or
`--overwrite` is given; default output folders are new (runs/MODEL-DATASET-TIME[-2...]) and
`runs/latest` points at the newest. A resume continues the checkpoint's run exactly: flags that
would change it are refused by name, and its output goes next to the checkpoint (or to --out).
"""
import argparse
import contextlib
import os
import signal
import sys
import threading
import time

from minicnn import backend, checkpoint, cli, models, recipes, training
from minicnn.config import RunConfig
from minicnn.data import load_dataset
from minicnn.data import names as dataset_names

# Flags a resume may change: the length of the run, the machine, where the data and output are.
# --log-grad-stats only measures, so a resume may switch it on or off; left out, it keeps the
# checkpoint's setting.
RESUMABLE = ("epochs", "device", "data_dir", "out", "log_grad_stats")
# Flags a resume refuses when they differ from the checkpoint's run (they would change it).
FIXED_ON_RESUME = ("dataset", "batch_size", "lr", "optimizer", "momentum", "nesterov",
                   "weight_decay", "schedule", "augment", "seed", "limit_train", "limit_test",
                   "profile")
# Checked one by one in resumed_config and prepare_out. A new flag must join one of the three
# lists (tests/test_runs.py checks), so that a resume never drops it silently.
CHECKED_ON_RESUME = ("model", "resume", "overwrite", "no_download", "option", "resize")


def _recipe_for_help(argv):
    """The cpu recipe of the model named in argv, for --help (None when none is named)."""
    for token in argv or []:
        if token in models.names():
            return recipes.get(token, "cpu")
    return None


def parse_args(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    return build_parser(_recipe_for_help(argv)).parse_args(argv)


def build_parser(recipe=None):
    """The command's arguments; their help shows `recipe`'s values when one is given."""

    def recipe_says(field):
        if recipe is None:
            return " (default: the model's recipe; `python -m minicnn.train MODEL --help`)"
        return f" (recipe: {getattr(recipe, field)})"

    p = cli.parser("minicnn.train",
                   "Train a model on Fashion-MNIST (default), MNIST, CIFAR-10 or CIFAR-100. "
                   "Options left out come from the model's recipe (python -m minicnn.recipes);"
                   " --help after a model name shows that model's values.")
    cli.add_model(p)
    p.add_argument("--dataset", choices=dataset_names(), default=None,
                   help="default fashion-mnist (the bundled subset if the full set is missing)")
    cli.add_data_dir(p)
    p.add_argument("--epochs", type=cli.positive_int,
                   help="passes over the training set" + recipe_says("epochs"))
    p.add_argument("--batch-size", type=cli.positive_int,
                   help="images per step" + recipe_says("batch_size"))
    p.add_argument("--lr", type=float, help="learning rate" + recipe_says("lr"))
    p.add_argument("--optimizer", choices=["sgd", "adam"], help="update rule"
                   + recipe_says("optimizer"))
    p.add_argument("--momentum", type=float, help="SGD momentum" + recipe_says("momentum"))
    p.add_argument("--nesterov", action=argparse.BooleanOptionalAction, default=None,
                   help="Nesterov momentum for SGD" + recipe_says("nesterov"))
    p.add_argument("--weight-decay", type=float, help="L2 penalty added to the gradients"
                   + recipe_says("weight_decay"))
    p.add_argument("--schedule", choices=["none", "step", "cosine"],
                   help="learning-rate schedule over the epochs" + recipe_says("schedule"))
    p.add_argument("--resize", type=int, metavar="SIZE",
                   help="resize images to SIZE x SIZE and build the model for it"
                        + recipe_says("input_size").replace("None", "the model's size"))
    p.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None,
                   help="random crop + horizontal flip" + recipe_says("augment"))
    cli.add_options(p, recipe_says("build").replace("{}", "none"))
    p.add_argument("--profile", choices=recipes.PROFILES,
                   help="recipe profile (default: cpu on --device cpu, paper on --device gpu)")
    p.add_argument("--device", choices=["cpu", "gpu"], default=None,
                   help="where the arrays live (default cpu; gpu needs CuPy and CUDA)")
    p.add_argument("--seed", type=int, default=None, help="seed of weights, order, "
                   "augmentation and dropout (default 0)")
    p.add_argument("--limit-train", type=cli.positive_int, metavar="N",
                   help="use the first N training images")
    p.add_argument("--limit-test", type=cli.positive_int, metavar="N",
                   help="use the first N test images")
    p.add_argument("--log-grad-stats", action=argparse.BooleanOptionalAction, default=None,
                   help="record gradient health in metrics.json, measured on each epoch's "
                        "last step: mean/max |grad| per layer, dead ReLU fractions, "
                        "update/weight ratios (draw: python -m minicnn.viz health OUT --out "
                        "health.png). Default off; on --resume, the checkpoint's setting")
    p.add_argument("--out", help="output folder (default: a new runs/MODEL-DATASET-TIME; "
                                 "runs/latest links to the newest)")
    p.add_argument("--overwrite", action="store_true",
                   help="allow --out to be a folder that already holds a run")
    p.add_argument("--resume", metavar="CKPT", help="continue the run of this checkpoint")
    p.add_argument("--no-download", action="store_true", help="never download datasets")
    return p


def make_config(args):
    """The run's settings: the recipe, overridden by whatever was given on the command line."""
    device = args.device or "cpu"
    profile = args.profile or ("paper" if device == "gpu" else "cpu")
    recipe = recipes.get(args.model, profile)
    build = dict(recipe.build)
    if args.resize is not None:  # an explicit size replaces the recipe's
        build.pop("image_size", None)
    build.update(dict(args.option))
    recipe = recipes.with_overrides(
        recipe, epochs=args.epochs, batch_size=args.batch_size,
        optimizer=args.optimizer, lr=args.lr, momentum=args.momentum, nesterov=args.nesterov,
        weight_decay=args.weight_decay, schedule=args.schedule, input_size=args.resize,
        augment=args.augment)
    settings = {**recipe.as_dict(), "build": build}
    config = RunConfig(model=args.model, dataset=args.dataset or "fashion-mnist",
                       profile=profile, device=device,
                       seed=0 if args.seed is None else args.seed,
                       limit_train=args.limit_train, limit_test=args.limit_test, out=args.out,
                       data_dir=args.data_dir, download=not args.no_download,
                       log_grad_stats=bool(args.log_grad_stats), **settings)
    return config.check()


def resumed_config(args, saved):
    """The checkpoint's run config with the flags a resume may change applied. Raises
    ValueError naming a flag that would change the run or a model name that differs."""
    if args.model != saved.model:
        raise ValueError(f"--resume {args.resume}: the checkpoint is a {saved.model} run, not "
                         f"{args.model}; run `python -m minicnn.train {saved.model} --resume "
                         f"{args.resume}`")
    for key in FIXED_ON_RESUME:
        value = getattr(args, key)
        if value is not None and value != getattr(saved, key):
            raise _refused(key, getattr(saved, key))
    if any(saved.build.get(key) != value for key, value in args.option):
        raise _refused("option", saved.build)
    if args.resize is not None and args.resize != saved.input_size:
        raise _refused("resize", saved.input_size)
    changes = {key: getattr(args, key) for key in RESUMABLE if getattr(args, key) is not None}
    changes.setdefault("out", os.path.dirname(os.path.abspath(args.resume)))
    if args.no_download:
        changes["download"] = False
    return saved.replace(**changes).check()


def _refused(key, saved_value):
    flag = "--" + key.replace("_", "-")
    return ValueError(f"{flag}: cannot change when resuming (the checkpoint's run has "
                      f"{saved_value}); leave it out, or start a new run with --out")


def holds_run(folder):
    return any(os.path.exists(os.path.join(folder, name)) for name in training.OUTPUT_FILES)


def prepare_out(config, args):
    """Create the output folder (or check the given one). Returns the config with its out.

    A default folder gets a new name, -2, -3 ... appended if that second's name is taken.
    """
    if config.out is None:
        base = os.path.join("runs", f"{config.model}-{config.dataset}-"
                                    f"{time.strftime('%Y%m%d-%H%M%S')}")
        os.makedirs("runs", exist_ok=True)
        out, count = base, 1
        while True:
            try:
                os.mkdir(out)  # atomic: two runs in one second cannot both get `out`
                break
            except FileExistsError:
                count += 1
                out = f"{base}-{count}"
        point_latest_at(out)
        return config.replace(out=out)
    out = config.out
    if os.path.exists(out) and not os.path.isdir(out):
        raise ValueError(f"--out {out}: is a file, not a folder; choose another --out")
    if os.path.isdir(out) and holds_run(out) and not args.overwrite:
        resumed_folder = os.path.dirname(os.path.abspath(args.resume or ""))
        if not (args.resume and os.path.samefile(resumed_folder, out)):
            raise ValueError(f"--out {out}: already holds a run; choose another --out, "
                             "continue it with --resume, or replace it with --overwrite")
    os.makedirs(out, exist_ok=True)
    return config


def point_latest_at(out):
    """Make `<parent>/latest` a link to the run folder `out`, replaced atomically."""
    parent, name = os.path.split(out)
    link = os.path.join(parent, "latest")
    tmp = os.path.join(parent, f".latest-{os.getpid()}")
    try:
        if os.path.lexists(tmp):
            os.remove(tmp)
        os.symlink(name, tmp)
        os.replace(tmp, link)
    except OSError:  # a file system without links: the printed path still says where
        pass


def describe(config, data):
    sgd = (f" momentum {config.momentum:g}" + (" nesterov" if config.nesterov else "")
           if config.optimizer == "sgd" else "")
    build = f", {config.build}" if config.build else ""
    return "\n".join([
        f"model {config.model} ({config.profile} recipe{build}) on {data.name}: "
        f"{len(data.train_x)} training / {len(data.test_x)} test images from {data.source}",
        f"{config.epochs} epochs, batch {config.batch_size}, {config.optimizer}{sgd} lr "
        f"{config.lr:g}, schedule {config.schedule}, weight decay {config.weight_decay:g}, "
        f"augment {config.augment}, device {config.device}, seed {config.seed}"
        + (", gradient stats logged" if config.log_grad_stats else ""),
        f"output {config.out}"])


def start(args):
    """Everything before the loop: config, output folder, data. Returns (config, data,
    resume_state), or a string saying why there is nothing to do."""
    cli.check_model_name(args.model)
    resume_state = None
    if args.resume:
        resume_state = checkpoint.load_run(args.resume)
        config = resumed_config(args, resume_state[2]["config"])
        if resume_state[2]["epoch"] >= config.epochs:
            return (f"the run of {args.resume} already finished its {config.epochs} epochs; "
                    f"nothing to do. To train longer, add --epochs {config.epochs * 2}")
    else:
        config = make_config(args)
    if config.device == "gpu" and not backend.gpu_available():
        raise ValueError("--device gpu: needs CuPy and a CUDA device, none is available here; "
                         "pip install minicnn[gpu] on a machine with one, or use --device cpu")
    data = load_dataset(config.dataset, config.data_dir, allow_download=config.download)
    data.limit(config.limit_train, config.limit_test)
    config = prepare_out(config, args)
    return config, data, resume_state


@contextlib.contextmanager
def sigterm_as_ctrl_c():
    """Within the block SIGTERM raises KeyboardInterrupt, as Ctrl-C does (the training loop
    installs its own handler, which saves a checkpoint first)."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt
    if threading.current_thread() is not threading.main_thread():  # signals need the main one
        yield
        return
    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run(argv=None):
    args = parse_args(argv)
    prepared = start(args)
    if isinstance(prepared, str):
        print(prepared)
        return 0
    config, data, resume_state = prepared
    if data.notice:
        print(data.notice)
    print(describe(config, data))
    try:
        status = training.train(config, data, resume_state)
    except training.TrainingDiverged as error:
        return cli.fail(error, status=1)
    except checkpoint.CheckpointError as error:
        return cli.fail(f"{args.resume}: {error}")
    except KeyboardInterrupt:  # a second Ctrl-C, or one before the loop began
        print(f"\ninterrupted: stopped at once; the last checkpoint saved (if any) is in "
              f"{config.out}", file=sys.stderr)
        return cli.INTERRUPTED
    if status == "interrupted":
        return cli.INTERRUPTED
    ckpt = os.path.join(config.out, checkpoint.NAME)
    print(f"done: checkpoint, metrics.csv, metrics.json and curves.png in {config.out}\n"
          f"evaluate with:  python -m minicnn.evaluate {ckpt}")
    return 0


def main(argv=None):
    with sigterm_as_ctrl_c():
        return cli.run(run, argv, interrupted="interrupted during start-up; nothing was saved")


if __name__ == "__main__":
    sys.exit(main())
