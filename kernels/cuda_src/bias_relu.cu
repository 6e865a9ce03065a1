// Fused bias + ReLU on (N, C, H, W) or (N, C): y = max(x + b[c], 0) in one pass over memory.
// Reference: relu(x + b) composed of minicnn's own ops (tests/test_device_parity.py).
// The backward passes gy where the output was positive; the bias gradient is then a
// per-channel sum, left to CuPy.

template <typename T>
__device__ void bias_relu_forward(const T* x, const T* b, T* y, long long total, int C,
                                  long long HW)
{
    long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x;
    if (idx >= total) return;
    T v = x[idx] + b[(idx / HW) % C];
    y[idx] = v > 0 ? v : T(0);
}

template <typename T>
__device__ void relu_backward(const T* gy, const T* y, T* gx, long long total)
{
    long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x;
    if (idx >= total) return;
    gx[idx] = y[idx] > 0 ? gy[idx] : T(0);
}

extern "C" __global__ void bias_relu_forward_f32(const float* x, const float* b, float* y,
                                                 long long total, int C, long long HW)
{
    bias_relu_forward<float>(x, b, y, total, C, HW);
}

extern "C" __global__ void bias_relu_forward_f64(const double* x, const double* b, double* y,
                                                 long long total, int C, long long HW)
{
    bias_relu_forward<double>(x, b, y, total, C, HW);
}

extern "C" __global__ void relu_backward_f32(const float* gy, const float* y, float* gx,
                                             long long total)
{
    relu_backward<float>(gy, y, gx, total);
}

extern "C" __global__ void relu_backward_f64(const double* gy, const double* y, double* gx,
                                             long long total)
{
    relu_backward<double>(gy, y, gx, total);
}
