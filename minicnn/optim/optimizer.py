"""The base optimizer: holds the parameters, zeroes their gradients, saves its state."""
import numpy as np

from minicnn import backend


class Optimizer:
    """Subclasses implement `update(index, param, grad)` for one parameter.

    Per-parameter state (momentum buffers, Adam moments) lives in `self.state[index]`, a dict of
    arrays, so it saves and loads by position like PyTorch's.
    """

    def __init__(self, params, lr):
        self.params = list(params)
        if not self.params:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        self.lr = self.check_setting("lr", lr, minimum=0.0)
        self.state = [dict() for _ in self.params]
        self.step_count = 0

    def check_setting(self, what, value, minimum=0.0, below=None):
        """`value` as a float, checked at construction as torch does: a ValueError naming the
        setting unless minimum <= value (< below when given). NaN is refused too."""
        name = type(self).__name__
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise TypeError(f"{name}: {what} must be a number, got {value!r}") from None
        upper_ok = below is None or value < below
        if not (value >= minimum and upper_ok):  # written so that NaN fails
            bound = f"in [{minimum}, {below})" if below is not None else f">= {minimum}"
            raise ValueError(f"{name}: {what} must be {bound}, got {value!r}")
        return value

    def zero_grad(self):
        for param in self.params:
            param.grad = None

    def step(self):
        """Update every parameter that has a gradient, in place."""
        self.step_count += 1
        for index, param in enumerate(self.params):
            if param.grad is not None:
                self.update(index, param, param.grad)

    def update(self, index, param, grad):
        raise NotImplementedError

    def state_dict(self):
        """Hyper-parameters and per-parameter buffers as NumPy arrays and numbers."""
        buffers = [{k: backend.asnumpy(v).copy() for k, v in s.items()} for s in self.state]
        return {"lr": self.lr, "step_count": self.step_count, "state": buffers}

    def load_state_dict(self, state):
        if len(state["state"]) != len(self.params):
            raise ValueError(f"{type(self).__name__}.load_state_dict: state has "
                             f"{len(state['state'])} parameters, optimizer has "
                             f"{len(self.params)}")
        self.lr = float(state["lr"])
        self.step_count = int(state["step_count"])
        self.state = []
        for param, buffers in zip(self.params, state["state"]):
            xp = backend.get_array_module(param.data)
            self.state.append({k: xp.asarray(np.asarray(v), dtype=param.dtype)
                               for k, v in buffers.items()})
