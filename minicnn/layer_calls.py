"""Record every call of a model's leaf layers during a forward pass.

A leaf layer is a module without sub-modules (Conv2d, ReLU, Flatten, ...): the layers a model is
assembled from. Inside `with record_leaf_calls(model) as calls:` each call of a leaf appends one
`LeafCall` to `calls`, in the order the calls ran; a layer called twice gives two entries.

    with record_leaf_calls(model) as calls:
        model(x)
    for call, name in zip(calls, leaf_call_names(calls)):
        print(name, type(call.module).__name__, call.output.shape)

It is built on the modules' forward hooks (`nn.Module.register_forward_hook`), registered on
entry and removed on exit, so the model's own code runs unchanged. `minicnn.summary` (the
per-layer table), `minicnn.crosscheck` and the Keras twin (`minicnn.interop`) read their layers
from this one record.
"""
import collections
import contextlib


class LeafCall(collections.namedtuple("LeafCall", "path module inputs output")):
    """One call of a leaf module.

    path: the module's dotted path in the model ("" for the model itself), e.g. "conv2_x.0.conv1";
    module: the module; inputs: the tuple of positional arguments it received (Tensors);
    output: what it returned. `input` is the first argument, the one every leaf layer takes.
    """

    @property
    def input(self):
        return self.inputs[0]


def leaf_modules(model):
    """[(path, module)] of the modules of `model` that have no sub-modules (a shared one once)."""
    return [(path, module) for path, module in model.named_modules()
            if next(module.children(), None) is None]


@contextlib.contextmanager
def record_leaf_calls(model):
    """Inside the block, every call of a leaf module of `model` appends a `LeafCall` to the
    yielded list. The hooks are removed on exit, even when the block raises."""
    calls = []
    handles = [module.register_forward_hook(_recorder(path, calls))
               for path, module in leaf_modules(model)]
    try:
        yield calls
    finally:
        for handle in handles:
            handle.remove()


def leaf_call_names(calls):
    """A name per recorded call: the module path, then path_1, path_2 ... for repeated calls;
    None for calls that return their input unchanged (Identity, Dropout in eval mode)."""
    seen = collections.Counter()
    names = []
    for call in calls:
        if call.output is call.input:
            names.append(None)
            continue
        count = seen[call.path]
        seen[call.path] += 1
        names.append(call.path if count == 0 else f"{call.path}_{count}")
    return names


def _recorder(path, calls):
    """A forward hook that appends a LeafCall to `calls` (and leaves the output as it is)."""
    def hook(module, inputs, output):
        calls.append(LeafCall(path, module, inputs, output))
    return hook
