"""`native`: keras.layers.LSTM / GRU fed from canonical weights.

The layer's weights stay canonical; the traced function lays them out as Keras expects
(`cells.interop` documents the mapping) and runs the stock layer through
`Layer.stateless_call`, so a GradientTape returns canonical gradients. Keras takes its cuDNN
path on a GPU; on a CPU it runs its generic loop (TF has no oneDNN fused LSTM/GRU kernel).
"""

from __future__ import annotations

import keras
import tensorflow as tf

from .base import CellLayer


def keras_layout(spec, p: dict) -> list:
    """Canonical LSTM/GRU parameters -> [kernel, recurrent_kernel, bias] in Keras's layout."""
    if spec.name == "lstm":  # same gate order (i, f, c, o) and one bias
        return [p["input_kernel"], p["recurrent_kernel"], p["bias"]]

    def zrn(t):  # canonical gate blocks (r, z, n) -> Keras's (z, r, n)
        r, z, n = tf.split(t, 3, axis=-1)
        return tf.concat([z, r, n], axis=-1)

    bias = tf.stack([zrn(p["input_bias"]), zrn(p["recurrent_bias"])])
    return [zrn(p["input_kernel"]), zrn(p["recurrent_kernel"]), bias]


@keras.saving.register_keras_serializable(package="cellbench")
class NativeCell(CellLayer):
    impl = "native"

    def __init__(self, spec, params=None, seed: int = 0, **kwargs):
        super().__init__(spec, params, seed=seed, **kwargs)
        spec = self.spec
        options = dict(return_sequences=True, return_state=True, dtype=self.dtype_policy)
        if spec.name == "lstm":
            rnn = keras.layers.LSTM(spec.units, **options)
        else:
            rnn = keras.layers.GRU(spec.units, reset_after=True, **options)
        rnn.build((None, None, spec.input_size))
        # Kept outside Keras's tracking: its own variables are never used (stateless_call
        # substitutes the canonical ones) and must not appear in this layer's weights.
        object.__setattr__(self, "_rnn", rnn)

    def run(self, x, state, ts, training):
        weights = keras_layout(self.spec, {k: v.value for k, v in self.canonical().items()})
        # The non-trainable ones (a dropout seed generator) are passed through unchanged.
        frozen = [v.value for v in self._rnn.non_trainable_variables]
        outputs, _ = self._rnn.stateless_call(
            weights, frozen, x, initial_state=list(state), training=training
        )
        y, *final = outputs
        return y, tuple(final)
