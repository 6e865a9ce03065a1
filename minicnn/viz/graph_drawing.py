"""Drawing an AutogradGraph: Graphviz DOT text, and a matplotlib layer chain without Graphviz."""
import os

STYLES = {  # node kind -> DOT attributes
    "op": 'shape=box, style="rounded,filled", fillcolor="#dbe9ff"',
    "block": 'shape=box3d, style=filled, fillcolor="#ffe9c4"',
    "param": 'shape=ellipse, style=filled, fillcolor="#e3f4e1"',
    "input": 'shape=invhouse, style=filled, fillcolor="#eeeeee"',
    "const": 'shape=note, style=filled, fillcolor="#f6f6f6"',
    "output": 'shape=octagon, style=filled, fillcolor="#ffd6d6"',
}


def _quote(text):
    """A DOT double-quoted string; newlines become DOT's \\n line breaks."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _cluster_tree(nodes):
    """{cluster path: [child cluster paths]} and {cluster path: [node ids]} ('' is the top)."""
    children, members, attached = {"": []}, {"": []}, {""}
    for node in nodes:
        path = node["module"]
        members.setdefault(path, []).append(node["id"])
        while path not in attached:  # hang the path and its missing ancestors on the tree
            attached.add(path)
            parent = path.rsplit(".", 1)[0] if "." in path else ""
            children.setdefault(parent, []).append(path)
            path = parent
    return children, members


def to_dot(graph):
    """The DOT text of `graph` (an AutogradGraph): one cluster per module."""
    lines = [f"digraph {_quote(graph.title or 'step')} {{",
             '  graph [rankdir=TB, fontname="Helvetica", fontsize=11, labelloc=t, '
             f'label={_quote(repr(graph))}];',
             '  node [fontname="Helvetica", fontsize=9];',
             '  edge [fontname="Helvetica", fontsize=8, color="#555555", fontcolor="#884400"];']
    by_id = {node["id"]: node for node in graph.nodes}
    children, members = _cluster_tree(graph.nodes)

    def emit(path, indent):
        pad = "  " * indent
        for node_id in members.get(path, []):
            node = by_id[node_id]
            lines.append(f"{pad}{node_id} [label={_quote(node['label'])}, {STYLES[node['kind']]}];")
        for child in children.get(path, []):
            kind = graph.module_kinds.get(child, "")
            lines.append(f"{pad}subgraph {_quote('cluster_' + child)} {{")
            lines.append(f'{pad}  label={_quote(f"{child} ({kind})")}; style="rounded,dashed"; '
                         f'color="#8899aa"; fontsize=9;')
            emit(child, indent + 1)
            lines.append(f"{pad}}}")

    emit("", 1)
    for source, dest, norm in graph.edges:
        label = f' [label="|g| {norm:.3g}"]' if norm is not None else ""
        lines.append(f"  {source} -> {dest}{label};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def layer_chain(graph):
    """Consecutive op/block nodes of one module merged: list of (title, detail) strings."""
    chain = []
    for node in graph.nodes:
        if node["kind"] not in ("op", "block", "output"):
            continue
        module = node["module"] if node["kind"] == "op" else node.get("name", node["module"])
        shape = "(" + ", ".join(str(s) for s in node["shape"]) + ")"
        if chain and chain[-1]["module"] == module and node["kind"] == "op":
            chain[-1]["ops"].append(node["op"])
            chain[-1]["shape"] = shape
            continue
        chain.append({"module": module, "ops": [node["op"]], "shape": shape,
                      "kind": graph.module_kinds.get(module, "")})
    return [(f"{c['module'] or '(top)'} {c['kind']}".strip(),
             f"{', '.join(c['ops'])} -> {c['shape']}") for c in chain]


def write_chain_figure(graph, path):
    """Draw the layer chain top to bottom with matplotlib (the no-Graphviz fallback)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    chain = layer_chain(graph)
    step = 0.55  # inches per box
    figure = Figure(figsize=(6.0, step * len(chain) + 0.8))
    FigureCanvasAgg(figure)
    axes = figure.add_axes([0, 0, 1, 1])
    axes.set_xlim(0, 1)
    axes.set_ylim(-len(chain) - 0.5, 0.8)
    axes.set_axis_off()
    axes.text(0.5, 0.3, repr(graph), ha="center", va="center", fontsize=8)
    for i, (title, detail) in enumerate(chain):
        axes.text(0.5, -i - 0.5, f"{title}\n{detail}", ha="center", va="center", fontsize=8,
                  bbox={"boxstyle": "round", "facecolor": "#dbe9ff", "edgecolor": "#557799"})
        if i:
            axes.annotate("", xy=(0.5, -i - 0.22), xytext=(0.5, -i + 0.22),
                          arrowprops={"arrowstyle": "->", "color": "#555555"})
    tmp_path = path + ".tmp"
    figure.savefig(tmp_path, dpi=100, format=os.path.splitext(path)[1].lstrip(".").lower())
    os.replace(tmp_path, path)
