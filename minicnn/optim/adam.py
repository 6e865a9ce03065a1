"""Adam (Kingma & Ba, 2015) with PyTorch's L2 weight decay."""
import math

import numpy as np

from minicnn import backend
from minicnn.optim.optimizer import Optimizer


class Adam(Optimizer):
    """m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;
    p = p - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, lr)
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"Adam: betas must be a pair (beta1, beta2), got {betas!r}")
        # beta = 1 would divide by 1 - beta^t = 0; torch refuses it too
        self.beta1 = self.check_setting("betas[0]", betas[0], minimum=0.0, below=1.0)
        self.beta2 = self.check_setting("betas[1]", betas[1], minimum=0.0, below=1.0)
        self.eps = self.check_setting("eps", eps)
        self.weight_decay = self.check_setting("weight_decay", weight_decay)

    def update(self, index, param, grad):
        xp = backend.get_array_module(param.data)
        if self.weight_decay:
            grad = grad + self.weight_decay * param.data
        state = self.state[index]
        if "m" not in state:
            state["m"] = xp.zeros_like(param.data)
            state["v"] = xp.zeros_like(param.data)
        # The step count t lives on the host: reading it back from a GPU would stall every step.
        count = state.get("t", 0)
        if backend.device_of(count) != "cpu":  # load_state_dict put it on the device
            count = backend.asnumpy(count)
        state["t"] = np.asarray(count + 1, dtype=param.dtype)
        t = float(state["t"])
        m, v = state["m"], state["v"]
        m *= self.beta1
        m += (1 - self.beta1) * grad
        v *= self.beta2
        v += (1 - self.beta2) * grad * grad
        step_size = self.lr / (1 - self.beta1 ** t)
        denom = xp.sqrt(v) / math.sqrt(1 - self.beta2 ** t) + self.eps
        param.data -= step_size * m / denom
