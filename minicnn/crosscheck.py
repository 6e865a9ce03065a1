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
and its gradients are within the tolerance: 1e-9 in float64 (the default); 1e-4 in float32, or
twice TensorFlow's own float32 error where that is larger (column "TF f32 err": TensorFlow
float32 vs TensorFlow float64; see TOLERANCE). float64 is the proof; float32 shows rounding: on
a full-size deep network one ReLU whose input is within rounding of 0 can switch on in one
framework and off in the other, and BatchNorm spreads that one value over its channel, so a
float32 run of e.g. resnet18 at 224 px may report FAIL for the layers before such a flip
(measured: ~3e-3 norm-wise, 4e-2 max relative) without any bug. Needs `pip install 'minicnn[tf]'`.
"""
import collections
import os
import sys
import time

import numpy as np

import minicnn
import minicnn.functional as F
from minicnn import backend, cli, models, nn
from minicnn.interop.tf_conventions import max_rel_diff
from minicnn.layer_calls import leaf_call_names, record_leaf_calls

# dtype -> (forward, gradient) relative tolerance, as in the per-op tests. float64 is the proof:
# the two frameworks agree to ~1e-13. In float32 a deep network's backward pass loses digits to
# rounding in *both* frameworks (on resnet18 at 224 px TensorFlow's own float32 gradients differ
# from its float64 ones by up to 2e-2), so float32 runs also accept twice TensorFlow's own
# float32 error, measured on the spot against a float64 twin (see `compare`).
TOLERANCE = {"float32": (1e-4, 1e-4), "float64": (1e-9, 1e-9)}

Row = collections.namedtuple(
    "Row", "layer kind shape forward_abs forward_rel grad_rel tf_float32_error passed")
Row.__doc__ = """One layer of the report; grad_rel is None for layers without parameters,
tf_float32_error (TensorFlow float32 vs float64 gradient) None unless a reference was given."""


def set_dropout(model, training):
    """Put only the Dropout layers of `model` in training (True) or eval (False) mode."""
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.train(training)


def minicnn_pass(model, images, labels):
    """Forward and backward of the mean softmax cross-entropy in minicnn.

    Returns (logits, loss, {parameter name: gradient}, {leaf call name: output},
    {leaf call name: layer class name}); the model's gradients are zeroed first.
    """
    model.zero_grad()
    with record_leaf_calls(model) as calls:
        logits = model(minicnn.Tensor(images))
    loss = F.softmax_cross_entropy(logits, labels)
    loss.backward()
    grads = {name: backend.asnumpy(param.grad) for name, param in model.named_parameters()}
    named = [(name, call) for call, name in zip(calls, leaf_call_names(calls)) if name is not None]
    outputs = {name: call.output.numpy() for name, call in named}
    kinds = {name: type(call.module).__name__ for name, call in named}
    return logits.numpy(), loss.item(), grads, outputs, kinds


def compare(model, twin, images, labels, tolerance, training=True, reference=None):
    """Run one batch through `model` and its twin; return the report rows, forward order.

    tolerance: (forward, gradient) relative tolerances deciding each row's pass/fail.
    training: BatchNorm in training mode (batch statistics) in both; dropout stays off.
    reference: optional float64 KerasTwin holding the same weights, for float32 runs. A row then
        also passes when minicnn differs from TensorFlow by at most twice TensorFlow's own
        float32 error (its float32 vs its float64 result): two implementations that are each
        that accurate can differ by the sum of their errors. Deep float32 networks need this:
        cancellation in BatchNorm's backward pass costs both frameworks digits.
    The last two rows are the logits and the loss.
    """
    model.train(training)
    set_dropout(model, False)
    *ours, kinds = minicnn_pass(model, images, labels)
    ours = _as_run(*ours)
    theirs = _as_run(*twin.gradients(images, labels, training))
    params_of = collections.defaultdict(list)
    for name in theirs[1]:
        params_of[name.rsplit(".", 1)[0]].append(name)
    diffs = _differences(ours, theirs, params_of)
    noise = {}
    if reference is not None:
        exact = _as_run(*reference.gradients(images.astype(np.float64), labels, training))
        noise = _differences(theirs, exact, params_of)
    kinds = {**kinds, "logits": "", "loss": ""}
    return [_row(name, kinds[name], np.shape(ours[0][name]), diff, noise.get(name), tolerance)
            for name, diff in diffs.items()]


def _as_run(logits, loss, grads, outputs):
    """(leaf outputs followed by 'logits' and 'loss', parameter gradients) of one pass."""
    return {**outputs, "logits": logits, "loss": np.float64(loss)}, grads


def _differences(run, reference_run, params_of):
    """name -> (forward max |diff|, forward rel, gradient rel or None), in the order of run."""
    (outputs, grads), (ref_outputs, ref_grads) = run, reference_run
    diffs = {}
    for name, output in outputs.items():
        expected = ref_outputs[name]
        forward_abs = float(np.abs(np.asarray(output, np.float64) - expected).max(initial=0.0))
        grad_rel = None
        if name in params_of:  # the first call of a layer with parameters
            grad_rel = layer_grad_diff([grads[p] for p in params_of[name]],
                                       [ref_grads[p] for p in params_of[name]])
        diffs[name] = (forward_abs, max_rel_diff(output, expected), grad_rel)
    return diffs


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


def _row(name, kind, shape, diff, noise, tolerance):
    """A report row; noise is TensorFlow's own float32 error for the same quantities, or None."""
    forward_abs, forward_rel, grad_rel = diff
    forward_tolerance, grad_tolerance = tolerance
    if noise is not None:
        forward_tolerance = max(forward_tolerance, 2 * noise[1])
        if grad_rel is not None:
            grad_tolerance = max(grad_tolerance, 2 * noise[2])
    passed = forward_rel <= forward_tolerance and (grad_rel is None or grad_rel <= grad_tolerance)
    tf_error = None if noise is None else noise[2]
    return Row(name, kind, tuple(shape), forward_abs, forward_rel, grad_rel, tf_error, passed)


def format_table(rows, weights_only=False):
    """The report as text: one line per layer, then a summary line."""
    with_noise = any(row.tf_float32_error is not None for row in rows)
    lines = [f"{'layer':<28} {'type':<18} {'output':<18} {'fwd max|diff|':>13} "
             f"{'grad max rel':>12}" + (f" {'TF f32 err':>10}" if with_noise else "")
             + "  result"]
    shown = [row for row in rows if not weights_only or row.grad_rel is not None
             or row.layer in ("logits", "loss")]
    for row in shown:
        grad = "-" if row.grad_rel is None else f"{row.grad_rel:.1e}"
        shape = "x".join(map(str, row.shape)) or "scalar"
        line = f"{row.layer:<28} {row.kind:<18} {shape:<18} {row.forward_abs:>13.1e} {grad:>12}"
        if with_noise:
            noise = row.tf_float32_error
            line += f" {'-' if noise is None else f'{noise:.1e}':>10}"
        lines.append(f"{line}  {'pass' if row.passed else 'FAIL'}")
    failed = [row.layer for row in rows if not row.passed]
    hidden = f" ({len(rows) - len(shown)} without parameters not shown)" if weights_only else ""
    lines.append(f"{len(rows) - len(failed)}/{len(rows)} rows pass{hidden}"
                 + (f"; FAILED: {', '.join(failed)}" if failed else ""))
    return "\n".join(lines)


def build_pair(name, input_size, dtype, num_classes=10, seed=0, options=None):
    """A zoo model and its Keras twin (Keras-initialised weights copied into minicnn)."""
    import keras

    from minicnn.interop.keras_twin import keras_twin

    in_channels = input_size[0] if input_size is not None else 1
    image_hw = tuple(input_size[1:]) if input_size is not None else None
    minicnn.manual_seed(seed)
    model = models.build(name, num_classes=num_classes, in_channels=in_channels,
                         input_size=image_hw, **dict(options or {}))
    input_size = tuple(input_size or model.default_input_size)
    model.to(dtype=dtype)
    keras.utils.set_random_seed(seed)
    twin = keras_twin(model, input_size, dtype)
    twin.copy_to(model)
    return model, twin, input_size


def _parse_args(argv):
    parser = cli.parser("minicnn.crosscheck",
                        "Compare a zoo model with its TensorFlow/Keras twin, layer by layer.")
    cli.add_model(parser)
    cli.add_input_size(parser)
    parser.add_argument("--num-classes", type=cli.positive_int, default=10,
                        help="number of classes the model outputs")
    parser.add_argument("--batch", type=cli.positive_int, default=2, help="images in the batch")
    parser.add_argument("--dtype", choices=sorted(TOLERANCE), default="float64",
                        help="float64 proves the maths; float32 shows rounding")
    parser.add_argument("--eval", action="store_true",
                        help="BatchNorm in inference mode (running statistics)")
    cli.add_options(parser)
    parser.add_argument("--weights-only", action="store_true",
                        help="list only the layers that have parameters")
    parser.add_argument("--seed", type=int, default=0, help="seed of the weights and the batch")
    return parser.parse_args(argv)


def _import_tensorflow_quietly():
    """Import TensorFlow with its C++ start-up lines (absl, oneDNN, CPU features) hidden.

    TF_CPP_MIN_LOG_LEVEL no longer silences them all (TF 2.18+ logs through absl before it is
    read), so stderr's file descriptor points at /dev/null for the import only; Python errors
    are raised as usual and reported by the caller.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # later C++ warnings
    sys.stderr.flush()
    saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    try:
        import minicnn.interop.tensorflow  # noqa: F401  (fails early with the install hint)
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


def run(argv=None):
    args = _parse_args(argv)
    cli.check_model_name(args.model)
    try:
        _import_tensorflow_quietly()
    except ImportError as error:
        return cli.fail(f"crosscheck: {error}")
    start = time.perf_counter()
    try:
        model, twin, input_size = build_pair(args.model, args.input, args.dtype,
                                             args.num_classes, args.seed, dict(args.option))
    except NotImplementedError as error:
        return cli.fail(f"crosscheck: {error}")
    rng = np.random.default_rng(args.seed)
    images = rng.standard_normal((args.batch,) + input_size).astype(args.dtype)
    labels = rng.integers(0, args.num_classes, size=args.batch)
    tolerance = TOLERANCE[args.dtype]
    reference = None
    if args.dtype != "float64":  # TensorFlow's own rounding error, from a float64 twin
        from minicnn.interop.tensorflow import keras_twin
        reference = keras_twin(model, input_size, "float64")
        reference.copy_from(model)
    rows = compare(model, twin, images, labels, tolerance, not args.eval, reference)
    mode = "inference" if args.eval else "training (batch statistics, dropout off)"
    C, H, W = input_size
    also = ", or 2x TF's own float32 error" if reference is not None else ""
    print(f"{args.model}: input {args.batch}x{C}x{H}x{W}, {args.dtype}, {mode}; tolerance "
          f"{tolerance[0]:.0e} forward, {tolerance[1]:.0e} gradient (relative{also})")
    print(format_table(rows, args.weights_only))
    print(f"({time.perf_counter() - start:.1f} s)")
    return 0 if all(row.passed for row in rows) else 1


def main(argv=None):
    return cli.run(run, argv)


if __name__ == "__main__":
    sys.exit(main())
