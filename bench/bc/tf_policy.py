"""The BC policy in Keras 3 (TensorFlow), built from the canonical parameters of a `PolicySpec`."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

import cells.tf as cells_tf

from .spec import CELL_PREFIX, NORM_EPS, NORM_KEYS, NORM_MOMENTUM, OBS_SHAPE, PolicySpec


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
        self.dense = keras.layers.Dense(spec.dense, dtype="float32") if spec.dense else None
        self.norm = TorchBatchNorm(dtype="float32") if spec.norm else None
        self.cell = cells_tf.build(spec.cell, spec.cell_params(params), impl, dtype="float32")
        self.head = keras.layers.Dense(spec.num_actions, dtype="float32")
        self._build_layers()
        for key, variable in self.canonical_variables().items():
            if not key.startswith(CELL_PREFIX):
                variable.assign(params[key].astype(np.float32))

    def _build_layers(self) -> None:
        pad = 2 * self.spec.padding
        shape = (None, *OBS_SHAPE)
        for conv in self.convs:
            shape = (shape[0], shape[1] + pad, shape[2] + pad, shape[3])
            conv.build(shape)
            shape = conv.compute_output_shape(shape)
        if self.dense is not None:
            self.dense.build((None, int(np.prod(shape[1:]))))
        if self.norm is not None:
            self.norm.build((None, self.spec.features))
        self.head.build((None, self.spec.cell.output_size))

    def features(self, obs, training=False):
        """uint8 (B, T, 84, 84, 4) -> (B, T, features), normalised by 1/255 here only. The
        BatchNorm ("ncps" extractor) uses batch statistics when training, running ones else."""
        shape = tf.shape(obs)
        x = tf.reshape(tf.cast(obs, tf.float32) / 255.0, (-1, *OBS_SHAPE))
        pad = self.spec.padding
        for conv in self.convs:
            if pad:  # torch's symmetric zero padding (Keras's "same" pads 1 before, 2 after)
                x = tf.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]])
            x = tf.nn.relu(conv(x))
        if self.dense is not None:
            x = tf.nn.relu(self.dense(tf.reshape(x, (tf.shape(x)[0], -1))))
        else:
            x = tf.reduce_mean(x, axis=(1, 2))  # global average pooling
        if self.norm is not None:
            x = self.norm(x, training=training)
        return tf.reshape(x, (shape[0], shape[1], self.spec.features))

    def call(self, obs, hx=None, training=False):
        y, h_t = self.cell(self.features(obs, training), hx, training=training)
        return self.head(y), h_t

    def canonical_variables(self) -> dict:
        out = {}
        for k, conv in enumerate(self.convs):
            out[f"conv{k}_kernel"], out[f"conv{k}_bias"] = conv.kernel, conv.bias
        if self.dense is not None:
            out["dense_kernel"], out["dense_bias"] = self.dense.kernel, self.dense.bias
        if self.norm is not None:
            out.update(zip(NORM_KEYS, self.norm.canonical()))
        for key, variable in self.cell.canonical().items():
            out[CELL_PREFIX + key] = variable
        out["head_kernel"], out["head_bias"] = self.head.kernel, self.head.bias
        return out

    def export_params(self) -> dict[str, np.ndarray]:
        return {
            k: np.asarray(keras.ops.convert_to_numpy(v), dtype=np.float64)
            for k, v in self.canonical_variables().items()
        }


class TorchBatchNorm(keras.layers.Layer):
    """BatchNorm over the last axis of (N, F) with torch's conventions, which Keras's layer
    does not have: eps 1e-5, running averages new = 0.9 old + 0.1 batch, and the running
    variance fed the unbiased batch variance (normalisation uses the biased one, as both do).
    With it the "ncps" extractor's running statistics, and so its eval-mode outputs, agree
    with torch.nn.BatchNorm1d after any number of training steps."""

    def build(self, input_shape) -> None:
        width = (int(input_shape[-1]),)
        self.gamma = self.add_weight(shape=width, initializer="ones", name="gamma")
        self.beta = self.add_weight(shape=width, initializer="zeros", name="beta")
        self.moving_mean = self.add_weight(shape=width, initializer="zeros", trainable=False,
                                           name="moving_mean")  # fmt: skip
        self.moving_var = self.add_weight(shape=width, initializer="ones", trainable=False,
                                          name="moving_var")  # fmt: skip

    def call(self, x, training=False):
        if not training:
            mean, var = self.moving_mean, self.moving_var
        else:
            mean, var = tf.nn.moments(x, axes=[0])
            count = tf.cast(tf.shape(x)[0], x.dtype)
            unbiased = var * count / tf.maximum(count - 1.0, 1.0)
            self.moving_mean.assign((1 - NORM_MOMENTUM) * self.moving_mean + NORM_MOMENTUM * mean)
            self.moving_var.assign((1 - NORM_MOMENTUM) * self.moving_var + NORM_MOMENTUM * unbiased)
        return (x - mean) * tf.math.rsqrt(var + NORM_EPS) * self.gamma + self.beta

    def canonical(self) -> tuple:
        """gamma, beta, running mean, running variance (the canonical norm_* order)."""
        return self.gamma, self.beta, self.moving_mean, self.moving_var
