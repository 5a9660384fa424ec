"""LTC: the liquid time-constant cell (Hasani et al., 2021), defined as ncps.torch does it.

The neuron potentials v (B, H) follow the ODE

    cm dv/dt = gleak (vleak - v) + sum_j w_ji sigmoid(sigma_ji (v_j - mu_ji)) (erev_ji - v)
               + the same sum over the (mapped) inputs with the sensory_* parameters,

and one cell step advances it by ts with `ode_unfolds` semi-implicit (fused) Euler sub-steps,
each v <- (cm_t v + gleak vleak + N(v)) / (cm_t + gleak + D(v) + epsilon), where
cm_t = cm / (ts / ode_unfolds) and N, D are the synaptic numerator and denominator sums.
Sensory synapses read the input, which is held constant over the step, so they are computed
once per step. Synapses absent from the wiring are multiplied by zero masks.

Input mapping (I,): "affine" x * input_w + input_b, "linear" x * input_w, "none".
Output: the first `motor` neurons (the wiring's output_dim), mapped like the input with
output_w, output_b (motor,).

Canonical parameters (I inputs, H neurons), names and ranges as ncps.torch:
    gleak, vleak, cm (H,);  w, sigma, mu, erev (H, H);  sensory_w, sensory_sigma, sensory_mu,
    sensory_erev (I, H);  input_w, input_b (I,);  output_w, output_b (motor,)
    (matrices are [source, target]); mixed_memory adds `cells.memory` (mm_*), state (v, c).

`implicit_constraints=True` (ncps.torch's LTC default) passes w, sensory_w, cm and gleak
through softplus in the forward pass; False uses them as they are (ncps then clips them after
each optimiser step, which is the training loop's business, not the cell's).

Where ncps.tf differs: it has no softplus option (it constrains those four with NonNeg
after updates) and its mixed memory differs (see `cells.memory`).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import numpy as np

from . import memory
from .spec import CellSpec, check_choice
from .wiring import FullyConnected, Wiring, build_wiring, wiring_from_config

MAPPINGS = ("affine", "linear", "none")
_INIT_RANGES = {
    "gleak": (0.001, 1.0),
    "vleak": (-0.2, 0.2),
    "cm": (0.4, 0.6),
    "w": (0.001, 1.0),
    "sigma": (3.0, 8.0),
    "mu": (0.3, 0.8),
    "sensory_w": (0.001, 1.0),
    "sensory_sigma": (3.0, 8.0),
    "sensory_mu": (0.3, 0.8),
}
CONSTRAINED = frozenset({"w", "sensory_w", "cm", "gleak"})


@dataclasses.dataclass(frozen=True)
class LTCSpec(CellSpec):
    """LTC hyper-parameters.

    Attributes:
        wiring: a `cells.wiring` config or built `Wiring`; None means FullyConnected(units),
            seeded as ncps seeds it.
        ode_unfolds: fused solver sub-steps per cell step (ncps default 6).
        epsilon: added to the solver's denominator against division by zero.
        input_mapping, output_mapping: "affine", "linear" or "none".
        implicit_constraints: softplus on w, sensory_w, cm, gleak (see module doc).
        mixed_memory: put ncps's memory LSTM in front of the cell; state becomes (v, c).
    """

    wiring: Any = None
    ode_unfolds: int = 6
    epsilon: float = 1e-8
    input_mapping: str = "affine"
    output_mapping: str = "affine"
    implicit_constraints: bool = True
    mixed_memory: bool = False

    name = "ltc"

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.wiring, dict):
            object.__setattr__(self, "wiring", wiring_from_config(self.wiring))
        if (
            isinstance(self.ode_unfolds, bool)
            or not isinstance(self.ode_unfolds, (int, np.integer))
            or self.ode_unfolds < 1
        ):
            raise ValueError(f"ode_unfolds: expected a positive integer, got {self.ode_unfolds!r}")
        if not (
            isinstance(self.epsilon, (int, float))
            and np.isfinite(self.epsilon)
            and self.epsilon >= 0
        ):
            raise ValueError(f"epsilon: expected a finite number >= 0, got {self.epsilon!r}")
        check_choice("input_mapping", self.input_mapping, MAPPINGS)
        check_choice("output_mapping", self.output_mapping, MAPPINGS)
        if self.built_wiring.units != self.units:
            raise ValueError(
                f"units: expected the wiring's {self.built_wiring.units} neurons, got {self.units}"
            )

    @functools.cached_property
    def built_wiring(self) -> Wiring:
        wiring = self.wiring if self.wiring is not None else FullyConnected(self.units)
        return build_wiring(wiring, self.input_size)

    @property
    def state_arity(self) -> int:
        return 2 if self.mixed_memory else 1

    @property
    def output_size(self) -> int:
        return self.built_wiring.output_dim

    def param_shapes(self):
        i, h, m = self.input_size, self.units, self.output_size
        shapes: dict[str, tuple[int, ...]] = {}
        if self.mixed_memory:
            shapes.update(memory.param_shapes(i, h))
        shapes.update({"gleak": (h,), "vleak": (h,), "cm": (h,)})
        for key in ("sigma", "mu", "w", "erev"):
            shapes[key] = (h, h)
        for key in ("sensory_sigma", "sensory_mu", "sensory_w", "sensory_erev"):
            shapes[key] = (i, h)
        if self.input_mapping in ("affine", "linear"):
            shapes["input_w"] = (i,)
        if self.input_mapping == "affine":
            shapes["input_b"] = (i,)
        if self.output_mapping in ("affine", "linear"):
            shapes["output_w"] = (m,)
        if self.output_mapping == "affine":
            shapes["output_b"] = (m,)
        return shapes

    def positive_params(self):
        # Without softplus these must stay positive or the solver's denominator can vanish.
        return frozenset() if self.implicit_constraints else CONSTRAINED

    def init_params(self, seed: int = 0):
        """ncps.torch's init: uniform ranges, erev = wiring polarity, unit/zero mappings."""
        rng = np.random.default_rng(seed)
        w = self.built_wiring
        params = {}
        for key, shape in self.param_shapes().items():
            if key in _INIT_RANGES:
                params[key] = rng.uniform(*_INIT_RANGES[key], size=shape)
            elif key == "erev":
                params[key] = w.adjacency_matrix.astype(np.float64)
            elif key == "sensory_erev":
                params[key] = w.sensory_adjacency_matrix.astype(np.float64)
            elif key in ("input_w", "output_w"):
                params[key] = np.ones(shape)
            elif key in ("input_b", "output_b"):
                params[key] = np.zeros(shape)
        if self.mixed_memory:
            params.update(memory.init_params(rng, self.input_size, self.units))
        return {k: params[k] for k in self.param_shapes()}

    def constants(self):
        """Synapse masks |adjacency|: `sparsity_mask` (H, H), `sensory_sparsity_mask` (I, H)."""
        w = self.built_wiring
        return {
            "sparsity_mask": np.abs(w.adjacency_matrix).astype(np.float64),
            "sensory_sparsity_mask": np.abs(w.sensory_adjacency_matrix).astype(np.float64),
        }


def _synapses(ops, v, weight, sigma, mu, erev, mask):
    """Drive of presynaptic potentials v (B, S) onto H neurons -> (numerator, denominator)."""
    activation = weight * ops.sigmoid(sigma * (v[..., :, None] - mu)) * mask  # (B, S, H)
    return ops.sum(activation * erev, axis=-2), ops.sum(activation, axis=-2)


def positive(ops, spec: LTCSpec):
    """The map applied to w, sensory_w, cm and gleak: softplus or the identity."""
    return ops.softplus if spec.implicit_constraints else (lambda value: value)


def map_input(ops, spec: LTCSpec, p, x):
    """The input mapping: x (B, I) -> x * input_w (+ input_b)."""
    if spec.input_mapping in ("affine", "linear"):
        x = x * p["input_w"]
    if spec.input_mapping == "affine":
        x = x + p["input_b"]
    return x


def map_output(spec: LTCSpec, p, v):
    """The output mapping of the first `motor` neurons of v (B, H) -> y (B, motor)."""
    y = v[:, : spec.output_size]
    if spec.output_mapping in ("affine", "linear"):
        y = y * p["output_w"]
    if spec.output_mapping == "affine":
        y = y + p["output_b"]
    return y


def sensory_drive(ops, spec: LTCSpec, p, k, x):
    """Sensory synapse sums of the mapped input x (B, I) -> (numerator, denominator) (B, H)."""
    return _synapses(
        ops,
        x,
        positive(ops, spec)(p["sensory_w"]),
        p["sensory_sigma"],
        p["sensory_mu"],
        p["sensory_erev"],
        k["sensory_sparsity_mask"],
    )


def step(ops, spec: LTCSpec, p, k, x, state, ts, training=False):
    """x: (B, I), state (v,) or (v, c) with (B, H), ts: (B, 1) -> (y (B, motor), state).

    k holds `spec.constants()` (the synapse masks) as backend tensors.
    """
    if spec.mixed_memory:
        v, c = memory.step(ops, p, x, *state)
    else:
        (v,) = state
    softplus = positive(ops, spec)
    # The input is held constant over the step, so the sensory synapses are computed once.
    sensory_num, sensory_den = sensory_drive(ops, spec, p, k, map_input(ops, spec, p, x))
    cm_t = softplus(p["cm"]) / (ts / spec.ode_unfolds)
    gleak = softplus(p["gleak"])
    w = softplus(p["w"])
    for _ in range(spec.ode_unfolds):
        num, den = _synapses(ops, v, w, p["sigma"], p["mu"], p["erev"], k["sparsity_mask"])
        numerator = cm_t * v + gleak * p["vleak"] + num + sensory_num
        v = numerator / (cm_t + gleak + den + sensory_den + spec.epsilon)
    y = map_output(spec, p, v)
    return y, ((v, c) if spec.mixed_memory else (v,))
