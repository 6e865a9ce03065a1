"""Reference batch-normalisation kernels (NumPy or CuPy): the formulas, one array op per step.

x is (N, C) or (N, C, H, W); statistics are per channel C over the other axes (M values each).
    forward:  xhat = (x - mean) * inv_std,  y = gamma * xhat + beta
    backward: gbeta = sum(gy),  ggamma = sum(gy * xhat),
              gx = gamma * inv_std * (gy - gbeta / M - xhat * ggamma / M)   (training)
              gx = gamma * inv_std * gy                                      (evaluation)
The training formula is the derivative through the batch mean and variance as well.
batchnorm_numba.py does the same in two passes over memory; it is tested against these.
"""


def channel_view(x):
    """Reduction axes and the (1, C, 1...) broadcast shape of per-channel arrays."""
    axes = (0,) + tuple(range(2, x.ndim))
    return axes, (1, x.shape[1]) + (1,) * (x.ndim - 2)


def batch_norm_stats(x):
    """Per-channel mean and biased variance, each (C,), in x's dtype."""
    axes, _ = channel_view(x)
    return x.mean(axis=axes), x.var(axis=axes)


def batch_norm_forward(x, mean, inv_std, gamma=None, beta=None, need_xhat=True):
    """(xhat, y) for per-channel mean, inv_std (any shape holding C values), gamma, beta;
    xhat is None when need_xhat is False."""
    _, shape = channel_view(x)
    xhat = (x - mean.reshape(shape).astype(x.dtype)) * inv_std.reshape(shape).astype(x.dtype)
    y = xhat if gamma is None else xhat * gamma.reshape(shape)
    return (xhat if need_xhat else None), (y if beta is None else y + beta.reshape(shape))


def batch_norm_backward(gy, xhat, inv_std, gamma=None, training=True, mean=None):
    """(gx, ggamma, gbeta); ggamma and gbeta are (C,). With `mean`, the second argument is the
    input x, normalised here first."""
    if mean is not None:
        xhat = batch_norm_forward(xhat, mean, inv_std)[0]
    axes, shape = channel_view(gy)
    gbeta = gy.sum(axis=axes)
    ggamma = (gy * xhat).sum(axis=axes)
    gxhat = gy if gamma is None else gy * gamma.reshape(shape)
    if training:  # the batch statistics depend on x too
        gxhat = (gxhat - gxhat.mean(axis=axes).reshape(shape)
                 - xhat * (gxhat * xhat).mean(axis=axes).reshape(shape))
    return gxhat * inv_std.reshape(shape), ggamma, gbeta
