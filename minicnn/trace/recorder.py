"""The recorder behind `minicnn.trace.trace`: the engine calls it while a trace is active.

`minicnn.core` checks one module-level variable, `core._tracer`, in `Function.__call__` (after
each forward), once per function in the backward loop, and when `backward()` starts; it is None
unless a `trace(...)` block is running, so an untraced step pays one comparison per op.
"""
import numpy as np

from minicnn import backend
from minicnn.core import Tensor
from minicnn.trace.record import Event
from minicnn.trace.stats import make_slot, update_norms

# The names of an op's inputs, in call order, where they are not just x (docs/trace-record.md).
_INPUT_NAMES = {
    "conv2d": ("x", "weight", "bias"), "linear": ("x", "weight", "bias"),
    "batch_norm": ("x", "weight", "bias"),
    "add": ("a", "b"), "sub": ("a", "b"), "mul": ("a", "b"), "div": ("a", "b"),
    "matmul": ("a", "b"),
}
# The identity ops that full backward hooks put around a module's inputs and output.
HOOK_OP = "backward_hook"
# Attributes a Function sets that are bookkeeping, not settings of the op.
_NOT_SETTINGS = {"needs_input_grad", "inputs", "has_bias", "x_shape"}


def op_name(function):
    """The lowercase op name of a Function ("conv2d", "max_pool2d", "add", ...)."""
    return function.op_name


def input_names(op, count):
    names = _INPUT_NAMES.get(op)
    if names is not None and count <= len(names):
        return names[:count]
    return ("x",) if count == 1 else tuple(f"x{i}" for i in range(count))


def op_settings(function):
    """The op's JSON-able settings (stride, padding, kernel_size, p, eps, momentum, axis ...)."""
    settings = {}
    for key, value in vars(function).items():
        if key.startswith("_") or key in _NOT_SETTINGS:
            continue
        value = _plain(value)
        if value is not _SKIP:
            settings[key] = value
    for pair, (first, second) in {"stride": ("SH", "SW"), "kernel_size": ("KH", "KW")}.items():
        if first in settings and second in settings:
            settings[pair] = [settings.pop(first), settings.pop(second)]
    if "pads" in settings:
        settings["padding"] = settings.pop("pads")  # (top, bottom, left, right)
    return settings


_SKIP = object()


def _plain(value):
    """value as JSON-able plain data, or _SKIP (arrays, tensors, slices ...)."""
    if isinstance(value, (bool, str)) or value is None:
        return value
    if isinstance(value, (int, float, np.integer, np.floating)):
        return value.item() if isinstance(value, np.generic) else value
    if isinstance(value, (tuple, list)):
        items = [_plain(v) for v in value]
        return _SKIP if any(v is _SKIP for v in items) else items
    is_int_array = getattr(value, "dtype", None) is not None and value.dtype.kind in "iu"
    if is_int_array and value.size <= 4096:
        return backend.asnumpy(value).tolist()  # class labels (softmax_cross_entropy's target)
    return _SKIP


class Recorder:
    """Turns the engine's calls into Events of `record` (see docs/trace-record.md)."""

    def __init__(self, record, model, keep):
        self.record, self.keep = record, keep
        self.module_stack = []   # the running modules' paths (minicnn.layer_calls.module_paths)
        self.pending_state = {}  # module path -> (module, {buffer: copy before its forward})
        self.param_names = {}
        if model is not None:
            self.param_names = {id(p): name for name, p in model.named_parameters()}
        self.forward_of = {}     # id(Function) -> index of its forward event
        self.alive = []          # every traced Function and Tensor, so no id() is reused
        self.tensor_ids = {}     # id(Tensor) -> record-local tensor number
        self.contributions = {}  # tensor number -> gradients sent to it [{"event", "slot"}]

    # ----- called by minicnn.core -----------------------------------------------------------
    def on_forward(self, function, inputs, arrays, output):
        index = len(self.record.events)
        op = op_name(function)
        if op == HOOK_OP:  # its output is its input under another name: not an op of the model
            self.tensor_ids[id(output)] = self.tensor_number(inputs[0])
            self.alive.append(output)
            return
        module = self.module_stack[-1] if self.module_stack else ""
        keep = self.keeps(module)
        slots = []
        for name, x, array in zip(input_names(op, len(inputs)), inputs, arrays):
            tensor = x if isinstance(x, Tensor) else None
            slots.append(None if array is None else self.slot(index, name, array, tensor, keep))
        out = self.slot(index, "out", output.data, output, keep)
        event = Event(index=index, phase="forward", op=op, module=module, forward_index=None,
                      inputs=slots, outputs=[out], params=op_settings(function), update=None)
        if module in self.pending_state:
            event["state"] = self.state_slots(index, *self.pending_state.pop(module), keep)
        self.add(event)
        if output.grad_fn is function:
            self.forward_of[id(function)] = index
            self.alive.append(function)

    def on_backward_start(self, root):
        if root.size == 1:
            self.record.loss = float(backend.asnumpy(root.data).reshape(()))

    def on_backward(self, function, gy, gxs):
        if op_name(function) == HOOK_OP:
            return
        index = len(self.record.events)
        forward_index = self.forward_of.get(id(function))
        forward = self.record.events[forward_index] if forward_index is not None else None
        op = op_name(function)
        module = forward["module"] if forward else ""
        keep = self.keeps(module)
        names = input_names(op, len(function.inputs))
        slots = []
        for name, tensor, gx in zip(names, function.inputs, gxs):
            if gx is None or tensor is None or not tensor.requires_grad:
                slots.append(None)
                continue
            slot = self.slot(index, "grad_" + name, gx, tensor, keep)
            self.contributions.setdefault(slot["tensor"], []).append(
                {"event": index, "slot": slot["name"], "norm": slot["stats"]["norm"]})
            slots.append(slot)
        slots += [None] * (len(names) - len(slots))
        arriving = self.slot(index, "grad_out", gy, None, keep)
        out_tensor = forward["outputs"][0]["tensor"] if forward else None
        arriving["tensor"] = out_tensor
        event = Event(index=index, phase="backward", op=op, module=module,
                      forward_index=forward_index, inputs=slots, outputs=[arriving],
                      params=forward["params"] if forward else {}, update=None)
        sources = self.contributions.get(out_tensor, [])
        if len(sources) > 1:  # this output was used twice or more: its gradient is a sum
            event["sums"] = list(sources)
        self.add(event)

    # ----- called before each module's forward (minicnn.layer_calls.module_paths) ----------
    def snapshot_buffers(self, path, module, inputs):
        """Copy the buffers of a module that has some (BatchNorm's running statistics) before
        its forward, so that the op's event can show them before and after the update."""
        if module._buffers:
            self.pending_state[path] = (module, {
                name: np.array(backend.asnumpy(getattr(module, name)), copy=True)
                for name in module._buffers})

    # ----- called by the wrapped optimizer.step ---------------------------------------------
    def on_update(self, optimizer, param, before, grad):
        """One update event: before (NumPy copy of W), the gradient used, W after the step."""
        index = len(self.record.events)
        name = self.param_names.get(id(param))
        module = name.rpartition(".")[0] if name else ""
        keep = self.keeps(module)
        after = backend.asnumpy(param.data)
        norm_w, norm_dw, ratio = update_norms(before, after)
        slots = [self.slot(index, "before", before, param, keep),
                 self.slot(index, "grad", grad, param, keep)]
        update = {"param": name, "lr": float(optimizer.lr), "norm_w": norm_w,
                  "norm_dw": norm_dw, "ratio": ratio}
        self.add(Event(index=index, phase="update", op=type(optimizer).__name__.lower(),
                       module=module, forward_index=None, inputs=slots,
                       outputs=[self.slot(index, "after", after, param, keep)], params={},
                       update=update))

    def state_slots(self, index, module, before, keep):
        """Slots of the module's buffers before ("running_mean") and after ("running_mean_new")
        the op that updated them."""
        slots = [self.slot(index, name, array, None, keep) for name, array in before.items()]
        for name in before:
            slots.append(self.slot(index, name + "_new", getattr(module, name), None, keep))
        return slots

    # ----- helpers --------------------------------------------------------------------------
    def add(self, event):
        self.record.events.append(event)

    def keeps(self, module):
        """Whether arrays of ops run by `module` are kept (keep="all" | "none" | [paths])."""
        if self.keep == "all" or self.keep == "none":
            return self.keep == "all"
        return any(path == "" or module == path or module.startswith(path + ".")
                   for path in self.keep)

    def slot(self, index, name, array, tensor, keep):
        key = None
        if keep:
            key = f"{index}/{name}"
            self.record.store_array(key, np.array(backend.asnumpy(array), copy=True))
        number = self.tensor_number(tensor) if tensor is not None else None
        param = self.param_names.get(id(tensor)) if tensor is not None else None
        return make_slot(name, array, number, param, key)

    def tensor_number(self, tensor):
        if id(tensor) not in self.tensor_ids:
            self.tensor_ids[id(tensor)] = len(self.tensor_ids)
            self.alive.append(tensor)
        return self.tensor_ids[id(tensor)]

    def close(self):
        """Let go of the graph: the record keeps plain data only."""
        self.alive, self.forward_of, self.tensor_ids = [], {}, {}
