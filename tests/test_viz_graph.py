"""minicnn.viz graph: the DOT of one step's autograd graph, its rendering, the command."""
import re
import shutil
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from PIL import Image

import minicnn
import minicnn.functional as F
from minicnn import nn
from minicnn.core import Function
from minicnn.viz import graph
from minicnn.viz.__main__ import main

OP_NODE = re.compile(r"^\s*(op\d+) \[label=\"([a-z_0-9]+)\\n", re.M)


class Block(nn.Module):
    """conv -> relu, plus a skip `add` run by the block's own forward."""

    def __init__(self, channels):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)
        self.act = nn.ReLU()

    def forward(self, x):
        return self.act(self.conv(x)) + x


class TinyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(1, 4, 3, padding=1)
        self.body = nn.Sequential(Block(4), Block(4))
        self.pool = nn.MaxPool2d(2)
        self.flatten = nn.Flatten()
        self.head = nn.Linear(4 * 4 * 4, 3)

    def forward(self, x):
        return self.head(self.flatten(self.pool(self.body(self.stem(x)))))


def batch(rng):
    x = rng.standard_normal((2, 1, 8, 8)).astype(np.float32)
    return x, np.array([0, 2])


def count_function_calls(monkeypatch, run):
    """Names of every Function called while run() executes (wrapping Function.__call__)."""
    calls = []
    original = Function.__call__

    def counting(self, *inputs):
        calls.append(self.op_name)
        return original(self, *inputs)

    monkeypatch.setattr(Function, "__call__", counting)
    result = run()
    monkeypatch.setattr(Function, "__call__", original)
    return calls, result


def test_op_nodes_equal_the_function_calls_of_the_step(monkeypatch, rng):
    minicnn.manual_seed(0)
    model = TinyNet()
    x, y = batch(rng)
    calls, result = count_function_calls(monkeypatch, lambda: graph(model, x=x, y=y))
    ops = OP_NODE.findall(result.dot)
    assert len(ops) == len(calls) == result.num_ops
    assert sorted(name for _, name in ops) == sorted(calls)
    assert result.dot.count("{") == result.dot.count("}")  # clusters closed


def test_clusters_follow_the_module_that_ran_each_op(rng):
    minicnn.manual_seed(0)
    x, y = batch(rng)
    result = graph(TinyNet(), x=x, y=y)
    by_module = {}
    for node in result.nodes:
        if node["kind"] == "op":
            by_module.setdefault(node["module"], []).append(node["op"])
    assert by_module["body.0"] == ["add"]          # the skip add belongs to the block itself
    assert by_module["body.0.conv"] == ["conv2d"]
    assert by_module["body.1.act"] == ["relu"]
    assert by_module[""] == ["softmax_cross_entropy"]  # outside the model
    assert 'subgraph "cluster_body.0"' in result.dot
    assert 'subgraph "cluster_body.0.conv"' in result.dot


def test_edge_labels_are_the_gradient_norms_of_one_backward(rng):
    minicnn.manual_seed(0)
    model = TinyNet()
    x, y = batch(rng)
    result = graph(model, x=x, y=y)
    assert all(p.grad is None for p in model.parameters())  # the model is left clean
    loss = F.softmax_cross_entropy(model(minicnn.Tensor(x)), y)
    loss.backward()
    names = {node["id"]: node["label"].split("\n")[0] for node in result.nodes}
    checked = 0
    for source, _, norm in result.edges:
        if source.startswith("p"):
            param = dict(model.named_parameters())[names[source]]
            assert norm == pytest.approx(np.linalg.norm(param.grad), rel=1e-5)
            checked += 1
    assert checked == len(list(model.parameters()))


def test_depth_collapses_blocks_and_keeps_every_op(rng):
    minicnn.manual_seed(0)
    x, y = batch(rng)
    full = graph(TinyNet(), x=x, y=y)
    collapsed = graph(TinyNet(), depth=1, x=x, y=y)
    blocks = [node for node in collapsed.nodes if node["kind"] == "block"]
    assert [b["name"] for b in blocks] == ["body"]
    assert blocks[0]["ops"] + collapsed.num_ops == full.num_ops
    assert "body.0" not in collapsed.dot and "b_body" in collapsed.dot


@pytest.mark.skipif(shutil.which("dot") is None,
                    reason="Graphviz's dot program is not installed (apt-get install graphviz)")
def test_rendered_svg_has_one_node_per_op(tmp_path, rng):
    minicnn.manual_seed(0)
    result = graph(TinyNet(), x=batch(rng)[0], y=batch(rng)[1])
    assert result.save(str(tmp_path / "g.svg")) == ""
    root = ET.parse(tmp_path / "g.svg").getroot()
    ns = {"svg": "http://www.w3.org/2000/svg"}
    titles = [g.find("svg:title", ns).text for g in root.iter("{http://www.w3.org/2000/svg}g")
              if g.get("class") == "node"]
    assert len([t for t in titles if re.fullmatch(r"op\d+", t)]) == result.num_ops


def test_without_graphviz_writes_dot_and_a_matplotlib_chain(tmp_path, rng):
    minicnn.manual_seed(0)
    result = graph(TinyNet(), x=batch(rng)[0], y=batch(rng)[1])
    note = result.save(str(tmp_path / "g.png"), use_graphviz=False)
    assert "dot program was not used" in note
    assert (tmp_path / "g.dot").read_text() == result.dot
    with Image.open(tmp_path / "g.png") as image:
        assert image.format == "PNG" and image.size[1] > 300


def test_command_writes_dot_and_rejects_a_bad_name(tmp_path, capsys):
    assert main(["graph", "lenet5", "--out", str(tmp_path / "lenet.dot")]) == 0
    text = (tmp_path / "lenet.dot").read_text()
    assert len(OP_NODE.findall(text)) == 13  # 3 conv, 4 relu, 2 pool, reshape, 2 linear, loss
    assert main(["graph", "lenet5", "--out", str(tmp_path / "lenet.jpg")]) == 2
    assert main(["graph", "lenet6", "--out", str(tmp_path / "x.svg")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0].startswith("error: --out") and err[1].startswith("error: lenet6")


@pytest.mark.parametrize("name", ["lenet5", "googlenet_small"])
def test_op_nodes_equal_the_forward_ops_of_the_trace_of_the_same_step(name):
    """The graph and the step-through record see the same step: one op node per forward event."""
    from minicnn import models, optim
    from minicnn.explain import step
    options = {"width": 0.25} if name == "googlenet_small" else {}
    x = np.random.default_rng(0).standard_normal((2, 1, 32, 32)).astype(np.float32)
    y = np.array([1, 3])
    minicnn.manual_seed(0)
    model = models.build(name, input_size=32, **options)
    dot = graph(model, x=x, y=y).dot
    minicnn.manual_seed(0)
    model = models.build(name, input_size=32, **options)
    record = step(model, x, y, optim.SGD(model.parameters(), lr=0.01), keep="none")
    assert sorted(op for _, op in OP_NODE.findall(dot)) == sorted(e["op"] for e in record.forward)
    assert len(OP_NODE.findall(dot)) == len(record.forward)
