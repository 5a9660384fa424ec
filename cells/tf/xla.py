"""`xla`: the cell's time loop compiled by XLA (`tf.function(jit_compile=True)`).

The loop is the `fused` formulation (`cells.tf.fused`: state-free work hoisted out of the loop)
where it covers the spec, else the shared step as in `graph` (wired CfC). Every cell and mode
runs, forward and backward. XLA compiles one program per input shape (batch, steps), dtype and
training flag; the first call at a new shape pays that compilation.

What differs from `graph`, and why:
  * Gradients. A GradientTape outside an XLA-compiled while loop fails in TF ("TensorList
    crossing the XLA/TF boundary is not implemented", tensorflow#39162, #108080): autodiff
    saves the loop's intermediates in TensorLists, which cannot leave an XLA program. So the
    forward program carries a `tf.custom_gradient` whose gradient is a second XLA program,
    `cells.tf.loop.scan_vjp`: from the states entering each step (kept by the forward) it
    walks back through the steps, recomputing one at a time (see `cells.tf.loop`).
  * Dropout is stateless (`cells.tf.loop.step_ops`): XLA ignores the seeds of TF's stateful
    RNG ops, and the recomputation must draw the forward's masks. Each training call draws a
    fresh seed from a `keras.random.SeedGenerator` seeded with the layer's `seed`, so a new
    layer replays the same sequence of masks.

The weights are read once and passed to the custom-gradient function as tensors, so the tape
sees ordinary variable reads and returns canonical gradients. First-order gradients only.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from . import fused
from .base import CellLayer
from .loop import generic_scan, run, scan_vjp, time_major


def needs_dropout(spec) -> bool:
    """Whether training mode draws random numbers for `spec` (CfC backbone dropout only)."""
    return (
        spec.name == "cfc"
        and not spec.is_wired
        and spec.backbone_dropout > 0
        and spec.backbone_layers >= 2
    )


@keras.saving.register_keras_serializable(package="cellbench")
class XlaCell(CellLayer):
    """The cell as an XLA program whose gradient is a second XLA program (`scan_vjp`).

    `run` is compiled whole (`jit_compile = True`): weight reads, the dropout seed and the
    forward loop. Its custom gradient captures only plain tensors (inputs, weights, the states
    entering each step), so TF never asks the loop for TensorLists.
    """

    impl = "xla"
    jit_compile = True

    def __init__(self, spec, params=None, seed: int = 0, **kwargs):
        super().__init__(spec, params, seed=seed, **kwargs)
        # Only cells that drop out get a generator. Kept outside Keras's tracking, so the
        # layer's weights stay exactly the canonical parameters.
        seeds = keras.random.SeedGenerator(seed) if needs_dropout(self.spec) else None
        object.__setattr__(self, "_dropout_seeds", seeds)
        self._make_scan = fused.fused_scan if fused.unsupported(self.spec) is None else generic_scan
        self._backward = tf.function(self._backward_fn, jit_compile=True)

    def _scan(self, x, ts, weights, seed, training):
        """x (B, T, I), ts (B, T, 1), weights in canonical order -> the time-major Scan."""
        params = dict(zip(self._weight_names, weights))
        constants = {k: tf.constant(v, dtype=x.dtype) for k, v in self._constants.items()}
        return self._make_scan(
            self.spec, params, constants, time_major(x), time_major(ts), seed, training
        )

    def _backward_fn(self, x, ts, weights, seed, training, entering, grad_y, grad_state):
        """The gradient program -> gradients of [x, ts, *weights] and of the initial state."""

        def build(x, ts, *weights):
            return self._scan(x, ts, list(weights), seed, training)

        return scan_vjp(build, [x, ts, *weights], entering, time_major(grad_y), grad_state)

    def run(self, x, state, ts, training):
        weights = [v.value for v in self.canonical().values()]
        seed = None
        if training and self._dropout_seeds is not None:
            seed = tf.cast(self._dropout_seeds.next(), tf.int32)
        arity = len(state)

        @tf.custom_gradient
        def differentiable(*inputs):
            # Everything in here is cut from autodiff, `grad` being the only gradient. TF
            # exports the tensors `grad` captures as side outputs of this function, and once
            # a tape inside a user's tf.function has done so, a later tape differentiates
            # them too; reaching the loop, autodiff would export its TensorLists, which
            # cannot leave an XLA program.
            x, ts, *flat = (tf.stop_gradient(t) for t in inputs)
            state, weights = tuple(flat[:arity]), list(flat[arity:])
            scan = self._scan(x, ts, weights, seed, training)
            y, final, entering = tf.nest.map_structure(
                tf.stop_gradient, run(scan, state, keep_states=True)
            )
            y = time_major(y)

            def grad(*grads):
                # An output that nothing downstream used arrives as None; XLA wants a tensor.
                outputs = (y, *final)
                grads = [tf.zeros_like(o) if g is None else g for o, g in zip(outputs, grads)]
                sources, grad_h0 = self._backward(
                    x, ts, weights, seed, training, entering, grads[0], tuple(grads[1:])
                )
                grad_x, grad_ts, *grad_weights = sources
                return [grad_x, grad_ts, *grad_h0, *grad_weights]

            return (y, *final), grad

        y, *final = differentiable(x, ts, *state, *weights)
        return y, tuple(final)
