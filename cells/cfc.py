"""CfC: the closed-form continuous-time cell (Hasani et al., 2022), defined as ncps.torch does it.

One step, input x (B, I), state h (B, H), elapsed time ts (B, 1):

    z = [x, h]                                   # concatenated, (B, I + H)
    z = act(z @ backbone{k}_kernel + backbone{k}_bias)   for k < backbone_layers
    ff1 = z @ ff1_kernel + ff1_bias
    mode "pure":     h' = -A * exp(-ts * (|w_tau| + |ff1|)) * ff1 + A
    otherwise:       ff1 = tanh(ff1);  ff2 = tanh(z @ ff2_kernel + ff2_bias)
                     t = sigmoid((z @ time_a_kernel + time_a_bias) * ts
                                 + z @ time_b_kernel + time_b_bias)
        "default":   h' = ff1 * (1 - t) + t * ff2
        "no_gate":   h' = ff1 + t * ff2
    output y = h'

Canonical parameters (C = I + H without a backbone, else backbone_units):
    backbone{k}_kernel (I + H, U) for k = 0, (U, U) after;  backbone{k}_bias (U,)
    ff1_kernel (C, H), ff1_bias (H,); and for "pure": w_tau (H,), A (H,);
    otherwise ff2_kernel, time_a_kernel, time_b_kernel (C, H) with their (H,) biases.
    mixed_memory adds the `cells.memory` LSTM parameters (mm_*); the state becomes (h, c).

Wired CfC (`wiring=` given): as ncps's WiredCfCCell, one backbone-free CfC per wiring layer
(NCP: inter, command, motor). Layer l reads the previous layer's output (layer 0 reads x) and its
own slice of the state; its ff1 and ff2 kernels (not time_a/time_b) are multiplied by the mask
|adjacency rows of its inputs| stacked over a block of ones for its recurrent part. Parameters
carry the prefix ``layer{l}_``. The state is the layers' states concatenated in layer order; the
output is the last layer's state. (For one-layer wirings such as FullyConnected that is every
neuron: ncps ignores `output_dim` there, and so do we.)

Dropout (`backbone_dropout`, training only) sits where ncps.torch puts it: after backbone layers
k >= 1, so a one-layer backbone never drops out. The reference is the inference function.

Where ncps.tf differs (cellbench follows ncps.torch):
  * no tanh on ff1 and ff2 outside "pure" mode;
  * the time gate is sigmoid(-t_a * ts + t_b) (sign flipped);
  * dropout after every backbone layer, default rate 0.1 instead of 0;
  * biases initialised to zeros, and a wired cell with a backbone is refused;
  * mixed memory feeds the LSTM output to the cell as its input (see `cells.memory`).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import numpy as np

from . import memory
from .spec import CellSpec, check_choice, linear_bias, xavier_uniform
from .wiring import Wiring, build_wiring, wiring_from_config

MODES = ("default", "no_gate", "pure")
ACTIVATIONS = ("lecun_tanh", "tanh", "relu", "silu", "gelu")
#: Backbone activations with a sigmoid form, act(a) = beta * sigmoid(alpha * a) + gamma, as
#: (alpha, beta, gamma): the fused and C++ implementations fold the factors into the weights.
SIGMOID_FORMS = {"lecun_tanh": (2 * 0.666, 2 * 1.7159, -1.7159), "tanh": (2.0, 2.0, -1.0)}

_UNWIRED_BACKBONE = {"backbone_units": 128, "backbone_layers": 1, "backbone_dropout": 0.0}
_WIRED_BACKBONE = {"backbone_units": 0, "backbone_layers": 0, "backbone_dropout": 0.0}


@dataclasses.dataclass(frozen=True)
class CfCSpec(CellSpec):
    """CfC hyper-parameters.

    Attributes:
        mode: "default" (gated), "no_gate" or "pure" (the direct ODE solution).
        backbone_units: width U of the backbone MLP (default 128; a wired cell has none).
        backbone_layers: depth of the backbone MLP; 0 feeds [x, h] to the heads directly.
        backbone_activation: "lecun_tanh" (1.7159 tanh(0.666 x)), "tanh", "relu", "silu", "gelu".
        backbone_dropout: dropout rate in training, placed as ncps.torch does (see module doc).
        mixed_memory: put ncps's memory LSTM in front of the cell; state becomes (h, c).
        wiring: a `cells.wiring` config or built `Wiring` for a wired (sparse) CfC, or None.
    """

    mode: str = "default"
    backbone_units: int | None = None
    backbone_layers: int | None = None
    backbone_activation: str = "lecun_tanh"
    backbone_dropout: float | None = None
    mixed_memory: bool = False
    wiring: Any = None

    name = "cfc"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice("mode", self.mode, MODES)
        check_choice("backbone_activation", self.backbone_activation, ACTIVATIONS)
        if isinstance(self.wiring, dict):
            object.__setattr__(self, "wiring", wiring_from_config(self.wiring))
        defaults = _WIRED_BACKBONE if self.wiring is not None else _UNWIRED_BACKBONE
        for key, default in defaults.items():
            value = getattr(self, key)
            if value is None:
                object.__setattr__(self, key, default)
            elif self.wiring is not None and value != default:
                raise ValueError(
                    f"{key}: a wired CfC has no backbone, so expected {default} or None, "
                    f"got {value!r}"
                )
        if self.backbone_layers < 0 or isinstance(self.backbone_layers, bool):
            raise ValueError(
                f"backbone_layers: expected an integer >= 0, got {self.backbone_layers!r}"
            )
        if self.backbone_layers > 0 and self.backbone_units < 1:
            raise ValueError(
                f"backbone_units: expected >= 1 with backbone_layers={self.backbone_layers}, "
                f"got {self.backbone_units!r}"
            )
        if not 0.0 <= self.backbone_dropout < 1.0:
            raise ValueError(
                f"backbone_dropout: expected a rate in [0, 1), got {self.backbone_dropout!r}"
            )
        if self.wiring is not None and self.built_wiring.units != self.units:
            raise ValueError(
                f"units: expected the wiring's {self.built_wiring.units} neurons, got {self.units}"
            )

    # ------------------------------------------------------------------ layout
    @functools.cached_property
    def built_wiring(self) -> Wiring | None:
        return None if self.wiring is None else build_wiring(self.wiring, self.input_size)

    @property
    def is_wired(self) -> bool:
        return self.wiring is not None

    @property
    def state_arity(self) -> int:
        return 2 if self.mixed_memory else 1

    @property
    def layer_sizes(self) -> tuple[int, ...]:
        """Neurons per CfC layer: one layer of H unwired, the wiring's layers when wired."""
        if not self.is_wired:
            return (self.units,)
        return tuple(len(layer) for layer in self.built_wiring.layers)

    @property
    def output_size(self) -> int:
        return self.layer_sizes[-1]

    def layer_prefix(self, layer: int) -> str:
        return f"layer{layer}_" if self.is_wired else ""

    def layer_input_sizes(self) -> tuple[int, ...]:
        """Width of what each layer's heads read: [input, own state] or the backbone output."""
        if not self.is_wired:
            head_in = (
                self.backbone_units if self.backbone_layers > 0 else self.input_size + self.units
            )
            return (head_in,)
        feeds = (self.input_size,) + self.layer_sizes[:-1]
        return tuple(f + n for f, n in zip(feeds, self.layer_sizes))

    def param_shapes(self):
        shapes: dict[str, tuple[int, ...]] = {}
        if self.mixed_memory:
            shapes.update(memory.param_shapes(self.input_size, self.units))
        width = self.input_size + self.units
        for k in range(self.backbone_layers):
            shapes[f"backbone{k}_kernel"] = (width, self.backbone_units)
            shapes[f"backbone{k}_bias"] = (self.backbone_units,)
            width = self.backbone_units
        heads = ("ff1",) if self.mode == "pure" else ("ff1", "ff2", "time_a", "time_b")
        for layer, (fan_in, n) in enumerate(zip(self.layer_input_sizes(), self.layer_sizes)):
            prefix = self.layer_prefix(layer)
            for head in heads:
                shapes[f"{prefix}{head}_kernel"] = (fan_in, n)
                shapes[f"{prefix}{head}_bias"] = (n,)
            if self.mode == "pure":
                shapes[f"{prefix}w_tau"] = (n,)
                shapes[f"{prefix}A"] = (n,)
        return shapes

    def init_params(self, seed: int = 0):
        """ncps.torch's init: xavier-uniform kernels, nn.Linear biases, w_tau = 0, A = 1."""
        rng = np.random.default_rng(seed)
        params = {}
        shapes = self.param_shapes()
        for key, shape in shapes.items():
            if key.startswith("mm_"):
                continue
            if key.endswith("w_tau"):
                params[key] = np.zeros(shape)
            elif key.endswith("A"):
                params[key] = np.ones(shape)
            elif key.endswith("_kernel"):
                params[key] = xavier_uniform(rng, *shape)
            else:
                fan_in = shapes[key[: -len("_bias")] + "_kernel"][0]
                params[key] = linear_bias(rng, fan_in, shape[0])
        if self.mixed_memory:
            params.update(memory.init_params(rng, self.input_size, self.units))
        return {k: params[k] for k in shapes}

    def constants(self):
        """Per-layer float masks `layer{l}_mask` of shape (layer input + n_l, n_l) when wired."""
        if not self.is_wired:
            return {}
        w = self.built_wiring
        masks = {}
        for layer, neurons in enumerate(w.layers):
            if layer == 0:
                rows = w.sensory_adjacency_matrix[:, neurons]
            else:
                rows = w.adjacency_matrix[list(w.layers[layer - 1])][:, neurons]
            recurrent = np.ones((len(neurons), len(neurons)))
            masks[f"layer{layer}_mask"] = np.abs(np.concatenate([rows, recurrent], axis=0)).astype(
                np.float64
            )
        return masks


def _head(ops, spec: CfCSpec, p, prefix: str, z, ts, mask):
    """The CfC update of one layer from its head input z (B, C) -> h' (B, n)."""

    def linear(head, masked):
        kernel = p[f"{prefix}{head}_kernel"]
        if masked and mask is not None:
            kernel = kernel * mask
        return ops.matmul(z, kernel) + p[f"{prefix}{head}_bias"]

    ff1 = linear("ff1", masked=True)
    if spec.mode == "pure":
        a, w_tau = p[f"{prefix}A"], p[f"{prefix}w_tau"]
        return -a * ops.exp(-ts * (ops.abs(w_tau) + ops.abs(ff1))) * ff1 + a
    ff1 = ops.tanh(ff1)
    ff2 = ops.tanh(linear("ff2", masked=True))
    t_interp = ops.sigmoid(linear("time_a", masked=False) * ts + linear("time_b", masked=False))
    if spec.mode == "no_gate":
        return ff1 + t_interp * ff2
    return ff1 * (1.0 - t_interp) + t_interp * ff2


def step(ops, spec: CfCSpec, p, k, x, state, ts, training=False):
    """x: (B, I), state (h,) or (h, c) with (B, H), ts: (B, 1) -> (y (B, out), state).

    k holds `spec.constants()` (the wired masks) as backend tensors.
    """
    if spec.mixed_memory:
        h, c = memory.step(ops, p, x, *state)
    else:
        (h,) = state
    if not spec.is_wired:
        z = ops.concat([x, h])
        activation = ops.activation(spec.backbone_activation)
        for layer in range(spec.backbone_layers):
            z = activation(ops.matmul(z, p[f"backbone{layer}_kernel"]) + p[f"backbone{layer}_bias"])
            if layer >= 1:  # ncps.torch drops out after backbone layers 1.. only
                z = ops.dropout(z, spec.backbone_dropout, training)
        y = h_new = _head(ops, spec, p, "", z, ts, None)
    else:
        feed, outputs = x, []
        for layer, h_layer in enumerate(ops.split(h, list(spec.layer_sizes))):
            z = ops.concat([feed, h_layer])
            feed = _head(ops, spec, p, f"layer{layer}_", z, ts, k[f"layer{layer}_mask"])
            outputs.append(feed)
        h_new, y = ops.concat(outputs), feed
    return y, ((h_new, c) if spec.mixed_memory else (h_new,))
