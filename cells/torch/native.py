"""`native`: torch.nn.LSTM / nn.GRU (oneDNN on CPU, cuDNN on GPU) fed from canonical weights.

The module's parameters stay canonical; `forward` lays them out as nn.LSTM/nn.GRU expects
(`cells.interop` documents the mapping) and calls the stock module through
`torch.func.functional_call`, so autograd returns canonical gradients and the timed kernel
is the stock one.
"""

from __future__ import annotations

import torch
from torch import nn

from .base import CellModule


def torch_layout(spec, p: dict) -> dict:
    """Canonical LSTM/GRU parameters -> nn.LSTM / nn.GRU's single-layer parameter dict."""
    weights = {
        "weight_ih_l0": p["input_kernel"].transpose(0, 1),
        "weight_hh_l0": p["recurrent_kernel"].transpose(0, 1),
    }
    if spec.name == "lstm":
        # Only b_ih + b_hh matters; the canonical bias goes to b_ih.
        weights["bias_ih_l0"] = p["bias"]
        weights["bias_hh_l0"] = torch.zeros_like(p["bias"])
    else:
        weights["bias_ih_l0"] = p["input_bias"]
        weights["bias_hh_l0"] = p["recurrent_bias"]
    return weights


class NativeCell(CellModule):
    impl = "native"

    def __init__(self, spec, params=None, dtype=None, device=None, seed: int = 0):
        super().__init__(spec, params, dtype=dtype, device=device, seed=seed)
        rnn_class = nn.LSTM if spec.name == "lstm" else nn.GRU
        # Held outside the module tree: its own parameters are never used (functional_call
        # replaces them all), and they must not show up in .parameters() or state_dict().
        object.__setattr__(
            self,
            "_rnn",
            rnn_class(
                spec.input_size, spec.units, batch_first=True, dtype=self.dtype, device=device
            ),
        )

    def run(self, x, state, ts):
        weights = torch_layout(self.spec, self.canonical())
        hx = tuple(s.unsqueeze(0) for s in state)  # nn.LSTM wants (num_layers, B, H)
        hx = hx if self.spec.name == "lstm" else hx[0]
        y, h_t = torch.func.functional_call(self._rnn, weights, (x, hx))
        h_t = tuple(h.squeeze(0) for h in (h_t if isinstance(h_t, tuple) else (h_t,)))
        return y, h_t
