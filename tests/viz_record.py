"""A hand-made step record in the format of docs/trace-record.md, for the explorer's tests.

This is NOT a trace implementation: it records one SGD step of LeNet-5 at the level of its
leaf layers (forward hooks, retained gradients), which is all the page needs to be tested on.
The real recorder is minicnn.trace.
"""
import numpy as np

import minicnn
import minicnn.functional as F
from minicnn import nn
from minicnn.data import Batches, load_bundled
from minicnn.models import LeNet5

OP_OF = {nn.Conv2d: "conv2d", nn.ReLU: "relu", nn.MaxPool2d: "max_pool2d",
         nn.Flatten: "reshape", nn.Linear: "linear"}


class HandRecord:
    def __init__(self, meta, arrays):
        self.meta, self._arrays = meta, arrays

    def to_dict(self):
        return self.meta

    def arrays(self):
        return self._arrays


def stats(array):
    a = np.asarray(array, dtype=np.float64)
    finite = a[np.isfinite(a)]
    some = finite.size > 0
    return {"mean": float(finite.mean()) if some else None,
            "std": float(finite.std()) if some else None,
            "min": float(finite.min()) if some else None,
            "max": float(finite.max()) if some else None,
            "zero_frac": float((a == 0).mean()), "nan": int(np.isnan(a).sum()),
            "inf": int(np.isinf(a).sum())}


class Builder:
    def __init__(self):
        self.events, self.arrays = [], {}

    def slot(self, index, name, data, param=None):
        if data is None:
            return None
        data = np.asarray(data)
        key = f"{index}/{name}"
        self.arrays[key] = data.copy()
        return {"name": name, "shape": list(data.shape), "dtype": str(data.dtype),
                "param": param, "stats": stats(data), "array": key}

    def event(self, phase, op, module, inputs, outputs, forward_index=None, params=None,
              update=None, zoom=None):
        """inputs/outputs: [(name, array or None, param name or None)]."""
        index = len(self.events)
        event = {"index": index, "phase": phase, "op": op, "module": module,
                 "forward_index": forward_index,
                 "inputs": [self.slot(index, n, a, p) for n, a, p in inputs],
                 "outputs": [self.slot(index, n, a, p) for n, a, p in outputs],
                 "params": params or {}, "update": update}
        if zoom is not None:
            event["zoom"] = zoom
        self.events.append(event)
        return index


def lenet_step_record(n=4, lr=0.1):
    """One SGD step of LeNet-5 on n bundled test images, recorded per leaf layer."""
    minicnn.manual_seed(0)
    model = LeNet5()
    data = load_bundled()
    x, y = next(iter(Batches(data.test_x[:n], data.test_y[:n], n, data.mean, data.std)))
    calls = []
    paths = {id(m): p for p, m in model.named_modules()}

    def keep(module, inputs, output):
        inputs[0].retain_grad()
        output.retain_grad()
        calls.append((paths[id(module)], module, inputs[0], output))

    handles = [m.register_forward_hook(keep) for m in model.modules() if type(m) in OP_OF]
    image = minicnn.Tensor(x)
    logits = model(image)
    for handle in handles:
        handle.remove()
    loss = F.softmax_cross_entropy(logits, y)
    loss.backward()

    b = Builder()
    forward = [forward_event(b, path, module, inp, out) for path, module, inp, out in calls]
    p = np.exp(logits.data - logits.data.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    onehot = np.eye(p.shape[1])[y]
    loss_index = b.event("forward", "softmax_cross_entropy", "",
                         [("logits", logits.data, None), ("target", y, None)],
                         [("out", loss.data, None)],
                         zoom={"kind": "softmax_cross_entropy", "p": p.tolist(), "y": y.tolist(),
                               "p_minus_y": (p - onehot).tolist()})
    b.event("backward", "softmax_cross_entropy", "",
            [("grad_logits", logits.grad, None), ("grad_target", None, None)],
            [("grad_out", np.ones(()), None)], forward_index=loss_index)
    for index, (path, module, inp, out) in reversed(list(zip(forward, calls))):
        backward_event(b, index, path, module, inp, out)
    before = {name: p.data.copy() for name, p in model.named_parameters()}
    minicnn.optim.SGD(list(model.parameters()), lr=lr).step()
    for name, param in model.named_parameters():
        dW = param.data - before[name]
        norm_w, norm_dw = float(np.linalg.norm(before[name])), float(np.linalg.norm(dW))
        b.event("update", "sgd", name.rsplit(".", 1)[0], [], [], update={
            "param": name, "lr": lr, "norm_w": norm_w, "norm_dw": norm_dw,
            "ratio": norm_dw / norm_w})
    meta = {"format": "minicnn.trace/1", "model": "LeNet5", "loss": float(loss.data),
            "events": b.events}
    return HandRecord(meta, b.arrays)


def forward_event(b, path, module, inp, out):
    op = OP_OF[type(module)]
    inputs = [("x", inp.data, None)]
    params, zoom = {}, None
    if op in ("conv2d", "linear"):
        inputs += [("weight", module.weight.data, f"{path}.weight"),
                   ("bias", module.bias.data, f"{path}.bias")]
    if op == "conv2d":
        params = {"stride": module.stride, "padding": module.padding}
        zoom = conv_zoom(module, inp.data, out.data) if path == "c1" else None
    if op == "max_pool2d":
        params = {"kernel_size": 2, "stride": 2}
        zoom = pool_zoom(inp.data, channel=1) if path == "s2" else None
    if op == "reshape":
        zoom = {"kind": "shape_change", "from": list(inp.shape), "to": list(out.shape)}
    return b.event("forward", op, path, inputs, [("out", out.data, None)], params=params,
                   zoom=zoom)


def backward_event(b, forward_index, path, module, inp, out):
    op = OP_OF[type(module)]
    inputs = [("grad_x", inp.grad, None)]
    if op in ("conv2d", "linear"):
        inputs += [("grad_weight", module.weight.grad, f"{path}.weight"),
                   ("grad_bias", module.bias.grad, f"{path}.bias")]
    b.event("backward", op, path, inputs, [("grad_out", out.grad, None)],
            forward_index=forward_index)


def conv_zoom(module, x, y, oc=2, oh=5, ow=7):
    """Receptive field of output (0, oc, oh, ow) of a stride-1 conv with padding P."""
    P, P_width = module.padding  # layers hold (PH, PW), as torch's do
    assert P == P_width, "the LeNet-5 zoom assumes square padding"
    KH, KW = module.kernel_size
    padded = np.pad(x[0], ((0, 0), (P, P), (P, P)))
    column = padded[:, oh:oh + KH, ow:ow + KW].ravel()
    return {"kind": "conv_receptive_field", "n": 0, "oc": oc, "oh": oh, "ow": ow,
            "top": oh - P, "left": ow - P, "KH": KH, "KW": KW,
            "column": column.tolist(), "weights": module.weight.data[oc].ravel().tolist(),
            "bias": float(module.bias.data[oc]), "out": float(y[0, oc, oh, ow])}


def pool_zoom(x, channel):
    """The input cell each 2x2 max-pool window of sample 0, `channel` chose."""
    H, W = x.shape[2:]
    cells = []
    for top in range(0, H - 1, 2):
        for left in range(0, W - 1, 2):
            window = x[0, channel, top:top + 2, left:left + 2]
            r, c = np.unravel_index(window.argmax(), window.shape)
            cells.append([top + int(r), left + int(c)])
    return {"kind": "max_pool_argmax", "n": 0, "c": channel, "KH": 2, "KW": 2,
            "stride": [2, 2], "argmax": cells}
