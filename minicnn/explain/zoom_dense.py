"""Zoom into the fully connected layer and the softmax cross-entropy loss. The loss's view
("softmax_cross_entropy") holds p and p - y of the first images for the explorer page."""
import numpy as np

from minicnn.explain.worked import check, g, plain, sum_text, table_lines

VIEW_ROWS = 8  # images whose p and p - y the view holds


def linear(event, a):
    x, W, y = a["x"], a["weight"], a["out"]
    N, IN = x.shape
    OUT = W.shape[0]
    n, o = 0, 0
    bias = a["bias"][o] if "bias" in a else 0.0
    worked = (x[n] * W[o]).sum() + bias
    lines = [f"y = x @ W^T + b: ({N}, {IN}) @ ({IN}, {OUT}) = ({N}, {OUT}); "
             f"FLOPs = 2 * {N} * {IN} * {OUT} = {2 * N * IN * OUT:,}",
             f"y[{n}, {o}] = x[{n}] . W[{o}] + b[{o}]", f"  = {sum_text(x[n], W[o])}",
             f"  = {g((x[n] * W[o]).sum())} + {g(bias)} = {worked:.7g}"]
    checks = [check(f"y[{n}, {o}]", worked, y[n, o], np.abs(x[n] * W[o]).sum() + abs(bias))]
    if "grad_weight" in a:
        gy = a["grad_out"]
        i = int(np.argmax(np.abs(x[n])))  # an input that is not zero (after a ReLU)
        gw = (gy[:, o] * x[:, i]).sum()
        lines += ["backward: gW = gy^T @ x, gx = gy @ W, gb = gy summed over the batch",
                  f"  gW[{o}, {i}] = sum over n of gy[n, {o}] * x[n, {i}]",
                  f"    = {sum_text(gy[:, o], x[:, i])}", f"    = {gw:.7g}"]
        checks.append(check(f"gW[{o}, {i}]", gw, a["grad_weight"][o, i],
                            np.abs(gy[:, o] * x[:, i]).sum()))
        if "grad_x" in a:
            gx = (gy[n] * W[:, i]).sum()
            lines += [f"  gx[{n}, {i}] = sum over o of gy[{n}, o] * W[o, {i}]",
                      f"    = {sum_text(gy[n], W[:, i])}", f"    = {gx:.7g}"]
            checks.append(check(f"gx[{n}, {i}]", gx, a["grad_x"][n, i],
                                np.abs(gy[n] * W[:, i]).sum()))
    return lines, checks, None


def softmax_cross_entropy(event, a):
    z, loss = a["x"], a["out"]
    N, K = z.shape
    labels = event["params"].get("target")
    if labels is None or np.ndim(labels) != 1:
        raise ValueError("zoom: softmax_cross_entropy with probability targets has no labels "
                         "to show; use integer labels")
    shifted = z - z.max(axis=1, keepdims=True)
    probs = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    t = labels[0]
    per_image = -np.log(probs[np.arange(N), labels])
    lines = ["image 0, p = softmax(z) = exp(z - max z) / sum exp(z - max z):",
             *table_lines([("class", range(K)), ("logit z", z[0]), ("p", probs[0])]),
             f"  target class {t}: loss_0 = -log p[{t}] = -log {g(probs[0, t])} = "
             f"{per_image[0]:.7g}",
             f"loss = mean over the {N} images of -log p[label] = {per_image.mean():.7g}"]
    checks = [check("loss", per_image.mean(), loss[()] if loss.ndim == 0 else loss)]
    if "grad_x" in a:
        onehot = np.eye(K)[t]
        grad = (probs[0] - onehot) / N
        lines += [f"backward: dloss/dz = (p - y) / N; image 0, y = one-hot of {t}:",
                  *table_lines([("(p-y)/N", grad)])]
        for k in (t, int(np.argmax(np.where(np.arange(K) == t, -1, probs[0])))):
            checks.append(check(f"gz[0, {k}]", grad[k], a["grad_x"][0, k]))
    rows = min(N, VIEW_ROWS)
    onehots = np.eye(K)[labels[:rows]]
    view = {"kind": "softmax_cross_entropy", "N": N, "y": [int(v) for v in labels[:rows]],
            "p": plain(probs[:rows]), "p_minus_y": plain(probs[:rows] - onehots)}
    return lines, checks, view
