"""`python -m minicnn.gradcheck MODEL|OP`: gradient-check a zoo model layer by layer, or one op.

    python -m minicnn.gradcheck lenet5
    python -m minicnn.gradcheck resnet18 --model-option width=0.125 --input 1,16,16
    python -m minicnn.gradcheck conv2d --input 3,7,7

Everything runs in float64. One row per layer: layer, op, max abs and rel error over the
checked elements, pass/fail (and how many elements sat on a kink), time. Exit status 1 when
any row fails.
"""
import sys

import numpy as np

import minicnn
import minicnn.functional as F
from minicnn import cli, models, recipes
from minicnn.core import Tensor
from minicnn.errors import GradcheckError
from minicnn.gradcheck import gradcheck
from minicnn.gradcheck.layers import Report, Row, check_model, to_float64


def _op_cases(C, H, W, rng):
    """op name -> (fn, float64 input arrays); the first input is x (2, C, H, W)."""
    x = rng.standard_normal((2, C, H, W))
    flat = rng.standard_normal((2, C * H * W))
    return {
        "conv2d": (lambda x, w, b: F.conv2d(x, w, b, stride=1, padding=1),
                   [x, rng.standard_normal((3, C, 3, 3)), rng.standard_normal(3)]),
        "max_pool2d": (lambda x: F.max_pool2d(x, 2), [x]),
        "avg_pool2d": (lambda x: F.avg_pool2d(x, 3, 2, 1, count_include_pad=False), [x]),
        "batch_norm": (lambda x, g, b: F.batch_norm(x, g, b, None, None, training=True),
                       [x, rng.standard_normal(C), rng.standard_normal(C)]),
        "local_response_norm": (lambda x: F.local_response_norm(x, 3, 0.5, 0.75, 1.0), [x]),
        "relu": (F.relu, [x]),
        "sigmoid": (F.sigmoid, [x]),
        "tanh": (F.tanh, [x]),
        "dropout": (lambda x: F.dropout(x, 0.5), [x]),
        "linear": (F.linear, [flat, rng.standard_normal((4, C * H * W)),
                              rng.standard_normal(4)]),
        "softmax_cross_entropy": (lambda z: F.softmax_cross_entropy(z, np.array([1, 3])),
                                  [rng.standard_normal((2, 5))]),
        "global_avg_pool2d": (F.global_avg_pool2d, [x]),
        "global_max_pool2d": (F.global_max_pool2d, [x]),
    }


def parse_args(argv=None):
    p = cli.parser("minicnn.gradcheck", "Check backward against central differences, per layer "
                   "of a zoo model (on the inputs it really receives) and end to end, or for one "
                   "op.")
    p.add_argument("target", metavar="MODEL|OP",
                   help=f"a model ({', '.join(models.names())}) or an op "
                        f"({', '.join(_op_cases(1, 4, 4, np.random.default_rng()))})")
    p.add_argument("--input", metavar="C,H,W", type=cli.parse_input_size,
                   help="input size (default: the model's cpu recipe input; 3,6,6 for an op)")
    p.add_argument("--dtype", choices=["float64"], default="float64",
                   help="float64, the only choice: central differences need it")
    p.add_argument("--batch", type=int, default=2, help="images in the model's input (default 2)")
    cli.add_options(p, " (on top of the cpu recipe's)")
    p.add_argument("--samples", type=int, default=6,
                   help="elements per input and parameter: this many of the largest "
                        "gradients and this many random ones (default 6)")
    p.add_argument("--seed", type=int, default=0, help="seeds the model, R and the samples "
                                                       "(default 0)")
    return p.parse_args(argv)


def check_op(name, size, seed):
    """The full (every element) gradcheck of one op, as a one-row Report."""
    import time
    C, H, W = size
    fn, arrays = _op_cases(C, H, W, np.random.default_rng(seed))[name]
    inputs = [Tensor(a, requires_grad=True) for a in arrays]

    def seeded(*xs):
        minicnn.manual_seed(seed)  # dropout: the same mask at every evaluation
        return fn(*xs)

    start = time.perf_counter()
    try:
        results = gradcheck(seeded, inputs, seed=seed)
        passed, message = True, ""
        abs_err = max(r["max_abs_err"] for r in results)
        rel_err = max(r["max_rel_err"] for r in results)
    except GradcheckError as error:
        passed, message, abs_err, rel_err = False, str(error), float("nan"), float("nan")
    checked = sum(a.size for a in arrays)
    row = Row(name, name, abs_err, rel_err, checked, 0, passed, time.perf_counter() - start)
    return Report([row]), message


def check_zoo_model(args):
    from minicnn.data import first_test_batch, load_bundled
    recipe = recipes.get(args.target, "cpu")
    options = {**recipe.build, **dict(args.option)}
    in_channels, image_hw = (args.input[0], args.input[1:]) if args.input else (1, None)
    minicnn.manual_seed(args.seed)
    model = models.build(args.target, in_channels=in_channels,
                         input_size=image_hw or recipe.input_size, **options)
    model = to_float64(model)
    C, H, W = args.input or model.default_input_size
    x, y = first_test_batch(load_bundled(), args.batch, (C, H, W))  # grey on every channel
    x = x.astype(np.float64)
    print(f"gradcheck {args.target} in float64 on {len(y)} bundled Fashion-MNIST images "
          f"{(C, H, W)};\nper tensor: the {args.samples} largest and {args.samples} random "
          f"gradient elements; end to end: one random direction")
    return check_model(model, x, y, samples=args.samples, seed=args.seed)


def main(argv=None):
    try:
        args = parse_args(argv)
    except SystemExit as exit:  # --help, or a bad flag (already reported in one line)
        return exit.code
    try:
        if args.batch < 1 or args.samples < 1:
            raise ValueError("--batch and --samples: must be at least 1")
        if args.target in models.names():
            report = check_zoo_model(args)
        elif args.target in _op_cases(1, 4, 4, np.random.default_rng()):
            size = args.input or (3, 6, 6)
            report, message = check_op(args.target, size, args.seed)
            if message:
                print(message)
        else:
            raise ValueError(f"{args.target}: neither a zoo model nor an op; models: "
                             f"{', '.join(models.names()[:4])} ...; ops: conv2d, max_pool2d ...")
    except (ValueError, minicnn.ShapeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(repr(report))
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
