"""The "mixed memory" LSTM that ncps puts in front of CfC and LTC (`mixed_memory=True`).

It is ncps.torch's `LSTMCell`, not a standard LSTM, and its layout is kept as ncps has it:

    z = x @ mm_input_kernel + mm_input_bias + h @ mm_recurrent_kernel    (no recurrent bias)
    g, i, f, o = split(z, 4)            # order: candidate, input gate, forget gate, output gate
    c' = c * sigmoid(f + 1.0) + tanh(g) * sigmoid(i)        # fixed forget-gate offset of +1
    h' = tanh(c') * sigmoid(o)

The continuous-time cell then runs on the *original input x* with `h'` as its hidden state, and
its result becomes the new `h`; the pair `(h, c)` is the state.

Where ncps.tf differs: its `MixedMemoryRNN` feeds the LSTM's output to the inner cell *as the
input* (the inner cell keeps a separate state), so the two ncps packages compute different
functions here; cellbench follows ncps.torch. ncps.tf also initialises the bias to zeros.

Parameter shapes (I inputs, H units):
    mm_input_kernel (I, 4H)   xavier uniform
    mm_input_bias (4H,)       U(-0.1, 0.1)
    mm_recurrent_kernel (H, 4H)   orthogonal
"""

from __future__ import annotations

import numpy as np

FORGET_BIAS = 1.0


def param_shapes(input_size: int, units: int) -> dict[str, tuple[int, ...]]:
    return {
        "mm_input_kernel": (input_size, 4 * units),
        "mm_input_bias": (4 * units,),
        "mm_recurrent_kernel": (units, 4 * units),
    }


def init_params(rng: np.random.Generator, input_size: int, units: int) -> dict[str, np.ndarray]:
    limit = np.sqrt(6.0 / (input_size + 4 * units))
    # Orthogonal init as torch.nn.init.orthogonal_ does it for a (4H, H) weight, transposed.
    flat = rng.standard_normal((4 * units, units))
    q, r = np.linalg.qr(flat)
    q = q * np.sign(np.diag(r))
    return {
        "mm_input_kernel": rng.uniform(-limit, limit, size=(input_size, 4 * units)),
        "mm_input_bias": rng.uniform(-0.1, 0.1, size=(4 * units,)),
        "mm_recurrent_kernel": q.T.copy(),
    }


def step(ops, p, x, h, c):
    """x: (B, I), h and c: (B, H) -> (h', c')."""
    z = ops.matmul(x, p["mm_input_kernel"]) + p["mm_input_bias"]
    z = z + ops.matmul(h, p["mm_recurrent_kernel"])
    g, i, f, o = ops.split(z, [h.shape[-1]] * 4)
    c = c * ops.sigmoid(f + FORGET_BIAS) + ops.tanh(g) * ops.sigmoid(i)
    return ops.tanh(c) * ops.sigmoid(o), c
