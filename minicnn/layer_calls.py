"""Which module of a model is running, and every call of its leaf layers.

The one place that watches a model's modules run. `module_paths(model)` keeps a stack of the
paths of the modules running now ("" is the model itself, "conv2_x.0.conv1" a layer inside it)
and calls back before and after each module's forward; it is built on the modules' forward
hooks (`nn.Module.register_forward_pre_hook`, `register_forward_hook`), registered on entry and
removed on exit, so the model's own code runs unchanged. Everything that needs to know "which
module ran this" uses it: the recorded step (`minicnn.trace` labels each op with the innermost
path), the autograd graph (`minicnn.viz.graph` groups ops into module clusters) and the record
of leaf-layer calls below.

A leaf layer is a module without sub-modules (Conv2d, ReLU, Flatten, ...): the layers a model is
assembled from. Inside `with record_leaf_calls(model) as calls:` each call of a leaf appends one
`LeafCall` to `calls`, in the order the calls ran; a layer called twice gives two entries.

    with record_leaf_calls(model) as calls:
        model(x)
    for call, name in zip(calls, leaf_call_names(calls)):
        print(name, type(call.module).__name__, call.output.shape)

`minicnn.summary` (the per-layer table), `minicnn.crosscheck` and the Keras twin
(`minicnn.interop`) read their layers from this one record.
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
def module_paths(model, before=None, after=None, modules=None):
    """Inside the block, the yielded list holds the paths of the modules of `model` whose
    forward is running now, outermost first (stack[-1] is the innermost, "" the model itself).

    Args:
        before: called as before(path, module, inputs) when a module's forward starts.
        after: called as after(path, module, inputs, output) when it returns (a module's
            children return before it does).
        modules: the (path, module) pairs to watch (default: model.named_modules()).
    The hooks are removed on exit, even when the block raises.
    """
    stack = []

    def enter(path, module, inputs):
        stack.append(path)
        if before is not None:
            before(path, module, inputs)

    def leave(path, module, inputs, output):
        while stack and stack.pop() != path:
            pass  # a module whose forward raised left its path behind
        if after is not None:
            after(path, module, inputs, output)

    handles = []
    for path, module in (model.named_modules() if modules is None else modules):
        handles.append(module.register_forward_pre_hook(
            lambda module, inputs, path=path: enter(path, module, inputs)))
        handles.append(module.register_forward_hook(
            lambda module, inputs, output, path=path: leave(path, module, inputs, output)))
    try:
        yield stack
    finally:
        for handle in handles:
            handle.remove()


@contextlib.contextmanager
def record_leaf_calls(model):
    """Inside the block, every call of a leaf module of `model` appends a `LeafCall` to the
    yielded list. The hooks are removed on exit, even when the block raises."""
    calls = []

    def record(path, module, inputs, output):
        calls.append(LeafCall(path, module, inputs, output))

    with module_paths(model, after=record, modules=leaf_modules(model)):
        yield calls


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
