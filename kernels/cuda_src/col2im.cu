// col2im: col (C*KH*KW, N*OH*OW) -> gx (N, C, H, W), overlapping windows summed.
// Reference: kernels/windows.py `col2im` / `fold`.
// A gather, not a scatter: one thread per input pixel sums the col entries of every window
// that covers it, so no two threads write the same address and no atomics are needed (the
// sum order is fixed, so the result is the same on every run).

template <typename T>
__device__ void col2im(const T* col, T* gx, long long total, int C, int H, int W,
                       int KH, int KW, int SH, int SW, int PT, int PL, int OH, int OW)
{
    long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x;
    if (idx >= total) return;
    int w = idx % W;
    int h = (idx / W) % H;
    int c = (idx / ((long long)W * H)) % C;
    long long n = idx / ((long long)W * H * C);
    int hp = h + PT, wp = w + PL;    // position in the padded input
    // windows oh with oh*SH <= hp < oh*SH + KH, i.e. oh in [oh_first, oh_last)
    int oh_first = hp < KH ? 0 : (hp - KH) / SH + 1;
    int oh_last = min(hp / SH + 1, OH);
    int ow_first = wp < KW ? 0 : (wp - KW) / SW + 1;
    int ow_last = min(wp / SW + 1, OW);
    long long positions = total / ((long long)C * H * W) * OH * OW;   // N*OH*OW columns
    T sum = 0;
    for (int oh = oh_first; oh < oh_last; ++oh) {
        int i = hp - oh * SH;        // this pixel's row inside window (oh, ow)
        for (int ow = ow_first; ow < ow_last; ++ow) {
            int j = wp - ow * SW;
            long long column = (n * OH + oh) * OW + ow;
            sum += col[(((long long)c * KH + i) * KW + j) * positions + column];
        }
    }
    gx[idx] = sum;
}

extern "C" __global__ void col2im_f32(const float* col, float* gx, long long total, int C,
                                      int H, int W, int KH, int KW, int SH, int SW, int PT,
                                      int PL, int OH, int OW)
{
    col2im<float>(col, gx, total, C, H, W, KH, KW, SH, SW, PT, PL, OH, OW);
}

extern "C" __global__ void col2im_f64(const double* col, double* gx, long long total, int C,
                                      int H, int W, int KH, int KW, int SH, int SW, int PT,
                                      int PL, int OH, int OW)
{
    col2im<double>(col, gx, total, C, H, W, KH, KW, SH, SW, PT, PL, OH, OW);
}
