"""Converters between third-party recurrent modules and cellbench's ``(spec, params)``.

    spec, params = from_ncps(module)   # ncps.torch CfC, LTC, CfCCell, WiredCfCCell, LTCCell
    module = to_ncps(spec, params)     # ncps.torch CfC or LTC, weights loaded
    spec, params = from_torch(module)  # torch.nn.LSTM / nn.GRU
    module = to_torch(spec, params)
    spec, params = from_keras(layer)   # keras.layers.LSTM / GRU (Keras 3, built)
    layer = to_keras(spec, params)

`params` is always the canonical dict of float64 numpy copies, in `spec.param_shapes()` order.
torch, Keras and ncps are imported inside the functions, so this module imports with none of
them installed; a missing one raises ImportError naming the extra to install.

This module is the one place where framework layouts are written down. Canonical kernels are
(in, out) and used as ``x @ W``; torch's nn.Linear / nn.LSTM store the transpose (out, in).

=========================  ===================================================================
canonical                  third-party layout
=========================  ===================================================================
**ncps.torch CfC, unwired** (``cell = module.rnn_cell``, a CfCCell)
``backbone{k}_kernel``     ``cell.backbone``'s k-th nn.Linear ``.weight.T``; ``_bias``: ``.bias``
``{h}_kernel, {h}_bias``   ``cell.{h}.weight.T``, ``cell.{h}.bias``  for h in ff1, ff2, time_a,
                           time_b (``pure`` mode: ff1 only)
``w_tau, A`` (H,)          ``cell.w_tau[0]``, ``cell.A[0]`` (ncps stores them as (1, H))
**ncps.torch CfC, wired** (``cell = module.rnn_cell``, a WiredCfCCell)
``layer{l}_{name}``        ``cell.layer_{l}`` mapped as the unwired heads above. Its
                           ``sparsity_mask`` (n_l, in_l + n_l) is not a parameter: the wiring
                           defines it, and it must equal ``spec.constants()["layer{l}_mask"].T``
**ncps.torch LTC** (``cell = module.rnn_cell``, an LTCCell)
every LTC name             ``cell._params[name]`` as it is (matrices are [source, target] in
                           both). ``sparsity_mask`` / ``sensory_sparsity_mask`` are not
                           parameters: they must equal |adjacency| / |sensory adjacency|
**mixed memory** (``module.lstm``, ncps's LSTMCell; gate order (g, i, f, o) as ncps has it)
``mm_input_kernel``        ``lstm.input_map.weight.T`` (I, 4H)
``mm_input_bias``          ``lstm.input_map.bias`` (4H,)
``mm_recurrent_kernel``    ``lstm.recurrent_map.weight.T`` (H, 4H); recurrent_map has no bias
**torch.nn.LSTM** (gates i, f, g, o in torch and canonical alike)
``input_kernel``           ``weight_ih_l0.T``
``recurrent_kernel``       ``weight_hh_l0.T``
``bias``                   ``bias_ih_l0 + bias_hh_l0``; exported as ``bias_ih_l0 = bias``,
                           ``bias_hh_l0 = 0`` (only the sum enters the cell)
**torch.nn.GRU** (gates r, z, n in torch and canonical alike)
``input_kernel``           ``weight_ih_l0.T``
``recurrent_kernel``       ``weight_hh_l0.T``
``input_bias``             ``bias_ih_l0``
``recurrent_bias``         ``bias_hh_l0`` (kept apart: b_hn sits inside the reset product)
**keras.layers.LSTM** (gates i, f, c, o = canonical)
``input_kernel``           ``cell.kernel`` as it is (I, 4H)
``recurrent_kernel``       ``cell.recurrent_kernel`` as it is (H, 4H)
``bias``                   ``cell.bias`` as it is (4H,)
**keras.layers.GRU(reset_after=True)** (gates z, r, n: the first two blocks are swapped)
``input_kernel``           ``reorder_gates(cell.kernel, "zrn", "rzn")``
``recurrent_kernel``       ``reorder_gates(cell.recurrent_kernel, "zrn", "rzn")``
``input_bias``             ``reorder_gates(cell.bias[0], "zrn", "rzn")`` (bias is (2, 3H))
``recurrent_bias``         ``reorder_gates(cell.bias[1], "zrn", "rzn")``
=========================  ===================================================================

`torch_weights` / `params_from_torch_weights` and `keras_weights` / `params_from_keras_weights`
implement the torch and Keras rows on numpy arrays (`cells.torch.native.torch_layout` and
`cells.tf.native.keras_layout` are the same rules on tensors, for differentiable use).

Hyper-parameters read off an ncps module:

* CfC: ``mode``; the backbone depth (``cell.backbone_layers``), width (the first Linear's
  ``out_features``) and activation (the class of the activation modules: ncps's ``LeCun`` ->
  "lecun_tanh", nn.Tanh -> "tanh", nn.ReLU, nn.SiLU, nn.GELU (exact form) -> "relu", "silu",
  "gelu"); ``backbone_dropout`` from the nn.Dropout modules, which ncps.torch only inserts after
  backbone layers k >= 1 (the placement our spec uses), so with fewer than 2 layers, or a rate
  of 0, it reads 0.0. Without a backbone (``backbone_layers=0``) ncps keeps neither width nor
  activation; the spec gets the defaults (128, "lecun_tanh"), which then have no effect.
* LTC: ``ode_unfolds``, ``epsilon``, ``implicit_param_constraints`` (-> ``implicit_constraints``),
  the input/output mappings (ncps treats any string other than "affine"/"linear" as "none").
* Both: ``mixed_memory`` (``module.use_mixed``) and the wiring, read from the *built* ncps wiring
  object (its matrices, ``output_dim`` and ``get_neurons_of_layer(i)``) as an explicit
  `cells.wiring.Wiring`, so hand-edited wirings convert too. One exception keeps the common case
  readable: an ``ncps.torch.LTC`` built from an integer unit count whose wiring still equals
  ncps's ``FullyConnected(units)`` gives ``wiring=None``, as ``get_spec("ltc", I, units)`` does.

Calling conventions that do not change the parameters are accepted and not recorded: ncps's
``return_sequences=False`` (the module then returns the last output only, where cellbench
returns every step) and ``batch_first=False`` (time-major input); torch's ``batch_first``;
Keras's ``return_sequences`` / ``return_state`` / ``stateful`` / ``unroll``. Anything that
changes the function and has no cellbench equivalent (CfC ``proj_size``, a bidirectional or
stacked torch RNN, Keras GRU ``reset_after=False``, ...) raises ValueError naming it.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from .cfc import CfCSpec
from .gru import GRUSpec
from .lstm import LSTMSpec
from .ltc import LTCSpec
from .spec import CellSpec
from .wiring import FullyConnected, Wiring

__all__ = [
    "from_keras",
    "from_ncps",
    "from_torch",
    "keras_weights",
    "params_from_keras_weights",
    "params_from_torch_weights",
    "reorder_gates",
    "to_keras",
    "to_ncps",
    "to_torch",
    "torch_weights",
]

#: Gate orders of the fused kernels, by owner (the letters name the blocks).
CANONICAL_GRU_GATES = "rzn"
KERAS_GRU_GATES = "zrn"
_CFC_HEADS = ("ff1", "ff2", "time_a", "time_b")
_LTC_POSITIVE = ("gleak", "cm", "w", "sensory_w")


# ============================================================================ layout helpers
def reorder_gates(array, source: str, target: str, axis: int = -1) -> np.ndarray:
    """Reorder the equal gate blocks of a fused array along `axis` from `source` to `target`.

    Each letter names one block, e.g. ``reorder_gates(keras_kernel, "zrn", "rzn")`` turns a
    Keras GRU kernel (blocks z, r, n) into the canonical (r, z, n). Returns a new array.
    """
    array = np.asarray(array)
    if sorted(source) != sorted(target) or len(set(source)) != len(source):
        raise ValueError(f"target: expected a permutation of {source!r}, got {target!r}")
    if array.shape[axis] % len(source):
        raise ValueError(
            f"array: axis {axis} of shape {array.shape} does not split into {len(source)} gates"
        )
    blocks = dict(zip(source, np.split(array, len(source), axis=axis)))
    return np.concatenate([blocks[gate] for gate in target], axis=axis)


def _f64(value) -> np.ndarray:
    return np.array(value, dtype=np.float64)  # always a copy


def _check_rnn_spec(spec, argument: str = "spec") -> None:
    if not isinstance(spec, (LSTMSpec, GRUSpec)):
        raise ValueError(
            f"{argument}: expected an LSTM or GRU spec (LSTMSpec, GRUSpec), "
            f"got {getattr(spec, 'name', None) or type(spec).__name__!r}"
        )


def torch_weights(spec, params) -> dict[str, np.ndarray]:
    """Canonical LSTM/GRU params -> nn.LSTM / nn.GRU's single-layer weights (numpy, float64)."""
    _check_rnn_spec(spec)
    p = spec.check_params(params)
    weights = {
        "weight_ih_l0": _f64(p["input_kernel"].T),
        "weight_hh_l0": _f64(p["recurrent_kernel"].T),
    }
    if spec.name == "lstm":
        weights["bias_ih_l0"] = _f64(p["bias"])
        weights["bias_hh_l0"] = np.zeros_like(weights["bias_ih_l0"])
    else:
        weights["bias_ih_l0"] = _f64(p["input_bias"])
        weights["bias_hh_l0"] = _f64(p["recurrent_bias"])
    return weights


def params_from_torch_weights(spec, weights) -> dict[str, np.ndarray]:
    """Inverse of `torch_weights` (LSTM: the two biases are summed)."""
    _check_rnn_spec(spec)
    w = {k: _f64(weights[k]) for k in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")}
    params = {
        "input_kernel": w["weight_ih_l0"].T.copy(),
        "recurrent_kernel": w["weight_hh_l0"].T.copy(),
    }
    if spec.name == "lstm":
        params["bias"] = w["bias_ih_l0"] + w["bias_hh_l0"]
    else:
        params["input_bias"] = w["bias_ih_l0"]
        params["recurrent_bias"] = w["bias_hh_l0"]
    return _canonical(spec, params, "weights")


def keras_weights(spec, params) -> list[np.ndarray]:
    """Canonical LSTM/GRU params -> [kernel, recurrent_kernel, bias] in Keras's layout."""
    _check_rnn_spec(spec)
    p = {k: _f64(v) for k, v in spec.check_params(params).items()}
    if spec.name == "lstm":  # same gate order (i, f, c, o) and one bias
        return [p["input_kernel"], p["recurrent_kernel"], p["bias"]]

    def to_keras_gates(a):
        return reorder_gates(a, CANONICAL_GRU_GATES, KERAS_GRU_GATES)

    bias = np.stack([to_keras_gates(p["input_bias"]), to_keras_gates(p["recurrent_bias"])])
    return [to_keras_gates(p["input_kernel"]), to_keras_gates(p["recurrent_kernel"]), bias]


def params_from_keras_weights(spec, weights) -> dict[str, np.ndarray]:
    """Inverse of `keras_weights`: [kernel, recurrent_kernel, bias] -> canonical params."""
    _check_rnn_spec(spec)
    kernel, recurrent, bias = (_f64(w) for w in weights)
    if spec.name == "lstm":
        params = {"input_kernel": kernel, "recurrent_kernel": recurrent, "bias": bias}
    else:
        if bias.ndim != 2 or bias.shape[0] != 2:
            raise ValueError(
                f"weights[2]: expected the reset-after GRU bias of shape (2, {3 * spec.units}), "
                f"got {bias.shape}"
            )

        def from_keras_gates(a):
            return reorder_gates(a, KERAS_GRU_GATES, CANONICAL_GRU_GATES)

        params = {
            "input_kernel": from_keras_gates(kernel),
            "recurrent_kernel": from_keras_gates(recurrent),
            "input_bias": from_keras_gates(bias[0]),
            "recurrent_bias": from_keras_gates(bias[1]),
        }
    return _canonical(spec, params, "weights")


def _canonical(spec: CellSpec, params: dict, argument: str) -> dict[str, np.ndarray]:
    """Validate against the spec; float64 copies in canonical order."""
    return {k: _f64(v) for k, v in spec.check_params(params, argument).items()}


# ============================================================================ lazy imports
def _import_torch():
    try:
        import torch
    except ImportError as error:
        raise ImportError(
            "cells.interop needs PyTorch for this conversion, which is not installed: "
            "pip install 'cellbench[torch]'"
        ) from error
    return torch


def _import_ncps():
    torch = _import_torch()
    try:
        import ncps.torch
        import ncps.torch.cfc_cell
        import ncps.wirings
    except ImportError as error:
        raise ImportError(
            "cells.interop needs ncps for this conversion, which is not installed: "
            "pip install 'cellbench[compare]'"
        ) from error
    return torch, ncps


def _import_keras():
    from .preload import before_tensorflow

    before_tensorflow()
    try:
        import keras
    except ImportError as error:
        raise ImportError(
            "cells.interop needs Keras 3 for this conversion, which is not installed: "
            "pip install 'cellbench[tf]'"
        ) from error
    if not hasattr(keras, "ops"):
        raise ImportError(
            f"cells.interop: expected Keras 3, got Keras {keras.__version__}: "
            "pip install 'cellbench[tf]'"
        )
    return keras


def _type_error(argument: str, expected: str, value: Any) -> ValueError:
    kind = type(value)
    return ValueError(f"{argument}: expected {expected}, got {kind.__module__}.{kind.__qualname__}")


def _torch_dtype(torch, dtype):
    if dtype is None:
        return torch.get_default_dtype()
    if isinstance(dtype, torch.dtype):
        resolved = dtype
    else:
        try:
            name = np.dtype(dtype).name
        except TypeError:
            name = None
        resolved = {"float32": torch.float32, "float64": torch.float64}.get(name)
    if resolved not in (torch.float32, torch.float64):
        raise ValueError(f"dtype: expected float32 or float64, got {dtype!r}")
    return resolved


def _numpy(tensor) -> np.ndarray:
    return tensor.detach().cpu().double().numpy().copy()


# ============================================================================ ncps
@functools.lru_cache(maxsize=1)
def _ncps_wiring_class():
    """An ncps Wiring subclass holding explicit matrices and layers (made once, lazily)."""
    _, ncps = _import_ncps()

    class NcpsWiring(ncps.wirings.Wiring):
        """An ncps wiring with given matrices and layers: what `to_ncps` hands to ncps.

        ncps's cells read `adjacency_matrix`, `sensory_adjacency_matrix`, `input_dim`,
        `output_dim`, `num_layers` and `get_neurons_of_layer`; all come from a cellbench Wiring.
        """

        def __init__(self, adjacency, sensory_adjacency, output_dim, layers=None):
            adjacency = np.array(adjacency, dtype=np.int32)
            super().__init__(adjacency.shape[0])
            self.adjacency_matrix = adjacency
            sensory = np.array(sensory_adjacency, dtype=np.int32)
            self.set_input_dim(sensory.shape[0])
            self.sensory_adjacency_matrix = sensory
            self.set_output_dim(int(output_dim))
            layers = [list(range(self.units))] if layers is None else layers
            self._layers = [[int(n) for n in layer] for layer in layers]

        @property
        def num_layers(self):
            return len(self._layers)

        def get_neurons_of_layer(self, layer_id):
            return list(self._layers[layer_id])

        def get_config(self):
            return {**super().get_config(), "layers": [list(ly) for ly in self._layers]}

        @classmethod
        def from_config(cls, config):
            return cls(
                config["adjacency_matrix"],
                config["sensory_adjacency_matrix"],
                config["output_dim"],
                config.get("layers"),
            )

    # Named as a module attribute (see `__getattr__` below) so that pickling works.
    NcpsWiring.__module__ = __name__
    NcpsWiring.__qualname__ = "NcpsWiring"
    return NcpsWiring


def __getattr__(name: str):
    if name == "NcpsWiring":  # created on first use: it subclasses ncps's Wiring
        return _ncps_wiring_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _to_ncps_wiring(wiring: Wiring):
    return _ncps_wiring_class()(
        wiring.adjacency_matrix,
        wiring.sensory_adjacency_matrix,
        wiring.output_dim,
        wiring.layers,
    )


def _wiring_from_ncps(wiring, argument: str) -> Wiring:
    """The built ncps wiring object -> an explicit cellbench Wiring."""
    if not wiring.is_built():
        raise ValueError(f"{argument}: expected a built ncps wiring, got an unbuilt one")
    try:
        layers = [
            tuple(int(n) for n in wiring.get_neurons_of_layer(i)) for i in range(wiring.num_layers)
        ]
        return Wiring.from_matrices(
            np.asarray(wiring.adjacency_matrix),
            np.asarray(wiring.sensory_adjacency_matrix),
            int(wiring.output_dim),
            layers,
            description=f"from ncps {type(wiring).__name__}",
        )
    except ValueError as error:
        raise ValueError(f"{argument}: the ncps wiring cannot be represented ({error})") from None


def _activation_name(ncps, torch, module, argument: str) -> str:
    nn = torch.nn
    if isinstance(module, ncps.torch.cfc_cell.LeCun):
        return "lecun_tanh"
    if isinstance(module, nn.GELU):
        if module.approximate != "none":
            raise ValueError(
                f"{argument}.approximate: expected 'none' (the exact GELU ncps uses), "
                f"got {module.approximate!r}"
            )
        return "gelu"
    for cls, name in ((nn.Tanh, "tanh"), (nn.ReLU, "relu"), (nn.SiLU, "silu")):
        if type(module) is cls:
            return name
    raise _type_error(
        argument, "an ncps backbone activation (LeCun, Tanh, ReLU, SiLU, GELU)", module
    )


def _read_backbone(ncps, torch, cell, argument: str) -> dict[str, Any]:
    """Backbone hyper-parameters of an unwired ncps CfCCell, checked against its structure."""
    nn = torch.nn
    layers = int(cell.backbone_layers)
    if layers == 0:
        return {
            "backbone_layers": 0,
            "backbone_units": 128,
            "backbone_activation": "lecun_tanh",
            "backbone_dropout": 0.0,
        }
    children = list(cell.backbone)
    linears = [m for m in children if isinstance(m, nn.Linear)]
    dropouts = [m for m in children if isinstance(m, nn.Dropout)]
    others = [m for m in children if not isinstance(m, (nn.Linear, nn.Dropout))]
    if len(linears) != layers or len(others) != layers:
        raise ValueError(
            f"{argument}.backbone: expected {layers} Linear + activation pairs "
            f"(backbone_layers={layers}), got {[type(m).__name__ for m in children]}"
        )
    names = {_activation_name(ncps, torch, m, f"{argument}.backbone") for m in others}
    if len(names) != 1:
        raise ValueError(f"{argument}.backbone: expected one activation, got {sorted(names)}")
    rates = {float(m.p) for m in dropouts}
    if len(rates) > 1 or (dropouts and len(dropouts) != layers - 1):
        raise ValueError(
            f"{argument}.backbone: expected one dropout rate after each layer k >= 1, got "
            f"{[type(m).__name__ for m in children]} with rates {sorted(rates)}"
        )
    return {
        "backbone_layers": layers,
        "backbone_units": int(linears[0].out_features),
        "backbone_activation": names.pop(),
        "backbone_dropout": rates.pop() if rates else 0.0,
    }


def _cfc_head_params(torch, cell, prefix: str) -> dict[str, np.ndarray]:
    params = {}
    heads = ("ff1",) if cell.mode == "pure" else _CFC_HEADS
    for head in heads:
        linear = getattr(cell, head)
        params[f"{prefix}{head}_kernel"] = _numpy(linear.weight).T.copy()
        params[f"{prefix}{head}_bias"] = _numpy(linear.bias)
    if cell.mode == "pure":
        params[f"{prefix}w_tau"] = _numpy(cell.w_tau).reshape(-1)
        params[f"{prefix}A"] = _numpy(cell.A).reshape(-1)
    return params


def _mixed_memory_params(lstm) -> dict[str, np.ndarray]:
    return {
        "mm_input_kernel": _numpy(lstm.input_map.weight).T.copy(),
        "mm_input_bias": _numpy(lstm.input_map.bias),
        "mm_recurrent_kernel": _numpy(lstm.recurrent_map.weight).T.copy(),
    }


def _check_mask(actual, expected: np.ndarray, argument: str) -> None:
    if actual is None or not np.array_equal(_numpy(actual), expected):
        raise ValueError(
            f"{argument}: expected the mask |adjacency| that the module's wiring defines "
            "(masks are not parameters in cellbench); got a different mask: was the wiring "
            "or the mask edited after the module was built?"
        )


def _from_cfc_cell(ncps, torch, cell, argument: str):
    """An unwired CfCCell -> (hyper-parameters, params)."""
    mask = cell.sparsity_mask
    if mask is not None and not bool(torch.all(mask == 1)):
        raise ValueError(
            f"{argument}.sparsity_mask: a CfCCell with a sparse mask has no cellbench equivalent "
            "(cellbench masks come from a wiring); use ncps's WiredCfCCell or CfC with a wiring"
        )
    hparams = {"mode": cell.mode, **_read_backbone(ncps, torch, cell, argument)}
    params = {}
    if cell.backbone_layers > 0:
        linears = [m for m in cell.backbone if isinstance(m, torch.nn.Linear)]
        for k, linear in enumerate(linears):
            params[f"backbone{k}_kernel"] = _numpy(linear.weight).T.copy()
            params[f"backbone{k}_bias"] = _numpy(linear.bias)
    params.update(_cfc_head_params(torch, cell, ""))
    return int(cell.input_size), int(cell.hidden_size), hparams, params


def _from_wired_cfc_cell(ncps, torch, cell, argument: str):
    wiring = _wiring_from_ncps(cell._wiring, f"{argument}._wiring")
    modes = {layer.mode for layer in cell._layers}
    if len(modes) != 1:
        raise ValueError(f"{argument}: expected one mode in every layer, got {sorted(modes)}")
    spec_probe = CfCSpec(wiring.input_dim, wiring.units, mode=modes.pop(), wiring=wiring)
    masks = spec_probe.constants()
    params = {}
    for index, layer in enumerate(cell._layers):
        _check_mask(
            layer.sparsity_mask,
            masks[f"layer{index}_mask"].T,
            f"{argument}.layer_{index}.sparsity_mask",
        )
        params.update(_cfc_head_params(torch, layer, f"layer{index}_"))
    return wiring.input_dim, wiring.units, {"mode": spec_probe.mode, "wiring": wiring}, params


def _ltc_hparams(cell, argument: str) -> tuple[Wiring, dict[str, Any]]:
    def mapping(value):
        return value if value in ("affine", "linear") else "none"

    return _wiring_from_ncps(cell._wiring, f"{argument}._wiring"), {
        "ode_unfolds": int(cell._ode_unfolds),
        "epsilon": float(cell._epsilon),
        "input_mapping": mapping(cell._input_mapping),
        "output_mapping": mapping(cell._output_mapping),
        "implicit_constraints": bool(cell._implicit_param_constraints),
    }


def _from_ltc_cell(cell, spec: LTCSpec, argument: str) -> dict[str, np.ndarray]:
    constants = spec.constants()
    for name in ("sparsity_mask", "sensory_sparsity_mask"):
        _check_mask(cell._params.get(name), constants[name], f"{argument}.{name}")
    params = {}
    for name in spec.param_shapes():
        if name.startswith("mm_"):
            continue
        if name not in cell._params:
            raise ValueError(f"{argument}: expected the LTC parameter {name!r}, it is missing")
        params[name] = _numpy(cell._params[name])
    return params


def from_ncps(module) -> tuple[CellSpec, dict[str, np.ndarray]]:
    """The cellbench spec and canonical params of an ncps.torch module.

    Accepts ncps.torch ``CfC`` (every mode, with or without mixed memory, unwired with any
    backbone or wired with any ncps wiring), ``LTC`` (any wiring and options), and the bare
    cells ``CfCCell`` (without a sparsity mask), ``WiredCfCCell`` and ``LTCCell``. See the
    module docstring for the layouts and for what is read off the module.

    ``return_sequences=False`` is accepted: the parameters are the same, but that ncps module
    returns only the last output where cellbench returns the output of every step.

    Raises:
        ValueError: `module` is not one of those types, or holds something cellbench cannot
            represent (CfC ``proj_size``; a sparsity mask that is not |adjacency|).
        ImportError: ncps or PyTorch is not installed.
    """
    torch, ncps = _import_ncps()
    nt = ncps.torch
    if isinstance(module, nt.CfC):
        if module.proj_size is not None:
            raise ValueError(
                f"module.proj_size: expected None, got {module.proj_size!r}: cellbench has no "
                "output projection (CfC(proj_size=...) adds a trained nn.Linear on the outputs)"
            )
        cell = module.rnn_cell
        if isinstance(cell, nt.WiredCfCCell):
            inputs, units, hparams, params = _from_wired_cfc_cell(
                ncps, torch, cell, "module.rnn_cell"
            )
        else:
            inputs, units, hparams, params = _from_cfc_cell(ncps, torch, cell, "module.rnn_cell")
        mixed = bool(module.use_mixed)
        spec = CfCSpec(inputs, units, mixed_memory=mixed, **hparams)
        if mixed:
            params.update(_mixed_memory_params(module.lstm))
    elif isinstance(module, nt.WiredCfCCell):
        inputs, units, hparams, params = _from_wired_cfc_cell(ncps, torch, module, "module")
        spec = CfCSpec(inputs, units, **hparams)
    elif isinstance(module, nt.CfCCell):
        inputs, units, hparams, params = _from_cfc_cell(ncps, torch, module, "module")
        spec = CfCSpec(inputs, units, **hparams)
    elif isinstance(module, nt.LTC):
        wiring, hparams = _ltc_hparams(module.rnn_cell, "module.rnn_cell")
        if not isinstance(module.wiring_or_units, ncps.wirings.Wiring):
            default = FullyConnected(wiring.units).build(wiring.input_dim)
            if default == wiring:  # ncps's LTC(input_size, units): keep the spec's default form
                wiring = None
        units = module.state_size
        mixed = bool(module.use_mixed)
        spec = LTCSpec(module.sensory_size, units, wiring=wiring, mixed_memory=mixed, **hparams)
        params = _from_ltc_cell(module.rnn_cell, spec, "module.rnn_cell")
        if mixed:
            params.update(_mixed_memory_params(module.lstm))
    elif isinstance(module, nt.LTCCell):
        wiring, hparams = _ltc_hparams(module, "module")
        spec = LTCSpec(wiring.input_dim, wiring.units, wiring=wiring, **hparams)
        params = _from_ltc_cell(module, spec, "module")
    else:
        raise _type_error(
            "module",
            "an ncps.torch CfC, LTC, CfCCell, WiredCfCCell or LTCCell",
            module,
        )
    return spec, _canonical(spec, params, "module")


def _copy_(torch, target, value) -> None:
    with torch.no_grad():
        target.copy_(torch.as_tensor(np.asarray(value).reshape(tuple(target.shape))))


def _load_mixed_memory(torch, lstm, p) -> None:
    _copy_(torch, lstm.input_map.weight, p["mm_input_kernel"].T)
    _copy_(torch, lstm.input_map.bias, p["mm_input_bias"])
    _copy_(torch, lstm.recurrent_map.weight, p["mm_recurrent_kernel"].T)


def _load_cfc_heads(torch, cell, p, prefix: str) -> None:
    heads = ("ff1",) if cell.mode == "pure" else _CFC_HEADS
    for head in heads:
        _copy_(torch, getattr(cell, head).weight, p[f"{prefix}{head}_kernel"].T)
        _copy_(torch, getattr(cell, head).bias, p[f"{prefix}{head}_bias"])
    if cell.mode == "pure":
        _copy_(torch, cell.w_tau, p[f"{prefix}w_tau"])
        _copy_(torch, cell.A, p[f"{prefix}A"])


def to_ncps(spec, params, dtype="float32"):
    """An ncps.torch ``CfC`` or ``LTC`` computing `spec` with `params` loaded.

    The module is batch-first and returns sequences. A wired spec gets an ncps wiring holding
    exactly the spec's matrices and layers (`NcpsWiring`, an ``ncps.wirings.Wiring``
    subclass); an LTC spec without a wiring becomes ``ncps.torch.LTC(input_size, units)``.
    ncps's own initialisation draws from torch's global generator; it runs under
    ``torch.random.fork_rng`` so the caller's random stream is left as it was.

    Note: ncps builds a missing initial state in torch's default dtype, so pass ``hx`` when
    calling a float64 module.

    Raises:
        ValueError: `spec` is not a CfC or LTC spec, or `params` do not fit it.
        ImportError: ncps or PyTorch is not installed.
    """
    torch, ncps = _import_ncps()
    if not isinstance(spec, (CfCSpec, LTCSpec)):
        raise ValueError(
            f"spec: expected a CfC or LTC spec (CfCSpec, LTCSpec), "
            f"got {getattr(spec, 'name', None) or type(spec).__name__!r}"
        )
    p = _canonical(spec, params, "params")
    dtype = _torch_dtype(torch, dtype)
    nt = ncps.torch
    with torch.random.fork_rng(devices=[]):
        if isinstance(spec, CfCSpec):
            if spec.is_wired:
                module = nt.CfC(
                    spec.input_size,
                    _to_ncps_wiring(spec.built_wiring),
                    mixed_memory=spec.mixed_memory,
                    mode=spec.mode,
                )
            else:
                module = nt.CfC(
                    spec.input_size,
                    spec.units,
                    mixed_memory=spec.mixed_memory,
                    mode=spec.mode,
                    activation=spec.backbone_activation,
                    backbone_units=spec.backbone_units,
                    backbone_layers=spec.backbone_layers,
                    backbone_dropout=spec.backbone_dropout,
                )
        else:
            units = spec.units if spec.wiring is None else _to_ncps_wiring(spec.built_wiring)
            module = nt.LTC(
                spec.input_size,
                units,
                mixed_memory=spec.mixed_memory,
                input_mapping=spec.input_mapping,
                output_mapping=spec.output_mapping,
                ode_unfolds=spec.ode_unfolds,
                epsilon=spec.epsilon,
                implicit_param_constraints=spec.implicit_constraints,
            )
    module = module.to(dtype)
    if spec.mixed_memory:
        _load_mixed_memory(torch, module.lstm, p)
    cell = module.rnn_cell
    if isinstance(spec, LTCSpec):
        for name, value in p.items():
            if not name.startswith("mm_"):
                _copy_(torch, cell._params[name], value)
    elif spec.is_wired:
        for index, layer in enumerate(cell._layers):
            _load_cfc_heads(torch, layer, p, f"layer{index}_")
    else:
        linears = (
            []
            if cell.backbone is None
            else [m for m in cell.backbone if isinstance(m, torch.nn.Linear)]
        )
        for k, linear in enumerate(linears):
            _copy_(torch, linear.weight, p[f"backbone{k}_kernel"].T)
            _copy_(torch, linear.bias, p[f"backbone{k}_bias"])
        _load_cfc_heads(torch, cell, p, "")
    return module.eval()


# ============================================================================ torch.nn
def from_torch(module) -> tuple[CellSpec, dict[str, np.ndarray]]:
    """The cellbench spec and canonical params of a ``torch.nn.LSTM`` or ``torch.nn.GRU``.

    The module must be single-layer, unidirectional, with biases (and, for LSTM, no
    ``proj_size``); ``batch_first`` may be either (the weights are the same). LSTM: the two
    torch biases are summed into the canonical one. GRU: both are kept, gate order (r, z, n).

    Raises:
        ValueError: another type, or an attribute outside that set (the message names it,
            with the expected and the actual value).
        ImportError: PyTorch is not installed.
    """
    torch = _import_torch()
    nn = torch.nn
    if not isinstance(module, (nn.LSTM, nn.GRU)):
        raise _type_error("module", "a torch.nn.LSTM or torch.nn.GRU", module)
    expected = {"num_layers": 1, "bidirectional": False, "bias": True}
    if isinstance(module, nn.LSTM):
        expected["proj_size"] = 0
    for attribute, value in expected.items():
        actual = getattr(module, attribute)
        if actual != value:
            raise ValueError(
                f"module.{attribute}: expected {value!r} (cellbench converts single-layer, "
                f"unidirectional torch RNNs with biases and no projection), got {actual!r}"
            )
    cls = LSTMSpec if isinstance(module, nn.LSTM) else GRUSpec
    spec = cls(int(module.input_size), int(module.hidden_size))
    weights = {k: _numpy(v) for k, v in module.named_parameters()}
    return spec, params_from_torch_weights(spec, weights)


def to_torch(spec, params, dtype="float32"):
    """A ``torch.nn.LSTM`` / ``nn.GRU`` (batch_first=True) computing `spec` with `params`.

    Args:
        dtype: "float32" or "float64" (or the torch dtype).

    Raises:
        ValueError: `spec` is not an LSTM or GRU spec, or `params` do not fit it.
        ImportError: PyTorch is not installed.
    """
    torch = _import_torch()
    _check_rnn_spec(spec)
    spec.check_params(params)
    dtype = _torch_dtype(torch, dtype)
    cls = torch.nn.LSTM if spec.name == "lstm" else torch.nn.GRU
    with torch.random.fork_rng(devices=[]):  # torch's init would advance the caller's stream
        module = cls(spec.input_size, spec.units, batch_first=True, dtype=dtype)
    for name, value in torch_weights(spec, params).items():
        _copy_(torch, getattr(module, name), value)
    return module


# ============================================================================ Keras
def _keras_activation_name(keras, function) -> str | None:
    try:
        name = keras.activations.serialize(function)
    except Exception:  # an arbitrary callable Keras cannot name
        name = None
    return name if isinstance(name, str) else getattr(function, "__name__", None)


def from_keras(layer) -> tuple[CellSpec, dict[str, np.ndarray]]:
    """The cellbench spec and canonical params of a built ``keras.layers.LSTM`` or ``GRU``.

    Requirements (else ValueError naming the attribute): the layer is built;
    ``activation="tanh"``, ``recurrent_activation="sigmoid"``, ``use_bias=True``,
    ``go_backwards=False``, no ``dropout`` / ``recurrent_dropout`` (cellbench's LSTM and GRU
    have none); for GRU ``reset_after=True``, because the canonical GRU is the reset-after
    form (torch and cuDNN), and the reset-before form is a different function.
    ``return_sequences`` / ``return_state`` / ``stateful`` do not change the parameters.

    Raises:
        ValueError: not a Keras LSTM/GRU, or one of the requirements above fails.
        ImportError: Keras 3 is not installed.
    """
    keras = _import_keras()
    if not isinstance(layer, (keras.layers.LSTM, keras.layers.GRU)):
        raise _type_error("layer", "a keras.layers.LSTM or keras.layers.GRU", layer)
    is_lstm = isinstance(layer, keras.layers.LSTM)
    if not layer.built:
        raise ValueError(
            "layer.built: expected a built layer (call it once or layer.build((None, None, "
            "input_size))), got an unbuilt one: its weights do not exist yet"
        )
    if not is_lstm and not layer.reset_after:
        raise ValueError(
            "layer.reset_after: expected True, got False: the canonical GRU is the reset-after "
            "form (torch.nn.GRU, cuDNN), where the reset gate multiplies h @ W_hn + b_hn; "
            "reset_after=False applies it to h before the matmul, a different function"
        )
    checks = [
        ("activation", _keras_activation_name(keras, layer.cell.activation), "tanh"),
        (
            "recurrent_activation",
            _keras_activation_name(keras, layer.cell.recurrent_activation),
            "sigmoid",
        ),
        ("use_bias", bool(layer.cell.use_bias), True),
        ("go_backwards", bool(layer.go_backwards), False),
        ("dropout", float(layer.cell.dropout), 0.0),
        ("recurrent_dropout", float(layer.cell.recurrent_dropout), 0.0),
    ]
    for attribute, actual, expected in checks:
        if actual != expected:
            raise ValueError(
                f"layer.{attribute}: expected {expected!r} (the only value cellbench's "
                f"{'LSTM' if is_lstm else 'GRU'} represents), got {actual!r}"
            )
    cell = layer.cell
    weights = [np.asarray(v.numpy()) for v in (cell.kernel, cell.recurrent_kernel, cell.bias)]
    kernel = weights[0]
    cls = LSTMSpec if is_lstm else GRUSpec
    spec = cls(int(kernel.shape[0]), int(layer.units))
    return spec, params_from_keras_weights(spec, weights)


def to_keras(spec, params, dtype: str = "float32"):
    """A built ``keras.layers.LSTM`` / ``GRU(reset_after=True)`` computing `spec` with `params`.

    The layer has ``return_sequences=True`` and ``return_state=True``, so
    ``y, *state = layer(x, initial_state=[...])`` mirrors cellbench's ``(y, h_T)``.

    Raises:
        ValueError: `spec` is not an LSTM or GRU spec, or `params` do not fit it.
        ImportError: Keras 3 is not installed.
    """
    keras = _import_keras()
    _check_rnn_spec(spec)
    spec.check_params(params)
    if dtype not in ("float32", "float64"):
        raise ValueError(f"dtype: expected 'float32' or 'float64', got {dtype!r}")
    options = dict(return_sequences=True, return_state=True, dtype=dtype)
    if spec.name == "lstm":
        layer = keras.layers.LSTM(spec.units, **options)
    else:
        layer = keras.layers.GRU(spec.units, reset_after=True, **options)
    layer.build((None, None, spec.input_size))
    cell = layer.cell
    for variable, value in zip(
        (cell.kernel, cell.recurrent_kernel, cell.bias), keras_weights(spec, params)
    ):
        variable.assign(value.astype(dtype))
    return layer
