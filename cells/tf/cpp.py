"""`cpp`: the C++ kernels of `cells/cpp/csrc` in TensorFlow, CfC and LTC, CPU.

The same whole-sequence kernels as torch's `cpp` implementation (`cells.torch.cpp_cfc`,
`cells.torch.cpp_ltc` say what they do), run by a TF op (`CellbenchKernel`, `csrc/tf_ops.cc`,
built against this TF's headers on first use), each call with a `tf.custom_gradient` whose
backward pass is the kernels' hand-written BPTT. Everything around the kernels is TF: the CfC's
weight folding (tanh in sigmoid form, merged heads) and its input and weight gradients (the
input projection is the kernel's); the LTC's input mapping, softplus, masks and per-step terms.
TF's autodiff carries the gradients from the kernels' inputs to the canonical weights.

The op replaced a `tf.numpy_function` (a trip through Python, the GIL and numpy wrappers on
every call): the CfC forward pass went from 0.60-0.64x to 0.42-0.47x keras LSTM's time, ratios
taken in one process each (`suites/kernels/tf_probe.py`). What it costs against TF's own
implementations: no XLA (`jit_compile` cannot compile a custom op), a SavedModel of the layer's
call needs the op library loaded, and the kernels run on the CPU (on a GPU, TF copies every
operand to the host and back). Threads: TF's intra-op thread count (all cores when unset) when
the graph is traced.
"""

from __future__ import annotations

import functools
import os

import keras
import tensorflow as tf

from ..cfc import SIGMOID_FORMS
from ..cpp import build, kernels
from .base import CellLayer


def _threads() -> int:
    return tf.config.threading.get_intra_op_parallelism_threads() or os.cpu_count() or 1


#: the op, and the kernel sources behind `kernels.ENTRY_POINTS` (compiled into one library)
_KERNEL_LIBRARIES = sorted({library for library, _ in kernels.ENTRY_POINTS.values()})
TF_OP_SOURCES = ("tf_ops.cc", *(f"{library}.cpp" for library in _KERNEL_LIBRARIES))


@functools.cache
def _ops():
    """The op library of `csrc/tf_ops.cc` with the kernels in it, built with this TF's headers
    (about 15 s, once per TF version, compiler and CPU) and loaded into TF."""
    flags = [f for f in tf.sysconfig.get_compile_flags() if not f.startswith("--std")]  # c++20
    sources = tuple(build.SOURCES / name for name in TF_OP_SOURCES)
    path = build.build(
        "tf_ops", sources, (*flags, "-Wno-deprecated-declarations"),
        tuple(tf.sysconfig.get_link_flags()), key=tf.__version__,
    )  # fmt: skip
    return tf.load_op_library(str(path))


def dim(operand: int, axis: int) -> str:
    """A size the op reads at run time: dimension `axis` of operand `operand`."""
    return f"@{operand}.{axis}"


def _kernel(name: str, operands: list, sizes: list, outputs: list[tuple], pointers=None):
    """Kernel `name` (`kernels.ENTRY_POINTS`) as a TF op on `operands` -> its outputs.

    sizes: its integer arguments (ints, or `dim(...)`); outputs: their shapes (same items);
    pointers: its array arguments, "iN" operand N, "oN" output N, "null"; default: every operand,
    then every output. The thread count is TF's intra-op setting when the graph is traced.
    """
    if pointers is None:
        pointers = [f"i{n}" for n in range(len(operands))] + [f"o{n}" for n in range(len(outputs))]
    return _ops().cellbench_kernel(
        operands, num_outputs=len(outputs), entry=name, sizes=[str(s) for s in sizes],
        pointers=pointers, output_shapes=[",".join(map(str, shape)) for shape in outputs],
        threads=_threads(),
    )  # fmt: skip


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
    units, width, inputs = spec.units, spec.backbone_units, spec.input_size
    heads = (3 if ts is None else 4) * units
    mode = spec.mode
    b, t = dim(0, 0), dim(0, 1)  # batch and steps, of each call's first operand

    @tf.custom_gradient
    def recurrence(x, w_x, b_x, h0, w_h, w_g, b_g):
        operands = [x, w_x, b_x, h0, w_h, w_g, b_g] + ([] if ts is None else [ts])
        out, z, gates = _kernel(
            "cfc_forward", operands, [b, t, units, width, heads, inputs, kernels.MODES[mode]],
            [(b, t, units), (b, t, width), (b, t, 3 * units)],
            pointers=[f"i{n}" for n in range(7)] + ["null" if ts is None else "i7"]
            + ["o0", "o1", "o2"],
        )  # fmt: skip

        def grad(d_out):
            coef = _gate_coefficients(mode, gates, ts)
            d_g, d_a, d_h0 = _kernel(
                "cfc_backward",
                [coef, z * (1 - z), d_out, tf.transpose(w_g), tf.transpose(w_h)],
                [b, t, units, width, heads], [(b, t, heads), (b, t, width), (b, units)],
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
    inputs, units = w.shape
    n = dim(0, 0)  # rows of x

    @tf.custom_gradient
    def sums(x, sigma, sigma_mu, w_erev, w):
        operands = [x, sigma, sigma_mu, w_erev, w]
        num, den = _kernel("synapses_forward", operands, [n, inputs, units], [(n, units)] * 2)

        def grad(d_num, d_den):
            d_num = tf.zeros_like(num) if d_num is None else d_num
            d_den = tf.zeros_like(den) if d_den is None else d_den
            shapes = [(n, inputs)] + [(inputs, units)] * 4
            return _kernel("synapses_backward", [*operands, d_num, d_den], [n, inputs, units],
                           shapes)  # fmt: skip

        return (num, den), grad

    return sums(x, sigma, sigma_mu, w_erev, w)


def _recurrence(cm_t, on, od, v0, synapses, unfolds):
    """(cm_t, offset_num, offset_den) (B, T, H), v0 (B, H), synapses 4 x (H, H) -> states."""
    units = cm_t.shape[-1]
    b, t = dim(1, 0), dim(1, 1)  # batch and steps, of offset_num
    sizes = [b, t, units, unfolds]

    @tf.custom_gradient
    def sequence(cm_t, on, od, v0, sigma, sigma_mu, w_erev, w):
        operands = [cm_t, on, od, v0, sigma, sigma_mu, w_erev, w]
        traced = (b, t, unfolds, units)
        states, *trace = _kernel("ltc_forward", operands, sizes, [(b, t, units), traced, traced])

        def grad(d_states):
            shapes = [(b, t, units)] * 3 + [(b, units)] + [(units, units)] * 4
            return _kernel("ltc_backward", [*operands, states, *trace, d_states], sizes, shapes)

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
