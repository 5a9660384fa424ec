"""GRU in the "reset-after" form that cuDNN, torch.nn.GRU and keras GRU(reset_after=True) use.

    a = x @ input_kernel + input_bias            # (B, 3H)
    b = h @ recurrent_kernel + recurrent_bias    # (B, 3H)
    r = sigmoid(a_r + b_r);  z = sigmoid(a_z + b_z)
    n = tanh(a_n + r * b_n)                      # the reset gate acts after the matmul
    h' = (1 - z) * n + z * h                     # output y = h', state h'

Canonical parameters (I inputs, H units), gate order (r, z, n) as torch.nn.GRU:
    input_kernel (I, 3H), recurrent_kernel (H, 3H), input_bias (3H,), recurrent_bias (3H,)

Keras orders the gates (z, r, n) and stores the biases as one (2, 3H) array; `cells.interop`
converts. Both biases are kept because b_n sits inside the reset product. Timespans are ignored.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .spec import CellSpec


@dataclasses.dataclass(frozen=True)
class GRUSpec(CellSpec):
    """GRU spec: no hyper-parameters beyond `input_size` and `units`."""

    name = "gru"
    uses_time = False

    def param_shapes(self):
        i, h = self.input_size, self.units
        return {
            "input_kernel": (i, 3 * h),
            "recurrent_kernel": (h, 3 * h),
            "input_bias": (3 * h,),
            "recurrent_bias": (3 * h,),
        }

    def init_params(self, seed: int = 0):
        # torch.nn.GRU's init: every entry U(-1/sqrt(H), 1/sqrt(H)).
        rng = np.random.default_rng(seed)
        bound = 1.0 / np.sqrt(self.units)
        return {k: rng.uniform(-bound, bound, size=s) for k, s in self.param_shapes().items()}


def step(ops, spec: GRUSpec, p, k, x, state, ts, training=False):
    """x: (B, I), state (h,) with h (B, H), ts ignored -> (y (B, H), (h,))."""
    (h,) = state
    sizes = [spec.units] * 3
    a_r, a_z, a_n = ops.split(ops.matmul(x, p["input_kernel"]) + p["input_bias"], sizes)
    b_r, b_z, b_n = ops.split(ops.matmul(h, p["recurrent_kernel"]) + p["recurrent_bias"], sizes)
    r = ops.sigmoid(a_r + b_r)
    z = ops.sigmoid(a_z + b_z)
    n = ops.tanh(a_n + r * b_n)
    h = (1.0 - z) * n + z * h
    return h, (h,)
