// The LTC's synapses, forward and hand-written backward, for the `cpp` implementations (their
// frontends, cells/torch/cpp_ltc.py and cells/tf/cpp.py, prepare every argument and own
// autograd): the sensory synapses of many rows at once (cb_synapses_*) and the recurrence over a
// whole sequence (cb_ltc_*).
//
// A synapse layer maps presynaptic values x (P,) to the sums of every post neuron j (H,):
//   a_ij = sigmoid(x_i sig_ij - smu_ij),  num_j = sum_i a_ij we_ij,  den_j = sum_i a_ij w_ij
// with sig, smu, we, w (P, H) [pre i][post j]: sigma, sigma * mu, w * erev, w (w already
// softplus-ed and masked).
//
// The recurrence, shapes (row-major, contiguous): B batch, S steps, H neurons, K ode unfolds.
//   cm, on, od   (B, S, H)  per-step terms: cm * K / ts, gleak * vleak + sensory numerator,
//                           cm * K / ts + gleak + sensory denominator + epsilon
//   v0           (B, H)     initial potentials
//   sig, smu, we, w (H, H)  recurrent synapses [pre i][post j]: sigma, sigma * mu, w * erev, w
//                           (w already softplus-ed and masked)
//   states       (B, S, H)  out: the potential after each step
//   trace_v      (B, S, K, H) out (training only): the potential entering each unfold
//   trace_inv    (B, S, K, H) out (training only): 1 / denominator of each unfold
//
// One unfold is the recurrent synapse layer (P = H) on the potentials v, then, for every j,
//   v'_j = N_j / D_j,  N_j = cm_j v_j + on_j + num_j,  D_j = od_j + den_j
//
// Backward, from g_j = dL/dv'_j: dn_j = dL/dN_j = g_j / D_j and dd_j = dL/dD_j = -dn_j v'_j,
// which are also dL/d on_j, dL/d num_j and dL/d od_j, dL/d den_j; dL/d cm_j = dn_j v_j; and
// per synapse, with dz_ij = (we_ij dn_j + w_ij dd_j) a_ij (1 - a_ij):
//   dL/d we_ij += a_ij dn_j,  dL/d w_ij += a_ij dd_j,  dL/d sig_ij += dz_ij x_i,
//   dL/d smu_ij -= dz_ij,     dL/d x_i += sum_j dz_ij sig_ij  (plus dn_i cm_i for v_i).
// The activations are recomputed, not stored: storing them would take B S K H H floats.
//
// Rows (batch rows through the whole sequence, or sensory rows) are independent, so each thread
// takes a block of rows with no synchronisation; weight gradients go to per-thread buffers that
// are summed at the end. Inner loops run over post neurons j, contiguous in every (P, H) array:
// in float32 as explicit vectors holding a block of j (below), elsewhere written so the compiler
// vectorises them (`omp simd`; the float exp is built from arithmetic, so it vectorises too).

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "common.h"
#include "entry_points.h"

namespace {

using namespace cellbench;


template <typename T>
struct Synapses {
    int64_t pre, post;
    const T *sig, *smu, *we, *w;  // (pre, post) each
};

// Per-thread gradient buffers of one synapse layer: sig, smu, we, w, (pre, post) each.
template <typename T>
struct SynapseGrads {
    T *sig, *smu, *we, *w;
};

template <typename T>
SynapseGrads<T> grads_in(T* base, int64_t size) {
    return SynapseGrads<T>{base, base + size, base + 2 * size, base + 3 * size};
}

// Presynaptic value x_i's share of every post neuron's sums: num += a we, den += a w.
template <typename T>
inline void add_row(int64_t H, T xi, const T* __restrict__ sig, const T* __restrict__ smu,
                    const T* __restrict__ we, const T* __restrict__ w, T* __restrict__ num,
                    T* __restrict__ den) {
#pragma omp simd
    for (int64_t j = 0; j < H; ++j) {
        const T a = sigmoid(xi * sig[j] - smu[j]);
        num[j] += a * we[j];
        den[j] += a * w[j];
    }
}

// x (pre,) -> num, den (post,), overwritten.
template <typename T>
void synapse_sums(const Synapses<T>& s, const T* x, T* num, T* den) {
    const int64_t H = s.post;
    std::fill(num, num + H, T(0));
    std::fill(den, den + H, T(0));
    for (int64_t i = 0; i < s.pre; ++i) {
        add_row(H, x[i], s.sig + i * H, s.smu + i * H, s.we + i * H, s.w + i * H, num, den);
    }
}

// float32: sums of post neurons [j0, j0 + NB * kLanes) over every presynaptic row, in registers.
template <int NB>
inline void sums_block(const Synapses<float>& s, const float* x, int64_t j0, float* num,
                       float* den) {
    const int64_t H = s.post;
    vfloat n[NB], d[NB];
    for (int b = 0; b < NB; ++b) n[b] = d[b] = vfloat{};
    for (int64_t i = 0; i < s.pre; ++i) {
        const vfloat xi = splat(x[i]);
        for (int b = 0; b < NB; ++b) {
            const int64_t at = i * H + j0 + b * kLanes;
            const vfloat a = sigmoid(xi * load(s.sig + at) - load(s.smu + at));
            n[b] += a * load(s.we + at);
            d[b] += a * load(s.w + at);
        }
    }
    for (int b = 0; b < NB; ++b) {
        for (int64_t l = 0; l < kLanes; ++l) {
            num[j0 + b * kLanes + l] = n[b][l];
            den[j0 + b * kLanes + l] = d[b][l];
        }
    }
}

// synapse_sums for float32: blocks of post neurons in vector registers, the rest one by one.
inline void synapse_sums(const Synapses<float>& s, const float* x, float* num, float* den) {
    const int64_t H = s.post;
    int64_t j0 = 0;
    for (; j0 + 2 * kLanes <= H; j0 += 2 * kLanes) sums_block<2>(s, x, j0, num, den);
    for (; j0 + kLanes <= H; j0 += kLanes) sums_block<1>(s, x, j0, num, den);
    for (int64_t j = j0; j < H; ++j) {
        float n = 0.0f, d = 0.0f;
        for (int64_t i = 0; i < s.pre; ++i) {
            const float a = sigmoid(x[i] * s.sig[i * H + j] - s.smu[i * H + j]);
            n += a * s.we[i * H + j];
            d += a * s.w[i * H + j];
        }
        num[j] = n;
        den[j] = d;
    }
}

// Backward of row i: gradients dn = dL/d num, dd = dL/d den (post,) -> weight gradients added
// to g's row i; returns dL/d x_i.
template <typename T>
inline T backprop_row(int64_t H, T xi, const T* __restrict__ sig, const T* __restrict__ smu,
                      const T* __restrict__ we, const T* __restrict__ w,
                      const T* __restrict__ dn, const T* __restrict__ dd, T* __restrict__ g_sig,
                      T* __restrict__ g_smu, T* __restrict__ g_we, T* __restrict__ g_w) {
    T into_xi = T(0);
#pragma omp simd reduction(+ : into_xi)
    for (int64_t j = 0; j < H; ++j) {
        const T a = sigmoid(xi * sig[j] - smu[j]);
        g_we[j] += a * dn[j];
        g_w[j] += a * dd[j];
        const T dz = (we[j] * dn[j] + w[j] * dd[j]) * a * (T(1) - a);
        g_sig[j] += dz * xi;
        g_smu[j] -= dz;
        into_xi += dz * sig[j];
    }
    return into_xi;
}

inline float lane_sum(vfloat v) {
    float total = 0.0f;
    for (int64_t l = 0; l < kLanes; ++l) total += v[l];
    return total;
}

// float32 backward of post neurons [j0, j0 + NB * kLanes) over every presynaptic row: the
// incoming gradients of the block stay in registers; weight gradients are read and written once
// per synapse.
template <int NB>
inline void backprop_block(const Synapses<float>& s, const float* x, const float* dn,
                           const float* dd, const SynapseGrads<float>& g, float* dx, int64_t j0) {
    const int64_t H = s.post;
    vfloat vn[NB], vd[NB];
    for (int b = 0; b < NB; ++b) {
        vn[b] = load(dn + j0 + b * kLanes);
        vd[b] = load(dd + j0 + b * kLanes);
    }
    for (int64_t i = 0; i < s.pre; ++i) {
        const vfloat xi = splat(x[i]);
        vfloat into = vfloat{};
        for (int b = 0; b < NB; ++b) {
            const int64_t at = i * H + j0 + b * kLanes;
            const vfloat sig = load(s.sig + at);
            const vfloat a = sigmoid(xi * sig - load(s.smu + at));
            store(g.we + at, load(g.we + at) + a * vn[b]);
            store(g.w + at, load(g.w + at) + a * vd[b]);
            const vfloat dz = (load(s.we + at) * vn[b] + load(s.w + at) * vd[b]) * a * (1.0f - a);
            store(g.sig + at, load(g.sig + at) + dz * xi);
            store(g.smu + at, load(g.smu + at) - dz);
            into += dz * sig;
        }
        dx[i] += lane_sum(into);
    }
}

// synapse_backprop for float32: blocks of post neurons in vector registers, the rest by
// backprop_row.
inline void synapse_backprop(const Synapses<float>& s, const float* x, const float* dn,
                             const float* dd, const SynapseGrads<float>& g, float* dx) {
    const int64_t H = s.post;
    int64_t j0 = 0;
    for (; j0 + 4 * kLanes <= H; j0 += 4 * kLanes) backprop_block<4>(s, x, dn, dd, g, dx, j0);
    for (; j0 + kLanes <= H; j0 += kLanes) backprop_block<1>(s, x, dn, dd, g, dx, j0);
    if (j0 == H) return;
    for (int64_t i = 0; i < s.pre; ++i) {
        const int64_t r = i * H + j0;
        dx[i] += backprop_row(H - j0, x[i], s.sig + r, s.smu + r, s.we + r, s.w + r, dn + j0,
                              dd + j0, g.sig + r, g.smu + r, g.we + r, g.w + r);
    }
}

// Backward of synapse_sums at x: adds dL/d x to dx (pre,) and weight gradients to g.
template <typename T>
void synapse_backprop(const Synapses<T>& s, const T* x, const T* dn, const T* dd,
                      const SynapseGrads<T>& g, T* dx) {
    const int64_t H = s.post;
    for (int64_t i = 0; i < s.pre; ++i) {
        const int64_t r = i * H;
        dx[i] += backprop_row(H, x[i], s.sig + r, s.smu + r, s.we + r, s.w + r, dn, dd,
                              g.sig + r, g.smu + r, g.we + r, g.w + r);
    }
}

// Backward over row blocks with per-thread weight-gradient buffers, summed into `out` at the end.
template <typename T, typename F>
void backprop_over_rows(int64_t rows, int threads, int64_t size, const SynapseGrads<T>& out, F f) {
    const int n = thread_count(rows, threads);
    std::vector<T> buffers(static_cast<size_t>(n) * 4 * size, T(0));
    over_row_blocks(rows, n, [&](int thread, int64_t first, int64_t end) {
        f(grads_in(buffers.data() + thread * 4 * size, size), first, end);
    });
    T* outs[4] = {out.sig, out.smu, out.we, out.w};
    for (int part = 0; part < 4; ++part) {
        for (int64_t e = 0; e < size; ++e) {
            T total = T(0);
            for (int thread = 0; thread < n; ++thread) {
                total += buffers[(thread * 4 + part) * size + e];
            }
            outs[part][e] = total;
        }
    }
}

template <typename T>
struct Sequence {
    int64_t B, S, H, K;
    const T *cm, *on, *od, *v0;
    Synapses<T> rec;
    T *states, *trace_v, *trace_inv;
};

template <typename T>
void sequence_forward(const Sequence<T>& p, int threads) {
    over_row_blocks(p.B, threads, [&](int, int64_t first, int64_t end) {
        const int64_t H = p.H;
        std::vector<T> v(H), num(H), den(H);
        for (int64_t b = first; b < end; ++b) {
            std::copy(p.v0 + b * H, p.v0 + (b + 1) * H, v.begin());
            for (int64_t t = 0; t < p.S; ++t) {
                const int64_t row = (b * p.S + t) * H;
                const T* __restrict__ cm = p.cm + row;
                const T* __restrict__ on = p.on + row;
                const T* __restrict__ od = p.od + row;
                for (int64_t k = 0; k < p.K; ++k) {
                    const int64_t unfold = (row * p.K) + k * H;
                    if (p.trace_v) std::copy(v.begin(), v.end(), p.trace_v + unfold);
                    synapse_sums(p.rec, v.data(), num.data(), den.data());
                    const T* __restrict__ nu = num.data();
                    const T* __restrict__ de = den.data();
                    T* __restrict__ vv = v.data();
                    T* __restrict__ inv_out = p.trace_inv ? p.trace_inv + unfold : nullptr;
#pragma omp simd
                    for (int64_t j = 0; j < H; ++j) {
                        const T inv = T(1) / (od[j] + de[j]);
                        if (inv_out) inv_out[j] = inv;
                        vv[j] = (cm[j] * vv[j] + on[j] + nu[j]) * inv;
                    }
                }
                std::copy(v.begin(), v.end(), p.states + row);
            }
        }
    });
}

// BPTT through every unfold. grad_states (B, S, H) = dL/d states; writes d_cm, d_on, d_od
// (B, S, H), d_v0 (B, H) and the recurrent synapses' gradients `out`.
template <typename T>
void sequence_backward(const Sequence<T>& p, const T* grad_states, T* d_cm_all, T* d_on_all,
                       T* d_od_all, T* d_v0, const SynapseGrads<T>& out, int threads) {
    const int64_t H = p.H;
    auto rows = [&](const SynapseGrads<T>& g, int64_t first, int64_t end) {
        std::vector<T> grad(H), grad_in(H), dn(H), dd(H);
        for (int64_t b = first; b < end; ++b) {
            std::fill(grad.begin(), grad.end(), T(0));
            for (int64_t t = p.S - 1; t >= 0; --t) {
                const int64_t row = (b * p.S + t) * H;
                const T* __restrict__ cm = p.cm + row;
                T* __restrict__ d_cm = d_cm_all + row;
                T* __restrict__ d_on = d_on_all + row;
                T* __restrict__ d_od = d_od_all + row;
                for (int64_t j = 0; j < H; ++j) {
                    grad[j] += grad_states[row + j];
                    d_cm[j] = d_on[j] = d_od[j] = T(0);
                }
                for (int64_t k = p.K - 1; k >= 0; --k) {
                    const int64_t unfold = (row * p.K) + k * H;
                    const T* __restrict__ v = p.trace_v + unfold;
                    const T* __restrict__ inv = p.trace_inv + unfold;
                    const T* __restrict__ v_out = k + 1 < p.K ? v + H : p.states + row;
                    T* __restrict__ gi = grad_in.data();
                    T* __restrict__ n_ = dn.data();
                    T* __restrict__ d_ = dd.data();
                    const T* __restrict__ go = grad.data();
#pragma omp simd
                    for (int64_t j = 0; j < H; ++j) {
                        n_[j] = go[j] * inv[j];     // dL/d numerator
                        d_[j] = -n_[j] * v_out[j];  // dL/d denominator
                        d_on[j] += n_[j];
                        d_od[j] += d_[j];
                        d_cm[j] += n_[j] * v[j];
                        gi[j] = n_[j] * cm[j];      // through cm_j v_j; the synapses add theirs
                    }
                    synapse_backprop(p.rec, v, n_, d_, g, gi);
                    grad.swap(grad_in);
                }
            }
            std::copy(grad.begin(), grad.end(), d_v0 + b * H);
        }
    };
    backprop_over_rows(p.B, threads, H * H, out, rows);
}

template <typename T>
Synapses<T> synapses(int64_t pre, int64_t post, const T* sig, const T* smu, const T* we,
                     const T* w) {
    return Synapses<T>{pre, post, sig, smu, we, w};
}

}  // namespace

// The C ABI (declared in entry_points.h); the suffix names the element type; threads: how many
// to use.
#define CB_LTC_ENTRY_POINTS(T, SUFFIX)                                                          \
    /* x (N, P) -> num, den (N, H) */                                                          \
    extern "C" void cb_synapses_forward_##SUFFIX(int64_t N, int64_t P, int64_t H, const T* x,  \
                                                 const T* sig, const T* smu, const T* we,     \
                                                 const T* w, T* num, T* den, int threads) {    \
        const auto s = synapses(P, H, sig, smu, we, w);                                        \
        over_row_blocks(N, threads, [&](int, int64_t first, int64_t end) {                     \
            for (int64_t n = first; n < end; ++n)                                              \
                synapse_sums(s, x + n * P, num + n * H, den + n * H);                          \
        });                                                                                    \
    }                                                                                          \
    /* dL/d num, den (N, H) -> dL/d x (N, P) and dL/d sig, smu, we, w (P, H) */                \
    extern "C" void cb_synapses_backward_##SUFFIX(                                             \
        int64_t N, int64_t P, int64_t H, const T* x, const T* sig, const T* smu, const T* we,  \
        const T* w, const T* d_num, const T* d_den, T* d_x, T* d_sig, T* d_smu, T* d_we,       \
        T* d_w, int threads) {                                                                 \
        const auto s = synapses(P, H, sig, smu, we, w);                                        \
        const SynapseGrads<T> out{d_sig, d_smu, d_we, d_w};                                    \
        backprop_over_rows(N, threads, P * H, out, [&](const SynapseGrads<T>& g, int64_t first, \
                                                        int64_t end) {                         \
            std::fill(d_x + first * P, d_x + end * P, T(0));                                   \
            for (int64_t n = first; n < end; ++n)                                              \
                synapse_backprop(s, x + n * P, d_num + n * H, d_den + n * H, g, d_x + n * P);  \
        });                                                                                    \
    }                                                                                          \
    extern "C" void cb_ltc_forward_##SUFFIX(int64_t B, int64_t S, int64_t H, int64_t K,       \
                                            const T* cm, const T* on, const T* od,             \
                                            const T* v0, const T* sig, const T* smu,           \
                                            const T* we, const T* w, T* states, T* trace_v,    \
                                            T* trace_inv, int threads) {                       \
        sequence_forward(Sequence<T>{B, S, H, K, cm, on, od, v0,                               \
                                     synapses(H, H, sig, smu, we, w), states, trace_v,         \
                                     trace_inv},                                               \
                         threads);                                                             \
    }                                                                                          \
    extern "C" void cb_ltc_backward_##SUFFIX(                                                  \
        int64_t B, int64_t S, int64_t H, int64_t K, const T* cm, const T* on, const T* od,    \
        const T* v0, const T* sig, const T* smu, const T* we, const T* w, const T* states,     \
        const T* trace_v, const T* trace_inv, const T* grad_states, T* d_cm, T* d_on,          \
        T* d_od, T* d_v0, T* d_sig, T* d_smu, T* d_we, T* d_w, int threads) {                  \
        const Sequence<T> p{B, S, H, K, cm, on, od, v0, synapses(H, H, sig, smu, we, w),       \
                            const_cast<T*>(states), const_cast<T*>(trace_v),                   \
                            const_cast<T*>(trace_inv)};                                        \
        sequence_backward(p, grad_states, d_cm, d_on, d_od, d_v0,                              \
                          SynapseGrads<T>{d_sig, d_smu, d_we, d_w}, threads);                  \
    }

CB_LTC_ENTRY_POINTS(float, f32)
CB_LTC_ENTRY_POINTS(double, f64)
