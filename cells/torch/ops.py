"""The torch `ops` namespace for the cells' shared step functions (same names as
`cells.numpy_ops` and `cells.tf.ops`)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def matmul(a, b):
    return a @ b


def concat(parts):
    return torch.cat(parts, dim=-1)


def split(x, sizes):
    return torch.split(x, list(sizes), dim=-1)


def sum(x, axis):  # noqa: A001
    return torch.sum(x, dim=axis)


exp = torch.exp
tanh = torch.tanh
sigmoid = torch.sigmoid
abs = torch.abs  # noqa: A001


def softplus(x):
    # The exact log(1 + exp(x)); F.softplus switches to x above 20, a 2e-9 jump that the
    # float64 tolerance would see.
    return torch.logaddexp(x, torch.zeros_like(x))


def dropout(x, rate, training):
    return F.dropout(x, rate, training) if rate > 0 else x


def lecun_tanh(x):
    return 1.7159 * torch.tanh(0.666 * x)


_ACTIVATIONS = {
    "lecun_tanh": lecun_tanh,
    "tanh": torch.tanh,
    "relu": torch.relu,
    "silu": F.silu,
    "gelu": F.gelu,  # exact erf form, as nn.GELU()
}


def activation(name):
    return _ACTIVATIONS[name]
