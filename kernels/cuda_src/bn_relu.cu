// Fused BatchNorm + ReLU on (N, C, H, W) or (N, C), given the per-channel statistics.
// Reference: relu(batch_norm(x)) composed of minicnn's own ops, whose BatchNorm is
// minicnn/ops/normalization.py `BatchNorm` (tests/test_device_parity.py compares them).
//     forward:  y = max(gamma_c * (x - mean_c) * inv_std_c + beta_c, 0)
//     backward: g = gy where y > 0 (else 0), xhat = (x - mean_c) * inv_std_c, and
//               gx = gamma_c * inv_std_c * (g - sum_g_c / M - xhat * sum_gxhat_c / M)
//               in training (M values per channel; the batch statistics depend on x), or
//               gx = gamma_c * inv_std_c * g in evaluation (training = 0).
// The per-channel sums (mean, variance, sum_g, sum_gxhat) are reductions, left to CuPy.
// Templates over the element type T (kernels/cuda.py loads `name<float>`, `name<double>`).

template <typename T>
__global__ void bn_relu_forward(const T* x, const T* mean, const T* inv_std, const T* gamma,
                                const T* beta, T* y, long long total, int C, long long HW)
{
    long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x;
    if (idx >= total) return;
    int c = (idx / HW) % C;
    T v = gamma[c] * (x[idx] - mean[c]) * inv_std[c] + beta[c];
    y[idx] = v > 0 ? v : T(0);
}

template <typename T>
__global__ void bn_relu_backward(const T* gy, const T* y, const T* x, const T* mean,
                                 const T* inv_std, const T* gamma, const T* sum_g,
                                 const T* sum_gxhat, T* gx, long long total, int C,
                                 long long HW, long long M, int training)
{
    long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x;
    if (idx >= total) return;
    int c = (idx / HW) % C;
    T g = y[idx] > 0 ? gy[idx] : T(0);
    if (training) {
        T xhat = (x[idx] - mean[c]) * inv_std[c];
        g = g - sum_g[c] / M - xhat * sum_gxhat[c] / M;
    }
    gx[idx] = gamma[c] * inv_std[c] * g;
}
