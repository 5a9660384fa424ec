"""`graph`: the cell's shared step (`cells.steps`) in a tf.while_loop inside tf.function.

Supports every cell and mode, forward and backward; `fused` and `xla` (cells.tf.fused,
cells.tf.xla) hoist the state-free work out of this loop, and `xla` compiles it.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from ..steps import STEPS
from . import ops
from .base import CellLayer


@keras.saving.register_keras_serializable(package="cellbench")
class GraphCell(CellLayer):
    impl = "graph"

    def run(self, x, state, ts, training):
        step = STEPS[self.spec.name]
        params = {k: v.value for k, v in self.canonical().items()}
        constants = {k: tf.constant(v, dtype=x.dtype) for k, v in self._constants.items()}
        steps = tf.shape(x)[1]
        x_tm = tf.transpose(x, (1, 0, 2))  # time-major, so step t is a cheap slice
        ts_tm = tf.transpose(ts, (1, 0, 2))
        outputs = tf.TensorArray(x.dtype, size=steps)

        def body(t, state, outputs):
            y, state = step(ops, self.spec, params, constants, x_tm[t], state, ts_tm[t], training)
            return t + 1, state, outputs.write(t, y)

        _, state, outputs = tf.while_loop(lambda t, *_: t < steps, body, (0, state, outputs))
        return tf.transpose(outputs.stack(), (1, 0, 2)), state
