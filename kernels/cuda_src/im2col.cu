// im2col: (N, C, H, W) -> col (N*OH*OW, C*KH*KW), one thread per entry of col.
// Reference: kernels/windows.py `im2col` (the strided view copied once). Padding reads as 0.
// Row of col = output position (n, oh, ow); column = (c, i, j), the kernel offset.

template <typename T>
__device__ void im2col(const T* x, T* col, long long total, int C, int H, int W,
                       int KH, int KW, int SH, int SW, int PT, int PL, int OH, int OW)
{
    long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x;
    if (idx >= total) return;
    long long rest = idx;
    int j = rest % KW;  rest /= KW;
    int i = rest % KH;  rest /= KH;
    int c = rest % C;   rest /= C;
    int ow = rest % OW; rest /= OW;
    int oh = rest % OH;
    long long n = rest / OH;
    int h = oh * SH - PT + i;        // the input row this entry reads (may be in the padding)
    int w = ow * SW - PL + j;
    bool inside = h >= 0 && h < H && w >= 0 && w < W;
    col[idx] = inside ? x[((n * C + c) * H + h) * W + w] : T(0);
}

extern "C" __global__ void im2col_f32(const float* x, float* col, long long total, int C,
                                      int H, int W, int KH, int KW, int SH, int SW, int PT,
                                      int PL, int OH, int OW)
{
    im2col<float>(x, col, total, C, H, W, KH, KW, SH, SW, PT, PL, OH, OW);
}

extern "C" __global__ void im2col_f64(const double* x, double* col, long long total, int C,
                                      int H, int W, int KH, int KW, int SH, int SW, int PT,
                                      int PL, int OH, int OW)
{
    im2col<double>(x, col, total, C, H, W, KH, KW, SH, SW, PT, PL, OH, OW);
}
