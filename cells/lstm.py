"""LSTM: the standard long short-term memory cell, as nn.LSTM, keras LSTM and cuDNN compute it.

    z = x @ input_kernel + h @ recurrent_kernel + bias
    i, f, g, o = split(z, 4)                 # gate order: input, forget, cell candidate, output
    c' = sigmoid(f) * c + sigmoid(i) * tanh(g)
    h' = sigmoid(o) * tanh(c')               # output y = h', state (h', c')

Canonical parameters (I inputs, H units), the gate order of torch and Keras alike:
    input_kernel (I, 4H), recurrent_kernel (H, 4H), bias (4H,)

torch.nn.LSTM keeps two biases (b_ih, b_hh); only their sum matters, so the canonical form
keeps one and exports it as b_ih with b_hh = 0. Timespans are accepted and ignored.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .spec import CellSpec


@dataclasses.dataclass(frozen=True)
class LSTMSpec(CellSpec):
    """LSTM spec: no hyper-parameters beyond `input_size` and `units`."""

    name = "lstm"
    uses_time = False

    @property
    def state_arity(self) -> int:
        return 2

    def param_shapes(self):
        i, h = self.input_size, self.units
        return {"input_kernel": (i, 4 * h), "recurrent_kernel": (h, 4 * h), "bias": (4 * h,)}

    def init_params(self, seed: int = 0):
        # torch.nn.LSTM's init: every entry U(-1/sqrt(H), 1/sqrt(H)).
        rng = np.random.default_rng(seed)
        bound = 1.0 / np.sqrt(self.units)
        return {k: rng.uniform(-bound, bound, size=s) for k, s in self.param_shapes().items()}


def step(ops, spec: LSTMSpec, p, k, x, state, ts, training=False):
    """x: (B, I), state (h, c) each (B, H), ts ignored -> (y (B, H), (h, c))."""
    h, c = state
    z = ops.matmul(x, p["input_kernel"]) + ops.matmul(h, p["recurrent_kernel"]) + p["bias"]
    i, f, g, o = ops.split(z, [spec.units] * 4)
    c = ops.sigmoid(f) * c + ops.sigmoid(i) * ops.tanh(g)
    h = ops.sigmoid(o) * ops.tanh(c)
    return h, (h, c)
