"""The time loop of the `fused` and `xla` implementations, its XLA-friendly backward pass, and
XLA-safe dropout.

A cell's computation over a sequence is written as a `Scan`: time-major `sequences` (state-free
work already done for every step), loop-`invariants` (tensors the step reads, such as kernels),
and a `step(t, slices, invariants, state) -> (y_t, state)`. `run` loops it forward.
`scan_vjp` is its backward pass, written out instead of left to autodiff so that it can run
inside XLA:

  * Autodiff of a while loop saves each step's intermediates in TensorLists. Those cannot
    leave an XLA program (tensorflow#39162: "TensorList crossing the XLA/TF boundary"), and
    for LTC they are large ((B, H, H) per ODE unfold per step). `scan_vjp` instead takes the
    states entering each step (T small tensors, saved by the forward) and, walking back,
    recomputes one step at a time under a local tape: rematerialisation per step.
  * Sequence slices are read and their gradients written through TensorArrays: the gradient
    of a plain `seq[t]` is a full-size (T, ...) tensor per step, O(T^2) work in all.
  * The loop carries only the state's gradient. The invariants' (weights') gradients come
    after it from one VJP of the step over all T*B rows at once, given the states entering
    each step and the cotangents the loop recorded: large matmuls and single-axis sums
    instead of T small accumulated ones (unless the step reads t: keyed dropout).
  * The state-free part (building the `Scan` from x, ts and the weights) is differentiated
    once for the whole sequence, after the loop, from the gradients of its outputs.

Dropout under XLA must be stateless: XLA ignores the seeds of TF's stateful RNG ops, and the
backward recomputation must draw the forward's masks. `step_ops(seed, t)` gives the step an
ops namespace whose dropout is keyed by (call seed, step, site).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import tensorflow as tf

from ..steps import STEPS
from . import ops


class StatelessDropoutOps:
    """`cells.tf.ops` whose dropout is stateless, keyed by `seed` (2,) and a per-site counter.

    Make a new one per traced step: the counter then numbers the dropout sites of that step.
    """

    def __init__(self, seed):
        self._seed = seed
        self._site = 0

    def __getattr__(self, name):
        return getattr(ops, name)

    def dropout(self, x, rate, training):
        if not training or rate <= 0:
            return x
        self._site += 1
        seed = tf.random.experimental.stateless_fold_in(self._seed, self._site)
        return tf.nn.experimental.stateless_dropout(x, rate=rate, seed=seed)


def step_ops(seed, t):
    """The ops namespace for step t: plain `ops` (stateful dropout) when seed is None, else
    stateless dropout keyed by the call's `seed` (2,) int32 and t."""
    if seed is None:
        return ops
    return StatelessDropoutOps(tf.random.experimental.stateless_fold_in(seed, t))


def time_major(t):
    """(B, T, ...) <-> (T, B, ...)."""
    return tf.transpose(t, [1, 0] + list(range(2, t.shape.rank)))


@dataclasses.dataclass
class Scan:
    """A recurrence over T steps.

    Attributes:
        sequences: time-major tensors (T, B, ...); step t reads their t-th slices.
        invariants: dict name -> tensor read by every step. The step must reach differentiable
            tensors only through `slices`, `invariants` and `state` (closing over constants,
            the spec or a dropout seed is fine): `scan_vjp` differentiates through exactly
            those.
        step: step(t, slices tuple, invariants dict, state tuple) -> (y_t (B, out), state).
        row_wise: whether rows never interact and t is not read (true unless dropout keys its
            masks by t), so that `step` can run all T steps as one batch of T*B rows; lets
            `scan_vjp` form the invariants' gradients in one batched pass.
    """

    sequences: tuple
    invariants: dict[str, Any]
    step: Callable
    row_wise: bool = True


def _unstacked(tensors, steps):
    return tuple(tf.TensorArray(s.dtype, size=steps).unstack(s) for s in tensors)


def run(scan: Scan, state: tuple, keep_states: bool = False):
    """Loop `scan` forward from `state` -> (y (T, B, out), final state[, states]).

    keep_states: also return the states entering each step, a tuple of (T, B, S) tensors
    (what `scan_vjp` needs).
    """
    steps = tf.shape(scan.sequences[0])[0]
    sequences = _unstacked(scan.sequences, steps)
    outputs = tf.TensorArray(scan.sequences[0].dtype, size=steps)
    kept = tuple(tf.TensorArray(s.dtype, size=steps) for s in state) if keep_states else ()

    def body(t, state, outputs, kept):
        kept = tuple(ta.write(t, s) for ta, s in zip(kept, state))
        y, state = scan.step(t, tuple(ta.read(t) for ta in sequences), scan.invariants, state)
        return t + 1, tuple(state), outputs.write(t, y), kept

    # maximum_iterations lets XLA size the TensorArrays; graph mode does not mind it.
    _, state, outputs, kept = tf.while_loop(
        lambda t, *_: t < steps, body, (0, tuple(state), outputs, kept), maximum_iterations=steps
    )
    if keep_states:
        return outputs.stack(), state, tuple(ta.stack() for ta in kept)
    return outputs.stack(), state


def _rows(t):
    """(T, B, ...) -> (T*B, ...): every step's rows as one batch."""
    return tf.reshape(t, tf.concat([[-1], tf.shape(t)[2:]], axis=0))


def scan_vjp(build: Callable[..., Scan], sources: list, states: tuple, grad_y, grad_state):
    """Gradients of a scan's outputs, by per-step rematerialisation (see the module doc).

    Args:
        build: build(*sources) -> Scan; called once here, under a tape.
        sources: the tensors to differentiate with respect to (x, ts, weights ...).
        states: the states entering each step, tuple of (T, B, S), from `run(keep_states=True)`.
        grad_y: (T, B, out) cotangent of the outputs; grad_state: tuple, of the final state.
    Returns:
        (gradients of `sources` (zeros where unconnected), gradient of the initial state tuple).
    """
    with tf.GradientTape() as outer:
        outer.watch(sources)
        scan = build(*sources)
    steps = tf.shape(grad_y)[0]
    sequences = _unstacked(scan.sequences, steps)
    entering = _unstacked(states, steps)
    grad_ys = tf.TensorArray(grad_y.dtype, size=steps).unstack(grad_y)
    zero = tf.UnconnectedGradients.ZERO
    # Batched: the loop carries only the state's gradient, and records the cotangent of each
    # step's new state; the invariants' gradients then come from one VJP of the step over all
    # T*B rows (large matmuls and single-axis sums instead of T small accumulated ones).
    batched = scan.row_wise
    accumulate = {} if batched else {k: tf.zeros_like(v) for k, v in scan.invariants.items()}

    def body(t, grad_state, grad_invariants, grad_sequences, cotangents):
        # Fresh tensors inside the loop body, so the local tape can watch what the step reads.
        slices = tuple(ta.read(t) for ta in sequences)
        state = tuple(ta.read(t) for ta in entering)
        invariants = {k: tf.identity(v) for k, v in scan.invariants.items()}
        watched = [slices, state] if batched else [slices, state, invariants]
        with tf.GradientTape() as tape:
            tape.watch(watched)
            y, new_state = scan.step(t, slices, invariants, state)
        grads = tape.gradient(
            [y, *new_state],
            watched,
            output_gradients=[grad_ys.read(t), *grad_state],
            unconnected_gradients=zero,
        )
        if not batched:
            grad_invariants = {k: grad_invariants[k] + grads[2][k] for k in grad_invariants}
        grad_sequences = tuple(ta.write(t, g) for ta, g in zip(grad_sequences, grads[0]))
        cotangents = tuple(ta.write(t, g) for ta, g in zip(cotangents, grad_state))
        return t - 1, tuple(grads[1]), grad_invariants, grad_sequences, cotangents

    initial = (
        steps - 1,
        tuple(grad_state),
        accumulate,
        tuple(tf.TensorArray(s.dtype, size=steps) for s in scan.sequences),
        tuple(tf.TensorArray(g.dtype, size=steps) for g in grad_state) if batched else (),
    )
    _, grad_state, grad_invariants, grad_sequences, cotangents = tf.while_loop(
        lambda t, *_: t >= 0, body, initial, maximum_iterations=steps
    )
    if batched:
        with tf.GradientTape() as tape:
            tape.watch(scan.invariants)
            y, new_state = scan.step(
                0,
                tuple(_rows(s) for s in scan.sequences),
                scan.invariants,
                tuple(_rows(s) for s in states),
            )
        grad_invariants = tape.gradient(
            [y, *new_state],
            scan.invariants,
            output_gradients=[_rows(grad_y), *(_rows(ta.stack()) for ta in cotangents)],
            unconnected_gradients=zero,
        )
    grads = outer.gradient(
        [list(scan.sequences), scan.invariants],
        sources,
        output_gradients=[[ta.stack() for ta in grad_sequences], grad_invariants],
        unconnected_gradients=zero,
    )
    return grads, grad_state


def generic_scan(spec, params, constants, x_tm, ts_tm, seed, training) -> Scan:
    """The cell's shared step (`cells.steps`) as a Scan over x_tm (T, B, I), ts_tm (T, B, 1)."""
    shared_step = STEPS[spec.name]

    def step(t, slices, invariants, state):
        x_t, ts_t = slices
        return shared_step(
            step_ops(seed, t), spec, invariants, constants, x_t, state, ts_t, training
        )

    return Scan((x_tm, ts_tm), dict(params), step, row_wise=seed is None)
