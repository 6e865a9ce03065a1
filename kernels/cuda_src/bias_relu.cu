// Fused bias + ReLU on (N, C, H, W) or (N, C): y = max(x + b[c], 0) in one pass over memory.
// Reference: relu(x + b) composed of minicnn's own ops (tests/test_device_parity.py).
// The backward passes gy where the output was positive; the bias gradient is then a
// per-channel sum, left to CuPy. Templates over the element type T (kernels/cuda.py loads
// `name<float>` and `name<double>`).

template <typename T>
__global__ void bias_relu_forward(const T* x, const T* b, T* y, long long total, int C,
                                  long long HW)
{
    long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x;
    if (idx >= total) return;
    T v = x[idx] + b[(idx / HW) % C];
    y[idx] = v > 0 ? v : T(0);
}

template <typename T>
__global__ void relu_backward(const T* gy, const T* y, T* gx, long long total)
{
    long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x;
    if (idx >= total) return;
    gx[idx] = y[idx] > 0 ? gy[idx] : T(0);
}
