"""Zoom into conv2d: im2col, one receptive field and its column, the GEMM, the backward's
three products, and one weight-gradient element, all with the step's numbers. The view
("conv_receptive_field") holds that receptive field and its column for the explorer page."""
import numpy as np

from minicnn.explain.worked import check, g, plain, sum_text, values_text


def conv2d(event, a):
    x, W, y = a["x"], a["weight"], a["out"]
    N, C, H, Wd = x.shape
    OC, Cg, KH, KW = W.shape
    OH, OW = y.shape[2:]
    SH, SW = event["params"]["stride"]
    PT, PB, PL, PR = event["params"]["padding"]
    G = event["params"].get("groups", 1)
    xpad = np.pad(x, ((0, 0), (0, 0), (PT, PB), (PL, PR)))
    rows, cols = Cg * KH * KW, N * OH * OW  # col's shape, as minicnn.kernels.im2col builds it
    per_group = " per group" if G > 1 else ""
    lines = [f"x {x.shape} * weight {W.shape}, stride ({SH}, {SW}), groups {G}",
             f"padding (top, bottom, left, right) ({PT}, {PB}, {PL}, {PR})",
             f"im2col: each of the N*OH*OW = {N}*{OH}*{OW} = {cols} output positions gets one "
             f"column holding", f"  its C*KH*KW = {Cg}*{KH}*{KW} = {rows} input values: col is "
             f"({rows}, {cols})" + (f" per group ({G} groups)" if G > 1 else ""),
             f"GEMM: W2 ({OC // G}, {rows}) @ col ({rows}, {cols}) = ({OC // G}, {cols})"
             + per_group + f", reshaped to (N, OC, OH, OW) = {y.shape}",
             f"  FLOPs = 2 * {OC} * {rows} * {cols} = {2 * rows * cols * OC:,}"]
    n, o, i, j = 0, 0, OH // 2, OW // 2
    group = o // (OC // G)
    window = xpad[n, group * Cg:(group + 1) * Cg, i * SH:i * SH + KH, j * SW:j * SW + KW]
    column, weights = window.reshape(-1), W[o].reshape(-1)
    bias = a["bias"][o] if "bias" in a else 0.0
    worked = (column * weights).sum() + bias
    lines += ["", f"output element y[{n}, {o}, {i}, {j}]: its receptive field is",
              f"  rows {i * SH}..{i * SH + KH - 1}, columns {j * SW}..{j * SW + KW - 1} of the "
              f"padded input; window of channel {group * Cg} ({KH}x{KW}):"]
    lines += ["    " + "  ".join(f"{v:>9.4g}" for v in row) for row in window[0][:8]]
    lines += [f"  column {n * OH * OW + i * OW + j} of col: {values_text(column)}",
              f"  y = W[{o}] . col_column + b[{o}]", f"    = {sum_text(column, weights)}",
              f"    = {g((column * weights).sum())} + {g(bias)} = {worked:.7g}"]
    checks = [check(f"y[{n}, {o}, {i}, {j}]", worked, y[n, o, i, j],
                    np.abs(column * weights).sum() + abs(bias))]
    if "grad_weight" in a:
        lines_b, checks_b = _backward(a, xpad, (SH, SW), G, rows, cols)
        lines += lines_b
        checks += checks_b
    view = {"kind": "conv_receptive_field", "n": n, "oc": o, "oh": i, "ow": j,
            "top": i * SH - PT, "left": j * SW - PL, "KH": KH, "KW": KW,
            "channels": [group * Cg, Cg], "column": plain(column), "weights": plain(weights),
            "bias": float(bias) if "bias" in a else None, "out": float(y[n, o, i, j])}
    return lines, checks, view


def _backward(a, xpad, stride, G, rows, cols):
    W, gy = a["weight"], a["grad_out"]
    OC, Cg, KH, KW = W.shape
    N, _, OH, OW = gy.shape
    SH, SW = stride
    lines = ["", "backward: with gy2 = grad_out as (OC, N*OH*OW), three products:",
             f"  gW = gy2 @ col^T:  ({OC}, {cols}) @ ({cols}, {rows}) = ({OC}, {rows})",
             f"  gcol = W2^T @ gy2: ({rows}, {OC}) @ ({OC}, {cols}) = ({rows}, {cols}),",
             "    then col2im adds each column back into its window of gx (N, C, H, W)",
             f"  gb = gy2 summed over its {cols} columns: ({OC},)"]
    o, c, kh, kw = 0, 0, KH // 2, KW // 2
    patch = xpad[:, c, kh:kh + SH * (OH - 1) + 1:SH, kw:kw + SW * (OW - 1) + 1:SW]  # (N,OH,OW)
    grads = gy[:, o]                                                              # (N,OH,OW)
    worked = (grads * patch).sum()
    lines += [f"weight-gradient element gW[{o}, {c}, {kh}, {kw}] = sum over n, i, j of",
              f"  gy[n, {o}, i, j] * x_pad[n, {c}, i*{SH}+{kh}, j*{SW}+{kw}]",
              f"  = {sum_text(grads.ravel(), patch.ravel())}", f"  = {worked:.7g}",
              f"bias gradient gb[{o}] = sum of gy[:, {o}] over {grads.size} positions "
              f"= {grads.sum():.7g}"]
    checks = [check(f"gW[{o}, {c}, {kh}, {kw}]", worked, a["grad_weight"][o, c, kh, kw],
                    np.abs(grads * patch).sum())]
    if "grad_bias" in a:
        checks.append(check(f"gb[{o}]", grads.sum(), a["grad_bias"][o], np.abs(grads).sum()))
    return lines, checks
