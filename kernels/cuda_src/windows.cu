// The kernels that slide a KH x KW window over (N, C, H, W): im2col, col2im, and max and
// average pooling, forward and backward. Each is a template over the element type T;
// kernels/cuda.py loads `name<float>` and `name<double>`. One thread computes one output
// element. Every backward is a gather: one thread per input pixel sums over the windows that
// cover it, so no two threads write the same address, no atomics are needed, and the sum
// order (so the result) is the same on every run.

// How the window slides over one (H, W) plane of C channels: stride SH, SW; padding PT (top)
// and PL (left); OH x OW windows. kernels/cuda.py passes it by value, as a one-element NumPy
// array with these int32 fields in this order (`_geometry`).
struct WindowGeometry {
    int C, H, W, KH, KW, SH, SW, PT, PL, OH, OW;
};

// The flat index of the element this thread computes: one thread per element.
__device__ long long thread_index()
{
    return blockIdx.x * (long long)blockDim.x + threadIdx.x;
}

// Element idx of a stack of (rows, cols) planes: its plane (n * C + c), row and column.
struct Element {
    long long idx, plane;
    int row, col;
};

__device__ Element element_of_planes(long long idx, int rows, int cols)
{
    Element at;
    at.idx = idx;
    at.col = idx % cols;
    at.row = (idx / cols) % rows;
    at.plane = idx / ((long long)cols * rows);
    return at;
}

// This thread's element of (rows, cols) planes. The last block of threads runs past the last
// element: a kernel returns at once where idx >= total.
__device__ Element this_threads_element(int rows, int cols)
{
    return element_of_planes(thread_index(), rows, cols);
}

// Windows o in [first, last) that cover position p of the padded input along one axis
// (window size K, stride S, O windows): o * S <= p < o * S + K.
struct WindowRange {
    int first, last;
};

__device__ WindowRange windows_covering(int p, int K, int S, int O)
{
    WindowRange range;
    range.first = p < K ? 0 : (p - K) / S + 1;
    range.last = min(p / S + 1, O);
    return range;
}

// Calls visit(v, i * KW + j) for every input v inside window (oh, ow) of one (H, W) plane, in
// row-major order; the window's positions in the padding are skipped.
template <typename T, typename Visit>
__device__ void for_each_input_in_window(const T* plane, int oh, int ow, WindowGeometry g,
                                         Visit visit)
{
    for (int i = 0; i < g.KH; ++i) {
        int h = oh * g.SH - g.PT + i;
        if (h < 0 || h >= g.H) continue;
        for (int j = 0; j < g.KW; ++j) {
            int w = ow * g.SW - g.PL + j;
            if (w >= 0 && w < g.W) visit(plane[h * g.W + w], i * g.KW + j);
        }
    }
}

// im2col: (N, C, H, W) -> col (C*KH*KW, N*OH*OW), one thread per entry of col.
// Reference: kernels/windows.py `im2col` (the strided view copied once). Padding reads as 0.
// Row of col = (c, i, j), the kernel offset; column = output position (n, oh, ow), so
// consecutive threads write consecutive addresses.
template <typename T>
__global__ void im2col(const T* x, T* col, long long total, WindowGeometry g)
{
    long long idx = thread_index();
    if (idx >= total) return;
    long long positions = total / ((long long)g.C * g.KH * g.KW);   // N*OH*OW columns
    long long column = idx % positions;
    long long row = idx / positions;
    Element out = element_of_planes(column, g.OH, g.OW);   // out.plane is n
    int j = row % g.KW;
    int i = (row / g.KW) % g.KH;
    int c = row / ((long long)g.KW * g.KH);
    int h = out.row * g.SH - g.PT + i;   // the input row this entry reads (may be padding)
    int w = out.col * g.SW - g.PL + j;
    bool inside = h >= 0 && h < g.H && w >= 0 && w < g.W;
    col[idx] = inside ? x[((out.plane * g.C + c) * g.H + h) * g.W + w] : T(0);
}

// col2im: col (C*KH*KW, N*OH*OW) -> gx (N, C, H, W), overlapping windows summed.
// Reference: kernels/windows.py `col2im` / `fold`. One thread per input pixel (a gather).
template <typename T>
__global__ void col2im(const T* col, T* gx, long long total, WindowGeometry g)
{
    Element in = this_threads_element(g.H, g.W);
    if (in.idx >= total) return;
    int c = in.plane % g.C;
    long long n = in.plane / g.C;
    int hp = in.row + g.PT, wp = in.col + g.PL;   // position in the padded input
    WindowRange rows = windows_covering(hp, g.KH, g.SH, g.OH);
    WindowRange cols = windows_covering(wp, g.KW, g.SW, g.OW);
    long long positions = total / ((long long)g.C * g.H * g.W) * g.OH * g.OW;   // N*OH*OW
    T sum = 0;
    for (int oh = rows.first; oh < rows.last; ++oh) {
        int i = hp - oh * g.SH;        // this pixel's row inside window (oh, ow)
        for (int ow = cols.first; ow < cols.last; ++ow) {
            int j = wp - ow * g.SW;
            long long column = (n * g.OH + oh) * g.OW + ow;
            sum += col[(((long long)c * g.KH + i) * g.KW + j) * positions + column];
        }
    }
    gx[in.idx] = sum;
}

// Max pooling forward: y (N, C, OH, OW) and argmax, the flat offset i * KW + j of each
// window's maximum (int64, like NumPy's). Reference: kernels/pooling.py `max_pool_forward`.
// Padded positions never win (the reference pads with -inf); ties and NaN go to the first
// position in row-major order, as NumPy's argmax does.
template <typename T>
__global__ void max_pool_forward(const T* x, T* y, long long* argmax, long long total,
                                 WindowGeometry g)
{
    Element out = this_threads_element(g.OH, g.OW);
    if (out.idx >= total) return;
    T best = 0;
    long long best_offset = -1;
    for_each_input_in_window(x + out.plane * g.H * g.W, out.row, out.col, g,
                             [&](T v, int offset) {
        bool nan_first = v != v && best == best;   // NumPy's argmax stops at a NaN
        if (best_offset < 0 || v > best || nan_first) {
            best = v;
            best_offset = offset;
        }
    });
    y[out.idx] = best;
    argmax[out.idx] = best_offset;
}

// Max pooling backward: each input pixel adds gy of every window whose maximum sits on it.
// Reference: kernels/pooling.py `max_pool_backward`.
template <typename T>
__global__ void max_pool_backward(const T* gy, const long long* argmax, T* gx, long long total,
                                  WindowGeometry g)
{
    Element in = this_threads_element(g.H, g.W);
    if (in.idx >= total) return;
    int hp = in.row + g.PT, wp = in.col + g.PL;
    WindowRange rows = windows_covering(hp, g.KH, g.SH, g.OH);
    WindowRange cols = windows_covering(wp, g.KW, g.SW, g.OW);
    T sum = 0;
    for (int oh = rows.first; oh < rows.last; ++oh) {
        for (int ow = cols.first; ow < cols.last; ++ow) {
            long long out = (in.plane * g.OH + oh) * g.OW + ow;
            long long offset = (long long)(hp - oh * g.SH) * g.KW + (wp - ow * g.SW);
            if (argmax[out] == offset) sum += gy[out];
        }
    }
    gx[in.idx] = sum;
}

// Average pooling: window sums divided by counts (OH, OW), each window's divisor: KH*KW
// everywhere (count_include_pad=True), or the number of real inputs in the window (False).
// Padding contributes 0 to the sums. Reference: kernels/pooling.py `avg_pool_forward`.
template <typename T>
__global__ void avg_pool_forward(const T* x, const T* counts, T* y, long long total,
                                 WindowGeometry g)
{
    Element out = this_threads_element(g.OH, g.OW);
    if (out.idx >= total) return;
    T sum = 0;
    for_each_input_in_window(x + out.plane * g.H * g.W, out.row, out.col, g,
                             [&](T v, int) { sum += v; });
    y[out.idx] = sum / counts[out.row * g.OW + out.col];
}

// Average pooling backward: each input pixel adds gy / count of every window covering it.
// Reference: kernels/pooling.py `avg_pool_backward`.
template <typename T>
__global__ void avg_pool_backward(const T* gy, const T* counts, T* gx, long long total,
                                  WindowGeometry g)
{
    Element in = this_threads_element(g.H, g.W);
    if (in.idx >= total) return;
    WindowRange rows = windows_covering(in.row + g.PT, g.KH, g.SH, g.OH);
    WindowRange cols = windows_covering(in.col + g.PL, g.KW, g.SW, g.OW);
    T sum = 0;
    for (int oh = rows.first; oh < rows.last; ++oh) {
        for (int ow = cols.first; ow < cols.last; ++ow) {
            sum += gy[(in.plane * g.OH + oh) * g.OW + ow] / counts[oh * g.OW + ow];
        }
    }
    gx[in.idx] = sum;
}
