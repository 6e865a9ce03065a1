"""The record as an HTML table (Jupyter's `_repr_html_`)."""
import html

from minicnn.explain.text import fmt, shape_text


def record_html(record, limit=400):
    """One row per event: index, phase, module, op, shapes, statistics or norms."""
    rows = [f"<p><b>{html.escape(str(record.model))}</b>: {len(record)} events, "
            f"loss {fmt(record.loss)}</p>",
            "<table><tr><th>#</th><th>phase</th><th>module</th><th>op</th><th>inputs</th>"
            "<th>output</th><th>mean</th><th>std</th><th>min</th><th>max</th><th>|g| or "
            "|dW|/|W|</th></tr>"]
    for event in record.events[:limit]:
        rows.append(_row(event))
    rows.append("</table>")
    if len(record) > limit:
        rows.append(f"<p>... {len(record) - limit} more events</p>")
    return "\n".join(rows)


def _row(event):
    out = event["outputs"][0]
    stats = out["stats"]
    inputs = ", ".join(f"{s['name']} {shape_text(s['shape'])}" for s in event["inputs"]
                       if s is not None)
    if event["phase"] == "update":
        last = fmt(event["update"]["ratio"])
    elif event["phase"] == "backward":
        last = fmt(stats["norm"])
    else:
        last = ""
    cells = [event["index"], event["phase"], event["module"] or "(top)", event["op"], inputs,
             shape_text(out["shape"]), fmt(stats["mean"]), fmt(stats["std"]),
             fmt(stats["min"]), fmt(stats["max"]), last]
    return "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>"
