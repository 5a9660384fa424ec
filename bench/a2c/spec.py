"""The actor-critic: the BC policy's extractor -> cell -> policy head, plus a value head.

    spec = make_agent_spec("lstm", num_actions=4)
    params = spec.init_params(seed=0)    # canonical float64 dict, shared by torch and TF

The canonical parameters are the BC policy's (`bench.bc.spec`) and "value_kernel" (units, 1),
"value_bias" (1,). The non-cell layers start as A2C on Atari does in OpenAI baselines, ikostrikov's
pytorch-a2c-ppo-acktr and CleanRL: orthogonal kernels with gain sqrt(2) for the ReLU layers, 0.01
for the policy head (a near-uniform first policy) and 1 for the value head, zero biases. The cell
keeps its own init.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..bc.spec import CELL_PREFIX, PolicySpec, make_policy_spec

#: Orthogonal-init gain per layer kind (the convs and the dense layer are ReLU layers).
GAINS = {"relu": np.sqrt(2.0), "head": 0.01, "value": 1.0}


def orthogonal(rng: np.random.Generator, shape: tuple[int, ...], gain: float) -> np.ndarray:
    """A kernel (..., fan_out) whose (fan_in, fan_out) matrix has orthonormal columns (or rows,
    when fan_out > fan_in), times `gain` (Saxe et al., 2014)."""
    rows, cols = int(np.prod(shape[:-1])), shape[-1]
    q, r = np.linalg.qr(rng.normal(size=(max(rows, cols), min(rows, cols))))
    q = q * np.sign(np.diag(r))  # a uniform draw over orthogonal matrices
    matrix = q if rows >= cols else q.T
    return gain * matrix.reshape(shape)


@dataclasses.dataclass(frozen=True)
class AgentSpec(PolicySpec):
    def __post_init__(self) -> None:
        super().__post_init__()
        if self.norm:  # batch statistics of 8 envs' frames would couple the envs' actions
            raise ValueError(f"extractor: the A2C agent takes one without BatchNorm, got "
                             f"{self.extractor!r}")  # fmt: skip

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        shapes = super().param_shapes()
        shapes["value_kernel"] = (self.cell.output_size, 1)
        shapes["value_bias"] = (1,)
        return shapes

    def init_params(self, seed: int = 0) -> dict[str, np.ndarray]:
        params = super().init_params(seed)  # the cell's own init, kept
        rng = np.random.default_rng([seed, 47])
        for key, shape in self.param_shapes().items():
            if key.startswith(CELL_PREFIX):
                continue
            if key.endswith("_bias"):
                params[key] = np.zeros(shape)
            else:
                kind = {"head_kernel": "head", "value_kernel": "value"}.get(key, "relu")
                params[key] = orthogonal(rng, shape, GAINS[kind])
        return params

    def describe(self) -> str:
        return super().describe() + " + value"


def make_agent_spec(cell: str, num_actions: int, units: int | None = None) -> AgentSpec:
    policy = make_policy_spec(cell, num_actions, units)
    return AgentSpec(policy.cell, num_actions, policy.extractor)
