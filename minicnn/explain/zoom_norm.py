"""Zoom into normalisation: BatchNorm's batch statistics, one normalised value, the running
update and the three terms of its backward; LRN's channel window and its sum. The BatchNorm
view ("batch_norm_stats") holds every channel's statistics for the explorer page."""
import numpy as np

from minicnn.explain.worked import check, g, plain


def batch_norm(event, a):
    x, y = a["x"], a["out"]
    p = event["params"]
    eps, momentum, training = p["eps"], p["momentum"], p["training"]
    c = 0
    values = x[:, c]                                    # (N, H, W) or (N,)
    m = values.size
    mean, var = values.mean(), values.var()
    if not training:
        mean, var = a["running_mean"][c], a["running_var"][c]
    gamma = a["weight"][c] if "weight" in a else 1.0
    beta = a["bias"][c] if "bias" in a else 0.0
    index = (0, c) + (0,) * (x.ndim - 2)
    xhat = (x[index] - mean) / np.sqrt(var + eps)
    worked = gamma * xhat + beta
    source = "this batch" if training else "the running statistics (eval mode)"
    lines = [f"channel {c}: statistics of {source} over N*H*W = {m} values",
             f"  mean = sum / {m} = {mean:.7g}",
             f"  variance (biased, / {m}) = {var:.7g}",
             f"element {list(index)}: x = {g(x[index])}",
             f"  x_hat = (x - mean) / sqrt(var + {eps:g}) = ({g(x[index])} - {g(mean)}) / "
             f"{g(np.sqrt(var + eps))} = {xhat:.7g}",
             f"  y = gamma * x_hat + beta = {g(gamma)} * {g(xhat)} + {g(beta)} = {worked:.7g}"]
    checks = [check(f"y{list(index)}", worked, y[index], abs(gamma * xhat) + abs(beta))]
    if training and "running_mean_new" in a:
        lines_r, checks_r = _running_update(a, c, mean, values.var(ddof=1), momentum)
        lines += lines_r
        checks += checks_r
    if "grad_x" in a:
        lines_b, checks_b = _backward(a, c, index, mean, var, eps, gamma, training)
        lines += lines_b
        checks += checks_b
    return lines, checks, _stats_view(a, eps, training)


def _stats_view(a, eps, training):
    """Per channel: the mean and (biased) variance used, gamma and beta."""
    x = a["x"]
    axes = (0,) + tuple(range(2, x.ndim))    # every axis but the channels
    mean = x.mean(axis=axes) if training else a["running_mean"]
    var = x.var(axis=axes) if training else a["running_var"]
    return {"kind": "batch_norm_stats", "source": "batch" if training else "running",
            "eps": eps, "mean": plain(mean), "var": plain(var),
            "gamma": plain(a["weight"]) if "weight" in a else None,
            "beta": plain(a["bias"]) if "bias" in a else None}


def _running_update(a, c, mean, unbiased_var, momentum):
    new_mean = (1 - momentum) * a["running_mean"][c] + momentum * mean
    new_var = (1 - momentum) * a["running_var"][c] + momentum * unbiased_var
    lines = [f"running statistics (momentum {momentum:g}; the variance unbiased, / (m - 1)):",
             f"  running_mean = {1 - momentum:g} * {g(a['running_mean'][c])} + {momentum:g} * "
             f"{g(mean)} = {new_mean:.7g}",
             f"  running_var = {1 - momentum:g} * {g(a['running_var'][c])} + {momentum:g} * "
             f"{g(unbiased_var)} = {new_var:.7g}"]
    return lines, [check(f"running_mean[{c}]", new_mean, a["running_mean_new"][c]),
                   check(f"running_var[{c}]", new_var, a["running_var_new"][c])]


def _backward(a, c, index, mean, var, eps, gamma, training):
    x, gy = a["x"], a["grad_out"][:, c]
    inv_std = 1 / np.sqrt(var + eps)
    xhat = (x[:, c] - mean) * inv_std
    gxhat = gy * gamma
    e = index[1:][1:]  # the element inside channel c: (0, 0) or ()
    first = gxhat[(0,) + e]
    second = gxhat.mean() if training else 0.0
    third = xhat[(0,) + e] * (gxhat * xhat).mean() if training else 0.0
    worked = inv_std * (first - second - third)
    lines = ["backward, with g_hat = gy * gamma (per element):",
             "  gx = (g_hat - mean(g_hat) - x_hat * mean(g_hat * x_hat)) / sqrt(var + eps)",
             f"     = ({g(first)} - {g(second)} - {g(third)}) * {g(inv_std)} = {worked:.7g}",
             "  (the last two terms exist because the batch mean and variance depend on x)"
             if training else "  (eval mode: the statistics are constants, so only g_hat)",
             f"  gamma gradient = sum(gy * x_hat) = {(gy * xhat).sum():.7g}; beta gradient = "
             f"sum(gy) = {gy.sum():.7g}"]
    scale = inv_std * (abs(first) + abs(second) + abs(third))
    checks = [check(f"gx{list(index)}", worked, a["grad_x"][index], scale)]
    if "grad_weight" in a:
        checks.append(check(f"ggamma[{c}]", (gy * xhat).sum(), a["grad_weight"][c],
                            np.abs(gy * xhat).sum()))
    if "grad_bias" in a:
        checks.append(check(f"gbeta[{c}]", gy.sum(), a["grad_bias"][c], np.abs(gy).sum()))
    return lines, checks


def local_response_norm(event, a):
    x, y = a["x"], a["out"]
    p = event["params"]
    size, alpha, beta, k = p["size"], p["alpha"], p["beta"], p["k"]
    C = x.shape[1]
    wanted = x != 0
    if "grad_out" in a:
        wanted &= a["grad_out"] != 0  # an element the gradient flows through, if any
    n, c, i, j = _nearest_centre(wanted if wanted.any() else x != 0)
    low, high = max(0, c - size // 2), min(C - 1, c + (size - 1) // 2)
    window = x[n, low:high + 1, i, j]
    sum_sq = (window * window).sum()
    scale = k + alpha / size * sum_sq
    worked = x[n, c, i, j] / scale ** beta
    lines = [f"size {size}, alpha {alpha:g}, beta {beta:g}, k {k:g}",
             f"element x[{n}, {c}, {i}, {j}] = {g(x[n, c, i, j])}: its channel window is "
             f"{low}..{high}", f"  values {', '.join(g(v) for v in window)}",
             f"  sum of squares = {sum_sq:.7g}",
             f"  scale = k + alpha / size * sum = {k:g} + {alpha / size:g} * {g(sum_sq)} "
             f"= {scale:.7g}",
             f"  y = x / scale^beta = {g(x[n, c, i, j])} / {scale:.7g}^{beta:g} = {worked:.7g}"]
    checks = [check(f"y[{n}, {c}, {i}, {j}]", worked, y[n, c, i, j])]
    if "grad_x" in a:
        column = x[n, :, i, j]                          # every channel at this position
        padded = np.concatenate([np.zeros(size), column ** 2, np.zeros(size)])
        scales = k + alpha / size * np.array(
            [padded[size + d - size // 2:size + d + (size - 1) // 2 + 1].sum() for d in range(C)])
        gy, yc = a["grad_out"][n, :, i, j], y[n, :, i, j]
        users = range(max(0, c - (size - 1) // 2), min(C - 1, c + size // 2) + 1)
        through = sum(gy[d] * yc[d] / scales[d] for d in users)
        direct = gy[c] * scales[c] ** -beta
        worked_g = direct - 2 * alpha * beta / size * x[n, c, i, j] * through
        lines += [f"backward: x[{n}, {c}, {i}, {j}] reaches y directly and through the scale "
                  f"of channels {users[0]}..{users[-1]}",
                  "  gx = gy_c * s_c^-beta - 2 alpha beta / size * x_c * sum(gy_d y_d / s_d)",
                  f"     = {g(direct)} - {g(2 * alpha * beta / size)} * {g(x[n, c, i, j])} * "
                  f"{g(through)} = {worked_g:.7g}"]
        checks.append(check(f"gx[{n}, {c}, {i}, {j}]", worked_g, a["grad_x"][n, c, i, j],
                            abs(direct) + abs(worked_g - direct)))
    return lines, checks, None


def _nearest_centre(mask):
    """(0, c, i, j): the element of image 0 where `mask` holds that is nearest its centre."""
    N, C, H, W = mask.shape
    candidates = sorted((abs(c - C // 2) + abs(i - H // 2) + abs(j - W // 2), c, i, j)
                        for c, i, j in zip(*np.nonzero(mask[0])))
    return (0,) + tuple(candidates[0][1:]) if candidates else (0, C // 2, H // 2, W // 2)
