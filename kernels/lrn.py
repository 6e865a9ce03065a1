"""Reference local response normalisation across channels (NumPy or CuPy), PyTorch's convention:

    scale_c = k + alpha / size * sum of x_c'^2 over c' in [c - size//2, c + (size-1)//2]
    y_c = x_c * scale_c^(-beta)

and its backward. d y_c / d x_j has a direct term (j = c) and one through every window that
contains j, so the gradient gathers over the *transposed* window [j - (size-1)//2, j + size//2]:

    gx_j = gy_j * scale_j^(-beta) - 2 alpha beta / size * x_j * sum of gy_c y_c / scale_c
"""
from minicnn import backend


def channel_window_sum(v, before, after):
    """For each channel c of v (N, C, ...): sum of v over channels [c - before, c + after].

    A direct sum of the before + after + 1 shifted slices, each one vectorised add. (A difference
    of cumulative sums is shorter but loses float32 precision: a small channel beside large ones
    is the difference of two large running totals.)
    """
    xp = backend.get_array_module(v)
    C = v.shape[1]
    total = xp.zeros_like(v)
    for shift in range(-before, after + 1):                 # channel c adds v[c + shift]
        lo, hi = max(0, -shift), min(C, C - shift)          # channels c with 0 <= c+shift < C
        if lo < hi:
            total[:, lo:hi] += v[:, lo + shift:hi + shift]
    return total


def lrn_forward(x, size, alpha, beta, k):
    """x (N, C, H, W) -> (y, scale), both (N, C, H, W)."""
    sum_sq = channel_window_sum(x * x, size // 2, (size - 1) // 2)
    scale = k + (alpha / size) * sum_sq
    return x * scale ** -beta, scale


def lrn_backward(gy, x, y, scale, size, alpha, beta):
    """gy (N, C, H, W) -> gx (N, C, H, W), from the forward's x, y and scale."""
    through = gy * y / scale                                 # gy_c x_c scale_c^(-beta-1)
    gathered = channel_window_sum(through, (size - 1) // 2, size // 2)
    return gy * scale ** -beta - (2 * alpha * beta / size) * x * gathered
