"""The actor-critic: the BC policy's extractor -> cell -> policy head, plus a value head.

    spec = make_agent_spec("lstm", num_actions=4)
    params = spec.init_params(seed=0)    # canonical float64 dict, shared by torch and TF

The canonical parameters are the BC policy's (`bench.bc.spec`) and "value_kernel" (units, 1),
"value_bias" (1,). The policy head starts 100x smaller than the default init, so the first policy
is close to uniform (what orthogonal init with gain 0.01 does in baselines and CleanRL); an
early near-deterministic policy explores Breakout badly.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..bc.spec import PolicySpec, make_policy_spec

POLICY_HEAD_SCALE = 0.01


@dataclasses.dataclass(frozen=True)
class AgentSpec(PolicySpec):
    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        shapes = super().param_shapes()
        shapes["value_kernel"] = (self.cell.output_size, 1)
        shapes["value_bias"] = (1,)
        return shapes

    def init_params(self, seed: int = 0) -> dict[str, np.ndarray]:
        params = super().init_params(seed)
        params["head_kernel"] = params["head_kernel"] * POLICY_HEAD_SCALE
        params["head_bias"] = np.zeros_like(params["head_bias"])
        params["value_bias"] = np.zeros(1)
        return params

    def describe(self) -> str:
        return super().describe() + " + value"


def make_agent_spec(cell: str, num_actions: int, units: int | None = None) -> AgentSpec:
    policy = make_policy_spec(cell, num_actions, units)
    return AgentSpec(policy.cell, num_actions, policy.extractor)
