"""The backprop explorer: one self-contained HTML page to step through a recorded training step.

    from minicnn.viz.explorer import write_html
    write_html(record, "step.html")      # record: a minicnn.trace Record (docs/trace-record.md)

`python -m minicnn.explain MODEL --html step.html` calls this. The page needs no network: its
CSS and JavaScript are inline (minicnn/viz/explorer_page.py) and every array is drawn here, in
Python, as small PNG heatmaps embedded as data URIs. Large arrays are cut down (the first
sample, the first 16 channels, every n-th pixel) and the page says so under each picture.
The zooms are `record.zoom(index)` of every op that has one (minicnn.explain.zoom), the same
data `python -m minicnn.explain --op` prints; the page draws their "view" as a picture.
"""
import hashlib
import html
import json
import math
import os

import numpy as np

from minicnn.explain.zoom import ZOOMS, zoom
from minicnn.viz import image_grid
from minicnn.viz.explorer_page import PAGE

MAX_CHANNELS = 16   # channels (or filters) drawn per array in a small record
TILE_BUDGET = 2500  # heatmaps per page (about 2-3 MB): large models draw fewer channels
MAX_SIDE = 48       # longest side drawn, in array elements, before subsampling
MAX_ROWS = 8        # samples drawn for 2-D (N, F) arrays
THUMB_PIXELS = 72   # about this many screen pixels per thumbnail side


def _cut_down(array, is_param, channels=MAX_CHANNELS):
    """(tiles [(label, 2-D array)], notes, step): what is drawn of one recorded array."""
    notes = []
    if array.ndim == 4:
        N, C = array.shape[:2]
        if is_param:  # a conv weight (OC, C, KH, KW): filter o, input channel 0
            tiles = [(f"filter {o}, in 0", array[o, 0]) for o in range(min(N, channels))]
            notes.append(f"filters 0-{len(tiles) - 1} of {N}, input channel 0 of {C}")
        else:
            tiles = [(f"channel {c}", array[0, c]) for c in range(min(C, channels))]
            notes.append(f"sample 0 of {N}" + (f"; channels 0-{len(tiles) - 1} of {C}"
                                               if C > channels else ""))
    elif array.ndim == 3:
        tiles = [(f"channel {c}", array[c]) for c in range(min(len(array), channels))]
        if len(tiles) < len(array):
            notes.append(f"channels 0-{len(tiles) - 1} of {len(array)}")
    elif array.ndim == 2:
        rows = array if is_param else array[:MAX_ROWS]
        if len(rows) < len(array):
            notes.append(f"rows 0-{len(rows) - 1} of {len(array)}")
        tiles = [("rows x columns", rows)]
    elif array.ndim == 1:
        tiles = [("values", array[None])]
    else:
        return [], notes, 1
    side = max(max(t.shape) for _, t in tiles)
    step = max(1, math.ceil(side / (MAX_SIDE if array.ndim >= 3 else 4 * MAX_SIDE)))
    if step > 1:
        tiles = [(label, t[::step, ::step]) for label, t in tiles]
        notes.append(f"every {step}th element along each side")
    return tiles, notes, step


def thumbnails(array, gradient=False, is_param=False, channels=MAX_CHANNELS):
    """Heatmap data URIs of one array: dict {images: [{src, title}], note, scale, step}.

    Values map through viridis from each tile's min to its max; gradients through a blue-white-
    red map centred on 0 (white), so the sign shows. At most `channels` channels are drawn.
    """
    array = np.asarray(array, dtype=np.float64)
    tiles, notes, step = _cut_down(array, is_param, channels)
    if not tiles:
        return None
    scale = max(1, min(8, THUMB_PIXELS // max(max(t.shape) for _, t in tiles)))
    images = []
    for label, tile in tiles:
        finite = tile[np.isfinite(tile)]
        lo, hi = (finite.min(), finite.max()) if finite.size else (0.0, 0.0)
        if gradient:
            bound = max(abs(lo), abs(hi)) or 1.0  # an all-zero gradient stays white
            picture = image_grid.heatmap(tile, scale, "RdBu_r", -bound, bound)
        else:
            picture = image_grid.heatmap(tile, scale, "viridis")
        images.append({"src": image_grid.png_data_uri(picture),
                       "title": f"{label}: min {lo:.4g}, max {hi:.4g}"})
    return {"images": images, "note": "; ".join(notes), "scale": scale, "step": step}


def _json_safe(value):
    """NaN and infinities become the strings "NaN", "Infinity", "-Infinity" (JSON has none)."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def _script_json(value):
    """JSON safe inside <script>: '</' cannot end the element early."""
    return json.dumps(_json_safe(value), separators=(",", ":")).replace("</", "<\\/")


def _tile_count(array, is_param):
    """How many heatmaps of `array` _cut_down draws when every channel is drawn."""
    if array.ndim == 4:
        return array.shape[0] if is_param else array.shape[1]
    return len(array) if array.ndim == 3 else 1


def page_thumbnails(meta, arrays):
    """{array key: thumbnails(...)} for every slot of every event whose array was kept.

    An array equal to one already drawn (an op's output is the next op's input) gets the key
    of that one instead, a string the page looks up. With many arrays, fewer channels of each
    are drawn so that the page stays within TILE_BUDGET heatmaps (the notes say so).
    """
    slots = []  # (key, gradient?, parameter?) of every distinct array, in event order
    same_as, first_of = {}, {}
    for event in meta["events"]:
        gradient = event["phase"] == "backward"
        for slot in list(event.get("inputs") or []) + list(event.get("outputs") or []):
            key = slot.get("array") if slot else None
            if key is None or key not in arrays or arrays[key].ndim == 0 or key in same_as:
                continue
            is_param = slot.get("param") is not None
            array = np.ascontiguousarray(arrays[key])
            digest = hashlib.sha1(array.tobytes()).hexdigest()
            same_as[key] = first_of.setdefault((gradient, is_param, array.shape, digest), key)
            if same_as[key] == key:
                slots.append((key, gradient, is_param))
    tiles = [_tile_count(arrays[key], is_param) for key, _, is_param in slots]
    channels = next((c for c in range(MAX_CHANNELS, 2, -1)
                     if sum(min(n, c) for n in tiles) <= TILE_BUDGET), 2)
    thumbs = {key: first for key, first in same_as.items() if first != key}
    for key, gradient, is_param in slots:
        thumbs[key] = thumbnails(arrays[key], gradient, is_param, channels)
    return thumbs


def page_zooms(record):
    """{str(forward event index): record.zoom(index)} for every op with a worked example."""
    zooms = {}
    for event in record.forward:
        if event["op"] not in ZOOMS:
            continue
        try:
            zooms[str(event["index"])] = zoom(record, event["index"])
        except ValueError:  # its arrays were not kept, or a loss with probability targets
            continue
    return zooms


def render_html(record):
    """The page's text for a minicnn.trace Record."""
    meta = record.to_dict()
    thumbs = page_thumbnails(meta, record.arrays())
    title = f"{meta.get('model', 'model')}: one training step"
    return (PAGE.replace("__TITLE__", html.escape(title))
                .replace("__META__", _script_json(meta))
                .replace("__THUMBS__", _script_json(thumbs))
                .replace("__ZOOMS__", _script_json(page_zooms(record))))


def write_html(record, path):
    """Write the explorer page of `record` to path (atomically); return the number of bytes."""
    text = render_html(record)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp_path = path + ".tmp"
    with open(tmp_path, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp_path, path)
    return len(text.encode("utf-8"))
