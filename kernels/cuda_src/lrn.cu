// Local response normalisation across channels of (N, C, H, W), forward and backward.
// Reference: minicnn/ops/normalization.py `LocalResponseNorm` (PyTorch's convention):
//     scale_c = k + alpha / size * sum of x_c'^2 over c' in [c - size/2, c + (size-1)/2]
//     y_c = x_c * scale_c^(-beta)
// One thread per element; each sums its channel window directly (size is small, 5 in AlexNet).

template <typename T>
__device__ void lrn_forward(const T* x, T* y, T* scale, long long total, int C, long long HW,
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
__device__ void lrn_backward(const T* gy, const T* x, const T* y, const T* scale, T* gx,
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

extern "C" __global__ void lrn_forward_f32(const float* x, float* y, float* scale,
                                           long long total, int C, long long HW, int size,
                                           float alpha, float beta, float k)
{
    lrn_forward<float>(x, y, scale, total, C, HW, size, alpha, beta, k);
}

extern "C" __global__ void lrn_forward_f64(const double* x, double* y, double* scale,
                                           long long total, int C, long long HW, int size,
                                           double alpha, double beta, double k)
{
    lrn_forward<double>(x, y, scale, total, C, HW, size, alpha, beta, k);
}

extern "C" __global__ void lrn_backward_f32(const float* gy, const float* x, const float* y,
                                            const float* scale, float* gx, long long total,
                                            int C, long long HW, int size, float alpha,
                                            float beta)
{
    lrn_backward<float>(gy, x, y, scale, gx, total, C, HW, size, alpha, beta);
}

extern "C" __global__ void lrn_backward_f64(const double* gy, const double* x, const double* y,
                                            const double* scale, double* gx, long long total,
                                            int C, long long HW, int size, double alpha,
                                            double beta)
{
    lrn_backward<double>(gy, x, y, scale, gx, total, C, HW, size, alpha, beta);
}
