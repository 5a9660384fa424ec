"""`eager`: the cell's shared step (`cells.steps`) run step by step in plain PyTorch.

The readable baseline every faster torch implementation is compared with; it supports every
cell and mode, CPU and GPU, forward and backward.
"""

from __future__ import annotations

import torch

from ..steps import STEPS
from . import ops
from .base import CellModule


class EagerCell(CellModule):
    impl = "eager"

    def run(self, x, state, ts):
        step = STEPS[self.spec.name]
        params, constants = self.canonical(), self.constants()
        outputs = []
        for t in range(x.shape[1]):
            y, state = step(
                ops, self.spec, params, constants, x[:, t], state, ts[:, t], self.training
            )
            outputs.append(y)
        return torch.stack(outputs, dim=1), state
