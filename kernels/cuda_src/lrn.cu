// Local response normalisation across channels of (N, C, H, W), forward and backward.
// Reference: minicnn/ops/normalization.py `LocalResponseNorm` (PyTorch's convention):
//     scale_c = k + alpha / size * sum of x_c'^2 over c' in [c - size/2, c + (size-1)/2]
//     y_c = x_c * scale_c^(-beta)
// Templates over the element type T (kernels/cuda.py loads `name<float>`, `name<double>`).
// One thread per element; each sums its channel window directly (size is small, 5 in AlexNet).

template <typename T>
__global__ void lrn_forward(const T* x, T* y, T* scale, long long total, int C, long long HW,
                            int size, T alpha, T beta, T k)
{
    long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x;
    if (idx >= total) return;
    int c = (idx / HW) % C;
    const T* x_at_c0 = x + idx - c * HW;          // this pixel in channel 0
    int first = max(c - size / 2, 0);
    int last = min(c + (size - 1) / 2, C - 1);
    T sum_sq = 0;
    for (int cc = first; cc <= last; ++cc) {
        T v = x_at_c0[cc * HW];
        sum_sq += v * v;
    }
    T s = k + alpha / size * sum_sq;
    scale[idx] = s;
    y[idx] = x[idx] * pow(s, -beta);
}

// gx_c = gy_c * scale_c^(-beta) - 2 alpha beta / size * x_c * sum of gy_c' y_c' / scale_c'
// over every channel c' whose window contains c: c' in [c - (size-1)/2, c + size/2].
template <typename T>
__global__ void lrn_backward(const T* gy, const T* x, const T* y, const T* scale, T* gx,
                             long long total, int C, long long HW, int size, T alpha, T beta)
{
    long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x;
    if (idx >= total) return;
    int c = (idx / HW) % C;
    long long at_c0 = idx - c * HW;
    int first = max(c - (size - 1) / 2, 0);
    int last = min(c + size / 2, C - 1);
    T through = 0;
    for (int cc = first; cc <= last; ++cc) {
        long long at = at_c0 + cc * HW;
        through += gy[at] * y[at] / scale[at];
    }
    gx[idx] = gy[idx] * pow(scale[idx], -beta) - 2 * alpha * beta / size * x[idx] * through;
}
