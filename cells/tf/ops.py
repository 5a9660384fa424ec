"""The TF `ops` namespace for the cells' shared step functions (same names as
`cells.numpy_ops` and `cells.torch.ops`)."""

from __future__ import annotations

import tensorflow as tf


def matmul(a, b):
    return tf.matmul(a, b)


def concat(parts):
    return tf.concat(parts, axis=-1)


def split(x, sizes):
    return tf.split(x, list(sizes), axis=-1)


def sum(x, axis):  # noqa: A001
    return tf.reduce_sum(x, axis=axis)


exp = tf.exp
tanh = tf.tanh
sigmoid = tf.sigmoid
abs = tf.abs  # noqa: A001
softplus = tf.nn.softplus


def dropout(x, rate, training):
    return tf.nn.dropout(x, rate=rate) if training and rate > 0 else x


def gelu(x):
    """Exact GELU, 0.5 x (1 + erf(x / sqrt 2)).

    Not tf.nn.gelu: in float64 its value and gradient are off by ~5e-9 (TF 2.21), the error of
    a sqrt(2) rounded to float32, far outside the float64 tolerance. A python-float factor is
    converted straight to the tensor's dtype; tf.cast(python float) would go through float32.
    """
    return 0.5 * x * (1.0 + tf.math.erf(x * 0.7071067811865476))


def lecun_tanh(x):
    return 1.7159 * tf.tanh(0.666 * x)


_ACTIVATIONS = {
    "lecun_tanh": lecun_tanh,
    "tanh": tf.tanh,
    "relu": tf.nn.relu,
    "silu": tf.nn.silu,
    "gelu": gelu,
}


def activation(name):
    return _ACTIVATIONS[name]
