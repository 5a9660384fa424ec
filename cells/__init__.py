"""cells: recurrent cells defined once and computed identically everywhere.

    spec = cells.get_spec("cfc", input_size=20, units=64, mode="pure")
    params = spec.init_params(seed=0)             # canonical dict of float64 arrays
    y, h = cells.reference.run(spec, params, x)   # the float64 numpy oracle
    module = cells.torch.build(spec, params)      # nn.Module, same function
    layer = cells.tf.build(spec, params)          # Keras 3 layer, same function

This package imports numpy (and scipy) only; `cells.torch` and `cells.tf` import their framework
when they are imported, so either works with the other absent.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from . import reference, wiring
from .cfc import CfCSpec
from .gru import GRUSpec
from .lstm import LSTMSpec
from .ltc import LTCSpec
from .numerics import TOLERANCES
from .spec import CellSpec

SPECS: dict[str, type[CellSpec]] = {
    "cfc": CfCSpec,
    "ltc": LTCSpec,
    "lstm": LSTMSpec,
    "gru": GRUSpec,
}
CELL_NAMES = tuple(SPECS)


def get_spec(name: str, input_size: int, units: Any, **hparams: Any) -> CellSpec:
    """Build the spec of cell `name` ("cfc", "ltc", "lstm", "gru").

    `units` is the neuron count, or (CfC and LTC, as in ncps) a wiring config or `Wiring`,
    which is then the `wiring` hyper-parameter and sets the neuron count.

    Raises:
        ValueError: unknown cell or hyper-parameter, or an invalid value (the message names it).
    """
    key = str(name).lower()
    if key not in SPECS:
        raise ValueError(f"name: expected one of {list(SPECS)}, got {name!r}")
    cls = SPECS[key]
    if not isinstance(units, int) and hasattr(units, "build") or isinstance(units, wiring.Wiring):
        if key not in ("cfc", "ltc"):
            raise ValueError(
                f"units: {key} takes an integer unit count, got {type(units).__name__}"
            )
        if hparams.get("wiring") is not None:
            raise ValueError("wiring: given twice, as `units` and as `wiring=`")
        hparams["wiring"] = units
        units = wiring.build_wiring(units, input_size).units
    allowed = {f.name for f in dataclasses.fields(cls)} - {"input_size", "units"}
    unknown = sorted(set(hparams) - allowed)
    if unknown:
        raise ValueError(
            f"hparams: {key} accepts {sorted(allowed) or 'no hyper-parameters'}, got {unknown}"
        )
    return cls(input_size=input_size, units=units, **hparams)


def spec_from_config(config: dict[str, Any]) -> CellSpec:
    """Inverse of `CellSpec.to_config()`."""
    config = dict(config)
    name = config.pop("cell", None)
    return get_spec(name, config.pop("input_size"), config.pop("units"), **config)


__all__ = [
    "CELL_NAMES",
    "CellSpec",
    "CfCSpec",
    "GRUSpec",
    "LSTMSpec",
    "LTCSpec",
    "SPECS",
    "TOLERANCES",
    "get_spec",
    "reference",
    "spec_from_config",
    "wiring",
]
