"""Stochastic gradient descent with momentum, Nesterov momentum and weight decay."""
from minicnn.optim.optimizer import Optimizer


class SGD(Optimizer):
    """PyTorch's SGD:
        g = grad + weight_decay * p
        v = momentum * v + g                  (v = g on the first step)
        g = g + momentum * v if nesterov else v
        p = p - lr * g
    """

    def __init__(self, params, lr, momentum=0.0, nesterov=False, weight_decay=0.0):
        super().__init__(params, lr)
        momentum = self.check_setting("momentum", momentum)
        weight_decay = self.check_setting("weight_decay", weight_decay)
        if nesterov and momentum <= 0:
            raise ValueError(f"SGD: nesterov=True needs momentum > 0, got momentum={momentum}")
        self.momentum, self.nesterov, self.weight_decay = momentum, nesterov, weight_decay

    def update(self, index, param, grad):
        if self.weight_decay:
            grad = grad + self.weight_decay * param.data
        if self.momentum:
            state = self.state[index]
            if "velocity" not in state:
                state["velocity"] = grad.copy()
            else:
                state["velocity"] *= self.momentum
                state["velocity"] += grad
            velocity = state["velocity"]
            grad = grad + self.momentum * velocity if self.nesterov else velocity
        param.data -= self.lr * grad
