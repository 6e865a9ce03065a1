"""Prove a zoo model computes what TensorFlow computes, layer by layer.

    python -m minicnn.crosscheck lenet5
    python -m minicnn.crosscheck resnet18 --input 1,32,32 --option small_input=True

Builds the model and its Keras twin (minicnn.interop.tensorflow), copies the twin's Keras
weights into minicnn, runs one batch through both in training mode (BatchNorm uses the batch
statistics; dropout is switched off in both, so the passes are deterministic), and prints one row
per layer: the largest absolute difference of its forward output, the largest relative
difference of its parameters' gradients (of the mean softmax cross-entropy), and pass/fail.

Relative differences are max |minicnn - keras| / max |keras| over a tensor (for gradients: over
all the parameters of the layer, see `layer_grad_diff`). A layer passes when its forward output
and its gradients are within the tolerance: 1e-9 in float64 (the default); in float32 1e-4 for
outputs and 1e-2 for gradients (see TOLERANCE for why). Needs `pip install 'minicnn[tf]'`.
"""
import argparse
import ast
import collections
import sys
import time

import numpy as np

# dtype -> (forward, gradient) relative tolerance. float64 is the proof: the two frameworks
# agree to ~1e-13. In float32 a deep network's backward pass loses about three digits to rounding
# (and to ReLU/max-pool decisions that flip on near-ties) in *both* frameworks: on resnet18 at
# 224 px TensorFlow's own float32 gradients differ from its float64 ones by up to 1.5e-2.
TOLERANCE = {"float32": (1e-4, 1e-2), "float64": (1e-9, 1e-9)}

Row = collections.namedtuple("Row", "layer kind shape forward_abs forward_rel grad_rel passed")
Row.__doc__ = """One layer of the report; grad_rel is None for layers without parameters."""


def cast_model(model, dtype):
    """Convert every parameter and buffer of `model` to `dtype` in place; returns the model.

    Do this before creating an optimizer (optimizers keep their own state arrays).
    """
    for module in model.modules():
        for param in module._parameters.values():
            param.data = param.data.astype(dtype)
            param.grad = None
        for name in module._buffers:
            object.__setattr__(module, name, getattr(module, name).astype(dtype))
    return model


def set_dropout(model, training):
    """Put only the Dropout layers of `model` in training (True) or eval (False) mode."""
    from minicnn import nn
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.train(training)


def minicnn_pass(model, images, labels):
    """Forward and backward of the mean softmax cross-entropy in minicnn.

    Returns (logits, loss, {parameter name: gradient}, {leaf call name: output},
    {leaf call name: layer class name}); the model's gradients are zeroed first.
    """
    import minicnn
    import minicnn.functional as F
    from minicnn.interop.tensorflow import leaf_call_names, record_leaf_calls

    model.zero_grad()
    with record_leaf_calls(model) as calls:
        logits = model(minicnn.Tensor(images))
    loss = F.softmax_cross_entropy(logits, labels)
    loss.backward()
    grads = {name: param.grad for name, param in model.named_parameters()}
    outputs = {name: call.output.numpy()
               for call, name in zip(calls, leaf_call_names(calls)) if name is not None}
    kinds = {name: type(call.module).__name__
             for call, name in zip(calls, leaf_call_names(calls)) if name is not None}
    return logits.numpy(), loss.item(), grads, outputs, kinds


def compare(model, twin, images, labels, tolerance, training=True):
    """Run one batch through `model` and its twin; return the report rows, forward order.

    tolerance: (forward, gradient) relative tolerances deciding each row's pass/fail.

    training: BatchNorm in training mode (batch statistics) in both; dropout stays off.
    The last two rows are the logits and the loss.
    """
    from minicnn.interop.tensorflow import max_rel_diff

    model.train(training)
    set_dropout(model, False)
    logits, loss, grads, outputs, kinds = minicnn_pass(model, images, labels)
    tf_logits, tf_loss, tf_grads, tf_outputs = twin.gradients(images, labels, training)

    params_of = collections.defaultdict(list)
    for name in tf_grads:
        params_of[name.rsplit(".", 1)[0]].append(name)
    rows, graded = [], set()
    for name, output in outputs.items():
        expected = tf_outputs[name]
        path = name if name in params_of else None
        grad_rel = None
        if path is not None and path not in graded:
            graded.add(path)
            grad_rel = layer_grad_diff([grads[p] for p in params_of[path]],
                                       [tf_grads[p] for p in params_of[path]])
        rows.append(_row(name, kinds[name], output, expected, grad_rel, tolerance))
    rows.append(_row("logits", "", logits, tf_logits, None, tolerance))
    rows.append(_row("loss", "", np.float64(loss), np.float64(tf_loss), None, tolerance))
    return rows


def layer_grad_diff(ours, theirs):
    """max |ours - theirs| over all of a layer's parameter gradients / their largest |theirs|.

    The layer's scale, not each tensor's own: a convolution bias in front of BatchNorm has an
    exactly zero gradient, so its own scale is rounding noise (1e-17) and a per-tensor ratio
    would be meaningless.
    """
    error = max(float(np.abs(np.asarray(a, np.float64) - b).max(initial=0.0))
                for a, b in zip(ours, theirs))
    scale = max(float(np.abs(b).max(initial=0.0)) for b in theirs)
    return error / scale if scale > 0 else error


def _row(name, kind, ours, theirs, grad_rel, tolerance):
    from minicnn.interop.tensorflow import max_rel_diff
    forward_tolerance, grad_tolerance = tolerance
    forward_abs = float(np.abs(np.asarray(ours, np.float64) - theirs).max(initial=0.0))
    forward_rel = max_rel_diff(ours, theirs)
    passed = forward_rel <= forward_tolerance and (grad_rel is None or grad_rel <= grad_tolerance)
    return Row(name, kind, tuple(np.shape(ours)), forward_abs, forward_rel, grad_rel, passed)


def format_table(rows, weights_only=False):
    """The report as text: one line per layer, then a summary line."""
    lines = [f"{'layer':<28} {'type':<18} {'output':<18} {'fwd max|diff|':>13} "
             f"{'grad max rel':>12}  result"]
    shown = [row for row in rows if not weights_only or row.grad_rel is not None
             or row.layer in ("logits", "loss")]
    for row in shown:
        grad = "-" if row.grad_rel is None else f"{row.grad_rel:.1e}"
        shape = "x".join(map(str, row.shape)) or "scalar"
        lines.append(f"{row.layer:<28} {row.kind:<18} {shape:<18} {row.forward_abs:>13.1e} "
                     f"{grad:>12}  {'pass' if row.passed else 'FAIL'}")
    failed = [row.layer for row in rows if not row.passed]
    hidden = f" ({len(rows) - len(shown)} without parameters not shown)" if weights_only else ""
    lines.append(f"{len(rows) - len(failed)}/{len(rows)} rows pass{hidden}"
                 + (f"; FAILED: {', '.join(failed)}" if failed else ""))
    return "\n".join(lines)


def build_pair(name, input_size, dtype, num_classes=10, seed=0, options=None):
    """A zoo model and its Keras twin (Keras-initialised weights copied into minicnn)."""
    import keras

    import minicnn
    from minicnn import models
    from minicnn.interop.tensorflow import keras_twin

    options = dict(options or {})
    if input_size is not None and "image_size" in models.options(name):
        options.setdefault("image_size", input_size[1])
    in_channels = input_size[0] if input_size is not None else 1
    minicnn.manual_seed(seed)
    model = models.build(name, num_classes=num_classes, in_channels=in_channels, **options)
    input_size = tuple(input_size or model.default_input_size)
    cast_model(model, dtype)
    keras.utils.set_random_seed(seed)
    twin = keras_twin(model, input_size, dtype)
    twin.copy_to(model)
    return model, twin, input_size


def _parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python -m minicnn.crosscheck",
        description="Compare a zoo model with its TensorFlow/Keras twin, layer by layer.")
    parser.add_argument("model", help="a name from minicnn.models.names(), e.g. lenet5")
    parser.add_argument("--input", type=_chw, default=None, metavar="C,H,W",
                        help="input size (default: the model's default_input_size)")
    parser.add_argument("--num-classes", type=int, default=10)
    parser.add_argument("--batch", type=int, default=2, help="images in the batch (default 2)")
    parser.add_argument("--dtype", choices=sorted(TOLERANCE), default="float64")
    parser.add_argument("--eval", action="store_true",
                        help="BatchNorm in inference mode (running statistics)")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="a model option, e.g. small_input=True or width=0.25 (repeatable)")
    parser.add_argument("--weights-only", action="store_true",
                        help="list only the layers that have parameters")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def _chw(text):
    try:
        C, H, W = (int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--input must be C,H,W (e.g. 1,28,28), got {text!r}")
    return C, H, W


def _options(pairs):
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            sys.exit(f"crosscheck: --option must be KEY=VALUE, got {pair!r}")
        try:
            options[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            options[key] = value  # a plain string such as a config name
    return options


def main(argv=None):
    args = _parse_args(argv)
    try:
        import minicnn.interop.tensorflow  # noqa: F401  (fails early with the install hint)
    except ImportError as error:
        sys.exit(f"crosscheck: {error}")
    from minicnn import models
    if args.model not in models.names():
        sys.exit(f"crosscheck: unknown model {args.model!r}; choose one of: "
                 f"{', '.join(models.names())}")
    start = time.perf_counter()
    try:
        model, twin, input_size = build_pair(args.model, args.input, args.dtype,
                                             args.num_classes, args.seed, _options(args.option))
    except (ValueError, NotImplementedError) as error:
        sys.exit(f"crosscheck: {error}")
    rng = np.random.default_rng(args.seed)
    images = rng.standard_normal((args.batch,) + input_size).astype(args.dtype)
    labels = rng.integers(0, args.num_classes, size=args.batch)
    tolerance = TOLERANCE[args.dtype]
    rows = compare(model, twin, images, labels, tolerance, training=not args.eval)
    mode = "inference" if args.eval else "training (batch statistics, dropout off)"
    C, H, W = input_size
    print(f"{args.model}: input {args.batch}x{C}x{H}x{W}, {args.dtype}, {mode}; tolerance "
          f"{tolerance[0]:.0e} forward, {tolerance[1]:.0e} gradient (relative)")
    print(format_table(rows, args.weights_only))
    print(f"({time.perf_counter() - start:.1f} s)")
    return 0 if all(row.passed for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
