"""`compile`: torch.compile (Inductor: C++/OpenMP on CPU, Triton on GPU) of one cell step.

The time loop stays in Python and only the step is compiled, so compilation time does not grow
with the sequence length and one compiled step serves every T. For the LTC (when `fused`
supports the spec) the compiled unit is `fused_ltc.unfold`, so Inductor fuses each unfold's
broadcast, sigmoid and two reductions into one pass; for the other cells it is the shared
`cells.steps` step. The first call for a new shape or dtype compiles (seconds); time it outside
any measurement. Where Inductor does not beat `fused`, the kernel suite shows it side by side.

Needs a C++ compiler on CPU (Inductor builds its kernels); supports every cell, CPU and GPU,
forward and backward.
"""

from __future__ import annotations

import functools

import torch

from ..steps import STEPS
from . import fused_ltc, ops
from .base import CellModule

#: Specs, shapes, dtypes and grad modes each compile a variant of the same step; Dynamo's
#: default of 8 per function is soon reached in a benchmark run, after which every call would
#: re-check its guards and run uncompiled. Raised once, only upwards.
_RECOMPILE_LIMIT = 64


@functools.cache
def _compiled(fn):
    config = torch._dynamo.config
    config.recompile_limit = max(config.recompile_limit, _RECOMPILE_LIMIT)
    # One compiled wrapper per function, shared by every module: Inductor caches per shape.
    return torch.compile(fn, dynamic=False)


class CompiledCell(CellModule):
    impl = "compile"

    def run(self, x, state, ts):
        spec = self.spec
        params, constants = self.canonical(), self.constants()
        if spec.name == "ltc" and fused_ltc.limits(spec) is None:
            y, v = fused_ltc.run(
                spec, params | constants, x, state[0], ts, unfold_fn=_compiled(fused_ltc.unfold)
            )
            return y, (v,)
        step = _compiled(STEPS[spec.name])
        outputs = []
        for t in range(x.shape[1]):
            y, state = step(ops, spec, params, constants, x[:, t], state, ts[:, t], self.training)
            outputs.append(y)
        return torch.stack(outputs, dim=1), state
