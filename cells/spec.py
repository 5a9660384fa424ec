"""CellSpec: the one definition of a recurrent cell that every backend builds from.

A spec is a frozen dataclass holding the cell's hyper-parameters. It knows

- the canonical parameter names and shapes (`param_shapes`), documented per cell module;
- how to initialise them (`init_params(seed)`), always in float64 numpy;
- the state layout: one tensor `h` of shape (B, state_size), or a pair `(h, c)`;
- the output width (`output_size`), which differs from `state_size` for wired cells.

Canonical layout rules, shared by every cell:

- kernels are (in, out) and are used as ``x @ W`` (Keras layout; torch's nn.Linear stores W.T);
- biases are 1-D (out,);
- gate blocks inside a fused kernel are concatenated along the last axis, in the order each
  cell module documents;
- every conversion to or from a framework layout goes through `cells.interop`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

ParamShapes = dict[str, tuple[int, ...]]
Params = dict[str, np.ndarray]


def _check_positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name}: expected a positive integer, got {value!r}")


def check_choice(name: str, value: Any, allowed) -> None:
    """Raise a ValueError naming `name` when `value` is not one of `allowed`."""
    if value not in allowed:
        raise ValueError(f"{name}: expected one of {sorted(allowed)}, got {value!r}")


@dataclasses.dataclass(frozen=True)
class CellSpec:
    """Base of every cell spec.

    Attributes:
        input_size: I, the number of input features per time step.
        units: H, the number of neurons (the state width).
    """

    input_size: int
    units: int

    #: short registry name ("cfc", "ltc", "lstm", "gru").
    name: ClassVar[str] = ""
    #: whether the cell reads `timespans` (LSTM and GRU ignore them).
    uses_time: ClassVar[bool] = True

    def __post_init__(self) -> None:
        _check_positive_int("input_size", self.input_size)
        _check_positive_int("units", self.units)

    # ----------------------------------------------------------------- layout
    @property
    def state_size(self) -> int:
        """Width of `h` (and of `c` when the state is a pair)."""
        return self.units

    @property
    def state_arity(self) -> int:
        """1 when the state is `h` alone, 2 when it is the pair `(h, c)`."""
        return 1

    @property
    def output_size(self) -> int:
        """Width of the output `y` at each step."""
        return self.units

    def param_shapes(self) -> ParamShapes:
        """Canonical parameter names -> shapes, in a fixed order."""
        raise NotImplementedError

    def positive_params(self) -> frozenset[str]:
        """Names that must stay > 0 for the cell to be well defined (used by `random_params`)."""
        return frozenset()

    def init_params(self, seed: int = 0) -> Params:
        """Fresh parameters drawn as the cell's reference implementation does, float64."""
        raise NotImplementedError

    def constants(self) -> dict[str, np.ndarray]:
        """Non-trainable float arrays the step needs (sparsity masks); empty for most cells."""
        return {}

    # ------------------------------------------------------------ parameters
    def random_params(self, seed: int = 0, scale: float = 0.1) -> Params:
        """`init_params(seed)` jittered so that no value sits on a special point.

        Initial values such as zero biases, `w_tau = 0` or `A = 1` hide bugs (a wrong sign on a
        zero is still zero), so parity checks use these. Parameters listed in
        `positive_params` are scaled multiplicatively and stay positive.
        """
        rng = np.random.default_rng([seed, 7919])
        params = self.init_params(seed)
        positive = self.positive_params()
        jittered = {}
        for key, value in params.items():
            factor = np.exp(scale * rng.standard_normal(value.shape))
            jittered[key] = value * factor
            if key not in positive:
                jittered[key] = jittered[key] + 0.5 * scale * rng.standard_normal(value.shape)
        return jittered

    def check_params(self, params: Mapping[str, Any], argument: str = "params") -> Params:
        """Validate names and shapes; return a dict of numpy arrays in canonical order.

        Raises:
            ValueError: a parameter is missing, unexpected, has the wrong shape or is not finite.
        """
        return check_param_dict(
            params, self.param_shapes(), f"the {self.name} parameters", argument
        )

    # --------------------------------------------------------- serialisation
    def to_config(self) -> dict[str, Any]:
        """JSON-serialisable dict; `cells.spec_from_config` inverts it."""
        config: dict[str, Any] = {"cell": self.name}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            config[field.name] = value.to_config() if hasattr(value, "to_config") else value
        return config

    def replace(self, **changes: Any) -> CellSpec:
        return dataclasses.replace(self, **changes)

    def describe(self) -> str:
        """Short human-readable identity, e.g. ``cfc(mode=pure, mixed_memory=True)``."""
        names = [f.name for f in dataclasses.fields(self) if f.name not in ("input_size", "units")]
        # Defaults resolved the same way (a wired CfC resolves its backbone differently).
        keep = {"wiring": self.wiring} if "wiring" in names else {}
        plain = type(self)(self.input_size, self.units, **keep)
        parts = []
        for name in names:
            value = getattr(self, name)
            if name == "wiring" and value is not None:
                parts.append(f"wiring={getattr(value, 'description', value)}")
            elif value != getattr(plain, name):
                parts.append(f"{name}={value}")
        return f"{self.name}({', '.join(parts)})" if parts else self.name


def check_param_dict(
    params: Mapping[str, Any], shapes: ParamShapes, what: str, argument: str = "params"
) -> Params:
    """`params` as numpy arrays in the order of `shapes`, after checking names, shapes and
    finiteness; a ValueError names `argument` and the entry at fault (`what` describes the
    expected set, e.g. "the cfc parameters")."""
    if not isinstance(params, Mapping):
        raise ValueError(f"{argument}: expected a dict of arrays, got {type(params).__name__}")
    missing = [k for k in shapes if k not in params]
    extra = [k for k in params if k not in shapes]
    if missing or extra:
        raise ValueError(
            f"{argument}: expected {what} {list(shapes)}, "
            f"got missing {missing} and unexpected {extra}"
        )
    checked = {}
    for key, shape in shapes.items():
        value = np.asarray(params[key])
        if value.shape != shape:
            raise ValueError(f"{argument}[{key!r}]: expected shape {shape}, got {value.shape}")
        if not np.all(np.isfinite(value)):
            raise ValueError(f"{argument}[{key!r}]: expected finite values, got NaN or inf")
        checked[key] = value
    return checked


# ----------------------------------------------------------- init helpers
def xavier_uniform(rng: np.random.Generator, fan_in: int, fan_out: int) -> np.ndarray:
    """Glorot/Xavier uniform kernel (fan_in, fan_out), as torch.nn.init.xavier_uniform_."""
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=(fan_in, fan_out))


def linear_bias(rng: np.random.Generator, fan_in: int, fan_out: int) -> np.ndarray:
    """nn.Linear's default bias init: U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    bound = 1.0 / np.sqrt(fan_in)
    return rng.uniform(-bound, bound, size=(fan_out,))
