"""The autograd graph of one training step, as Graphviz DOT (and SVG/PNG when `dot` exists).

    python -m minicnn.viz graph lenet5 --out lenet5.svg
    python -m minicnn.viz graph resnet18 --input 1,32,32 --depth 1 --out resnet18.svg

One forward pass, the loss and one backward pass run on a small batch. The graph is then read
the way `Tensor.backward` reads it: from the loss through each tensor's `grad_fn` (the
`Function` that made it) to that function's `inputs`. Every Function is a box labelled with
its op name and output shape; parameters, the input images and constants are leaves; after
backward each edge carries the norm of the gradient that flows back along it. Which module ran
each op comes from minicnn.layer_calls.module_paths (the mechanism minicnn.trace uses too), and
ops are grouped into one cluster per module.
With --depth N the ops of modules nested deeper than N levels collapse into one box per block.
"""
import os
import shutil
import subprocess

import numpy as np

import minicnn
import minicnn.functional as F
from minicnn.core import Tensor
from minicnn.layer_calls import module_paths
from minicnn.viz.graph_drawing import to_dot, write_chain_figure
from minicnn.viz.graph_walk import OpTagger, build_nodes, walk


class AutogradGraph:
    """Nodes and edges of one step's graph; `.dot` is the DOT text, `save(path)` writes it.

    nodes: list of dicts {id, kind ('op' | 'block' | 'param' | 'input' | 'const'), label,
    module}; edges: list of (source id, target id, gradient norm or None).
    """

    def __init__(self, nodes, edges, module_kinds, title=""):
        self.nodes, self.edges = nodes, edges
        self.module_kinds = module_kinds  # module path -> class name (cluster labels)
        self.title = title

    @property
    def num_ops(self):
        return sum(node["kind"] == "op" for node in self.nodes)

    def __repr__(self):
        blocks = sum(node["kind"] == "block" for node in self.nodes)
        params = sum(node["kind"] == "param" for node in self.nodes)
        return (f"AutogradGraph({self.title}: {self.num_ops} ops, {blocks} collapsed blocks, "
                f"{params} parameters, {len(self.edges)} edges)")

    @property
    def dot(self):
        """The graph as Graphviz DOT text."""
        return to_dot(self)

    def save(self, path, use_graphviz=None):
        """Write .dot, .svg or .png. Returns a note for the user, or "" when all went as asked.

        Without Graphviz's `dot` program (or with use_graphviz=False), an .svg/.png request
        writes the .dot file beside it and draws the layer chain with matplotlib instead.
        """
        stem, ext = os.path.splitext(path)
        ext = ext.lower().lstrip(".")
        if ext not in ("dot", "svg", "png"):
            raise ValueError(f"--out {path}: unknown picture type {ext!r}; "
                             f"end the name with .svg, .png or .dot")
        folder = os.path.dirname(os.path.abspath(path))
        os.makedirs(folder, exist_ok=True)
        if ext == "dot":
            _write_text(path, self.dot)
            return ""
        dot_program = shutil.which("dot") if use_graphviz is not False else None
        if dot_program:
            _render_with_graphviz(dot_program, self.dot, path, ext)
            return ""
        _write_text(stem + ".dot", self.dot)
        write_chain_figure(self, path)
        why = "was not used" if use_graphviz is False else "was not found"
        return (f"Graphviz's dot program {why}: wrote {stem}.dot and drew the layer chain with "
                f"matplotlib in {path}; for the full graph install graphviz "
                f"(apt-get install graphviz)")


def _write_text(path, text):
    tmp_path = path + ".tmp"
    with open(tmp_path, "w") as f:
        f.write(text)
    os.replace(tmp_path, path)


def _render_with_graphviz(dot_program, source, path, ext):
    tmp_path = path + ".tmp"
    result = subprocess.run([dot_program, f"-T{ext}", "-o", tmp_path], input=source.encode(),
                            capture_output=True, timeout=120)
    if result.returncode != 0:
        if os.path.exists(tmp_path):
            os.remove(tmp_path)
        raise RuntimeError(f"dot failed: {result.stderr.decode(errors='replace').strip()}")
    os.replace(tmp_path, path)


def graph(model, input_size=None, depth=None, x=None, y=None, backward=True):
    """Run one step of `model` and return its AutogradGraph.

    Args:
        input_size: (C, H, W) of the batch made when x is None (default:
            model.default_input_size); the batch is 4 bundled Fashion-MNIST images.
        depth: collapse the ops of modules nested deeper than this into one box per block.
        x, y: (N, C, H, W) float array and (N,) int labels to use instead.
        backward: run the backward pass, so that edges show gradient norms.
    The model runs in training mode (as in a training step) and is left as it was, gradients
    cleared.
    """
    if depth is not None and depth < 0:
        raise ValueError(f"--depth {depth}: must be 0 or more (0 collapses every module)")
    if x is None:
        from minicnn.viz.loading import sample_batch
        x, y = sample_batch(input_size or model.default_input_size, n=4)
    was_training = model.training
    model.train()
    image = Tensor(np.asarray(x))
    try:
        tagger = OpTagger()
        with module_paths(model, after=tagger.tag):
            logits = model(image)
        loss = F.softmax_cross_entropy(logits, np.asarray(y))
        functions, tensors = walk(loss)
        if backward:
            for tensor in tensors:
                if tensor.grad_fn is not None:
                    tensor.retain_grad()
            loss.backward()
        nodes, edges = build_nodes(model, tensors, tagger.tags, image, depth, loss)
    finally:
        model.zero_grad()
        model.train(was_training)
    kinds = {path: type(m).__name__ for path, m in model.named_modules()}
    return AutogradGraph(nodes, edges, kinds, title=type(model).__name__)


def run(args):
    """`graph` subcommand: model name or checkpoint -> .svg/.png/.dot."""
    from minicnn.viz import loading
    model, config = loading.model_or_checkpoint(args.model, args.input)
    input_size = args.input or (tuple(config.input_shape) if config else None)
    if config and args.input and tuple(args.input) != tuple(config.input_shape):
        raise loading.VizInputError(f"--input {args.input}: the checkpoint's model takes "
                                    f"{tuple(config.input_shape)}; leave --input out")
    minicnn.manual_seed(0)
    result = graph(model, input_size, args.depth)
    note = result.save(args.out, use_graphviz=not args.no_graphviz)
    print(f"{result!r} -> {args.out}")
    if note:
        print(note)
    return 0


def add_parser(subparsers):
    from minicnn.viz.loading import parse_input_size
    p = subparsers.add_parser("graph", help="the autograd graph of one training step",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("model", help="a zoo model name (freshly initialised) or a checkpoint.npz")
    p.add_argument("--input", type=parse_input_size, metavar="C,H,W",
                   help="input size (default: the model's or the checkpoint's)")
    p.add_argument("--depth", type=int, default=None, metavar="N",
                   help="collapse modules nested deeper than N into one box (default: none)")
    p.add_argument("--out", required=True, help="FILE.svg, FILE.png or FILE.dot")
    p.add_argument("--no-graphviz", action="store_true",
                   help="do not call Graphviz even if present: write .dot + matplotlib chain")
    p.set_defaults(run=run)
