// What the `cpp` implementation's kernels share: a vectorisable float32 exp and sigmoid, float32
// vector types, and the row-block threading over torch's OpenMP runtime.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <omp.h>

namespace cellbench {

// float32 vectors for code written with GCC's vector extensions rather than left to the
// auto-vectoriser (register blocking the vectoriser would not do): the widest the target has
// (-march=native): AVX-512, AVX or SSE.
#if defined(__AVX512F__)
#define CB_LANES 16
#elif defined(__AVX__)
#define CB_LANES 8
#else
#define CB_LANES 4
#endif
constexpr int64_t kLanes = CB_LANES;
using vfloat = float __attribute__((vector_size(CB_LANES * 4)));
using vint = int32_t __attribute__((vector_size(CB_LANES * 4)));
using vfloat_unaligned = float __attribute__((vector_size(CB_LANES * 4), aligned(4)));

inline vfloat load(const float* p) { return *reinterpret_cast<const vfloat_unaligned*>(p); }
inline vfloat splat(float value) { return vfloat{} + value; }
inline void store(float* p, vfloat v) { *reinterpret_cast<vfloat_unaligned*>(p) = v; }

// 2^n for whole-numbered n in [-126, 127], built in the exponent bits.
inline float exp2_whole(float n) {
    return std::bit_cast<float>((static_cast<int32_t>(n) + 127) << 23);
}
inline vfloat exp2_whole(vfloat n) {
    const vint exponent = (__builtin_convertvector(n, vint) + 127) << 23;
    return (vfloat)exponent;  // a cast between vector types of one size keeps the bits
}

// exp for float32 (V = float, or vfloat lane by lane) from arithmetic only (Cephes' expf: range
// reduction by ln 2, a degree-6 polynomial, 2^n built in the exponent bits; about 1 ulp), so
// loops calling it vectorise without -ffast-math. The clamp keeps 2^n a normal number;
// sigmoid's tails saturate anyway.
template <typename V>
inline V exp_arith(V x) {
    const V low = V{} - 87.0f, high = V{} + 88.0f, shift = V{} + 12582912.0f;
    x = x < low ? low : x;  // one compare each: vmaxps / vminps, and NaN stays NaN
    x = x > high ? high : x;
    // n = round(x / ln 2) by the 1.5 * 2^23 trick: floor() would not vectorise without
    // -fno-trapping-math, and without -ffast-math the compiler keeps (a + c) - c as written.
    const V n = (x * 1.44269504088896341f + shift) - shift;
    x = x - n * 0.693359375f + n * 2.12194440e-4f;
    V y = V{} + 1.9875691500e-4f;
    y = y * x + 1.3981999507e-3f;
    y = y * x + 8.3334519073e-3f;
    y = y * x + 4.1665795894e-2f;
    y = y * x + 1.6666665459e-1f;
    y = y * x + 5.0000001201e-1f;
    y = y * (x * x) + x + 1.0f;
    return y * exp2_whole(n);
}

inline float sigmoid(float z) { return 1.0f / (1.0f + exp_arith(-z)); }
inline vfloat sigmoid(vfloat z) { return 1.0f / (1.0f + exp_arith(-z)); }
inline double sigmoid(double z) { return 1.0 / (1.0 + std::exp(-z)); }

// Run f(thread, first_row, end_row) on up to `threads` threads over blocks of `rows`.
inline int thread_count(int64_t rows, int threads) {
    return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(threads, rows)));
}

// OpenMP, not std::thread: the library links libgomp.so.1 and so, loaded into a torch process,
// shares torch's own OpenMP runtime and thread pool. Threads of a second pool would compete
// with torch's workers, which spin for a while after each torch operation (measured: a kernel
// called right after a torch op ran at half speed on std::threads).
template <typename F>
void over_row_blocks(int64_t rows, int threads, F f) {
    const int n = thread_count(rows, threads);
    if (n == 1) {
        f(0, 0, rows);
        return;
    }
#pragma omp parallel num_threads(n)
    {
        const int64_t thread = omp_get_thread_num(), team = omp_get_num_threads();
        f(static_cast<int>(thread), rows * thread / team, rows * (thread + 1) / team);
    }
}

}  // namespace cellbench
