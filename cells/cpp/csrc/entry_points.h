// The kernels' C ABI, declared once: cfc_sequence.cpp and ltc_sequence.cpp define these (the
// compiler checks each definition against its declaration here), Python calls them through
// ctypes (cells/cpp/kernels.py lists their argument types), and tf_ops.cc calls them from a
// TensorFlow op. The suffix names the element type; `threads`: how many OpenMP threads to use.
// Each definition's comment in its source file gives the shapes and what it computes.
#pragma once

#include <cstdint>

#define CB_DECLARE_ENTRY_POINTS(T, SUFFIX)                                                      \
    void cb_cfc_forward_##SUFFIX(int64_t B, int64_t S, int64_t H, int64_t U, int64_t G,        \
                                 int64_t I, const T* x, const T* w_x, const T* b_x,            \
                                 const T* h0, const T* w_h, const T* w_g, const T* b_g,        \
                                 const T* ts, int mode, T* out, T* z_all, T* gates,            \
                                 int threads);                                                 \
    void cb_cfc_backward_##SUFFIX(int64_t B, int64_t S, int64_t H, int64_t U, int64_t G,       \
                                  const T* coef, const T* d_act, const T* grad_out,            \
                                  const T* w_g_t, const T* w_h_t, T* d_g, T* d_a, T* d_h0,     \
                                  int threads);                                                \
    void cb_synapses_forward_##SUFFIX(int64_t N, int64_t P, int64_t H, const T* x,             \
                                      const T* sig, const T* smu, const T* we, const T* w,     \
                                      T* num, T* den, int threads);                            \
    void cb_synapses_backward_##SUFFIX(int64_t N, int64_t P, int64_t H, const T* x,            \
                                       const T* sig, const T* smu, const T* we, const T* w,    \
                                       const T* d_num, const T* d_den, T* d_x, T* d_sig,       \
                                       T* d_smu, T* d_we, T* d_w, int threads);                \
    void cb_ltc_forward_##SUFFIX(int64_t B, int64_t S, int64_t H, int64_t K, const T* cm,      \
                                 const T* on, const T* od, const T* v0, const T* sig,          \
                                 const T* smu, const T* we, const T* w, T* states,             \
                                 T* trace_v, T* trace_inv, int threads);                       \
    void cb_ltc_backward_##SUFFIX(int64_t B, int64_t S, int64_t H, int64_t K, const T* cm,     \
                                  const T* on, const T* od, const T* v0, const T* sig,         \
                                  const T* smu, const T* we, const T* w, const T* states,      \
                                  const T* trace_v, const T* trace_inv,                        \
                                  const T* grad_states, T* d_cm, T* d_on, T* d_od, T* d_v0,    \
                                  T* d_sig, T* d_smu, T* d_we, T* d_w, int threads);

extern "C" {
CB_DECLARE_ENTRY_POINTS(float, f32)
CB_DECLARE_ENTRY_POINTS(double, f64)
}

#undef CB_DECLARE_ENTRY_POINTS
