"""Checkpoints: one `.npz` file holding everything a run needs to continue exactly.

Layout inside the archive:
    model/<name>      every parameter and buffer (BatchNorm running statistics included)
    optimizer/<k>     the optimizer's arrays (momentum buffers, Adam moments)
    meta              a JSON string: the run's arguments, epoch and batch reached, metrics so far,
                      the scheduler and random-generator states, and where the optimizer's
                      arrays sit in its state dict

Nested state (dicts, lists, numbers, strings, arrays) is stored as a JSON tree in which each
array is replaced by {"__array__": key}; no pickle is used, so loading a file runs no code.
The file is written to a temporary file in the same folder and renamed over the old one
(minicnn.files), so a crash mid-write never leaves a corrupt checkpoint.

`load_model(path)` rebuilds the model a checkpoint was saved from: the one way `evaluate`,
`predict` and notebooks get a trained model back.
"""
import json
import os
import zipfile

import numpy as np

from minicnn import backend
from minicnn.config import RunConfig
from minicnn.errors import ShapeError
from minicnn.files import write_atomically

FORMAT_VERSION = 1
NAME = "checkpoint.npz"  # the file a run keeps in its output folder
# What a training run stores besides the weights (see minicnn.training.save_checkpoint).
RUN_KEYS = ("config", "epoch", "batch", "running", "history", "scheduler", "rng_state")


class CheckpointError(ValueError):
    """A file that is not a usable minicnn checkpoint; the message names it and says why."""


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
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)

    def write(tmp_path):
        with open(tmp_path, "wb") as f:  # a file object: np.savez would append ".npz" to a name
            np.savez(f, **arrays)
    write_atomically(path, write)


def load(path):
    """Read a checkpoint. Returns (model_state, optimizer_state, meta).

    Raises FileNotFoundError for a missing file and CheckpointError for anything else wrong
    (truncated, garbage, not minicnn's, another format version), in one line without the
    reader's internals: np.load's own text would suggest allow_pickle=True, which would run
    code stored in the file.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint {path}: does not exist; give the path of a "
                                f"run's {NAME}")
    with open(path, "rb") as f:
        is_zip = f.read(4) == b"PK\x03\x04"  # an .npz is a zip archive
    try:
        if not is_zip:
            raise ValueError("not a zip archive")
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError) as error:
        if not is_zip:
            reason = "it is not an .npz archive"
        elif "pickle" in str(error):
            reason = "it holds pickled objects, which minicnn never writes"
        else:
            reason = "it is truncated or damaged"
        raise CheckpointError(f"{path}: not a readable minicnn checkpoint ({reason}); use a "
                              f"{NAME} written by minicnn.train") from None
    if "meta" not in arrays:
        raise CheckpointError(f"{path}: not a minicnn checkpoint (no 'meta' entry)")
    try:
        meta = json.loads(str(arrays.pop("meta")))
        version = meta.get("format")
    except (ValueError, AttributeError):
        raise CheckpointError(f"{path}: not a minicnn checkpoint (its 'meta' entry is not a "
                              "JSON object)") from None
    if version != FORMAT_VERSION:
        raise CheckpointError(f"{path}: checkpoint format {version} is not "
                              f"{FORMAT_VERSION}; it was written by another minicnn version")
    try:
        optimizer_state = _from_tree(meta.pop("optimizer"), arrays)
    except KeyError as error:
        raise CheckpointError(f"{path}: damaged checkpoint (missing entry {error})") from None
    model_state = {key[len("model/"):]: value for key, value in arrays.items()
                   if key.startswith("model/")}
    return model_state, optimizer_state, meta


def load_run(path):
    """Read a training run's checkpoint. Returns (model_state, optimizer_state, meta) with
    meta["config"] a RunConfig; raises CheckpointError naming what is missing."""
    model_state, optimizer_state, meta = load(path)
    missing = [key for key in RUN_KEYS if key not in meta]
    if missing:
        raise CheckpointError(f"{path}: not a training run's checkpoint (it lacks "
                              f"{', '.join(missing)})")
    try:
        meta["config"] = RunConfig.from_dict(meta["config"])
    except (ValueError, TypeError) as error:
        raise CheckpointError(f"{path}: {error}; it was written by another minicnn "
                              "version") from None
    return model_state, optimizer_state, meta


def load_model(path, device="cpu"):
    """Rebuild the model a run's checkpoint was saved from. Returns (model in eval mode,
    RunConfig). Raises CheckpointError when the weights do not fit the model its config
    describes (a damaged or hand-edited file)."""
    backend.set_default_device(device)  # a missing GPU fails before the file is read
    model_state, _, meta = load_run(path)
    config = meta["config"]
    try:
        model = config.build_model()
        model.load_state_dict(model_state)
    except (KeyError, ShapeError, ValueError, TypeError) as error:
        message = error.args[0] if error.args else error
        raise CheckpointError(f"{path}: its weights do not fit model {config.model} as its "
                              f"config describes it ({message})") from None
    model.eval()
    return model, config
