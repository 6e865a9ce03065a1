"""Per-layer summary of a model: output shape, parameters, multiply-adds, activation memory.

    python -m minicnn.summary vgg16 --input 3,224,224 --num-classes 1000
    python -m minicnn.summary alexnet -o small_input=True -o width=0.25

The output shapes come from one forward pass at batch size 1 under no_grad, recorded by
`minicnn.layer_calls`: each call of a leaf layer adds a row. Multiply-adds (MACs) are counted,
as the papers count them, for convolutions and fully connected layers only: pooling,
normalisation and activations cost little beside them and count as 0.
"""

import sys
from dataclasses import dataclass

import minicnn
from minicnn import backend, cli, models, nn
from minicnn.layer_calls import record_leaf_calls


@dataclass
class LayerRow:
    """One call of a leaf layer during the forward pass of one image."""
    name: str                # dotted path in the model, e.g. "conv2_x.0.conv1"
    kind: str                # the layer's class name, e.g. "Conv2d"
    output_shape: tuple      # per image: (C, H, W) or (features,)
    params: int              # parameters of the layer (counted at its first call only)
    macs: int                # multiply-adds for one image
    activation_bytes: int    # memory of the output for one image (0 if it is the input)


def summarize(model, input_size=None):
    """Run one image of size input_size (C, H, W) through model; return a LayerRow per call.

    input_size defaults to model.default_input_size. The model's training mode is restored.
    """
    if input_size is None:
        input_size = model.default_input_size
    first = next(model.parameters(), None)
    xp = backend.get_array_module(first.data) if first is not None else backend.default_xp()
    dtype = first.dtype if first is not None else "float32"
    x = minicnn.Tensor(xp.zeros((1, *input_size), dtype=dtype))

    was_training = model.training
    model.eval()
    try:
        with minicnn.no_grad(), record_leaf_calls(model) as calls:
            model(x)
    finally:
        model.train(was_training)
    rows = []
    seen = set()  # modules already counted: a layer called twice counts its parameters once
    for call in calls:
        rows.append(_row(call, first_call=id(call.module) not in seen))
        seen.add(id(call.module))
    return rows


def totals(rows):
    """Sums over the rows: dict with params, macs, activation_bytes."""
    return {
        "params": sum(row.params for row in rows),
        "macs": sum(row.macs for row in rows),
        "activation_bytes": sum(row.activation_bytes for row in rows),
    }


def _row(call, first_call):
    """The LayerRow of one recorded LeafCall (one image: the batch has size 1)."""
    module, out = call.module, call.output
    return LayerRow(
        name=call.path,
        kind=type(module).__name__,
        output_shape=tuple(out.shape[1:]),
        params=sum(p.size for p in module.parameters()) if first_call else 0,
        macs=layer_macs(module, out.shape),
        activation_bytes=0 if out is call.input else int(out.data[0].nbytes),  # Identity
    )


def layer_macs(module, output_shape):
    """Multiply-adds of one image through module, given its output shape (N, ...)."""
    if isinstance(module, nn.Conv2d):
        OC, C_per_group, KH, KW = module.weight.shape
        _, _, OH, OW = output_shape
        return OC * OH * OW * C_per_group * KH * KW
    if isinstance(module, nn.Linear):
        out_features, in_features = module.weight.shape
        return out_features * in_features
    return 0


# ----- the command ----------------------------------------------------------------------------

def format_table(rows, total_params=None):
    """The summary as text: a header, one line per row, then the totals."""
    header = f"{'Layer (type)':<36} {'Output shape':<18} {'Params':>12} " \
             f"{'Mult-adds':>15} {'Activations':>12}"
    lines = [header, "-" * len(header)]
    for row in rows:
        label = f"{row.name} ({row.kind})"
        lines.append(f"{label:<36} {str(row.output_shape):<18} {row.params:>12,} "
                     f"{row.macs:>15,} {_bytes(row.activation_bytes):>12}")
    sums = totals(rows)
    lines.append("-" * len(header))
    lines.append(f"Total parameters:     {sums['params']:,} ({_bytes(4 * sums['params'])} "
                 f"as float32)")
    lines.append(f"Total multiply-adds:  {sums['macs']:,} per image ({_si(sums['macs'])})")
    lines.append(f"Activation memory:    {_bytes(sums['activation_bytes'])} per image "
                 f"(outputs of every layer, forward pass)")
    if total_params is not None and total_params != sums["params"]:
        lines.append(f"Note: the model holds {total_params:,} parameters; "
                     f"{total_params - sums['params']:,} belong to layers the forward pass "
                     f"did not call")
    return "\n".join(lines)


def _si(count):
    """1234567 -> '1.23 M': for reading a count at a glance."""
    for unit, size in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if count >= size:
            return f"{count / size:.2f} {unit}"
    return str(count)


def _bytes(count):
    for unit in ("B", "KiB", "MiB"):
        if count < 1024:
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} GiB"


def build_for_input(name, input_size=None, num_classes=10, options=None):
    """Build model `name`; with input_size (C, H, W), for C channels and H x W images
    (`models.build`'s input_size rule)."""
    in_channels, image_hw = (1, None) if input_size is None else (input_size[0], input_size[1:])
    return models.build(name, num_classes=num_classes, in_channels=in_channels,
                        input_size=image_hw, **dict(options or {}))


def run(argv=None):
    parser = cli.parser("minicnn.summary", "Print one row per layer: output shape, parameters, "
                        "multiply-adds and activation memory for one image, then the totals.")
    cli.add_model(parser)
    cli.add_input_size(parser)
    parser.add_argument("--num-classes", type=cli.positive_int, default=10, metavar="K",
                        help="number of classes the model outputs")
    cli.add_options(parser)
    args = parser.parse_args(argv)
    cli.check_model_name(args.model)
    model = build_for_input(args.model, args.input, args.num_classes, dict(args.option))
    rows = summarize(model, args.input)
    C, H, W = args.input or model.default_input_size
    print(f"{args.model}: input ({C}, {H}, {W}), {args.num_classes} classes")
    print(format_table(rows, total_params=sum(p.size for p in model.parameters())))
    return 0


def main(argv=None):
    return cli.run(run, argv)


if __name__ == "__main__":
    sys.exit(main())
