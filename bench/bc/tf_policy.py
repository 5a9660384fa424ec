"""The BC policy in Keras 3 (TensorFlow), built from the canonical parameters of a `PolicySpec`."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

import cells.tf as cells_tf

from .spec import CELL_PREFIX, OBS_SHAPE, PolicySpec


class TFPolicy(keras.Model):
    """obs uint8 (B, T, 84, 84, 4), hx -> (logits (B, T, actions), h_T). Canonical parameters are
    Keras layouts already, so weights are assigned as they are."""

    def __init__(self, spec: PolicySpec, params=None, impl: str = "graph", seed: int = 0,
                 **kwargs):  # fmt: skip
        super().__init__(**kwargs)
        self.spec = spec
        params = spec.check_params(spec.init_params(seed) if params is None else params)
        self.convs = [
            keras.layers.Conv2D(filters, kernel, strides=stride, padding="valid", dtype="float32")
            for filters, kernel, stride in spec.convs
        ]
        self.dense = keras.layers.Dense(spec.features, dtype="float32")
        self.cell = cells_tf.build(spec.cell, spec.cell_params(params), impl, dtype="float32")
        self.head = keras.layers.Dense(spec.num_actions, dtype="float32")
        self._build_layers()
        for key, variable in self.canonical_variables().items():
            if not key.startswith(CELL_PREFIX):
                variable.assign(params[key].astype(np.float32))

    def _build_layers(self) -> None:
        shape = (None, *OBS_SHAPE)
        for conv in self.convs:
            conv.build(shape)
            shape = conv.compute_output_shape(shape)
        self.dense.build((None, int(np.prod(shape[1:]))))
        self.head.build((None, self.spec.cell.output_size))

    def features(self, obs):
        """uint8 (B, T, 84, 84, 4) -> (B, T, features), normalised by 1/255 here only."""
        shape = tf.shape(obs)
        x = tf.reshape(tf.cast(obs, tf.float32) / 255.0, (-1, *OBS_SHAPE))
        for conv in self.convs:
            x = tf.nn.relu(conv(x))
        x = tf.nn.relu(self.dense(tf.reshape(x, (tf.shape(x)[0], -1))))
        return tf.reshape(x, (shape[0], shape[1], self.spec.features))

    def call(self, obs, hx=None, training=False):
        y, h_t = self.cell(self.features(obs), hx, training=training)
        return self.head(y), h_t

    def canonical_variables(self) -> dict:
        out = {}
        for k, conv in enumerate(self.convs):
            out[f"conv{k}_kernel"], out[f"conv{k}_bias"] = conv.kernel, conv.bias
        out["dense_kernel"], out["dense_bias"] = self.dense.kernel, self.dense.bias
        for key, variable in self.cell.canonical().items():
            out[CELL_PREFIX + key] = variable
        out["head_kernel"], out["head_bias"] = self.head.kernel, self.head.bias
        return out

    def export_params(self) -> dict[str, np.ndarray]:
        return {
            k: np.asarray(keras.ops.convert_to_numpy(v), dtype=np.float64)
            for k, v in self.canonical_variables().items()
        }
