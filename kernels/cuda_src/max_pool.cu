// Max pooling over (N, C, H, W): forward with argmax, and its backward.
// Reference: kernels/pooling.py `max_pool_forward` / `max_pool_backward`.
// argmax holds the flat offset i * KW + j of each window's maximum (int64, like NumPy's).
// Padded positions never win (the reference pads with -inf); ties and NaN go to the first
// position in row-major order, as NumPy's argmax does.

template <typename T>
__device__ void max_pool_forward(const T* x, T* y, long long* argmax, long long total, int C,
                                 int H, int W, int KH, int KW, int SH, int SW, int PT, int PL,
                                 int OH, int OW)
{
    long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x;
    if (idx >= total) return;
    int ow = idx % OW;
    int oh = (idx / OW) % OH;
    long long plane = idx / ((long long)OW * OH);   // n * C + c
    const T* x_plane = x + plane * H * W;
    T best = 0;
    long long best_offset = -1;
    for (int i = 0; i < KH; ++i) {
        int h = oh * SH - PT + i;
        if (h < 0 || h >= H) continue;
        for (int j = 0; j < KW; ++j) {
            int w = ow * SW - PL + j;
            if (w < 0 || w >= W) continue;
            T v = x_plane[h * W + w];
            bool nan_first = v != v && best == best;   // NumPy's argmax stops at a NaN
            if (best_offset < 0 || v > best || nan_first) {
                best = v;
                best_offset = i * KW + j;
            }
        }
    }
    y[idx] = best;
    argmax[idx] = best_offset;
}

// Backward as a gather: one thread per input pixel adds gy of every window whose maximum
// sits on that pixel; no atomics.
template <typename T>
__device__ void max_pool_backward(const T* gy, const long long* argmax, T* gx, long long total,
                                  int C, int H, int W, int KH, int KW, int SH, int SW, int PT,
                                  int PL, int OH, int OW)
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
            long long out = (plane * OH + oh) * OW + ow;
            long long offset = (long long)(hp - oh * SH) * KW + (wp - ow * SW);
            if (argmax[out] == offset) sum += gy[out];
        }
    }
    gx[idx] = sum;
}

extern "C" __global__ void max_pool_forward_f32(const float* x, float* y, long long* argmax,
                                                long long total, int C, int H, int W, int KH,
                                                int KW, int SH, int SW, int PT, int PL, int OH,
                                                int OW)
{
    max_pool_forward<float>(x, y, argmax, total, C, H, W, KH, KW, SH, SW, PT, PL, OH, OW);
}

extern "C" __global__ void max_pool_forward_f64(const double* x, double* y, long long* argmax,
                                                long long total, int C, int H, int W, int KH,
                                                int KW, int SH, int SW, int PT, int PL, int OH,
                                                int OW)
{
    max_pool_forward<double>(x, y, argmax, total, C, H, W, KH, KW, SH, SW, PT, PL, OH, OW);
}

extern "C" __global__ void max_pool_backward_f32(const float* gy, const long long* argmax,
                                                 float* gx, long long total, int C, int H,
                                                 int W, int KH, int KW, int SH, int SW, int PT,
                                                 int PL, int OH, int OW)
{
    max_pool_backward<float>(gy, argmax, gx, total, C, H, W, KH, KW, SH, SW, PT, PL, OH, OW);
}

extern "C" __global__ void max_pool_backward_f64(const double* gy, const long long* argmax,
                                                 double* gx, long long total, int C, int H,
                                                 int W, int KH, int KW, int SH, int SW, int PT,
                                                 int PL, int OH, int OW)
{
    max_pool_backward<double>(gy, argmax, gx, total, C, H, W, KH, KW, SH, SW, PT, PL, OH, OW);
}
