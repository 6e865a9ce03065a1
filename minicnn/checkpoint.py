"""Checkpoints: one `.npz` file holding everything a run needs to continue exactly.

Layout inside the archive:
    model/<name>      every parameter and buffer (BatchNorm running statistics included)
    optimizer/<k>     the optimizer's arrays (momentum buffers, Adam moments)
    meta              a JSON string: the run's arguments, epoch and batch reached, metrics so far,
                      the scheduler and random-generator states, and where the optimizer's
                      arrays sit in its state dict

Nested state (dicts, lists, numbers, strings, arrays) is stored as a JSON tree in which each
array is replaced by {"__array__": key}; no pickle is used, so loading a file runs no code.
The file is written to a temporary file in the same folder and renamed over the old one, so a
crash mid-write never leaves a corrupt checkpoint.
"""
import json
import os
import tempfile

import numpy as np

from minicnn import backend

FORMAT_VERSION = 1


def _to_tree(obj, prefix, arrays):
    """Replace arrays in a nested structure by references; collect them in `arrays`."""
    if isinstance(obj, dict):
        return {str(k): _to_tree(v, f"{prefix}/{k}", arrays) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_to_tree(v, f"{prefix}/{i}", arrays) for i, v in enumerate(obj)]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, (bool, int, float, str)) or obj is None:
        return obj
    arrays[prefix] = backend.asnumpy(obj)  # NumPy or CuPy array
    return {"__array__": prefix}


def _from_tree(tree, arrays):
    if isinstance(tree, dict):
        if set(tree) == {"__array__"}:
            return arrays[tree["__array__"]]
        return {k: _from_tree(v, arrays) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_from_tree(v, arrays) for v in tree]
    return tree


def save(path, model_state, optimizer_state, meta):
    """Write a checkpoint atomically.

    model_state: name -> array (`model.state_dict()`); optimizer_state: the optimizer's
    `state_dict()`; meta: JSON-able dict (numbers, strings, lists, dicts).
    """
    arrays = {f"model/{name}": backend.asnumpy(value) for name, value in model_state.items()}
    optimizer_tree = _to_tree(optimizer_state, "optimizer", arrays)
    header = {"format": FORMAT_VERSION, "optimizer": optimizer_tree, **meta}
    arrays["meta"] = np.array(json.dumps(header))
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp_path = tempfile.mkstemp(dir=folder, prefix=".checkpoint-", suffix=".npz.tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_path, path)
    except BaseException:
        if os.path.exists(tmp_path):
            os.remove(tmp_path)
        raise


def load(path):
    """Read a checkpoint. Returns (model_state, optimizer_state, meta)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (ValueError, OSError, EOFError) as error:
        raise ValueError(f"{path}: not a readable minicnn checkpoint ({error})") from error
    if "meta" not in arrays:
        raise ValueError(f"{path}: not a minicnn checkpoint (no 'meta' entry)")
    meta = json.loads(str(arrays.pop("meta")))
    if meta.get("format") != FORMAT_VERSION:
        raise ValueError(f"{path}: checkpoint format {meta.get('format')} is not "
                         f"{FORMAT_VERSION}; it was written by another minicnn version")
    model_state = {key[len("model/"):]: value for key, value in arrays.items()
                   if key.startswith("model/")}
    optimizer_state = _from_tree(meta.pop("optimizer"), arrays)
    return model_state, optimizer_state, meta
