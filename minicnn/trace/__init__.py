"""Record one training step op by op: `with minicnn.trace.trace(model) as record: ...`.

    with trace(model, keep="all", optimizer=optimizer) as record:
        loss = F.softmax_cross_entropy(model(x), y)
        optimizer.zero_grad(); loss.backward(); optimizer.step()
    record.forward[0], record.filter(module="conv1"), record.to_dict(), record.arrays()

Every Function call becomes a forward event (op, module path, input and output shapes and
statistics), every function the backward pass runs a backward event (the gradient arriving, the
gradient leaving to each input), and every parameter the optimizer updates an update event.
The format is docs/trace-record.md. Outside a trace the engine records nothing.
"""
import contextlib

from minicnn import core
from minicnn.layer_calls import module_paths
from minicnn.trace.diff import StepDiff
from minicnn.trace.record import FORMAT, Event, Record
from minicnn.trace.recorder import Recorder

__all__ = ["trace", "Record", "Event", "StepDiff", "FORMAT"]


@contextlib.contextmanager
def trace(model=None, keep="none", optimizer=None, name=None):
    """Record every op run inside the block.

    Args:
        model: the nn.Module being run; its module paths and parameter names label the events
            (without it they are "" and None).
        keep: which arrays to keep a NumPy copy of: "all", "none", or a list of module paths
            (an op is kept when it runs in one of them or inside it).
        optimizer: if given, its `step()` inside the block records one update event per
            parameter (W before and after, the gradient used, ||dW|| / ||W||).
        name: the model's name in the record (default: its class name).
    Yields:
        The Record, filled as the block runs; it stays readable after the block.
    """
    _check_keep(keep, model)
    if core._tracer is not None:
        raise RuntimeError("trace: a trace is already active; traces do not nest")
    record = Record(name or (type(model).__name__ if model is not None else None))
    recorder = Recorder(record, model, keep)
    watching = (module_paths(model, before=recorder.snapshot_buffers) if model is not None
                else contextlib.nullcontext([]))
    restore_step = _wrap_step(optimizer, recorder) if optimizer is not None else None
    try:
        with watching as running:
            recorder.module_stack = running  # the innermost path labels each op
            core._tracer = recorder          # the one switch the engine checks
            try:
                yield record
            finally:
                core._tracer = None
    finally:
        if restore_step is not None:
            restore_step()
        recorder.close()


def _check_keep(keep, model):
    if isinstance(keep, str):
        if keep not in ("all", "none"):
            raise ValueError(f"trace: keep must be 'all', 'none' or a list of module paths, "
                             f"got {keep!r}")
        return
    paths = list(keep)
    if model is not None:
        known = {path for path, _ in model.named_modules()}
        unknown = [path for path in paths if path not in known]
        if unknown:
            raise ValueError(f"trace: keep names modules the model does not have: {unknown}; "
                             f"see [name for name, _ in model.named_modules()]")


def _wrap_step(optimizer, recorder):
    """Make optimizer.step() report each parameter's update; returns the undo function."""
    from minicnn import backend
    original = optimizer.step
    had_own = "step" in vars(optimizer)

    def step(*args, **kwargs):
        snapshots = [(p, backend.asnumpy(p.data).copy(), p.grad)
                     for p in optimizer.params if p.grad is not None]
        result = original(*args, **kwargs)
        for param, before, grad in snapshots:
            recorder.on_update(optimizer, param, before, grad)
        return result

    optimizer.step = step

    def restore():
        if had_own:
            optimizer.step = original
        else:
            del optimizer.step
    return restore
