"""The numpy `ops` namespace: runs the cells' steps as the float64 reference.

`cells/torch/ops.py` and `cells/tf/ops.py` export the same names; the cell modules write their
step once against these names, and this module makes that step the reference.

Everything here is written to survive complex-step differentiation (`cells.reference.
gradients`): f'(x) = Im f(x + i*h) / h is exact to rounding only when every function is the
analytic continuation of the real one. Functions that branch on the sign (abs, relu, the stable
softplus) therefore branch on the *real part* and let the imaginary part flow; on real inputs
each is the ordinary function.
"""

from __future__ import annotations

import numpy as np
from scipy import special


def matmul(a, b):
    return a @ b


def concat(parts):
    return np.concatenate(parts, axis=-1)


def split(x, sizes):
    """Split the last axis into pieces of the given sizes."""
    return np.split(x, np.cumsum(sizes)[:-1], axis=-1)


def sum(x, axis):  # noqa: A001 - the ops namespaces share this name
    return np.sum(x, axis=axis)


def exp(x):
    return np.exp(x)


def tanh(x):
    return np.tanh(x)


def sigmoid(x):
    # 0.5 * (1 + tanh(x / 2)) never overflows and is analytic.
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def abs(x):  # noqa: A001
    """|x|; its derivative at 0 is 0, as in torch.abs and tf.abs."""
    return x * np.sign(np.real(x))


def softplus(x):
    """log(1 + exp(x)) without overflow: exp only ever sees a non-positive real part."""
    positive = np.real(x) > 0
    return np.where(positive, x, 0.0) + np.log1p(np.exp(np.where(positive, -x, x)))


def dropout(x, rate, training):
    """The reference is the inference function: dropout is the identity."""
    return x


def lecun_tanh(x):
    """LeCun's scaled tanh, 1.7159 * tanh(0.666 x) (the constants ncps uses)."""
    return 1.7159 * np.tanh(0.666 * x)


def relu(x):
    return x * (np.real(x) > 0)


def silu(x):
    return x * sigmoid(x)


def gelu(x):
    """Exact (erf) GELU, as torch.nn.GELU() and tf.nn.gelu(approximate=False)."""
    return 0.5 * x * (1.0 + special.erf(x / np.sqrt(2.0)))


_ACTIVATIONS = {"lecun_tanh": lecun_tanh, "tanh": tanh, "relu": relu, "silu": silu, "gelu": gelu}


def activation(name):
    return _ACTIVATIONS[name]
