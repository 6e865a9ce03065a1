"""Reading one step's autograd graph: which module ran each op, and the nodes and edges.

Used by minicnn.viz.autograd_graph; the drawing (DOT text, the matplotlib chain) lives in
minicnn.viz.graph_drawing.
"""
import numpy as np

from minicnn import backend
from minicnn.core import Tensor, topological_order


class OpTagger:
    """Tags each Function with the module that ran it, as the model's forward runs.

        with module_paths(model, after=tagger.tag):   # minicnn.layer_calls
            logits = model(image)

    `tags[id(function)]` is the path of the innermost module whose forward ran it. A module
    returns after its children, so walking back from its output to its inputs and tagging only
    untagged functions leaves the children's (deeper) tags in place and gives the ops its own
    forward ran directly (a ResNet block's skip `add`) its own path.
    """

    def __init__(self):
        self.tags = {}

    def tag(self, path, module, inputs, output):
        stop = {id(t) for t in inputs if isinstance(t, Tensor)}
        outputs = output if isinstance(output, (tuple, list)) else (output,)
        stack = [t for t in outputs if isinstance(t, Tensor)]
        seen = set()
        while stack:
            tensor = stack.pop()
            if id(tensor) in stop or id(tensor) in seen or tensor.grad_fn is None:
                continue
            seen.add(id(tensor))
            self.tags.setdefault(id(tensor.grad_fn), path)
            stack.extend(t for t in tensor.grad_fn.inputs if t is not None)


def walk(root):
    """Every tensor the root depends on, leaves first (a topological order of the graph).

    Unlike the backward pass it also keeps inputs that need no gradient (the images, the
    labels), since a picture of the graph should show them. Returns (functions, tensors):
    the Functions in the order their outputs were made, and all tensors.
    """
    order = topological_order(root, keep=lambda tensor: True)
    functions = [t.grad_fn for t in order if t.grad_fn is not None]
    return functions, order


def grad_norm(tensor):
    """L2 norm of tensor.grad as a float, or None when there is none."""
    if tensor.grad is None:
        return None
    return float(np.linalg.norm(backend.asnumpy(tensor.grad).astype(np.float64).ravel()))


def _shape_text(shape):
    return "(" + ", ".join(str(s) for s in shape) + ")"


def build_nodes(model, tensors, tags, image, depth, loss):
    """Nodes and edges of the graph, collapsed to `depth` when it is not None.

    Returns (nodes, edges): nodes in topological order, dicts {id, kind, label, module, op,
    shape}; edges (source id, target id, gradient norm or None).

    Args:
        tensors: every tensor of the graph, leaves first (the second result of `walk`).
    """
    param_names = {id(p): name for name, p in model.named_parameters()}
    node_of, nodes = {}, []
    for tensor in tensors:
        node = _node_for(tensor, len(nodes), param_names, tags, image)
        node_of[id(tensor)] = node["id"]
        nodes.append(node)
    edges = []
    for tensor in tensors:
        if tensor.grad_fn is None:
            continue
        for parent in tensor.grad_fn.inputs:
            if parent is not None:
                edges.append((node_of[id(parent)], node_of[id(tensor)], grad_norm(parent)))
    value = float(backend.asnumpy(loss.data))
    nodes.append({"id": "loss", "kind": "output", "label": f"loss\n{value:.4g}", "module": "",
                  "op": "loss", "shape": ()})
    edges.append((node_of[id(loss)], "loss", grad_norm(loss) if loss.grad is not None else None))
    if depth is not None:
        nodes, edges = collapse(nodes, edges, depth, model)
    return nodes, edges


def _node_for(tensor, index, param_names, tags, image):
    shape = tuple(tensor.shape)
    if tensor.grad_fn is not None:
        name = tensor.grad_fn.op_name
        return {"id": f"op{index}", "kind": "op", "label": f"{name}\n{_shape_text(shape)}",
                "module": tags.get(id(tensor.grad_fn), ""), "op": name, "shape": shape,
                "outside": id(tensor.grad_fn) not in tags}  # e.g. the loss, after the model
    if id(tensor) in param_names:
        name = param_names[id(tensor)]
        owner = name.rsplit(".", 1)[0] if "." in name else ""
        return {"id": f"p{index}", "kind": "param", "label": f"{name}\n{_shape_text(shape)}",
                "module": owner, "op": "param", "shape": shape}
    if tensor is image:
        return {"id": "x", "kind": "input", "label": f"input\n{_shape_text(shape)}",
                "module": "", "op": "input", "shape": shape}
    what = "labels" if tensor.dtype.kind in "iu" else "constant"
    return {"id": f"c{index}", "kind": "const", "label": f"{what}\n{_shape_text(shape)}",
            "module": "", "op": what, "shape": shape}


def _truncate(path, depth, leaves):
    """The block a module path collapses into at `depth`, or None if its ops stay expanded.

    The block is the path's first `depth` parts, unless that is a leaf module (a Conv2d has
    no inner structure to hide). `leaves`: the paths of modules without children.
    """
    parts = path.split(".") if path else []
    block = ".".join(parts[:depth])
    if len(parts) < depth or block in leaves:
        return None
    return block


def collapse(nodes, edges, depth, model):
    """Merge the ops (and drop the parameters) of modules deeper than `depth` into blocks."""
    kinds = {path: type(m).__name__ for path, m in model.named_modules()}
    leaves = {path for path, m in model.named_modules() if next(m.children(), None) is None}
    target, blocks, kept = {}, {}, []
    for node in nodes:
        collapsible = node["kind"] in ("op", "param") and not node.get("outside")
        block = _truncate(node["module"], depth, leaves) if collapsible else None
        if block is None:
            target[node["id"]] = node["id"]
            kept.append(node)
            continue
        block_id = "b_" + (block.replace(".", "_") or "model")
        target[node["id"]] = block_id
        if node["kind"] == "param":
            continue
        if block_id not in blocks:
            parent = block.rsplit(".", 1)[0] if "." in block else ""
            blocks[block_id] = {"id": block_id, "kind": "block", "module": parent, "ops": 0,
                                "op": kinds.get(block, "block"), "name": block or "model"}
            kept.append(blocks[block_id])
        blocks[block_id]["ops"] += 1
        blocks[block_id]["shape"] = node["shape"]
    for block in blocks.values():
        block["label"] = (f"{block['name']} ({block['op']})\n{block['ops']} ops\n"
                          f"{_shape_text(block['shape'])}")
    new_edges, seen, kept_ids = [], set(), {node["id"] for node in kept}
    for source, dest, norm in edges:
        source, dest = target[source], target[dest]
        if source == dest or (source, dest) in seen or source not in kept_ids:
            continue
        seen.add((source, dest))
        new_edges.append((source, dest, norm))
    return kept, new_edges

