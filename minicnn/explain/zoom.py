"""Zoom into one op: one output element and one gradient element worked out as arithmetic with
the step's real numbers, each checked against what the engine computed.

`zoom(record, index)` returns JSON-able data: {"event", "op", "module", "title", "lines",
"checks": [{"what", "worked", "engine", "ok"}], "view": {"kind", ...} | None};
`zoom_lines` renders it as text, the explorer page (minicnn.viz.explorer) draws the same data,
the view as a picture. The record must hold the op's arrays (keep="all", or keep=[its module]).
Each function of ZOOMS takes (forward event, {slot name: array}) and returns (lines, checks,
view); the format is docs/trace-record.md.
"""
from minicnn.explain import zoom_conv, zoom_dense, zoom_elementwise, zoom_norm, zoom_pool
from minicnn.explain.text import fit
from minicnn.explain.worked import arrays_of, backward_event, check_line

ZOOMS = {
    "conv2d": zoom_conv.conv2d,
    "max_pool2d": zoom_pool.max_pool2d,
    "avg_pool2d": zoom_pool.avg_pool2d,
    "batch_norm": zoom_norm.batch_norm,
    "local_response_norm": zoom_norm.local_response_norm,
    "relu": zoom_elementwise.relu,
    "dropout": zoom_elementwise.dropout,
    "linear": zoom_dense.linear,
    "softmax_cross_entropy": zoom_dense.softmax_cross_entropy,
}


def zoom(record, index):
    """The worked arithmetic of forward event `index` (and of its backward), as plain data."""
    event = record.event(index)
    if event["phase"] != "forward":
        index = event["forward_index"]
        event = record.event(index)
    if event["op"] not in ZOOMS:
        raise ValueError(f"zoom: no worked example for op {event['op']!r} (event {index}); "
                         f"zooms exist for {', '.join(ZOOMS)}")
    arrays = arrays_of(record, event)
    backward = backward_event(record, index)
    if backward is not None:
        arrays.update(arrays_of(record, backward))
    lines, checks, view = ZOOMS[event["op"]](event, arrays)
    module = event["module"] or "(top)"
    return {"event": index, "op": event["op"], "module": event["module"],
            "title": f"zoom into #{index}: {event['op']} in {module}",
            "lines": lines, "checks": checks, "view": view}


def zoom_lines(data):
    """The zoom as text: title, the worked arithmetic, then each check."""
    lines = [data["title"], *data["lines"], "", *(check_line(c) for c in data["checks"])]
    return [fit(line) for line in lines]
