"""`fused`: each cell restructured for speed, CPU and GPU, forward and backward.

`cells.torch.fused_cfc` (CfC: hoisted input GEMM, merged heads, hand-written BPTT) and
`cells.torch.fused_ltc` (LTC: sensory synapses for the whole sequence at once, a tight unfold
loop) say what they fuse and what they support; `limits` refuses the rest with the reason.
"""

from __future__ import annotations

import torch

from . import fused_cfc, fused_ltc
from .base import CellModule

_KERNELS = {"cfc": fused_cfc, "ltc": fused_ltc}


def limits(spec) -> str | None:
    kernel = _KERNELS.get(spec.name)
    return kernel.limits(spec) if kernel else None


class FusedCell(CellModule):
    impl = "fused"
    unit_timespans_as_none = True  # no timespans -> unit steps, which the kernels exploit
    #: cell -> module whose run(spec, p, x, h0, ts[, folded]) computes it (`cpp` swaps them)
    kernels = _KERNELS

    def run(self, x, state, ts):
        p = self.canonical() | self.constants()
        kernel = self.kernels[self.spec.name]
        if self.spec.name == "cfc":
            y, h_t = kernel.run(self.spec, p, x, state[0], ts, self._cfc_folded(p, ts is None))
        else:
            y, h_t = kernel.run(self.spec, p, x, state[0], ts)
        return y, (h_t,)

    def _cfc_folded(self, p, unit_steps):
        """The folded CfC weights, kept between calls while no gradient is recorded (a rollout
        calls the cell once per step; re-folding would double a step's cost). The key holds
        every parameter's version counter, which any in-place update (an optimiser step)
        bumps, so a stale fold is never used."""
        if torch.is_grad_enabled():
            return None
        key = (unit_steps, tuple((t.data_ptr(), t._version) for t in p.values()))
        cached = getattr(self, "_fold_cache", None)
        if cached is None or cached[0] != key:
            cached = (key, fused_cfc.fold_weights(self.spec, p, unit_steps))
            self._fold_cache = cached
        return cached[1]
