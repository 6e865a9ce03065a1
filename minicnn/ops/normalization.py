"""Batch normalisation and local response normalisation."""
from minicnn import backend, kernels
from minicnn.core import Function, Tensor
from minicnn.errors import ShapeError
from minicnn.ops.utils import as_int, check_nchw


class BatchNorm(Function):
    """y = gamma * (x - mean) / sqrt(var + eps) + beta, per channel.

    Training uses the batch's mean and *biased* variance and updates the running arrays in place
    with the *unbiased* variance (PyTorch's convention):
        running = (1 - momentum) * running + momentum * batch_statistic
    Evaluation uses the running arrays. Keras's BatchNormalization momentum is 1 - this momentum.
    """
    name = "batch_norm"

    def __init__(self, running_mean, running_var, training, momentum, eps):
        self.running_mean, self.running_var = running_mean, running_var
        self.training, self.momentum, self.eps = training, momentum, eps

    def forward(self, x, gamma=None, beta=None):
        xp = backend.get_array_module(x)
        _, shape = _channel_axes(x)
        _check_channel_arrays(x, gamma=gamma, beta=beta, running_mean=self.running_mean,
                              running_var=self.running_var)
        if self.training:
            count = x.size // x.shape[1]
            if count < 2:
                raise ShapeError(f"batch_norm: training needs more than one value per channel, "
                                 f"got input {x.shape}; use a batch > 1 or call model.eval()")
            mean, var = kernels.batch_norm_stats(x)
            self._update_running(mean, var * (count / (count - 1)))
        else:
            mean, var = self.running_mean, self.running_var
        self.inv_std = (1.0 / xp.sqrt(var + self.eps)).astype(x.dtype).reshape(shape)
        self.gamma = gamma
        # keep x (the graph holds it anyway) and the (C,) statistics, not a full-size xhat:
        # a ResNet-18 step kept one more feature map per BatchNorm that way (~20% of its peak)
        self.x, self.mean = x, xp.array(mean, copy=True)
        _, y = kernels.batch_norm_forward(x, mean, self.inv_std, gamma, beta, need_xhat=False)
        return y

    def backward(self, gy):
        # formulas in kernels/batchnorm.py (training: through the batch statistics too)
        return kernels.batch_norm_backward(gy, self.x, self.inv_std, self.gamma, self.training,
                                           mean=self.mean)

    def _update_running(self, mean, unbiased_var):
        m = self.momentum
        if self.running_mean is not None:
            self.running_mean *= 1 - m
            self.running_mean += m * mean.astype(self.running_mean.dtype)
        if self.running_var is not None:
            self.running_var *= 1 - m
            self.running_var += m * unbiased_var.astype(self.running_var.dtype)


def _channel_axes(x):
    """Reduction axes and broadcast shape for (N, C) or (N, C, H, W) input."""
    if x.ndim == 2:
        axes, shape = (0,), (1, x.shape[1])
    elif x.ndim == 4:
        axes, shape = (0, 2, 3), (1, x.shape[1], 1, 1)
    else:
        raise ShapeError(f"batch_norm: expected (N, C) or (N, C, H, W) input, got {x.shape}")
    return axes, shape


def _check_channel_arrays(x, **arrays):
    """Each per-channel array (gamma, beta, running statistics) must have shape (C,)."""
    for name, array in arrays.items():
        if array is not None and array.shape != (x.shape[1],):
            raise ShapeError(f"batch_norm: input {x.shape} has {x.shape[1]} channels but "
                             f"{name} has shape {array.shape}")


def batch_norm(x, gamma, beta, running_mean, running_var, training, momentum=0.1, eps=1e-5):
    """Batch normalisation over (N, C) or (N, C, H, W); statistics per channel C.

    Args:
        x: (N, C) or (N, C, H, W).
        gamma, beta: (C,) scale and shift (Tensors), or None.
        running_mean, running_var: (C,) arrays (or Tensors), updated in place when training;
            may be None in training mode.
        training: normalise with batch statistics (True) or the running ones (False).
        momentum: weight of the new batch in the running averages (PyTorch's convention;
            Keras's momentum = 1 - momentum).
    """
    if isinstance(running_mean, Tensor):
        running_mean = running_mean.data
    if isinstance(running_var, Tensor):
        running_var = running_var.data
    if not training and (running_mean is None or running_var is None):
        raise ValueError("batch_norm: evaluation mode needs running_mean and running_var")
    return BatchNorm(running_mean, running_var, training, momentum, eps)(x, gamma, beta)


class LocalResponseNorm(Function):
    """b_c = a_c / (k + alpha/size * sum_{c' near c} a_c'^2) ** beta (AlexNet section 3.3).

    The window is channels [c - size//2, c + (size-1)//2], as in PyTorch; the formulas of the
    backward are in kernels/lrn.py.
    """
    name = "local_response_norm"

    def __init__(self, size, alpha, beta, k):
        size = as_int(size, self.name, "size", minimum=1)
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, x):
        check_nchw(self.op_name, x)
        self.x = x
        self.y, self.scale = kernels.lrn_forward(x, self.size, self.alpha, self.beta, self.k)
        return self.y

    def backward(self, gy):
        return kernels.lrn_backward(gy, self.x, self.y, self.scale, self.size, self.alpha,
                                    self.beta)


def local_response_norm(x, size=5, alpha=1e-4, beta=0.75, k=2.0):
    """Local response normalisation across channels, PyTorch's convention.

    x (N, C, H, W) -> same shape. TensorFlow's tf.nn.local_response_normalization(depth_radius=r,
    bias, alpha, beta) sums a window of 2r+1 channels *without* dividing by its size, so it equals
    this function with size = 2r + 1, k = bias, alpha = alpha_tf * size, beta = beta.
    AlexNet's paper values (n=5, k=2, alpha=1e-4, beta=0.75) are stated in TensorFlow's form:
    use alpha = 5e-4 here to reproduce them exactly.
    """
    return LocalResponseNorm(size, alpha, beta, k)(x)
