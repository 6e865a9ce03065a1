"""Zoom into pooling: a max-pool window, its argmax and where its gradient goes; an average-pool
window and its divisor. The max-pool view ("max_pool_argmax") lists the input cell every
window of the zoomed channel chose, for the explorer page."""
import numpy as np

from minicnn.explain.worked import check, g, values_text


def _geometry(event, x):
    KH, KW = event["params"]["kernel_size"]
    SH, SW = event["params"]["stride"]
    PT, PB, PL, PR = event["params"]["padding"]
    return KH, KW, SH, SW, (PT, PB, PL, PR)


def _window(xpad, n, c, i, j, KH, KW, SH, SW):
    return xpad[n, c, i * SH:i * SH + KH, j * SW:j * SW + KW]


def max_pool2d(event, a):
    x, y = a["x"], a["out"]
    KH, KW, SH, SW, (PT, PB, PL, PR) = _geometry(event, x)
    xpad = np.pad(x, ((0, 0), (0, 0), (PT, PB), (PL, PR)), constant_values=-np.inf)
    n, c, i, j = _unique_max_window(xpad, y.shape, KH, KW, SH, SW)
    window = _window(xpad, n, c, i, j, KH, KW, SH, SW)
    r, s = np.unravel_index(np.argmax(window), window.shape)
    h, w = i * SH + r - PT, j * SW + s - PL          # the argmax in input coordinates
    lines = [f"kernel {KH}x{KW}, stride ({SH}, {SW}); padding counts as -inf",
             f"window of y[{n}, {c}, {i}, {j}]: {values_text(window)}",
             f"  max = {g(window.max())} at window position ({r}, {s}) = x[{n}, {c}, {h}, {w}]"]
    checks = [check(f"y[{n}, {c}, {i}, {j}]", window.max(), y[n, c, i, j])]
    if "grad_x" in a:
        gy = a["grad_out"]
        sources = [(p, q) for p in range(y.shape[2]) for q in range(y.shape[3])
                   if _argmax_at(xpad, n, c, p, q, KH, KW, SH, SW) == (h + PT, w + PL)]
        worked = sum(gy[n, c, p, q] for p, q in sources)
        lines += ["backward: each window's gradient goes to its argmax only, the other inputs "
                  "get 0", f"  gx[{n}, {c}, {h}, {w}] = sum of gy over the windows whose max it "
                  f"is: {', '.join(f'gy[{n}, {c}, {p}, {q}]' for p, q in sources)}",
                  f"  = {' + '.join(g(gy[n, c, p, q]) for p, q in sources)}"
                  + (f" = {worked:.7g}" if len(sources) > 1 else "")]
        checks.append(check(f"gx[{n}, {c}, {h}, {w}]", worked, a["grad_x"][n, c, h, w]))
    return lines, checks, _argmax_view(xpad, y.shape, (n, c, i, j), (KH, KW, SH, SW), (PT, PL))


def _argmax_view(xpad, out_shape, chosen, geometry, pad):
    """The input cell (row, column) each window of sample n, channel c chose."""
    n, c, i, j = chosen
    KH, KW, SH, SW = geometry
    PT, PL = pad
    cells = [_argmax_at(xpad, n, c, p, q, KH, KW, SH, SW)
             for p in range(out_shape[2]) for q in range(out_shape[3])]
    return {"kind": "max_pool_argmax", "n": n, "c": c, "window": [i, j], "KH": KH, "KW": KW,
            "stride": [SH, SW], "argmax": [[int(r - PT), int(s - PL)] for r, s in cells]}


def _argmax_at(xpad, n, c, p, q, KH, KW, SH, SW):
    window = _window(xpad, n, c, p, q, KH, KW, SH, SW)
    r, s = np.unravel_index(np.argmax(window), window.shape)
    return (p * SH + r, q * SW + s)


def _unique_max_window(xpad, out_shape, KH, KW, SH, SW):
    """The window nearest the centre of image 0 whose maximum is non-zero and not tied."""
    N, C, OH, OW = out_shape
    candidates = sorted(((abs(i - OH // 2) + abs(j - OW // 2), c, i, j)
                         for c in range(C) for i in range(OH) for j in range(OW)))
    for _, c, i, j in candidates:
        window = _window(xpad, 0, c, i, j, KH, KW, SH, SW)
        if window.max() != 0 and (window == window.max()).sum() == 1:
            return 0, c, i, j
    return 0, 0, OH // 2, OW // 2


def avg_pool2d(event, a):
    x, y = a["x"], a["out"]
    KH, KW, SH, SW, (PT, PB, PL, PR) = _geometry(event, x)
    include_pad = event["params"].get("count_include_pad", True)
    xpad = np.pad(x, ((0, 0), (0, 0), (PT, PB), (PL, PR)))
    real = np.pad(np.ones(x.shape[2:]), ((PT, PB), (PL, PR)))
    n, c, i, j = 0, 0, y.shape[2] // 2, y.shape[3] // 2

    def divisor(p, q):
        return KH * KW if include_pad else real[p * SH:p * SH + KH, q * SW:q * SW + KW].sum()

    window = _window(xpad, n, c, i, j, KH, KW, SH, SW)
    worked = window.sum() / divisor(i, j)
    lines = [f"kernel {KH}x{KW}, stride ({SH}, {SW}), divisor "
             + ("KH*KW (padding counts)" if include_pad else "the real inputs in the window"),
             f"window of y[{n}, {c}, {i}, {j}]: {values_text(window)}",
             f"  mean = {g(window.sum())} / {g(divisor(i, j))} = {worked:.7g}"]
    checks = [check(f"y[{n}, {c}, {i}, {j}]", worked, y[n, c, i, j], np.abs(window).sum())]
    if "grad_x" in a:
        gy = a["grad_out"]
        h, w = i * SH, j * SW                       # the window's top-left input (padded)
        covering = [(p, q) for p in range(y.shape[2]) for q in range(y.shape[3])
                    if p * SH <= h < p * SH + KH and q * SW <= w < q * SW + KW]
        worked_g = sum(gy[n, c, p, q] / divisor(p, q) for p, q in covering)
        shares = [f"{g(gy[n, c, p, q])}/{g(divisor(p, q))}" for p, q in covering]
        lines += [f"backward: every input of a window gets gy / divisor; x[{n}, {c}, "
                  f"{h - PT}, {w - PL}] is in {len(covering)} window(s)",
                  f"  gx = {' + '.join(shares)} = {worked_g:.7g}"]
        if 0 <= h - PT < x.shape[2] and 0 <= w - PL < x.shape[3]:
            checks.append(check(f"gx[{n}, {c}, {h - PT}, {w - PL}]", worked_g,
                                a["grad_x"][n, c, h - PT, w - PL]))
    return lines, checks, None
