"""`cpp`: the C++ kernels of `cells/cpp/csrc` in TensorFlow, CfC and LTC, CPU.

The same whole-sequence kernels as torch's `cpp` implementation (`cells.torch.cpp_cfc`,
`cells.torch.cpp_ltc` say what they do), called with `tf.numpy_function` inside the layer's
tf.function, each with a `tf.custom_gradient` whose backward pass is the kernels' hand-written
BPTT. Everything around the kernels is TF: the CfC's weight folding (tanh in sigmoid form,
merged heads) and its input and weight gradients (the input projection is the kernel's); the
LTC's input mapping, softplus, masks and per-step terms. TF's autodiff carries the gradients
from the kernels' inputs to the canonical weights.

What this costs against TF's own implementations: graph mode only (XLA cannot compile a
numpy_function), no SavedModel export of the layer's call, and the kernels read and write
host memory (on a GPU, TF copies every operand to the host and back). Threads: TF's intra-op
thread count (all cores when unset).
"""

from __future__ import annotations

import os

import keras
import numpy as np
import tensorflow as tf

from ..cfc import SIGMOID_FORMS
from ..cpp import kernels
from .base import CellLayer


def _threads() -> int:
    return tf.config.threading.get_intra_op_parallelism_threads() or os.cpu_count() or 1


def _call(name: str, *args):
    """Call kernel `name` on numpy arrays, ints and Nones; the dtype is the first array's.

    Outputs are arrays the caller made with `_empty` (contiguous, aligned, written in place);
    inputs that are not contiguous or not aligned (TF's own buffers are; numpy's are not) are
    copied, and the copies live in `kept` until the call returns.
    """
    kept = [_aligned(a) if isinstance(a, np.ndarray) else a for a in args]
    dtype = next(a.dtype.name for a in kept if isinstance(a, np.ndarray))
    addresses = [a.ctypes.data if isinstance(a, np.ndarray) else a for a in kept]
    kernels.entry(name, dtype)(*addresses, _threads())


def _empty(shape, dtype) -> np.ndarray:
    """np.empty, aligned for the kernels (numpy aligns to 16 bytes); TF also takes aligned
    numpy_function outputs as they are, and copies the others."""
    dtype = np.dtype(dtype)
    size = int(np.prod(shape)) * dtype.itemsize
    buffer = np.empty(size + kernels.ALIGNMENT, np.uint8)
    start = -buffer.ctypes.data % kernels.ALIGNMENT
    return buffer[start : start + size].view(dtype).reshape(shape)


def _aligned(array: np.ndarray) -> np.ndarray:
    """`array`, or an aligned contiguous copy of it if it is not one already."""
    if array.flags.c_contiguous and array.ctypes.data % kernels.ALIGNMENT == 0:
        return array
    copy = _empty(array.shape, array.dtype)
    copy[...] = array
    return copy


def _numpy(function, inputs, dtype, shapes):
    """tf.numpy_function returning len(shapes) tensors of `dtype`, with their static shapes."""
    outputs = tf.numpy_function(function, inputs, [dtype] * len(shapes), stateful=False)
    for output, shape in zip(outputs, shapes):
        output.set_shape(shape)
    return outputs


# --------------------------------------------------------------------------------------- CfC
def _fold(spec, p, unit_steps: bool):
    """`cells.torch.fused_cfc.fold_weights` in TF: -> w_x, b_x, w_h, w_g, b_g; heads
    ff1 | ff2 | time (unit steps: time_a + time_b) or ff1 | ff2 | time_a | time_b."""
    alpha, beta, gamma = SIGMOID_FORMS[spec.backbone_activation]
    # tanh(u) = 2 sigmoid(2u) - 1 for the ff heads
    head_kernels = [2 * p["ff1_kernel"], 2 * p["ff2_kernel"]]
    head_biases = [2 * p["ff1_bias"], 2 * p["ff2_bias"]]
    if unit_steps:
        head_kernels.append(p["time_a_kernel"] + p["time_b_kernel"])
        head_biases.append(p["time_a_bias"] + p["time_b_bias"])
    else:
        head_kernels += [p["time_a_kernel"], p["time_b_kernel"]]
        head_biases += [p["time_a_bias"], p["time_b_bias"]]
    w_g, b_g = tf.concat(head_kernels, axis=1), tf.concat(head_biases, axis=0)
    b_g = b_g + gamma * tf.reduce_sum(w_g, axis=0)  # heads read beta * sigmoid + gamma
    w_g = beta * w_g
    w_backbone, b_x = alpha * p["backbone0_kernel"], alpha * p["backbone0_bias"]
    return w_backbone[: spec.input_size], b_x, w_backbone[spec.input_size :], w_g, b_g


def _gate_coefficients(mode, gates, ts):
    """d(head pre-activations)/dh per column -> (B, T, G); see fused_cfc._gate_coefficients."""
    s1, s2, st = tf.split(gates, 3, axis=-1)
    d1, d2, dt = tf.split(gates * (1 - gates), 3, axis=-1)
    if mode == "default":
        c1, c2, ct = 2 * (1 - st) * d1, 2 * st * d2, 2 * (s2 - s1) * dt
    else:
        c1, c2, ct = 2 * d1, 2 * st * d2, (2 * s2 - 1) * dt
    return tf.concat([c1, c2, ct] if ts is None else [c1, c2, ct * ts, ct], axis=-1)


def cfc_run(spec, p, x, h0, ts):
    """x (B, T, I), h0 (B, H), ts (B, T, 1) or None (unit steps) -> (h (B, T, H), h_T).

    The kernel computes the input projection too (`csrc/cfc_sequence.cpp` says why); its
    gradients are TF GEMMs in `grad`.
    """
    w_x, b_x, w_h, w_g, b_g = _fold(spec, p, unit_steps=ts is None)
    batch, steps = x.shape[0], x.shape[1]  # static sizes, None where unknown
    units, width, inputs = spec.units, spec.backbone_units, spec.input_size
    heads = (3 if ts is None else 4) * units
    mode, dtype = spec.mode, x.dtype

    def forward(x, w_x, b_x, h0, w_h, w_g, b_g, ts=None):
        b, t = x.shape[:2]
        out, z, gates = (_empty((b, t, n), x.dtype) for n in (units, width, 3 * units))
        _call("cfc_forward", b, t, units, width, heads, inputs, x, w_x, b_x, h0, w_h, w_g, b_g,
              ts, kernels.MODES[mode], out, z, gates)  # fmt: skip
        return out, z, gates

    def backward(coef, d_act, d_out, w_g_t, w_h_t):
        b, t = coef.shape[:2]
        d_g, d_a = _empty((b, t, heads), coef.dtype), _empty((b, t, width), coef.dtype)
        d_h0 = _empty((b, units), coef.dtype)
        _call("cfc_backward", b, t, units, width, heads, coef, d_act, d_out, w_g_t, w_h_t,
              d_g, d_a, d_h0)  # fmt: skip
        return d_g, d_a, d_h0

    @tf.custom_gradient
    def recurrence(x, w_x, b_x, h0, w_h, w_g, b_g):
        operands = [x, w_x, b_x, h0, w_h, w_g, b_g] + ([] if ts is None else [ts])
        out, z, gates = _numpy(
            forward, operands, dtype,
            [(batch, steps, units), (batch, steps, width), (batch, steps, 3 * units)],
        )  # fmt: skip

        def grad(d_out):
            coef = _gate_coefficients(mode, gates, ts)
            d_g, d_a, d_h0 = _numpy(
                backward, [coef, z * (1 - z), d_out, tf.transpose(w_g), tf.transpose(w_h)],
                dtype, [(batch, steps, heads), (batch, steps, width), (batch, units)],
            )  # fmt: skip
            h_prev = tf.reshape(tf.concat([h0[:, None], out[:, :-1]], axis=1), (-1, units))
            d_a_flat, d_g_flat = tf.reshape(d_a, (-1, width)), tf.reshape(d_g, (-1, heads))
            d_x = tf.reshape(tf.matmul(d_a_flat, w_x, transpose_b=True), tf.shape(x))
            d_w_x = tf.matmul(tf.reshape(x, (-1, inputs)), d_a_flat, transpose_a=True)
            d_w_h = tf.matmul(h_prev, d_a_flat, transpose_a=True)
            d_w_g = tf.matmul(tf.reshape(z, (-1, width)), d_g_flat, transpose_a=True)
            return (d_x, d_w_x, tf.reduce_sum(d_a_flat, axis=0), d_h0, d_w_h, d_w_g,
                    tf.reduce_sum(d_g_flat, axis=0))  # fmt: skip

        return out, grad

    out = recurrence(x, w_x, b_x, h0, w_h, w_g, b_g)
    return out, out[:, -1]


# --------------------------------------------------------------------------------------- LTC
def _sensory_sums(x, sigma, sigma_mu, w_erev, w):
    """x (N, I), (sigma, sigma_mu, w_erev, w) (I, H) -> (numerator, denominator) (N, H)."""
    (inputs, units), dtype = w.shape, x.dtype

    def forward(x, *synapses):
        num, den = (_empty((x.shape[0], units), x.dtype) for _ in range(2))
        _call("synapses_forward", x.shape[0], inputs, units, x, *synapses, num, den)
        return num, den

    def backward(x, sigma, sigma_mu, w_erev, w, d_num, d_den):
        grads = [_empty(a.shape, a.dtype) for a in (x, sigma, sigma_mu, w_erev, w)]
        _call("synapses_backward", x.shape[0], inputs, units, x, sigma, sigma_mu, w_erev, w,
              d_num, d_den, *grads)  # fmt: skip
        return grads

    @tf.custom_gradient
    def sums(x, sigma, sigma_mu, w_erev, w):
        operands = [x, sigma, sigma_mu, w_erev, w]
        num, den = _numpy(forward, operands, dtype, [(None, units)] * 2)

        def grad(d_num, d_den):
            d_num = tf.zeros_like(num) if d_num is None else d_num
            d_den = tf.zeros_like(den) if d_den is None else d_den
            shapes = [(None, inputs)] + [(inputs, units)] * 4
            return _numpy(backward, [*operands, d_num, d_den], dtype, shapes)

        return (num, den), grad

    return sums(x, sigma, sigma_mu, w_erev, w)


def _recurrence(cm_t, on, od, v0, synapses, unfolds):
    """(cm_t, offset_num, offset_den) (B, T, H), v0 (B, H), synapses 4 x (H, H) -> states."""
    batch, steps, units = cm_t.shape
    dtype = cm_t.dtype

    def forward(cm_t, on, od, v0, *synapses):
        b, t = on.shape[:2]
        states = _empty((b, t, units), on.dtype)
        trace = [_empty((b, t, unfolds, units), on.dtype) for _ in range(2)]
        _call("ltc_forward", b, t, units, unfolds, cm_t, on, od, v0, *synapses, states, *trace)
        return states, *trace

    def backward(cm_t, on, od, v0, sigma, sigma_mu, w_erev, w, states, trace_v, trace_inv, d):
        b, t = on.shape[:2]
        grads = [_empty(a.shape, a.dtype) for a in (cm_t, on, od, v0, sigma, sigma_mu, w_erev, w)]
        _call("ltc_backward", b, t, units, unfolds, cm_t, on, od, v0, sigma, sigma_mu, w_erev,
              w, states, trace_v, trace_inv, d, *grads)  # fmt: skip
        return grads

    @tf.custom_gradient
    def sequence(cm_t, on, od, v0, sigma, sigma_mu, w_erev, w):
        operands = [cm_t, on, od, v0, sigma, sigma_mu, w_erev, w]
        traced = (batch, steps, unfolds, units)
        states, *trace = _numpy(forward, operands, dtype, [(batch, steps, units), traced, traced])

        def grad(d_states):
            shapes = [(batch, steps, units)] * 3 + [(batch, units)] + [(units, units)] * 4
            return _numpy(backward, [*operands, states, *trace, d_states], dtype, shapes)

        return states, grad

    return sequence(cm_t, on, od, v0, *synapses)


def ltc_run(spec, p, k, x, v0, ts):
    """x (B, T, I), v0 (B, H), ts (B, T, 1) or None (unit steps) -> (y (B, T, motor), v_T);
    the terms as in `cells.torch.fused_ltc.recurrence_terms`."""
    positive = tf.nn.softplus if spec.implicit_constraints else tf.identity
    if spec.input_mapping in ("affine", "linear"):
        x = x * p["input_w"]
    if spec.input_mapping == "affine":
        x = x + p["input_b"]
    sensory_w = positive(p["sensory_w"]) * k["sensory_sparsity_mask"]
    sigma = p["sensory_sigma"]
    sens_num, sens_den = _sensory_sums(
        tf.reshape(x, (-1, spec.input_size)), sigma, sigma * p["sensory_mu"],
        sensory_w * p["sensory_erev"], sensory_w,
    )  # fmt: skip
    per_step = tf.concat([tf.shape(x)[:2], [spec.units]], axis=0)
    sens_num, sens_den = (tf.reshape(s, per_step) for s in (sens_num, sens_den))
    gleak = positive(p["gleak"])
    cm_t = positive(p["cm"]) * spec.ode_unfolds  # (H,), over the step's length: (B, T, H)
    cm_t = tf.broadcast_to(cm_t, per_step) if ts is None else cm_t / ts
    offset_num = gleak * p["vleak"] + sens_num
    offset_den = cm_t + gleak + spec.epsilon + sens_den
    w = positive(p["w"]) * k["sparsity_mask"]
    synapses = (p["sigma"], p["sigma"] * p["mu"], w * p["erev"], w)
    states = _recurrence(cm_t, offset_num, offset_den, v0, synapses, spec.ode_unfolds)
    y = states[..., : spec.output_size]
    if spec.output_mapping in ("affine", "linear"):
        y = y * p["output_w"]
    if spec.output_mapping == "affine":
        y = y + p["output_b"]
    return y, states[:, -1]


@keras.saving.register_keras_serializable(package="cellbench")
class CppCell(CellLayer):
    """The cell's recurrence in the C++ kernels, in graph mode; autodiff around them."""

    impl = "cpp"
    unit_timespans_as_none = True  # no timespans: the CfC's unit-step heads, as in torch

    def run(self, x, state, ts, training):
        if x.dtype.name not in kernels.SUFFIXES:
            raise NotImplementedError(f"cpp: float32 or float64 only, got {x.dtype.name}")
        params = {k: v.value for k, v in self.canonical().items()}
        if self.spec.name == "cfc":
            y, h = cfc_run(self.spec, params, x, state[0], ts)
        else:
            constants = {k: tf.constant(v, dtype=x.dtype) for k, v in self._constants.items()}
            y, h = ltc_run(self.spec, params, constants, x, state[0], ts)
        return y, (h,)
