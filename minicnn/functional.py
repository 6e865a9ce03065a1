"""Every differentiable op as a function: `import minicnn.functional as F`.

Each name here is a thin wrapper around a `Function` subclass in `minicnn.ops`; read the op's
module to see its forward and backward side by side.
"""
from minicnn.ops.activation import relu, sigmoid, tanh
from minicnn.ops.basic import (
                               add,
                               concat,
                               div,
                               exp,
                               flatten,
                               getitem,
                               log,
                               matmul,
                               mean,
                               mul,
                               neg,
                               pow,
                               reshape,
                               sub,
                               sum,
                               transpose,
)
from minicnn.ops.conv import conv2d
from minicnn.ops.dropout import dropout
from minicnn.ops.linear import linear
from minicnn.ops.loss import log_softmax, softmax, softmax_cross_entropy
from minicnn.ops.normalization import batch_norm, local_response_norm
from minicnn.ops.pooling import avg_pool2d, global_avg_pool2d, global_max_pool2d, max_pool2d

__all__ = [
    "add", "sub", "mul", "div", "neg", "pow", "exp", "log", "matmul", "sum", "mean", "reshape",
    "transpose", "getitem", "concat", "flatten",
    "conv2d", "max_pool2d", "avg_pool2d", "global_avg_pool2d", "global_max_pool2d",
    "local_response_norm", "batch_norm",
    "relu", "sigmoid", "tanh", "dropout", "linear",
    "softmax", "log_softmax", "softmax_cross_entropy",
]
