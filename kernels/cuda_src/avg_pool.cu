// Average pooling over (N, C, H, W), forward and backward.
// Reference: kernels/pooling.py `avg_pool_forward` / `avg_pool_backward`.
// counts (OH, OW) holds each window's divisor: KH*KW everywhere (count_include_pad=True), or
// the number of real inputs in the window (False). Padding contributes 0 to the sums.

template <typename T>
__device__ void avg_pool_forward(const T* x, const T* counts, T* y, long long total, int C,
                                 int H, int W, int KH, int KW, int SH, int SW, int PT, int PL,
                                 int OH, int OW)
{
    long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x;
    if (idx >= total) return;
    int ow = idx % OW;
    int oh = (idx / OW) % OH;
    long long plane = idx / ((long long)OW * OH);
    const T* x_plane = x + plane * H * W;
    T sum = 0;
    for (int i = 0; i < KH; ++i) {
        int h = oh * SH - PT + i;
        if (h < 0 || h >= H) continue;
        for (int j = 0; j < KW; ++j) {
            int w = ow * SW - PL + j;
            if (w >= 0 && w < W) sum += x_plane[h * W + w];
        }
    }
    y[idx] = sum / counts[oh * OW + ow];
}

// Backward as a gather: one thread per input pixel adds gy / count of every window covering
// it; no atomics.
template <typename T>
__device__ void avg_pool_backward(const T* gy, const T* counts, T* gx, long long total, int C,
                                  int H, int W, int KH, int KW, int SH, int SW, int PT, int PL,
                                  int OH, int OW)
{
    long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x;
    if (idx >= total) return;
    int w = idx % W;
    int h = (idx / W) % H;
    long long plane = idx / ((long long)W * H);
    int hp = h + PT, wp = w + PL;
    int oh_first = hp < KH ? 0 : (hp - KH) / SH + 1;
    int oh_last = min(hp / SH + 1, OH);
    int ow_first = wp < KW ? 0 : (wp - KW) / SW + 1;
    int ow_last = min(wp / SW + 1, OW);
    T sum = 0;
    for (int oh = oh_first; oh < oh_last; ++oh) {
        for (int ow = ow_first; ow < ow_last; ++ow) {
            sum += gy[(plane * OH + oh) * OW + ow] / counts[oh * OW + ow];
        }
    }
    gx[idx] = sum;
}

extern "C" __global__ void avg_pool_forward_f32(const float* x, const float* counts, float* y,
                                                long long total, int C, int H, int W, int KH,
                                                int KW, int SH, int SW, int PT, int PL, int OH,
                                                int OW)
{
    avg_pool_forward<float>(x, counts, y, total, C, H, W, KH, KW, SH, SW, PT, PL, OH, OW);
}

extern "C" __global__ void avg_pool_forward_f64(const double* x, const double* counts,
                                                double* y, long long total, int C, int H, int W,
                                                int KH, int KW, int SH, int SW, int PT, int PL,
                                                int OH, int OW)
{
    avg_pool_forward<double>(x, counts, y, total, C, H, W, KH, KW, SH, SW, PT, PL, OH, OW);
}

extern "C" __global__ void avg_pool_backward_f32(const float* gy, const float* counts,
                                                 float* gx, long long total, int C, int H,
                                                 int W, int KH, int KW, int SH, int SW, int PT,
                                                 int PL, int OH, int OW)
{
    avg_pool_backward<float>(gy, counts, gx, total, C, H, W, KH, KW, SH, SW, PT, PL, OH, OW);
}

extern "C" __global__ void avg_pool_backward_f64(const double* gy, const double* counts,
                                                 double* gx, long long total, int C, int H,
                                                 int W, int KH, int KW, int SH, int SW, int PT,
                                                 int PL, int OH, int OW)
{
    avg_pool_backward<double>(gy, counts, gx, total, C, H, W, KH, KW, SH, SW, PT, PL, OH, OW);
}
