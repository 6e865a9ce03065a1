"""The record as plain text, lines of at most 100 columns: the view of `python -m
minicnn.explain` and of `repr(record)`."""
WIDTH = 100


def fmt(value):
    """A number in .4g (values can explode, so never a fixed number of decimals); None -> '-'."""
    return "-" if value is None else f"{value:.4g}"


def shape_text(shape):
    return str(tuple(shape))


def stats_text(stats):
    """'mean -0.01 std 0.5 min -2 max 3 zeros 12.5%' (+ NaN/Inf counts when there are any)."""
    text = (f"mean {fmt(stats['mean'])}  std {fmt(stats['std'])}  min {fmt(stats['min'])}  "
            f"max {fmt(stats['max'])}  zeros {stats['zero_frac']:.1%}")
    if stats["nan"] or stats["inf"]:
        text += f"  NaN {stats['nan']}  Inf {stats['inf']}"
    return text


def fit(line):
    """Cut a line to WIDTH columns."""
    return line if len(line) <= WIDTH else line[:WIDTH - 3] + "..."


def event_lines(event):
    """The lines of one event (two or more), as in the explain command's listing."""
    render = {"forward": _forward_lines, "backward": _backward_lines, "update": _update_lines}
    return [fit(line) for line in render[event["phase"]](event)]


def _head(event, extra=""):
    module = event["module"] or "(top)"
    return f"{event['index']:>4}  {module}  {event['op']}{extra}"


def _forward_lines(event):
    shapes = " ".join(f"{s['name']} {shape_text(s['shape'])}" for s in event["inputs"]
                      if s is not None)
    out = event["outputs"][0]
    lines = [_head(event) + f"  {shapes} -> {shape_text(out['shape'])}",
             f"        out  {stats_text(out['stats'])}"]
    for slot in event.get("state", []):
        if slot["name"].endswith("_new"):
            lines.append(f"        {slot['name']:<17}{stats_text(slot['stats'])}")
    return lines


def _backward_lines(event):
    arriving = event["outputs"][0]
    lines = [_head(event, f"  backward of #{event['forward_index']}"),
             f"        {'grad_out':<13}{shape_text(arriving['shape']):<20}"
             f"|g| {fmt(arriving['stats']['norm'])}  (the gradient arriving)"]
    if "sums" in event:
        parts = " + ".join(f"#{s['event']} {s['slot']} |g| {fmt(s['norm'])}"
                           for s in event["sums"])
        lines.append(f"        = {parts}")
        lines.append(f"          (the output was used {len(event['sums'])} times: "
                     f"its gradient is the sum of the contributions)")
    for slot in event["inputs"]:
        if slot is not None:
            lines.append(f"        {slot['name']:<13}{shape_text(slot['shape']):<20}"
                         f"|g| {fmt(slot['stats']['norm'])}")
    return lines


def _update_lines(event):
    u = event["update"]
    return [f"{event['index']:>4}  {u['param']}  {event['op']}  lr {fmt(u['lr'])}  "
            f"|W| {fmt(u['norm_w'])}  |dW| {fmt(u['norm_dw'])}  |dW|/|W| {fmt(u['ratio'])}"]


def phase_title(phase, events, record):
    count = len(events)
    if phase == "forward":
        return f"forward: {count} ops in execution order (module, op, shapes, output statistics)"
    if phase == "backward":
        return (f"backward: {count} ops in the order the engine ran them (reverse dependency "
                f"order)")
    return f"update: {count} parameters (W before the step, dW = W after - W before)"


def batch_lines(record, limit=4):
    """The loss and the predictions for the first images."""
    lines = [f"loss {fmt(record.loss)}"]
    batch = record.batch
    if batch:
        names = batch.get("class_names")
        for n, (label, predicted) in enumerate(zip(batch["labels"][:limit],
                                                   batch["predicted"][:limit])):
            p = batch["probabilities"][n][predicted]
            true = names[label] if names else label
            guess = names[predicted] if names else predicted
            lines.append(f"  image {n}: true {true}, predicted {guess} (p = {p:.3f})")
    return lines


def record_table(record):
    """The whole record: header, forward, backward, update, loss and predictions."""
    lines = [f"{record.model}: {len(record)} events, loss {fmt(record.loss)}"]
    for phase, events in (("forward", record.forward), ("backward", record.backward),
                          ("update", record.updates)):
        if events:
            lines += ["", phase_title(phase, events, record)]
            for event in events:
                lines += event_lines(event)
    if record.batch:
        lines += [""] + batch_lines(record)
    return "\n".join(fit(line) for line in lines)
