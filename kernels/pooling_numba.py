"""numba versions of the max/avg pooling kernels (checked against `kernels/pooling.py`)."""
import numpy as np
from numba import njit, prange

from minicnn.kernels.windows_numba import output_size


def _window_taps(o, S, P, K, size):
    """The taps [first, last) of window o (along one axis) that lie inside the input:
    0 <= o*S - P + k < size. Padding taps are left out rather than tested one by one."""
    start = o * S - P
    return max(0, -start), min(K, size - start)


_window_taps_jit = njit(inline="always")(_window_taps)


def _max_pool_forward(x, KH, KW, SH, SW, PT, PL, y, argmax):
    """y, argmax (N, C, OH, OW): each window's maximum and its flat tap i * KW + j."""
    N, C, H, W = x.shape
    OH, OW = y.shape[2:]
    for plane in prange(N * C):  # each (n, c) writes only y[n, c]
        n, c = plane // C, plane % C
        x_plane = x[n, c]
        for oh in range(OH):
            h = oh * SH - PT
            i_first, i_last = _window_taps_jit(oh, SH, PT, KH, H)
            for ow in range(OW):
                w = ow * SW - PL
                j_first, j_last = _window_taps_jit(ow, SW, PL, KW, W)
                # start from the first real input: an all -inf window routes its gradient
                # there (torch's rule), never into the padding
                best_k = i_first * KW + j_first
                best = -np.inf
                if i_first < i_last and j_first < j_last:
                    best = x_plane[h + i_first, w + j_first]
                for i in range(i_first, i_last):
                    row = x_plane[h + i]
                    for j in range(j_first, j_last):
                        value = row[w + j]
                        # larger, or the first NaN (NaN <= best is False); a NaN best stays
                        if not value <= best and best == best:
                            best = value
                            best_k = i * KW + j
                y[n, c, oh, ow] = best
                argmax[n, c, oh, ow] = best_k


def _unrolled_max_pool_forward(K, S):
    """`_max_pool_forward` for unpadded KxK windows at stride S, K and S fixed.

    K and S are constants of the closure, so numba compiles one kernel per window size (and
    caches it under that size) with the tap loop unrolled: LLVM then picks with conditional
    moves, where the general loop's data-dependent branches mispredict on about every other
    tap. Measured 0.4 vs 3.7 ms for 2x2 on (256, 6, 28, 28), 2.3 vs 9.0 ms for 3x3 stride 2
    on (128, 24, 27, 27) (benchmarks/NOTES.md section 10).
    """
    def forward(x, y, argmax):
        N, C = x.shape[:2]
        OH, OW = y.shape[2:]
        for plane in prange(N * C):
            n, c = plane // C, plane % C
            for oh in range(OH):
                for ow in range(OW):
                    best = x[n, c, S * oh, S * ow]
                    best_k = 0
                    for k in range(1, K * K):  # the other taps (k // K, k % K), in order
                        value = x[n, c, S * oh + k // K, S * ow + k % K]
                        # larger, or the first NaN (NaN <= best is False); a NaN best stays
                        if not value <= best and best == best:
                            best = value
                            best_k = k
                    y[n, c, oh, ow] = best
                    argmax[n, c, oh, ow] = best_k
    return njit(parallel=True, cache=True)(forward)


def _max_pool_backward(gy, argmax, KW, SH, SW, PT, PL, gx):
    N, C, OH, OW = gy.shape
    for n in prange(N):
        for c in range(C):
            for oh in range(OH):
                for ow in range(OW):
                    k = argmax[n, c, oh, ow]
                    h = oh * SH - PT + k // KW
                    w = ow * SW - PL + k % KW
                    gx[n, c, h, w] += gy[n, c, oh, ow]


def _tiled_max_pool_backward(K):
    """`_max_pool_backward` for unpadded KxK windows at stride K, K fixed: windows that tile
    the input, so every gx entry lies in at most one window.

    Each entry is then written once, gy at its window's maximum and 0 at the other taps (and
    0 in the rows and columns past the last window): no zeroed gx to allocate first and no
    `+=`. With K a constant LLVM vectorises the taps; measured 0.13 vs 0.47 ms for 2x2 on
    (256, 6, 28, 28), 0.08 vs 0.41 ms on (64, 16, 32, 32) (benchmarks/NOTES.md section 27).
    """
    def backward(gy, argmax, gx):
        N, C, H, W = gx.shape
        OH, OW = gy.shape[2:]
        for plane in prange(N * C):
            n, c = plane // C, plane % C
            for oh in range(OH):
                for i in range(K):  # input row oh*K + i of the windows in output row oh
                    for ow in range(OW):
                        j_max = argmax[n, c, oh, ow] - i * K  # in [0, K) when on this row
                        g = gy[n, c, oh, ow]
                        for j in range(K):
                            gx[n, c, oh * K + i, ow * K + j] = g if j == j_max else 0.0
                    for w in range(OW * K, W):  # columns no window covers
                        gx[n, c, oh * K + i, w] = 0.0
            for h in range(OH * K, H):  # rows no window covers
                for w in range(W):
                    gx[n, c, h, w] = 0.0
    return njit(parallel=True, cache=True)(backward)


_max_pool_forward_jit = njit(parallel=True, cache=True)(_max_pool_forward)
# (KH, KW, SH, SW) -> its unrolled kernel: LeNet-5's and VGG's 2x2, AlexNet's 3x3 stride 2
_UNROLLED = {(2, 2, 2, 2): _unrolled_max_pool_forward(2, 2),
             (3, 3, 2, 2): _unrolled_max_pool_forward(3, 2)}
_max_pool_backward_jit = njit(parallel=True, cache=True)(_max_pool_backward)
# (KH, KW, SH, SW) -> the backward of windows that tile the input: 2x2 at stride 2
_TILED_BACKWARD = {(2, 2, 2, 2): _tiled_max_pool_backward(2)}


def max_pool_forward(x, KH, KW, SH, SW, pads):
    """(N, C, H, W) -> y (N, C, OH, OW), argmax (N, C, OH, OW) in [0, KH*KW).

    argmax has the smallest unsigned type that holds KH*KW - 1 (one byte up to 16x16 windows):
    an eighth of int64's memory traffic, written here and read by the backward."""
    N, C = x.shape[:2]
    OH, OW = output_size(x.shape, KH, KW, SH, SW, pads)
    y = np.empty((N, C, OH, OW), dtype=x.dtype)
    argmax = np.empty((N, C, OH, OW), dtype=np.min_scalar_type(KH * KW - 1))
    x = np.ascontiguousarray(x)
    unrolled = _UNROLLED.get((KH, KW, SH, SW))
    if unrolled is not None and not any(pads):
        unrolled(x, y, argmax)
    else:
        _max_pool_forward_jit(x, KH, KW, SH, SW, pads[0], pads[2], y, argmax)
    return y, argmax


def max_pool_backward(gy, argmax, x_shape, KH, KW, SH, SW, pads):
    """Route gy (N, C, OH, OW) to each window's maximum; returns gx (N, C, H, W)."""
    gy = np.ascontiguousarray(gy)
    tiled = _TILED_BACKWARD.get((KH, KW, SH, SW))
    if tiled is not None and not any(pads):
        gx = np.empty(x_shape, dtype=gy.dtype)  # the kernel writes every entry
        tiled(gy, argmax, gx)
        return gx
    gx = np.zeros(x_shape, dtype=gy.dtype)
    _max_pool_backward_jit(gy, argmax, KW, SH, SW, pads[0], pads[2], gx)
    return gx
