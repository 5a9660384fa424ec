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
    "ncps":   the conv block of ncps's torch Atari tutorial: conv 64, 128, 128, 256, each 5x5,
              stride 2, zero padding 2 on every side, ReLU; global average pooling; BatchNorm
              over the 256 features (torch's defaults: eps 1e-5, running averages with weight
              0.1 on the new batch). ncps's TF tutorial computes another function (padding
              "same", which pads 1 before and 2 after, and no BatchNorm); here both frameworks
              compute the torch tutorial's. Canonical keys "norm_gamma", "norm_beta" (trained)
              and "norm_mean", "norm_var" (running statistics: state, not trained).
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import numpy as np

import cells
from cells.spec import check_param_dict

OBS_SHAPE = (84, 84, 4)
CELL_PREFIX = "cell/"
#: Per extractor: (filters, kernel, stride) per conv layer, zero padding on each side of every
#: conv, the width of the dense layer after them (None: global average pooling instead), and
#: whether a BatchNorm normalises the features.
EXTRACTORS = {
    "nature": {"convs": ((32, 8, 4), (64, 4, 2), (64, 3, 1)), "padding": 0, "dense": 512,
               "norm": False},
    "ncps": {"convs": ((64, 5, 2), (128, 5, 2), (128, 5, 2), (256, 5, 2)), "padding": 2,
             "dense": None, "norm": True},
}  # fmt: skip
#: The BatchNorm's canonical keys and initial values (torch's); its running statistics are
#: state that training updates but never trains.
NORM_INIT = {"norm_gamma": 1.0, "norm_beta": 0.0, "norm_mean": 0.0, "norm_var": 1.0}
NORM_KEYS, NORM_STATE = tuple(NORM_INIT), ("norm_mean", "norm_var")
NORM_EPS, NORM_MOMENTUM = 1e-5, 0.1  # torch's convention: new = (1 - m) old + m batch


def extractor_features(extractor: str) -> int:
    """The width of an extractor's output: its dense layer's, else its last conv's filters."""
    settings = EXTRACTORS[extractor]
    return settings["dense"] or settings["convs"][-1][0]


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
    def padding(self) -> int:
        return EXTRACTORS[self.extractor]["padding"]

    @property
    def dense(self) -> int | None:
        return EXTRACTORS[self.extractor]["dense"]

    @property
    def norm(self) -> bool:
        return EXTRACTORS[self.extractor]["norm"]

    @property
    def features(self) -> int:
        return extractor_features(self.extractor)

    def state_keys(self) -> tuple[str, ...]:
        """Canonical keys that are state (BatchNorm running statistics), not trained."""
        return NORM_STATE if self.norm else ()

    def conv_output_shape(self) -> tuple[int, int, int]:
        """(height, width, channels) after the convs."""
        size, channels = OBS_SHAPE[0], OBS_SHAPE[2]
        for filters, kernel, stride in self.convs:
            size, channels = (size + 2 * self.padding - kernel) // stride + 1, filters
        return size, size, channels

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        shapes: dict[str, tuple[int, ...]] = {}
        channels = OBS_SHAPE[2]
        for k, (filters, kernel, _) in enumerate(self.convs):
            shapes[f"conv{k}_kernel"] = (kernel, kernel, channels, filters)
            shapes[f"conv{k}_bias"] = (filters,)
            channels = filters
        if self.dense:
            shapes["dense_kernel"] = (int(np.prod(self.conv_output_shape())), self.dense)
            shapes["dense_bias"] = (self.dense,)
        if self.norm:
            for key in NORM_KEYS:
                shapes[key] = (self.features,)
        for key, shape in self.cell.param_shapes().items():
            shapes[CELL_PREFIX + key] = shape
        shapes["head_kernel"] = (self.cell.output_size, self.num_actions)
        shapes["head_bias"] = (self.num_actions,)
        return shapes

    def init_params(self, seed: int = 0) -> dict[str, np.ndarray]:
        """torch's default init for convs and dense layers (uniform +-1/sqrt(fan_in)) and for
        BatchNorm (gamma 1, beta 0, running mean 0 and variance 1); the cell's own init;
        float64."""
        rng = np.random.default_rng([seed, 31])
        cell_params = self.cell.init_params(seed)
        params = {}
        for key, shape in self.param_shapes().items():
            if key.startswith(CELL_PREFIX):
                params[key] = cell_params[key[len(CELL_PREFIX) :]]
                continue
            if key in NORM_INIT:
                params[key] = np.full(shape, NORM_INIT[key])
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


def default_units(cell: str) -> int:
    """The policies' unit count for a cell name: LTC 32, the others 64."""
    return {"ltc": 32}.get(cell, 64)


def check_units(units: int | None) -> None:
    """A unit count is a positive int, or None for the cell's default."""
    if units is not None and (isinstance(units, bool) or not isinstance(units, int) or units < 1):
        raise ValueError(f"units: expected a positive whole unit count, got {units!r}")


def make_policy_spec(
    cell: str, num_actions: int, units: int | None = None, extractor: str = "nature", **hparams
) -> PolicySpec:
    """The default policy for a cell name: LSTM/GRU 64 units, CfC 64 (backbone 128), LTC 32,
    after the `extractor` (a key of EXTRACTORS); `units` (None: that default) other than the
    default widens or narrows the cell alone."""
    if extractor not in EXTRACTORS:
        raise ValueError(f"extractor: expected one of {list(EXTRACTORS)}, got {extractor!r}")
    check_units(units)
    cell_spec = cells.get_spec(cell, extractor_features(extractor), units or default_units(cell),
                               **hparams)  # fmt: skip
    return PolicySpec(cell_spec, num_actions, extractor)


class Evaluated(NamedTuple):
    """What either framework's trainer returns for one evaluated batch of B x T steps."""

    loss: float  # cross-entropy summed over the B * T steps
    correct: int  # steps whose greedy action is the label
    count: int  # B * T
    predicted: np.ndarray  # (num_actions,) int64: steps on which each action was the greedy one
    final: Any  # the cell's state after the last step, in the framework's form
