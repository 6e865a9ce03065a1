"""Every differentiable op once, beside its PyTorch twin: the table the conformance tests sweep.

Each case is `make(rng, N) -> (inputs, ours, theirs)`: `inputs` are float64 arrays (the first
is the data x, of batch N, the others parameters), `ours(*tensors)` applies the minicnn op to
minicnn Tensors and `theirs(*tensors)` the torch op to torch tensors. The NaN, infinity,
empty-batch and second-backward tests run every case, so a new op added here is checked for all
of them at once.
"""
import numpy as np

import minicnn.functional as F


def _tf():
    import torch.nn.functional as tf  # imported late: the table must load without torch
    return tf


def _unary(shape, ours, theirs):
    def make(rng, N):
        return [rng.standard_normal((N,) + shape)], ours, theirs
    return make


def _conv(C, OC, K, stride, padding, groups):
    def make(rng, N):
        x = rng.standard_normal((N, C, 6, 5))
        W = rng.standard_normal((OC, C // groups, K, K))
        b = rng.standard_normal(OC)
        return ([x, W, b],
                lambda x, W, b: F.conv2d(x, W, b, stride, padding, groups),
                lambda x, W, b: _tf().conv2d(x, W, b, stride, padding, groups=groups))
    return make


def _linear(rng, N):
    return ([rng.standard_normal((N, 5)), rng.standard_normal((3, 5)), rng.standard_normal(3)],
            F.linear, lambda x, W, b: _tf().linear(x, W, b))


def _batch_norm(training):
    def make(rng, N):
        mean, var = rng.standard_normal(3), rng.uniform(0.5, 2.0, 3)
        inputs = [rng.standard_normal((N, 3, 4, 4)), rng.standard_normal(3),
                  rng.standard_normal(3)]

        def ours(x, gamma, beta):
            return F.batch_norm(x, gamma, beta, mean.copy(), var.copy(), training)

        def theirs(x, gamma, beta):
            import torch
            return _tf().batch_norm(x, torch.tensor(mean), torch.tensor(var), gamma, beta,
                                    training)
        return inputs, ours, theirs
    return make


def _cross_entropy(rng, N):
    labels = rng.integers(0, 5, N)

    def theirs(z):
        import torch
        return _tf().cross_entropy(z, torch.tensor(labels))
    return [rng.standard_normal((N, 5))], lambda z: F.softmax_cross_entropy(z, labels), theirs


def _binary(ours, theirs):
    def make(rng, N):
        return [rng.standard_normal((N, 3)), rng.uniform(0.5, 2.0, 3)], ours, theirs
    return make


def _concat(rng, N):
    def theirs(a, b):
        import torch
        return torch.cat([a, b], 1)
    return ([rng.standard_normal((N, 2, 3)), rng.standard_normal((N, 4, 3))],
            lambda a, b: F.concat([a, b], axis=1), theirs)


CASES = {
    "relu": _unary((3, 4), F.relu, lambda x: _tf().relu(x)),
    "sigmoid": _unary((3, 4), F.sigmoid, lambda x: x.sigmoid()),
    "tanh": _unary((3, 4), F.tanh, lambda x: x.tanh()),
    "exp": _unary((3, 4), F.exp, lambda x: x.exp()),
    "neg": _unary((3, 4), F.neg, lambda x: -x),
    "pow": _unary((3, 4), lambda x: x ** 2.0, lambda x: x ** 2.0),
    "sum": _unary((3, 4), lambda x: F.sum(x, axis=1), lambda x: x.sum(1)),
    "mean": _unary((3, 4), lambda x: F.mean(x, axis=-1), lambda x: x.mean(-1)),
    "reshape": _unary((3, 4), lambda x: F.reshape(x, (-1, 2, 6)), lambda x: x.reshape(-1, 2, 6)),
    "transpose": _unary((3, 4), lambda x: F.transpose(x, (2, 0, -2)),
                        lambda x: x.permute(2, 0, 1)),
    "getitem": _unary((3, 4), lambda x: x[:, 1:, ::2], lambda x: x[:, 1:, ::2]),
    "flatten": _unary((2, 3, 2), F.flatten, lambda x: x.flatten(1)),
    "softmax": _unary((5,), F.softmax, lambda x: x.softmax(-1)),
    "log_softmax": _unary((5,), F.log_softmax, lambda x: x.log_softmax(-1)),
    "softmax_cross_entropy": _cross_entropy,
    "add": _binary(F.add, lambda a, b: a + b),
    "sub": _binary(F.sub, lambda a, b: a - b),
    "mul": _binary(F.mul, lambda a, b: a * b),
    "div": _binary(F.div, lambda a, b: a / b),
    "matmul": lambda rng, N: ([rng.standard_normal((N, 4)), rng.standard_normal((4, 3))],
                              F.matmul, lambda a, b: a @ b),
    "concat": _concat,
    "linear": _linear,
    "conv2d": _conv(3, 4, 3, 1, 1, 1),
    "conv2d_grouped_strided": _conv(4, 6, 3, 2, 1, 2),
    "max_pool2d": _unary((2, 6, 5), lambda x: F.max_pool2d(x, 2),
                         lambda x: _tf().max_pool2d(x, 2)),
    "max_pool2d_padded": _unary((2, 6, 5), lambda x: F.max_pool2d(x, 3, 2, 1),
                                lambda x: _tf().max_pool2d(x, 3, 2, 1)),
    "avg_pool2d": _unary((2, 6, 5), lambda x: F.avg_pool2d(x, 2),
                         lambda x: _tf().avg_pool2d(x, 2)),
    "avg_pool2d_exclude_pad": _unary(
        (2, 6, 5), lambda x: F.avg_pool2d(x, 3, 1, 1, count_include_pad=False),
        lambda x: _tf().avg_pool2d(x, 3, 1, 1, count_include_pad=False)),
    "global_avg_pool2d": _unary((2, 3, 4), F.global_avg_pool2d, lambda x: x.mean((2, 3))),
    "global_max_pool2d": _unary((2, 3, 4), F.global_max_pool2d,
                                lambda x: _tf().adaptive_max_pool2d(x, 1).flatten(1)),
    "local_response_norm": _unary((6, 3, 2), lambda x: F.local_response_norm(x, 3, 0.1, 0.75, 1.5),
                                  lambda x: _tf().local_response_norm(x, 3, 0.1, 0.75, 1.5)),
    "batch_norm_train": _batch_norm(training=True),
    "batch_norm_eval": _batch_norm(training=False),
}

# Ops without a batch axis to empty, or that cannot run on one (torch refuses too).
NOT_BATCHED = {"batch_norm_train"}  # batch statistics of nothing: both libraries raise


def as_numpy(value):
    return np.asarray(value.detach().numpy() if hasattr(value, "detach") else value)
