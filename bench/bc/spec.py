"""The behavior-cloning policy, defined once: conv feature extractor -> recurrent cell -> head.

    spec = PolicySpec(cells.get_spec("cfc", 512, 64), num_actions=4)
    params = spec.init_params(seed=0)       # one canonical dict of float64 arrays

The canonical parameters are Keras-layout arrays: conv kernels (kh, kw, in, out), dense kernels
(in, out), 1-D biases; the cell's own canonical parameters carry the prefix "cell/". The conv
features are flattened in (height, width, channel) order, which both frameworks use, so the
dense kernel needs no permutation (torch permutes its feature map to channels-last instead).
`bench.bc.layouts` is the one place that converts to torch's layouts.

Extractors (applied to every time step, observations uint8 (B, T, 84, 84, 4) scaled by 1/255):
    "nature": the DQN network (Mnih et al., 2015): conv 32 8x8/4, conv 64 4x4/2, conv 64 3x3/1,
              each ReLU, then dense 512 ReLU.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

import cells
from cells.spec import check_param_dict

OBS_SHAPE = (84, 84, 4)
CELL_PREFIX = "cell/"
#: (filters, kernel, stride) per conv layer, and the width of the dense layer after them.
EXTRACTORS = {"nature": {"convs": ((32, 8, 4), (64, 4, 2), (64, 3, 1)), "features": 512}}


@dataclasses.dataclass(frozen=True)
class PolicySpec:
    """A BC policy.

    Attributes:
        cell: the recurrent cell's spec; its input_size must equal the extractor's features.
        num_actions: the game's action count (the head's width).
        extractor: a key of EXTRACTORS.
    """

    cell: cells.CellSpec
    num_actions: int
    extractor: str = "nature"

    def __post_init__(self) -> None:
        if self.extractor not in EXTRACTORS:
            raise ValueError(
                f"extractor: expected one of {list(EXTRACTORS)}, got {self.extractor!r}"
            )
        if (
            isinstance(self.num_actions, bool)
            or not isinstance(self.num_actions, int)
            or (self.num_actions < 2)
        ):
            raise ValueError(f"num_actions: expected an integer >= 2, got {self.num_actions!r}")
        if self.cell.input_size != self.features:
            raise ValueError(
                f"cell: expected input_size {self.features} (the {self.extractor} extractor's "
                f"features), got {self.cell.input_size}"
            )

    @property
    def convs(self) -> tuple[tuple[int, int, int], ...]:
        return EXTRACTORS[self.extractor]["convs"]

    @property
    def features(self) -> int:
        return EXTRACTORS[self.extractor]["features"]

    def conv_output_shape(self) -> tuple[int, int, int]:
        """(height, width, channels) after the convs ('valid' padding)."""
        size, channels = OBS_SHAPE[0], OBS_SHAPE[2]
        for filters, kernel, stride in self.convs:
            size, channels = (size - kernel) // stride + 1, filters
        return size, size, channels

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        shapes: dict[str, tuple[int, ...]] = {}
        channels = OBS_SHAPE[2]
        for k, (filters, kernel, _) in enumerate(self.convs):
            shapes[f"conv{k}_kernel"] = (kernel, kernel, channels, filters)
            shapes[f"conv{k}_bias"] = (filters,)
            channels = filters
        shapes["dense_kernel"] = (int(np.prod(self.conv_output_shape())), self.features)
        shapes["dense_bias"] = (self.features,)
        for key, shape in self.cell.param_shapes().items():
            shapes[CELL_PREFIX + key] = shape
        shapes["head_kernel"] = (self.cell.output_size, self.num_actions)
        shapes["head_bias"] = (self.num_actions,)
        return shapes

    def init_params(self, seed: int = 0) -> dict[str, np.ndarray]:
        """torch's default init for convs and dense layers (uniform +-1/sqrt(fan_in)); the
        cell's own init; float64."""
        rng = np.random.default_rng([seed, 31])
        cell_params = self.cell.init_params(seed)
        params = {}
        for key, shape in self.param_shapes().items():
            if key.startswith(CELL_PREFIX):
                params[key] = cell_params[key[len(CELL_PREFIX) :]]
                continue
            kernel_shape = self.param_shapes()[key.replace("_bias", "_kernel")]
            fan_in = int(np.prod(kernel_shape[:-1]))
            params[key] = rng.uniform(-1, 1, size=shape) / np.sqrt(fan_in)
        return params

    def check_params(self, params, argument: str = "params") -> dict[str, np.ndarray]:
        """Names and shapes as `param_shapes`, finite; ValueError naming what differs."""
        return check_param_dict(params, self.param_shapes(), "the parameters of " + self.describe(),
                                argument)  # fmt: skip

    def cell_params(self, params) -> dict[str, Any]:
        return {k[len(CELL_PREFIX) :]: v for k, v in params.items() if k.startswith(CELL_PREFIX)}

    def describe(self) -> str:
        return f"{self.extractor} -> {self.cell.describe()} -> {self.num_actions} actions"

    def to_config(self) -> dict[str, Any]:
        return {
            "cell": self.cell.to_config(),
            "num_actions": self.num_actions,
            "extractor": self.extractor,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> PolicySpec:
        return cls(
            cells.spec_from_config(config["cell"]),
            config["num_actions"],
            config.get("extractor", "nature"),
        )


def make_policy_spec(
    cell: str, num_actions: int, units: int | None = None, **hparams
) -> PolicySpec:
    """The default policy for a cell name: LSTM/GRU 64 units, CfC 64 (backbone 128), LTC 32."""
    features = EXTRACTORS["nature"]["features"]
    default_units = {"ltc": 32}.get(cell, 64)
    return PolicySpec(
        cells.get_spec(cell, features, units or default_units, **hparams), num_actions
    )
