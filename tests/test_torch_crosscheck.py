"""Ops at realistic sizes, forward and backward, against PyTorch (skipped without torch).

The gradient checks use tiny tensors; bugs that only show at larger sizes (parallel loop
chunking in the numba kernels, many output positions, many channels) are caught here instead.
Both kernel paths run (the `kernels` fixture), in float32 and float64.
"""
import numpy as np
import pytest

import minicnn
import minicnn.functional as F

torch = pytest.importorskip("torch")

TOLERANCE = {np.float32: dict(rtol=2e-4, atol=2e-5), np.float64: dict(rtol=1e-10, atol=1e-12)}


def _pair_of_tensors(rng, shape, dtype):
    data = rng.standard_normal(shape).astype(dtype)
    return minicnn.Tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)


def _backward_both(ours, theirs, rng):
    upstream = rng.standard_normal(ours.shape).astype(ours.dtype)
    ours.backward(upstream)
    theirs.backward(torch.from_numpy(upstream))


def _close(ours, theirs, dtype, scale=1.0):
    tol = TOLERANCE[dtype]
    np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=tol["rtol"],
                               atol=tol["atol"] * scale)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("x_shape, w_shape, stride, padding, groups", [
    ((4, 6, 15, 17), (10, 3, 3, 3), 2, 1, 2),
    ((3, 5, 16, 16), (7, 5, 5, 5), 1, 2, 1),
    ((2, 3, 35, 35), (8, 3, 11, 11), 4, 2, 1),      # AlexNet's first layer, scaled down
    ((5, 8, 9, 10), (12, 8, 1, 1), 1, 0, 1),        # NiN / GoogLeNet 1x1
    ((2, 4, 12, 11), (6, 4, 3, 3), (1, 2), (1, 0), 1),
])
def test_conv2d_forward_and_backward_match_pytorch(kernels, rng, dtype, x_shape, w_shape, stride,
                                                    padding, groups):
    x, tx = _pair_of_tensors(rng, x_shape, dtype)
    w, tw = _pair_of_tensors(rng, w_shape, dtype)
    b, tb = _pair_of_tensors(rng, (w_shape[0],), dtype)
    y = F.conv2d(x, w, b, stride=stride, padding=padding, groups=groups)
    ty = torch.nn.functional.conv2d(tx, tw, tb, stride=stride, padding=padding, groups=groups)
    assert y.dtype == dtype
    _close(y.numpy(), ty, dtype, scale=10)
    _backward_both(y, ty, rng)
    fan = w_shape[1] * w_shape[2] * w_shape[3]
    _close(x.grad, tx.grad, dtype, scale=10)
    _close(w.grad, tw.grad, dtype, scale=fan)  # a sum over N*OH*OW products
    _close(b.grad, tb.grad, dtype, scale=fan)


def test_conv2d_asymmetric_padding_matches_pytorch_on_a_padded_input(kernels, rng):
    x, tx = _pair_of_tensors(rng, (2, 3, 10, 9), np.float64)
    w, tw = _pair_of_tensors(rng, (4, 3, 4, 4), np.float64)
    y = F.conv2d(x, w, stride=2, padding=((1, 2), (2, 1)))
    ty = torch.nn.functional.conv2d(torch.nn.functional.pad(tx, (2, 1, 1, 2)), tw, stride=2)
    _close(y.numpy(), ty, np.float64)
    _backward_both(y, ty, rng)
    _close(x.grad, tx.grad, np.float64)
    _close(w.grad, tw.grad, np.float64)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kernel, stride, padding", [(3, 2, 0), (3, 2, 1), (2, 2, 0), (5, 3, 2)])
def test_pools_forward_and_backward_match_pytorch(kernels, rng, dtype, kernel, stride, padding):
    for mode in ("max", "avg_include_pad", "avg_exclude_pad"):
        x, tx = _pair_of_tensors(rng, (3, 5, 17, 14), dtype)
        if mode == "max":
            y = F.max_pool2d(x, kernel, stride, padding)
            ty = torch.nn.functional.max_pool2d(tx, kernel, stride, padding)
        else:
            include = mode == "avg_include_pad"
            y = F.avg_pool2d(x, kernel, stride, padding, count_include_pad=include)
            ty = torch.nn.functional.avg_pool2d(tx, kernel, stride, padding,
                                                count_include_pad=include)
        _close(y.numpy(), ty, dtype)
        _backward_both(y, ty, rng)
        _close(x.grad, tx.grad, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_global_pools_and_lrn_match_pytorch(kernels, rng, dtype):
    x, tx = _pair_of_tensors(rng, (4, 9, 6, 7), dtype)
    y = F.global_avg_pool2d(x)
    ty = tx.mean(dim=(2, 3))
    _close(y.numpy(), ty, dtype)
    _backward_both(y, ty, rng)
    _close(x.grad, tx.grad, dtype)

    x, tx = _pair_of_tensors(rng, (4, 9, 6, 7), dtype)
    y = F.global_max_pool2d(x)
    ty = tx.amax(dim=(2, 3))
    _close(y.numpy(), ty, dtype)
    _backward_both(y, ty, rng)
    _close(x.grad, tx.grad, dtype)

    x, tx = _pair_of_tensors(rng, (3, 10, 5, 6), dtype)
    y = F.local_response_norm(x, 5, alpha=0.5, beta=0.75, k=2.0)
    ty = torch.nn.functional.local_response_norm(tx, 5, alpha=0.5, beta=0.75, k=2.0)
    _close(y.numpy(), ty, dtype)
    _backward_both(y, ty, rng)
    _close(x.grad, tx.grad, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(16, 12), (8, 6, 7, 5)])
def test_batch_norm_training_backward_matches_pytorch(rng, dtype, shape):
    C = shape[1]
    x, tx = _pair_of_tensors(rng, shape, dtype)
    gamma, tgamma = _pair_of_tensors(rng, (C,), dtype)
    beta, tbeta = _pair_of_tensors(rng, (C,), dtype)
    running = [np.zeros(C, dtype=dtype), np.ones(C, dtype=dtype)]
    trunning = [torch.zeros(C, dtype=tx.dtype), torch.ones(C, dtype=tx.dtype)]
    y = F.batch_norm(x, gamma, beta, running[0], running[1], training=True)
    ty = torch.nn.functional.batch_norm(tx, trunning[0], trunning[1], tgamma, tbeta,
                                        training=True)
    _close(y.numpy(), ty, dtype, scale=10)
    _backward_both(y, ty, rng)
    for ours, theirs in ((x, tx), (gamma, tgamma), (beta, tbeta)):
        _close(ours.grad, theirs.grad, dtype, scale=10)
    for ours, theirs in zip(running, trunning):
        _close(ours, theirs, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_cross_entropy_matches_pytorch(rng, dtype):
    logits, tlogits = _pair_of_tensors(rng, (32, 10), dtype)
    labels = rng.integers(0, 10, size=32)
    loss = F.softmax_cross_entropy(logits, labels)
    tloss = torch.nn.functional.cross_entropy(tlogits, torch.from_numpy(labels))
    _close(np.array(loss.item()), tloss, dtype)
    loss.backward()
    tloss.backward()
    _close(logits.grad, tlogits.grad, dtype)
