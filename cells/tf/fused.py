"""`fused`: each cell rewritten so that the work that does not depend on the state runs once
for the whole sequence, outside the time loop; the `xla` implementation compiles the same code.

What leaves the loop (shapes: T steps, B batch, I inputs, H units):
  * CfC (unwired): the input half of the first projection, x @ W_x + b for all steps as one
    (T*B, I) matmul, with W_x = rows [:I] of backbone0_kernel, or of the concatenated head
    kernels when backbone_layers == 0. Per step only h @ W_h remains, and the heads
    ff1 | ff2 | time_a | time_b are one (C, 4H) matmul ("pure": ff1 alone).
  * LTC: the input mapping and the sensory synapses of every step, (T*B, I, H) reduced over I
    to (T, B, H) numerator and denominator terms; the loop runs only the recurrent synapses.
    Loop invariants (softplus(w) * mask and its product with erev) are formed once. The price
    is memory: graph mode holds (T*B, I, H) tensors (XLA fuses them away in the forward).
  * LSTM, GRU, and the mixed-memory LSTM of CfC/LTC: the input projection x @ W + b.
In the backward pass the same split turns T small weight-gradient products into one large one.
Each formulation is a `cells.tf.loop.Scan`: graph mode (`fused`) lets autodiff differentiate
its loop, `xla` uses `cells.tf.loop.scan_vjp`.

The weights stay canonical: the concatenated and split layouts are formed inside the traced
function, so a GradientTape still returns one gradient per canonical parameter. The results
equal the shared step's up to rounding (sums are grouped differently); the parity tests hold
them to the same tolerance.

Not covered: wired CfC (per-layer masked heads); `unsupported(spec)` says so, the `fused`
implementation declares it as its limit and `xla` falls back to the shared step.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from .. import memory
from . import ops
from .base import CellLayer
from .loop import Scan, run, step_ops, time_major


def unsupported(spec) -> str | None:
    """None when the fused formulation computes `spec`, else why not."""
    if spec.name == "cfc" and spec.is_wired:
        return "fused covers unwired CfC only (a wired CfC has per-layer masked heads)"
    return None


def project(x_tm, kernel, bias):
    """x_tm (T, B, K) @ kernel (K, N) + bias (N,) as one (T*B, K) matmul -> (T, B, N)."""
    shape = tf.shape(x_tm)
    out = tf.matmul(tf.reshape(x_tm, (-1, kernel.shape[0])), kernel) + bias
    return tf.reshape(out, tf.concat([shape[:2], [kernel.shape[1]]], axis=0))


def memory_step(recurrent_kernel, x_part, h, c):
    """`cells.memory.step` with its input projection x @ mm_input_kernel + mm_input_bias
    (B, 4H) already computed -> (h', c')."""
    z = x_part + tf.matmul(h, recurrent_kernel)
    g, i, f, o = tf.split(z, 4, axis=-1)
    c = c * tf.sigmoid(f + memory.FORGET_BIAS) + tf.tanh(g) * tf.sigmoid(i)
    return tf.tanh(c) * tf.sigmoid(o), c


def _with_memory(spec, p, x_tm, sequences, invariants):
    """Add the memory LSTM's hoisted input projection and recurrent kernel when mixed."""
    if spec.mixed_memory:
        sequences += (project(x_tm, p["mm_input_kernel"], p["mm_input_bias"]),)
        invariants["mm_recurrent_kernel"] = p["mm_recurrent_kernel"]
    return sequences, invariants


def _memory_first(spec, inv, mixed, state):
    """The state the cell proper starts from: the memory LSTM's (h, c), or (h,) as it is."""
    if spec.mixed_memory:
        return memory_step(inv["mm_recurrent_kernel"], mixed[0], *state)
    return state


# --------------------------------------------------------------------------------------- CfC
def _cfc_update(spec, inv, heads, ts):
    """`cells.cfc._head` from the head pre-activations [ff1, (ff2, time_a, time_b)] (B, H)."""
    if spec.mode == "pure":
        (ff1,) = heads
        a = inv["A"]
        return -a * tf.exp(-ts * (tf.abs(inv["w_tau"]) + tf.abs(ff1))) * ff1 + a
    ff1, ff2, t_a, t_b = heads
    ff1, ff2 = tf.tanh(ff1), tf.tanh(ff2)
    t_interp = tf.sigmoid(t_a * ts + t_b)
    if spec.mode == "no_gate":
        return ff1 + t_interp * ff2
    return ff1 * (1.0 - t_interp) + t_interp * ff2


def cfc_scan(spec, p, k, x_tm, ts_tm, seed, training) -> Scan:
    """Unwired CfC over time-major x_tm (T, B, I), ts_tm (T, B, 1); y is h (B, H)."""
    n_in, depth = spec.input_size, spec.backbone_layers
    names = ("ff1",) if spec.mode == "pure" else ("ff1", "ff2", "time_a", "time_b")
    w_heads = tf.concat([p[f"{n}_kernel"] for n in names], axis=1)  # (C, len(names) * H)
    b_heads = tf.concat([p[f"{n}_bias"] for n in names], axis=0)
    if depth > 0:
        first = p["backbone0_kernel"]
        x_part = project(x_tm, first[:n_in], p["backbone0_bias"])  # (T, B, U)
    else:
        first = w_heads
        x_part = project(x_tm, first[:n_in], b_heads)  # (T, B, len(names) * H)
    invariants = {"w_h": first[n_in:]}
    if depth > 0:
        invariants.update(w_heads=w_heads, b_heads=b_heads)
    for layer in range(1, depth):
        for part in ("kernel", "bias"):
            invariants[f"backbone{layer}_{part}"] = p[f"backbone{layer}_{part}"]
    if spec.mode == "pure":
        invariants.update(A=p["A"], w_tau=p["w_tau"])
    sequences, invariants = _with_memory(spec, p, x_tm, (x_part, ts_tm), invariants)
    activation = ops.activation(spec.backbone_activation)

    def step(t, slices, inv, state):
        x_t, ts_t, *mixed = slices
        h, *memory_cell = _memory_first(spec, inv, mixed, state)
        z = x_t + tf.matmul(h, inv["w_h"])
        if depth > 0:
            z = activation(z)
            dropout = step_ops(seed, t).dropout
            for layer in range(1, depth):
                kernel, bias = inv[f"backbone{layer}_kernel"], inv[f"backbone{layer}_bias"]
                z = activation(tf.matmul(z, kernel) + bias)
                z = dropout(z, spec.backbone_dropout, training)  # ncps: after layers 1.. only
            z = tf.matmul(z, inv["w_heads"]) + inv["b_heads"]
        h = _cfc_update(spec, inv, tf.split(z, len(names), axis=-1), ts_t)
        return h, (h, *memory_cell)

    return Scan(sequences, invariants, step, row_wise=seed is None)


# --------------------------------------------------------------------------------------- LTC
def ltc_scan(spec, p, k, x_tm, ts_tm, seed, training) -> Scan:
    """LTC over time-major x_tm (T, B, I), ts_tm (T, B, 1); y is the mapped motor neurons."""
    positive = tf.nn.softplus if spec.implicit_constraints else tf.identity
    x_in = x_tm
    if spec.input_mapping in ("affine", "linear"):
        x_in = x_in * p["input_w"]
    if spec.input_mapping == "affine":
        x_in = x_in + p["input_b"]
    # Sensory synapses read only the input: all steps at once, (T*B, I, H) summed over I.
    # One flat row axis, not (T, B): XLA then reduces the weight gradients over a single
    # axis in one pass instead of materialising (T, B, I, H) products (10x slower on CPU).
    sensory_w = positive(p["sensory_w"]) * k["sensory_sparsity_mask"]
    rows = tf.reshape(x_in, (-1, spec.input_size))
    drive = tf.sigmoid(p["sensory_sigma"] * (rows[:, :, None] - p["sensory_mu"]))
    per_step = tf.shape(x_tm)[:2]
    sensory_num, sensory_den = (
        tf.reshape(tf.reduce_sum(drive * weight, axis=-2), tf.concat([per_step, [-1]], 0))
        for weight in (sensory_w * p["sensory_erev"], sensory_w)
    )
    gleak = positive(p["gleak"])
    cm_t = positive(p["cm"]) / (ts_tm / spec.ode_unfolds)  # (T, B, H)
    # v <- (cm_t v + num_0 + N(v)) / (den_0 + D(v)): the state-free terms, per step.
    num_0 = gleak * p["vleak"] + sensory_num
    den_0 = cm_t + gleak + sensory_den + spec.epsilon
    w = positive(p["w"]) * k["sparsity_mask"]  # (H, H), [source, target]
    invariants = {"w": w, "w_erev": w * p["erev"], "sigma": p["sigma"], "mu": p["mu"]}
    for name in ("output_w", "output_b"):
        if name in p:
            invariants[name] = p[name]
    sequences, invariants = _with_memory(spec, p, x_tm, (cm_t, num_0, den_0), invariants)

    def step(t, slices, inv, state):
        cm, num0, den0, *mixed = slices
        v, *memory_cell = _memory_first(spec, inv, mixed, state)
        for _ in range(spec.ode_unfolds):
            synapse = tf.sigmoid(inv["sigma"] * (v[:, :, None] - inv["mu"]))  # (B, H, H)
            num = tf.reduce_sum(synapse * inv["w_erev"], axis=-2)
            den = tf.reduce_sum(synapse * inv["w"], axis=-2)
            v = (cm * v + num0 + num) / (den0 + den)
        y = v[:, : spec.output_size]
        if "output_w" in inv:
            y = y * inv["output_w"]
        if "output_b" in inv:
            y = y + inv["output_b"]
        return y, (v, *memory_cell)

    return Scan(sequences, invariants, step)


# ---------------------------------------------------------------------------------- LSTM, GRU
def lstm_scan(spec, p, k, x_tm, ts_tm, seed, training) -> Scan:
    """`cells.lstm.step` with the input projection hoisted; y is h (B, H)."""

    def step(t, slices, inv, state):
        h, c = state
        i, f, g, o = tf.split(slices[0] + tf.matmul(h, inv["w_h"]), 4, axis=-1)
        c = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
        h = tf.sigmoid(o) * tf.tanh(c)
        return h, (h, c)

    x_part = project(x_tm, p["input_kernel"], p["bias"])
    return Scan((x_part,), {"w_h": p["recurrent_kernel"]}, step)


def gru_scan(spec, p, k, x_tm, ts_tm, seed, training) -> Scan:
    """`cells.gru.step` with the input projection hoisted; y is h (B, H)."""

    def step(t, slices, inv, state):
        (h,) = state
        a_r, a_z, a_n = tf.split(slices[0], 3, axis=-1)
        b_r, b_z, b_n = tf.split(tf.matmul(h, inv["w_h"]) + inv["b_h"], 3, axis=-1)
        r = tf.sigmoid(a_r + b_r)
        z = tf.sigmoid(a_z + b_z)
        h = (1.0 - z) * tf.tanh(a_n + r * b_n) + z * h
        return h, (h,)

    x_part = project(x_tm, p["input_kernel"], p["input_bias"])
    return Scan((x_part,), {"w_h": p["recurrent_kernel"], "b_h": p["recurrent_bias"]}, step)


SCANS = {"cfc": cfc_scan, "ltc": ltc_scan, "lstm": lstm_scan, "gru": gru_scan}


def fused_scan(spec, params, constants, x_tm, ts_tm, seed, training) -> Scan:
    """The fused formulation of `spec` as a Scan over x_tm (T, B, I), ts_tm (T, B, 1).

    params, constants: canonical name -> tensor; seed: None (stateful dropout) or a (2,)
    int32 call seed (stateless dropout, for XLA).
    """
    reason = unsupported(spec)
    if reason:
        raise NotImplementedError(reason)
    return SCANS[spec.name](spec, params, constants, x_tm, ts_tm, seed, training)


@keras.saving.register_keras_serializable(package="cellbench")
class FusedCell(CellLayer):
    """The fused formulation in a tf.function (graph mode, no XLA); autodiff does backward."""

    impl = "fused"

    def run(self, x, state, ts, training):
        params = {k: v.value for k, v in self.canonical().items()}
        constants = {k: tf.constant(v, dtype=x.dtype) for k, v in self._constants.items()}
        scan = fused_scan(
            self.spec, params, constants, time_major(x), time_major(ts), None, training
        )
        y, state = run(scan, state)
        return time_major(y), state
