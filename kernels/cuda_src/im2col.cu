// im2col: (N, C, H, W) -> col (C*KH*KW, N*OH*OW), one thread per entry of col.
// Reference: kernels/windows.py `im2col` (the strided view copied once). Padding reads as 0.
// Row of col = (c, i, j), the kernel offset; column = output position (n, oh, ow), so
// consecutive threads write consecutive addresses.

template <typename T>
__device__ void im2col(const T* x, T* col, long long total, int C, int H, int W,
                       int KH, int KW, int SH, int SW, int PT, int PL, int OH, int OW)
{
    long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x;
    if (idx >= total) return;
    long long positions = total / ((long long)C * KH * KW);   // N*OH*OW columns
    long long column = idx % positions;
    long long row = idx / positions;
    int ow = column % OW;
    int oh = (column / OW) % OH;
    long long n = column / ((long long)OW * OH);
    int j = row % KW;
    int i = (row / KW) % KH;
    int c = row / ((long long)KW * KH);
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
