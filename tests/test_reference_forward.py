"""Forward results compared with plain nested-loop references written here, not in the engine.

The loops are slow and obvious on purpose: each output element is computed from its definition.
"""
import numpy as np
import pytest

import minicnn
import minicnn.functional as F

from op_cases import CONV_CASES, POOL_CASES


def _pads(padding):
    """int, (PH, PW) or ((PT, PB), (PL, PR)) -> ((PT, PB), (PL, PR))."""
    if isinstance(padding, int):
        return (padding, padding), (padding, padding)
    if isinstance(padding[0], int):
        return (padding[0], padding[0]), (padding[1], padding[1])
    return tuple(padding[0]), tuple(padding[1])


def _pair(value):
    return (value, value) if isinstance(value, int) else tuple(value)


def conv2d_loops(x, w, b, stride, padding, groups):
    """y[n, o, i, j] = b[o] + sum over c in o's group, kh, kw of w[o, c, kh, kw] * xpad[...]."""
    N, C, H, W = x.shape
    OC, Cg, KH, KW = w.shape
    SH, SW = _pair(stride)
    (PT, PB), (PL, PR) = _pads(padding)
    xpad = np.zeros((N, C, H + PT + PB, W + PL + PR))
    xpad[:, :, PT:PT + H, PL:PL + W] = x
    OH = (H + PT + PB - KH) // SH + 1
    OW = (W + PL + PR - KW) // SW + 1
    out_per_group = OC // groups
    y = np.zeros((N, OC, OH, OW))
    for n in range(N):
        for o in range(OC):
            first_channel = (o // out_per_group) * Cg
            for i in range(OH):
                for j in range(OW):
                    total = 0.0 if b is None else b[o]
                    for c in range(Cg):
                        for kh in range(KH):
                            for kw in range(KW):
                                total += (w[o, c, kh, kw]
                                          * xpad[n, first_channel + c, i * SH + kh, j * SW + kw])
                    y[n, o, i, j] = total
    return y


def pool2d_loops(x, kernel, stride, padding, mode, count_include_pad=True):
    """Max or average over each window; padded cells are -inf for max and 0 for average."""
    N, C, H, W = x.shape
    KH, KW = _pair(kernel)
    SH, SW = _pair(stride if stride is not None else kernel)
    (PT, PB), (PL, PR) = _pads(padding)
    OH = (H + PT + PB - KH) // SH + 1
    OW = (W + PL + PR - KW) // SW + 1
    y = np.zeros((N, C, OH, OW))
    for n in range(N):
        for c in range(C):
            for i in range(OH):
                for j in range(OW):
                    values, cells = [], 0
                    for kh in range(KH):
                        for kw in range(KW):
                            row, col = i * SH + kh - PT, j * SW + kw - PL
                            cells += 1
                            if 0 <= row < H and 0 <= col < W:
                                values.append(x[n, c, row, col])
                    if mode == "max":
                        y[n, c, i, j] = max(values)
                    else:
                        y[n, c, i, j] = sum(values) / (cells if count_include_pad else len(values))
    return y


@pytest.mark.parametrize("name", sorted(CONV_CASES))
def test_conv2d_matches_nested_loops(kernels, rng, name):
    x_shape, (OC, KH, KW), stride, padding, groups, bias = CONV_CASES[name]
    x = rng.standard_normal(x_shape)
    w = rng.standard_normal((OC, x_shape[1] // groups, KH, KW))
    b = rng.standard_normal(OC) if bias else None
    y = F.conv2d(minicnn.Tensor(x), minicnn.Tensor(w), None if b is None else minicnn.Tensor(b),
                 stride=stride, padding=padding, groups=groups)
    expected = conv2d_loops(x, w, b, stride, padding, groups)
    assert y.shape == expected.shape
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-10, atol=1e-12)


def test_conv2d_float32_matches_nested_loops(kernels, rng):
    x = rng.standard_normal((2, 3, 6, 5)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    y = F.conv2d(minicnn.Tensor(x), minicnn.Tensor(w), stride=2, padding=1)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.numpy(), conv2d_loops(x, w, None, 2, 1, 1), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", sorted(POOL_CASES))
def test_max_pool2d_matches_nested_loops(kernels, rng, name):
    shape, kernel, stride, padding = POOL_CASES[name]
    x = rng.standard_normal(shape) - 3.0  # mostly negative: a zero-padded max would be caught
    y = F.max_pool2d(minicnn.Tensor(x), kernel, stride, padding)
    expected = pool2d_loops(x, kernel, stride, padding, "max")
    assert y.shape == expected.shape
    np.testing.assert_array_equal(y.numpy(), expected)


@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("name", sorted(POOL_CASES))
def test_avg_pool2d_matches_nested_loops(kernels, rng, name, count_include_pad):
    shape, kernel, stride, padding = POOL_CASES[name]
    x = rng.standard_normal(shape) + 2.0
    y = F.avg_pool2d(minicnn.Tensor(x), kernel, stride, padding,
                     count_include_pad=count_include_pad)
    expected = pool2d_loops(x, kernel, stride, padding, "avg", count_include_pad)
    assert y.shape == expected.shape
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-12)


def test_avg_pool2d_count_include_pad_changes_border_cells(rng):
    x = rng.uniform(1.0, 2.0, (1, 2, 4, 4))
    with_pad = F.avg_pool2d(minicnn.Tensor(x), 3, 1, 1, count_include_pad=True).numpy()
    without_pad = F.avg_pool2d(minicnn.Tensor(x), 3, 1, 1, count_include_pad=False).numpy()
    corner_cells = x[:, :, :2, :2]
    np.testing.assert_allclose(with_pad[:, :, 0, 0], corner_cells.sum(axis=(2, 3)) / 9)
    np.testing.assert_allclose(without_pad[:, :, 0, 0], corner_cells.sum(axis=(2, 3)) / 4)
    np.testing.assert_allclose(with_pad[:, :, 1:3, 1:3], without_pad[:, :, 1:3, 1:3])


@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (1, 7, 1, 1), (3, 2, 6, 2)])
def test_global_pools_match_loops(kernels, rng, shape):
    x = rng.standard_normal(shape)
    N, C = shape[:2]
    expected_avg = np.array([[np.mean(list(x[n, c].flat)) for c in range(C)] for n in range(N)])
    expected_max = np.array([[max(x[n, c].flat) for c in range(C)] for n in range(N)])
    avg = F.global_avg_pool2d(minicnn.Tensor(x))
    mx = F.global_max_pool2d(minicnn.Tensor(x))
    assert avg.shape == (N, C) and mx.shape == (N, C)
    np.testing.assert_allclose(avg.numpy(), expected_avg, rtol=1e-12)
    np.testing.assert_array_equal(mx.numpy(), expected_max)


def lrn_loops(x, size, alpha, beta, k):
    """PyTorch's LRN: x[c] / (k + alpha/size * sum of x[c']^2 over c' in a window)^beta.

    The window for channel c is c - size//2 .. c + (size-1)//2, clipped to the valid channels.
    """
    N, C, H, W = x.shape
    y = np.zeros_like(x)
    for n in range(N):
        for c in range(C):
            low, high = max(0, c - size // 2), min(C - 1, c + (size - 1) // 2)
            for i in range(H):
                for j in range(W):
                    square_sum = sum(x[n, cc, i, j] ** 2 for cc in range(low, high + 1))
                    y[n, c, i, j] = x[n, c, i, j] / (k + alpha / size * square_sum) ** beta
    return y


LRN_CASES = [((2, 7, 3, 3), 5, 1.0, 0.75, 2.0), ((1, 6, 2, 4), 2, 0.5, 0.75, 1.0),
             ((2, 4, 2, 2), 5, 1e-4, 0.75, 2.0), ((1, 3, 2, 3), 7, 2.0, 1.5, 0.5)]


@pytest.mark.parametrize("shape, size, alpha, beta, k", LRN_CASES)
def test_local_response_norm_matches_loops(rng, shape, size, alpha, beta, k):
    x = rng.standard_normal(shape) * 3.0
    y = F.local_response_norm(minicnn.Tensor(x), size, alpha, beta, k)
    np.testing.assert_allclose(y.numpy(), lrn_loops(x, size, alpha, beta, k), rtol=1e-12)


@pytest.mark.parametrize("shape, size, alpha, beta, k", LRN_CASES)
def test_local_response_norm_matches_pytorch(rng, shape, size, alpha, beta, k):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal(shape) * 3.0
    y = F.local_response_norm(minicnn.Tensor(x), size, alpha, beta, k)
    expected = torch.nn.functional.local_response_norm(torch.from_numpy(x), size, alpha, beta, k)
    np.testing.assert_allclose(y.numpy(), expected.numpy(), rtol=1e-10)


# --- batch norm: the normalisation and the running statistics ---------------------------------

@pytest.mark.parametrize("shape", [(5, 3), (4, 3, 2, 3), (1, 2, 3, 3)])
def test_batch_norm_training_normalises_with_biased_variance(rng, shape):
    C = shape[1]
    x = rng.standard_normal(shape) * 2.0 + 1.0
    gamma, beta = rng.standard_normal(C), rng.standard_normal(C)
    eps = 1e-5
    axes = (0,) if len(shape) == 2 else (0, 2, 3)
    keep = (1, C) if len(shape) == 2 else (1, C, 1, 1)
    y = F.batch_norm(minicnn.Tensor(x), minicnn.Tensor(gamma), minicnn.Tensor(beta),
                     np.zeros(C), np.ones(C), training=True, eps=eps)
    mean = x.mean(axis=axes).reshape(keep)
    biased_var = ((x - mean) ** 2).mean(axis=axes).reshape(keep)
    expected = gamma.reshape(keep) * (x - mean) / np.sqrt(biased_var + eps) + beta.reshape(keep)
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("shape", [(5, 3), (4, 3, 2, 3)])
@pytest.mark.parametrize("momentum", [0.1, 0.3])
def test_batch_norm_running_stats_use_unbiased_variance(rng, shape, momentum):
    C = shape[1]
    axes = (0,) if len(shape) == 2 else (0, 2, 3)
    running_mean = rng.standard_normal(C)
    running_var = rng.uniform(0.5, 2.0, C)
    expected_mean, expected_var = running_mean.copy(), running_var.copy()
    for step in range(3):  # several steps: the update must compound, in place
        x = rng.standard_normal(shape) * (step + 1.0) + step
        F.batch_norm(minicnn.Tensor(x), minicnn.Tensor(np.ones(C)), minicnn.Tensor(np.zeros(C)),
                     running_mean, running_var, training=True, momentum=momentum)
        count = x.size // C
        batch_mean = x.mean(axis=axes)
        unbiased_var = ((x - x.mean(axis=axes, keepdims=True)) ** 2).sum(axis=axes) / (count - 1)
        expected_mean = (1 - momentum) * expected_mean + momentum * batch_mean
        expected_var = (1 - momentum) * expected_var + momentum * unbiased_var
        np.testing.assert_allclose(running_mean, expected_mean, rtol=1e-12)
        np.testing.assert_allclose(running_var, expected_var, rtol=1e-12)


def test_batch_norm_eval_uses_running_stats(rng):
    x = rng.standard_normal((3, 2, 2, 2))
    gamma, beta = np.array([1.5, -0.5]), np.array([0.1, 0.2])
    running_mean, running_var = np.array([0.3, -1.0]), np.array([2.0, 0.5])
    eps = 1e-3
    y = F.batch_norm(minicnn.Tensor(x), minicnn.Tensor(gamma), minicnn.Tensor(beta),
                     running_mean, running_var, training=False, eps=eps)
    shape = (1, 2, 1, 1)
    expected = (gamma.reshape(shape) * (x - running_mean.reshape(shape))
                / np.sqrt(running_var.reshape(shape) + eps) + beta.reshape(shape))
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-12)


def test_batch_norm_matches_pytorch_training_and_running_stats(rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((4, 3, 3, 2))
    gamma, beta = rng.standard_normal(3), rng.standard_normal(3)
    ours_mean, ours_var = np.zeros(3), np.ones(3)
    theirs_mean = torch.zeros(3, dtype=torch.float64)
    theirs_var = torch.ones(3, dtype=torch.float64)
    y = F.batch_norm(minicnn.Tensor(x), minicnn.Tensor(gamma), minicnn.Tensor(beta),
                     ours_mean, ours_var, training=True, momentum=0.1, eps=1e-5)
    expected = torch.nn.functional.batch_norm(
        torch.from_numpy(x), theirs_mean, theirs_var, torch.from_numpy(gamma),
        torch.from_numpy(beta), training=True, momentum=0.1, eps=1e-5)
    np.testing.assert_allclose(y.numpy(), expected.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ours_mean, theirs_mean.numpy(), rtol=1e-12)
    np.testing.assert_allclose(ours_var, theirs_var.numpy(), rtol=1e-12)


# --- dropout, softmax, cross-entropy ----------------------------------------------------------

@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_dropout_is_inverted_and_drops_about_p(p):
    minicnn.manual_seed(0)
    x = np.ones((200, 100))
    y = F.dropout(minicnn.Tensor(x), p=p, training=True).numpy()
    kept = y != 0
    np.testing.assert_allclose(y[kept], 1.0 / (1.0 - p), rtol=1e-12)
    assert abs(1.0 - kept.mean() - p) < 0.02  # 20000 draws: 4+ standard deviations of slack


def test_dropout_masks_follow_the_seed():
    x = minicnn.Tensor(np.ones((10, 10)))
    minicnn.manual_seed(3)
    first = F.dropout(x, 0.5).numpy()
    second = F.dropout(x, 0.5).numpy()
    minicnn.manual_seed(3)
    again = F.dropout(x, 0.5).numpy()
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, second)


def test_softmax_and_cross_entropy_values(rng):
    z = rng.standard_normal((4, 5)) * 3.0
    probs = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(F.softmax(minicnn.Tensor(z)).numpy(), probs, rtol=1e-12)
    np.testing.assert_allclose(F.log_softmax(minicnn.Tensor(z)).numpy(), np.log(probs), rtol=1e-12)
    probs0 = np.exp(z) / np.exp(z).sum(axis=0, keepdims=True)
    np.testing.assert_allclose(F.softmax(minicnn.Tensor(z), axis=0).numpy(), probs0, rtol=1e-12)
    labels = np.array([4, 0, 2, 2])
    expected = -np.mean(np.log(probs[np.arange(4), labels]))
    loss = F.softmax_cross_entropy(minicnn.Tensor(z), labels)
    assert loss.shape == () or loss.size == 1
    np.testing.assert_allclose(loss.item(), expected, rtol=1e-12)
    soft = rng.dirichlet(np.ones(5), size=4)
    expected_soft = -np.mean((soft * np.log(probs)).sum(axis=1))
    np.testing.assert_allclose(F.softmax_cross_entropy(minicnn.Tensor(z), soft).item(),
                               expected_soft, rtol=1e-12)


def test_linear_matches_matrix_product(rng):
    x, w, b = rng.standard_normal((3, 5)), rng.standard_normal((4, 5)), rng.standard_normal(4)
    y = F.linear(minicnn.Tensor(x), minicnn.Tensor(w), minicnn.Tensor(b))
    expected = np.array([[sum(x[n, i] * w[o, i] for i in range(5)) + b[o] for o in range(4)]
                         for n in range(3)])
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-12)
