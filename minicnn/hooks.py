"""Handles for registered hooks: `handle.remove()` takes the hook out again (PyTorch's names).

A hook registry is a plain ordered dict `{hook id: function}` owned by a Module or a Tensor;
registering returns a `RemovableHandle` that knows its registry and its id.
"""
import itertools

_next_id = itertools.count()


class RemovableHandle:
    """Returned by every `register_*_hook`; `remove()` unregisters the hook (idempotent).

    Also a context manager: `with module.register_forward_hook(fn): ...` removes it on exit.
    """

    def __init__(self, registry):
        self.registry = registry
        self.id = next(_next_id)

    def remove(self):
        self.registry.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


def add_hook(registry, hook):
    """Put `hook` into `registry` (an ordered dict) and return its handle."""
    if not callable(hook):
        raise TypeError(f"a hook must be callable, got {type(hook).__name__}")
    handle = RemovableHandle(registry)
    registry[handle.id] = hook
    return handle
