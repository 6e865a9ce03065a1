"""`python -m minicnn.explain MODEL`: one real training step, op by op, on real images.

    python -m minicnn.explain lenet5                 # forward, backward, update, predictions
    python -m minicnn.explain lenet5 --step          # pause after each op: Enter, p, q
    python -m minicnn.explain lenet5 --op c1         # the worked arithmetic of one op
    python -m minicnn.explain resnet18 -o width=0.25 --batch 4

The images are the first test images of the Fashion-MNIST subset bundled with minicnn (or of
--dataset), resized to the model's input size in its cpu recipe; the optimizer and learning
rate are the recipe's unless given.
"""
import dataclasses
import os
import sys

import minicnn
from minicnn import cli, models, recipes
from minicnn.checkpoint import load_model
from minicnn.explain import step
from minicnn.explain.stepper import pause_after_each, select_event
from minicnn.explain.text import batch_lines, event_lines, phase_title
from minicnn.explain.zoom import zoom, zoom_lines
from minicnn.training import build_optimizer


def parse_args(argv=None):
    p = cli.parser("minicnn.explain", "Run one training step on real images and print every "
                   "op: forward, backward, update.")
    cli.add_model(p)
    p.add_argument("--checkpoint", metavar="CKPT", help="start from a trained checkpoint")
    p.add_argument("--dataset", default=None,
                   help="dataset whose first test images are used (default: the bundled "
                        "Fashion-MNIST subset); never downloads (the training command does)")
    p.add_argument("--data-dir", help="folder holding the dataset files")
    p.add_argument("--batch", type=int, default=8, metavar="N",
                   help="images in the step (default 8)")
    p.add_argument("--step", action="store_true",
                   help="pause after each op: Enter goes on, p prints its arrays, q quits")
    p.add_argument("--op", metavar="PATH",
                   help="zoom into one op: a module path (c1, conv3_x.0.bn2) or an op name")
    p.add_argument("--optimizer", choices=["sgd", "adam"],
                   help="default: the cpu recipe's (python -m minicnn.recipes)")
    p.add_argument("--lr", type=float, help="default: the cpu recipe's")
    cli.add_options(p, " (on top of the recipe's)")
    p.add_argument("--seed", type=int, default=0,
                   help="seeds initialisation and dropout (default 0)")
    p.add_argument("--html", metavar="FILE", help="also write the backprop explorer page")
    return p.parse_args(argv)


def load_images(args, model, mean_std=None):
    """The first --batch test images, normalised and resized to the model's input size."""
    from minicnn.data import first_test_batch, load_bundled, load_dataset
    if args.dataset is None:
        data = load_bundled()
        source = "bundled Fashion-MNIST subset, test images"
    else:
        data = load_dataset(args.dataset, args.data_dir, allow_download=False)
        source = f"{data.name} test images"
    C, H, W = model.default_input_size
    if data.image_shape[0] != C:
        raise ValueError(f"--dataset {data.name}: images have {data.image_shape[0]} channels "
                         f"but the model takes {C}; pick a matching dataset or model")
    mean, std = mean_std or (None, None)
    x, y = first_test_batch(data, args.batch, (C, H, W), mean, std)
    return x, y, data, f"{source} 0..{len(y) - 1}"


def build(args):
    """(model, optimizer, config) from the cpu recipe or the checkpoint, plus -o options."""
    minicnn.manual_seed(args.seed)
    cli.check_model_name(args.model)
    if args.checkpoint:
        model, config = load_model(args.checkpoint)
        if config.model != args.model:
            raise ValueError(f"--checkpoint {args.checkpoint}: it holds a {config.model}, "
                             f"not a {args.model}; pass MODEL {config.model}")
        model.train()
    else:
        config = recipes.get(args.model, "cpu")
        model = models.build(args.model, num_classes=10, in_channels=1,
                             input_size=config.input_size, **{**config.build, **dict(args.option)})
    config = dataclasses.replace(config, optimizer=args.optimizer or config.optimizer,
                                 lr=config.lr if args.lr is None else args.lr, schedule="none")
    optimizer, _ = build_optimizer(config, model)
    return model, optimizer, config


def describe(args, model, optimizer, source, batch):
    options = ", ".join(f"{key}={value}" for key, value in args.option)
    return [f"model {args.model}" + (f" ({options})" if options else "")
            + f", input {model.default_input_size}, batch {batch}: {source}",
            f"one training step: softmax cross-entropy loss, {type(optimizer).__name__} "
            f"lr {optimizer.lr:g}; #N numbers the events"]


def print_record(record, pause):
    """The forward ops, the backward ops, the update, then the loss and predictions."""
    for phase, events in (("forward", record.forward), ("backward", record.backward),
                          ("update", record.updates)):
        print()
        print(phase_title(phase, events, record))
        for event in events:
            print("\n".join(event_lines(event)))
            if pause is not None and not pause(event):
                return False
    print()
    print("\n".join(batch_lines(record)))
    return True


def main(argv=None, stdin=None):
    try:
        args = parse_args(argv)
    except SystemExit as exit:  # --help, or a bad flag (already reported in one line)
        return exit.code
    try:
        if args.batch < 1:
            raise ValueError(f"--batch: must be at least 1, got {args.batch}")
        model, optimizer, config = build(args)
        mean_std = (config.mean, config.std) if args.checkpoint else None
        x, y, data, source = load_images(args, model, mean_std)
        record = step(model, x, y, optimizer, keep="all", class_names=data.class_names,
                      name=args.model)
        zoomed = zoom(record, select_event(record, args.op)) if args.op else None
    except (ValueError, KeyError, FileNotFoundError, minicnn.ShapeError) as error:
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"error: {message}", file=sys.stderr)
        return 2
    try:
        print("\n".join(describe(args, model, optimizer, source, len(y))))
        if zoomed is not None:
            print("\n".join(zoom_lines(zoomed)))
            if not all(check["ok"] for check in zoomed["checks"]):
                print("error: a worked value differs from the engine's (a bug in minicnn)",
                      file=sys.stderr)
                return 1
        else:
            pause = pause_after_each(record, stdin or sys.stdin) if args.step else None
            print_record(record, pause)
    except BrokenPipeError:  # `... | head`: the reader left; stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    if args.html:
        return write_html(record, args.html)
    return 0


def write_html(record, path):
    try:
        from minicnn.viz.explorer import write_html as write_page
    except ImportError:
        print("error: --html: the explorer page (minicnn.viz.explorer) is not part of this "
              "installation; update minicnn or leave out --html", file=sys.stderr)
        return 2
    write_page(record, path)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
