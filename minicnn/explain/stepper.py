"""The interactive parts of the explain command: pausing after each op, choosing an op to zoom.

Input comes from a stream (stdin by default), so a test or a pipe can drive it; nothing here
assumes a terminal.
"""
import numpy as np

from minicnn.explain.text import fit

PROMPT = "[Enter] next op   [p] print its arrays   [q] quit"


def pause_after_each(record, stream, out=print):
    """A function called after each printed event: returns False when the user quits.

    Enter (an empty line) goes on, `p` prints the event's kept arrays (truncated) and asks
    again, `q` quits; at the end of the input it stops pausing and prints the rest."""
    state = {"pausing": True}

    def pause(event):
        while state["pausing"]:
            out(PROMPT)
            line = stream.readline()
            if not line:  # end of input: go on without pausing
                state["pausing"] = False
                break
            answer = line.strip().lower()
            if answer == "q":
                out("quit")
                return False
            if answer == "p":
                out("\n".join(array_lines(record, event)))
                continue
            break
        return True
    return pause


def array_lines(record, event, edgeitems=3):
    """Each kept array of the event (of a 4-D one, the first image's first channel), printed by
    NumPy with at most 3 items at each edge."""
    lines = []
    for slot in event["inputs"] + event["outputs"] + event.get("state", []):
        if slot is None or slot["array"] is None:
            continue
        array, index = record.arrays()[slot["array"]], []
        while array.ndim > 2:  # show the first image's first channel: a readable 2-D slice
            array, index = array[0], index + [0]
        text = np.array2string(array, precision=4, threshold=64, edgeitems=edgeitems,
                               max_line_width=90)
        where = f"[{', '.join(map(str, index))}]" if index else ""
        lines.append(f"  {slot['name']}{where} of {slot['name']} {tuple(slot['shape'])}:")
        lines += ["    " + fit(row) for row in text.splitlines()[:12]]
    return lines or ["  (no arrays kept for this event)"]


def select_event(record, name):
    """The first forward event of module path `name`, else of op `name`."""
    for key in ("module", "op"):
        for event in record.forward:
            if event[key] == name:
                return event["index"]
    modules = sorted({e["module"] for e in record.forward if e["module"]})
    shown = ", ".join(modules[:5]) + (", ..." if len(modules) > 5 else "")
    raise ValueError(f"--op {name}: no module path or op of that name; try {shown}")
