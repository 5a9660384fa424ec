// The CfC recurrence over a whole sequence, forward and the per-step part of BPTT, for the `cpp`
// implementations. Their frontends (cells/torch/cpp_cfc.py, cells/tf/cpp.py) fold the weights,
// compute the weight gradients as large GEMMs in their framework, and own autograd.
//
// Shapes (row-major, contiguous): B batch, T steps, I inputs, H units, U backbone width,
// G = 3H (unit steps) or 4H (with timespans) head columns [ff1 | ff2 | time (| time_b)].
//   x (B, T, I); w_x (I, U), b_x (U) the input half of the backbone pre-activation
//   h0 (B, H); w_h (H, U) its recurrent half; w_g (U, G), b_g (G) the merged heads
//   ts (B, T) or null (unit steps)
// One step, every function already in sigmoid form (cells/torch/fused_cfc.py folds tanh's and
// LeCun tanh's factors into the weights):
//   z = sigmoid(x_t w_x + b_x + h w_h);  g = b_g + z w_g;
//   with timespans g_time = g_time_a ts + g_time_b
//   s = sigmoid(g[:3H]) = (s1 | s2 | st)
//   h' = 2 (s1 + st (s2 - s1)) - 1 (mode "default") or 2 s1 - 1 + st (2 s2 - 1) ("no_gate")
// Forward writes out (B, T, H) and, when training, z (B, T, U) and s (B, T, 3H). The input
// projection is computed step by step inside the loop, by the same register-blocked GEMM as the
// recurrent half, not as one large GEMM beforehand: measured, the whole forward pass takes about
// 0.7x the time of torch's MKL GEMM followed by the loop, and it saves writing and reading the
// (B, T, U) projection. Its gradients (d_x = d_a w_x^T, d_w_x = x^T d_a) are the frontend's.
//
// Backward runs the sequential part of BPTT from torch's precomputed per-step factors:
//   coef (B, T, G) = dg/dh' per column (cells/torch/fused_cfc.py:_gate_coefficients),
//   d_act (B, T, U) = z (1 - z), grad_out (B, T, H) = dL/d out:
//   d_g_t = coef_t * d_h (d_h repeated over the G / H blocks);  d_a_t = (d_g_t w_g^T) * d_act_t
//   d_h <- grad_out_{t-1} + d_a_t w_h^T
// and writes d_g (B, T, G), d_a (B, T, U) and d_h0 (B, H); the frontend turns them into the
// weight (and input) gradients with one large GEMM each.
//
// Batch rows are independent, so each thread takes a block of rows for the whole sequence with
// no synchronisation; within a block, rows go four at a time through register-blocked GEMMs
// (GCC vector extensions, float32) whose weights stay in the core's cache across all steps.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "common.h"
#include "entry_points.h"

namespace {

using namespace cellbench;

// C (R, N) += A (R, K) W (K, N); A, C with row strides lda, ldc; W row-major (K, N).
template <typename T>
void gemm_acc(int64_t R, int64_t K, int64_t N, const T* A, int64_t lda, const T* W, T* C,
              int64_t ldc) {
    for (int64_t r = 0; r < R; ++r) {
        T* __restrict__ c = C + r * ldc;
        for (int64_t k = 0; k < K; ++k) {
            const T a = A[r * lda + k];
            const T* __restrict__ w = W + k * N;
#pragma omp simd
            for (int64_t n = 0; n < N; ++n) c[n] += a * w[n];
        }
    }
}

// float32, RB rows x NB vectors of columns in registers: each weight vector loaded once per k
// serves RB rows.
template <int RB, int NB>
inline void gemm_tile(int64_t K, int64_t N, const float* A, int64_t lda, const float* W,
                      float* C, int64_t ldc, int64_t n0) {
    vfloat acc[RB][NB];
    for (int r = 0; r < RB; ++r)
        for (int b = 0; b < NB; ++b) acc[r][b] = load(C + r * ldc + n0 + b * kLanes);
    for (int64_t k = 0; k < K; ++k) {
        vfloat w[NB];
        for (int b = 0; b < NB; ++b) w[b] = load(W + k * N + n0 + b * kLanes);
        for (int r = 0; r < RB; ++r) {
            const float a = A[r * lda + k];
            for (int b = 0; b < NB; ++b) acc[r][b] += a * w[b];
        }
    }
    for (int r = 0; r < RB; ++r)
        for (int b = 0; b < NB; ++b) store(C + r * ldc + n0 + b * kLanes, acc[r][b]);
}

template <int RB>
inline void gemm_rows(int64_t K, int64_t N, const float* A, int64_t lda, const float* W,
                      float* C, int64_t ldc) {
    int64_t n0 = 0;
    for (; n0 + 4 * kLanes <= N; n0 += 4 * kLanes) gemm_tile<RB, 4>(K, N, A, lda, W, C, ldc, n0);
    for (; n0 + kLanes <= N; n0 += kLanes) gemm_tile<RB, 1>(K, N, A, lda, W, C, ldc, n0);
    if (n0 < N) {  // the last columns, one at a time
        for (int64_t r = 0; r < RB; ++r)
            for (int64_t k = 0; k < K; ++k)
                for (int64_t n = n0; n < N; ++n) C[r * ldc + n] += A[r * lda + k] * W[k * N + n];
    }
}

void gemm_acc(int64_t R, int64_t K, int64_t N, const float* A, int64_t lda, const float* W,
              float* C, int64_t ldc) {
    int64_t r = 0;
    for (; r + 4 <= R; r += 4) gemm_rows<4>(K, N, A + r * lda, lda, W, C + r * ldc, ldc);
    for (; r < R; ++r) gemm_rows<1>(K, N, A + r * lda, lda, W, C + r * ldc, ldc);
}

template <typename T>
struct Problem {
    int64_t B, T_, H, U, G, I;
    const T *x, *w_x, *b_x, *h0, *w_h, *w_g, *b_g, *ts;
    int mode;  // 0 default, 1 no_gate
};

// Rows [first, end): h (R, H), a/z (R, U), g (R, G) scratch; out/z_all/gates as documented.
template <typename T>
void forward_rows(const Problem<T>& p, int64_t first, int64_t end, T* out, T* z_all, T* gates) {
    const int64_t R = end - first, H = p.H, U = p.U, G = p.G, S = p.T_;
    std::vector<T> h(p.h0 + first * H, p.h0 + end * H), z(R * U), g(R * G);
    for (int64_t t = 0; t < S; ++t) {
        for (int64_t r = 0; r < R; ++r) std::copy_n(p.b_x, U, z.data() + r * U);
        // rows first.. of step t: x's rows are S * I apart
        gemm_acc(R, p.I, U, p.x + (first * S + t) * p.I, S * p.I, p.w_x, z.data(), U);
        gemm_acc(R, H, U, h.data(), H, p.w_h, z.data(), U);
        for (int64_t e = 0; e < R * U; ++e) z[e] = sigmoid(z[e]);
        for (int64_t r = 0; r < R; ++r) std::copy_n(p.b_g, G, g.data() + r * G);
        gemm_acc(R, U, G, z.data(), U, p.w_g, g.data(), G);
        for (int64_t r = 0; r < R; ++r) {
            const int64_t row = (first + r) * S + t;
            T* __restrict__ gr = g.data() + r * G;
            if (p.ts) {
                const T span = p.ts[row];
#pragma omp simd
                for (int64_t j = 0; j < H; ++j) {
                    gr[2 * H + j] = gr[2 * H + j] * span + gr[3 * H + j];
                }
            }
#pragma omp simd
            for (int64_t j = 0; j < 3 * H; ++j) gr[j] = sigmoid(gr[j]);
            T* __restrict__ hr = h.data() + r * H;
#pragma omp simd
            for (int64_t j = 0; j < H; ++j) {
                const T s1 = gr[j], s2 = gr[H + j], st = gr[2 * H + j];
                hr[j] = p.mode == 0 ? T(2) * (s1 + st * (s2 - s1)) - T(1)
                                    : T(2) * s1 - T(1) + st * (T(2) * s2 - T(1));
            }
            std::copy_n(hr, H, out + row * H);
            if (z_all) std::copy_n(z.data() + r * U, U, z_all + row * U);
            if (gates) std::copy_n(gr, 3 * H, gates + row * 3 * H);
        }
    }
}

template <typename T>
void backward_rows(const Problem<T>& p, const T* coef, const T* d_act, const T* grad_out,
                   const T* w_g_t, const T* w_h_t, int64_t first, int64_t end, T* d_g, T* d_a,
                   T* d_h0) {
    const int64_t R = end - first, H = p.H, U = p.U, G = p.G, S = p.T_, blocks = G / H;
    std::vector<T> dh(R * H), dg(R * G), da(R * U);
    for (int64_t r = 0; r < R; ++r)
        std::copy_n(grad_out + ((first + r) * S + S - 1) * H, H, dh.data() + r * H);
    for (int64_t t = S - 1; t >= 0; --t) {
        for (int64_t r = 0; r < R; ++r) {
            const int64_t row = (first + r) * S + t;
            const T* __restrict__ c = coef + row * G;
            const T* __restrict__ dhr = dh.data() + r * H;
            T* __restrict__ dgr = dg.data() + r * G;
            for (int64_t b = 0; b < blocks; ++b)
#pragma omp simd
                for (int64_t j = 0; j < H; ++j) dgr[b * H + j] = c[b * H + j] * dhr[j];
            std::copy_n(dgr, G, d_g + row * G);
        }
        std::fill(da.begin(), da.end(), T(0));
        gemm_acc(R, G, U, dg.data(), G, w_g_t, da.data(), U);
        for (int64_t r = 0; r < R; ++r) {
            const int64_t row = (first + r) * S + t;
            T* __restrict__ dar = da.data() + r * U;
            const T* __restrict__ act = d_act + row * U;
#pragma omp simd
            for (int64_t u = 0; u < U; ++u) dar[u] *= act[u];
            std::copy_n(dar, U, d_a + row * U);
            T* __restrict__ dhr = dh.data() + r * H;
            if (t > 0) {
                std::copy_n(grad_out + (row - 1) * H, H, dhr);
            } else {
                std::fill_n(dhr, H, T(0));
            }
        }
        gemm_acc(R, U, H, da.data(), U, w_h_t, dh.data(), H);
    }
    std::copy(dh.begin(), dh.end(), d_h0 + first * H);
}

}  // namespace

// The C ABI (declared in entry_points.h); the suffix names the element type; threads: how many
// to use.
#define CB_CFC_ENTRY_POINTS(T, SUFFIX)                                                         \
    extern "C" void cb_cfc_forward_##SUFFIX(                                                   \
        int64_t B, int64_t S, int64_t H, int64_t U, int64_t G, int64_t I, const T* x,          \
        const T* w_x, const T* b_x, const T* h0, const T* w_h, const T* w_g, const T* b_g,     \
        const T* ts, int mode, T* out, T* z_all, T* gates, int threads) {                      \
        const Problem<T> p{B, S, H, U, G, I, x, w_x, b_x, h0, w_h, w_g, b_g, ts, mode};        \
        over_row_blocks(B, threads, [&](int, int64_t first, int64_t end) {                     \
            forward_rows(p, first, end, out, z_all, gates);                                    \
        });                                                                                    \
    }                                                                                          \
    extern "C" void cb_cfc_backward_##SUFFIX(                                                  \
        int64_t B, int64_t S, int64_t H, int64_t U, int64_t G, const T* coef, const T* d_act,  \
        const T* grad_out, const T* w_g_t, const T* w_h_t, T* d_g, T* d_a, T* d_h0,            \
        int threads) {                                                                         \
        const Problem<T> p{B, S, H, U, G, 0, nullptr, nullptr, nullptr,                        \
                           nullptr, nullptr, nullptr, nullptr, nullptr, 0};                    \
        over_row_blocks(B, threads, [&](int, int64_t first, int64_t end) {                     \
            backward_rows(p, coef, d_act, grad_out, w_g_t, w_h_t, first, end, d_g, d_a, d_h0); \
        });                                                                                    \
    }

CB_CFC_ENTRY_POINTS(float, f32)
CB_CFC_ENTRY_POINTS(double, f64)
