"""Sparse wirings for wired recurrent cells, a numpy-only port of ``ncps.wirings``.

A wiring config (``FullyConnected``, ``Random``, ``NCP``, ``AutoNCP``) is a small frozen,
JSON-friendly dataclass; ``config.build(input_dim)`` turns it into an immutable ``Wiring``
holding the polarity matrices. For the same arguments and seed the result equals ncps's after
``wiring.build(input_dim)``: we replay ncps's random-number calls one for one (same generator,
method, arguments and order). That is why loops below draw scalars where a vectorised draw
would be shorter: it would consume the bit stream differently and the matrices would differ.

As in ncps, ``adjacency_matrix[src, dest]`` and ``sensory_adjacency_matrix[feature, dest]``
hold +1 (excitatory), -1 (inhibitory) or 0, and NCP neuron ids run motor, command, inter, so
the outputs are neurons ``0..output_dim-1``.
"""

from __future__ import annotations

import functools
import itertools
import numbers
from dataclasses import asdict, dataclass

import numpy as np


def _int(name: str, value, minimum: int = 1, maximum: int | None = None) -> int:
    # bool is an int subclass; True as a neuron count is always a mistake.
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name}: expected an int, got {value!r} ({type(value).__name__})")
    if value < minimum or (maximum is not None and value > maximum):
        hi = "" if maximum is None else f" and <= {maximum}"
        raise ValueError(f"{name}: expected an int >= {minimum}{hi}, got {value}")
    return int(value)


def _fraction(name: str, value, lo: float, hi: float, hi_closed: bool) -> float:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not ok or not (lo <= value and (value <= hi if hi_closed else value < hi)):
        bracket = "]" if hi_closed else ")"
        raise ValueError(f"{name}: expected a value in [{lo}, {hi}{bracket}, got {value!r}")
    return float(value)


class Wiring:
    """A built wiring: polarity matrices plus the layer structure.

    adjacency_matrix: int32 (units, units), read-only, [src, dest] in {-1, 0, 1}.
    sensory_adjacency_matrix: int32 (input_dim, units), read-only, [feature, dest].
    layers: neuron ids per layer, in ncps's order (NCP: inter, command, motor).
    Equality and hashing use the matrices, dims and layers; ``description`` is only a label.
    """

    __slots__ = (
        "adjacency_matrix",
        "sensory_adjacency_matrix",
        "units",
        "input_dim",
        "output_dim",
        "layers",
        "description",
        "_key",
        "_hash",
    )

    def __init__(
        self, adjacency, sensory_adjacency, output_dim, layers=None, description="explicit"
    ):
        adj = _polarity_matrix("adjacency", adjacency)
        if adj.shape[0] != adj.shape[1] or adj.shape[0] < 1:
            raise ValueError(f"adjacency: expected a square matrix, got shape {adj.shape}")
        units = adj.shape[0]
        sens = _polarity_matrix("sensory_adjacency", sensory_adjacency)
        if sens.shape[1] != units or sens.shape[0] < 1:
            raise ValueError(
                f"sensory_adjacency: expected shape (input_dim >= 1, {units}), got {sens.shape}"
            )
        layers = (tuple(range(units)),) if layers is None else layers
        try:
            layers = tuple(tuple(_int("layers", n, 0, units - 1) for n in ly) for ly in layers)
        except TypeError:
            raise ValueError(f"layers: expected sequences of ints, got {layers!r}") from None
        # Wired cells update layer by layer, so every neuron must sit in exactly one layer.
        flat = sorted(n for ly in layers for n in ly)
        if flat != list(range(units)) or any(len(ly) == 0 for ly in layers):
            raise ValueError(
                f"layers: expected non-empty layers that partition neurons "
                f"0..{units - 1}, got {layers!r}"
            )
        if not isinstance(description, str):
            raise ValueError(f"description: expected a str, got {type(description).__name__}")
        output_dim = _int("output_dim", output_dim, 1, units)
        # Content key: the bytes fix the values, the dims fix how the bytes are shaped.
        key = (adj.tobytes(), sens.tobytes(), units, sens.shape[0], output_dim, layers)
        for name, value in [
            ("adjacency_matrix", adj),
            ("sensory_adjacency_matrix", sens),
            ("units", units),
            ("input_dim", sens.shape[0]),
            ("output_dim", output_dim),
            ("layers", layers),
            ("description", description),
            ("_key", key),
            ("_hash", hash(key)),
        ]:
            object.__setattr__(self, name, value)

    @classmethod
    def from_matrices(
        cls, adjacency, sensory_adjacency, output_dim, layers=None, description="explicit"
    ) -> Wiring:
        """Wiring from explicit (units, units) and (input_dim, units) polarity matrices."""
        return cls(adjacency, sensory_adjacency, output_dim, layers, description)

    def __setattr__(self, name, value):
        raise AttributeError(f"Wiring is immutable (tried to set {name!r})")

    def __eq__(self, other):
        if not isinstance(other, Wiring):
            return NotImplemented
        return self._hash == other._hash and self._key == other._key

    def __hash__(self):
        return self._hash

    def __repr__(self):
        return (
            f"Wiring({self.description}: units={self.units}, input_dim={self.input_dim}, "
            f"output_dim={self.output_dim}, synapses={self.synapse_count})"
        )

    # Synapse counts are numbers of nonzero entries (ncps sums |entries|: same for {-1, 0, 1}).
    num_layers = property(lambda self: len(self.layers))
    synapse_count = property(lambda self: int(np.count_nonzero(self.adjacency_matrix)))
    sensory_synapse_count = property(
        lambda self: int(np.count_nonzero(self.sensory_adjacency_matrix))
    )

    def to_config(self) -> dict:
        return {
            "kind": "wiring",
            "adjacency": self.adjacency_matrix.tolist(),
            "sensory_adjacency": self.sensory_adjacency_matrix.tolist(),
            "output_dim": self.output_dim,
            "layers": [list(ly) for ly in self.layers],
            "description": self.description,
        }

    @classmethod
    def from_config(cls, config: dict) -> Wiring:
        try:
            return cls(**{k: v for k, v in config.items() if k != "kind"})
        except TypeError as e:  # missing or unknown keys
            raise ValueError(f"config: not a Wiring config ({e})") from None


def _polarity_matrix(name: str, value) -> np.ndarray:
    arr = np.array(value)  # a copy, so the caller's array can't change us later
    if arr.ndim != 2 or arr.dtype.kind not in "biuf":
        raise ValueError(f"{name}: expected a 2-D numeric matrix, got {arr.ndim}-D {arr.dtype}")
    if not np.isin(arr, (-1, 0, 1)).all():
        raise ValueError(f"{name}: expected entries in {{-1, 0, 1}}, got {np.unique(arr)}")
    arr = arr.astype(np.int32)
    arr.flags.writeable = False
    return arr


class _Config:
    """Shared behaviour of the wiring configs (frozen dataclasses)."""

    def _set(self, name, value):  # normalise a field inside __post_init__ of a frozen dataclass
        object.__setattr__(self, name, value)

    def _check_units_output_dim(self):  # shared by FullyConnected and Random
        self._set("units", _int("units", self.units))
        if self.output_dim is not None:
            self._set("output_dim", _int("output_dim", self.output_dim, 1, self.units))

    @property
    def total_units(self) -> int:
        """Number of neurons (the state size)."""
        return self.units

    @property
    def motor_size(self) -> int:
        """Output dim: FullyConnected/Random default to all neurons, as in ncps."""
        return self.units if self.output_dim is None else self.output_dim

    def build(self, input_dim: int) -> Wiring:
        return _build_cached(self, _int("input_dim", input_dim))

    def to_config(self) -> dict:
        return {"kind": _KIND_OF[type(self)], **asdict(self)}


@dataclass(frozen=True)
class FullyConnected(_Config):
    units: int
    output_dim: int | None = None
    erev_init_seed: int = 1111
    self_connections: bool = True

    def __post_init__(self):
        self._check_units_output_dim()
        self._set("erev_init_seed", _int("erev_init_seed", self.erev_init_seed, 0))
        if not isinstance(self.self_connections, (bool, np.bool_)):
            raise ValueError(f"self_connections: expected a bool, got {self.self_connections!r}")
        self._set("self_connections", bool(self.self_connections))

    def _matrices(self, input_dim):
        rng = np.random.default_rng(self.erev_init_seed)
        adj = np.zeros((self.units, self.units), np.int32)
        for src, dest in itertools.product(range(self.units), repeat=2):  # ncps's loop order
            if src != dest or self.self_connections:
                adj[src, dest] = rng.choice([-1, 1, 1])  # 2/3 excitatory, as in ncps
        # ncps draws the sensory polarities in build() from the same generator, continuing it.
        sens = np.zeros((input_dim, self.units), np.int32)
        for src, dest in itertools.product(range(input_dim), range(self.units)):
            sens[src, dest] = rng.choice([-1, 1, 1])
        return adj, sens, None


@dataclass(frozen=True)
class Random(_Config):
    units: int
    output_dim: int | None = None
    sparsity_level: float = 0.0
    random_seed: int = 1111

    def __post_init__(self):
        self._check_units_output_dim()
        self._set("sparsity_level", _fraction("sparsity_level", self.sparsity_level, 0, 1, False))
        self._set("random_seed", _int("random_seed", self.random_seed, 0))

    def _matrices(self, input_dim):
        rng = np.random.default_rng(self.random_seed)

        def sample(n_src, draws_per_synapse):
            # ncps passes a list of (src, dest) tuples to Generator.choice; keep the same input.
            pairs = [(s, d) for s in range(n_src) for d in range(self.units)]
            n = int(np.round(n_src * self.units * (1 - self.sparsity_level)))
            m = np.zeros((n_src, self.units), np.int32)
            for src, dest in rng.choice(pairs, size=n, replace=False):
                for _ in range(draws_per_synapse):
                    m[src, dest] = rng.choice([-1, 1, 1])
            return m

        adj = sample(self.units, 1)
        # ncps's Random.build draws the sensory polarity twice per synapse and the second draw
        # overwrites the first (a harmless ncps quirk); we replay both so the stream stays aligned.
        sens = sample(input_dim, 2)
        return adj, sens, None


@dataclass(frozen=True)
class NCP(_Config):
    inter_neurons: int
    command_neurons: int
    motor_neurons: int
    sensory_fanout: int
    inter_fanout: int
    recurrent_command_synapses: int
    motor_fanin: int
    seed: int = 22222

    def __post_init__(self):
        for name in ("inter_neurons", "command_neurons", "motor_neurons"):
            self._set(name, _int(name, getattr(self, name)))
        # Same upper limits as ncps: fan-outs/fan-ins are drawn without replacement from a layer.
        for name, hi in [
            ("sensory_fanout", self.inter_neurons),
            ("inter_fanout", self.command_neurons),
            ("motor_fanin", self.command_neurons),
        ]:
            self._set(name, _int(name, getattr(self, name), 1, hi))
        self._set(
            "recurrent_command_synapses",
            _int("recurrent_command_synapses", self.recurrent_command_synapses, 0),
        )
        self._set("seed", _int("seed", self.seed, 0, 2**32 - 1))  # RandomState's seed range

    @property
    def total_units(self) -> int:
        return self.inter_neurons + self.command_neurons + self.motor_neurons

    @property
    def motor_size(self) -> int:
        return self.motor_neurons

    def _matrices(self, input_dim):
        """Replays NCP.build: sensory->inter, inter->command, command recurrence, command->motor."""
        rng = np.random.RandomState(self.seed)
        n_m, n_c, n_i = self.motor_neurons, self.command_neurons, self.inter_neurons
        motor, command = list(range(n_m)), list(range(n_m, n_m + n_c))
        inter = list(range(n_m + n_c, n_m + n_c + n_i))
        adj = np.zeros((self.total_units, self.total_units), np.int32)
        sens = np.zeros((input_dim, self.total_units), np.int32)

        def fan(matrix, sources, targets, fanout, fanin_cap, targets_are_dest=True):
            # Each source picks `fanout` distinct targets; targets nobody picked then get
            # clip(mean fan-in, 1, fanin_cap) random sources so no neuron is left unconnected.
            unreached = list(targets)
            for s in sources:
                for t in rng.choice(targets, size=fanout, replace=False):
                    if t in unreached:
                        unreached.remove(t)
                    matrix[(s, t) if targets_are_dest else (t, s)] = rng.choice([-1, 1])
            fanin = np.clip(int(len(sources) * fanout / len(targets)), 1, fanin_cap)
            for t in unreached:
                for s in rng.choice(sources, size=fanin, replace=False):
                    matrix[(s, t) if targets_are_dest else (t, s)] = rng.choice([-1, 1])

        fan(sens, list(range(input_dim)), inter, self.sensory_fanout, fanin_cap=input_dim)
        # ncps caps the inter->command repair fan-in at n_command (not n_inter); that cap does
        # bind (e.g. 10 inter, 4 command, fanout 2 gives 5 -> 4), so we keep it.
        fan(adj, inter, command, self.inter_fanout, fanin_cap=n_c)
        for _ in range(self.recurrent_command_synapses):
            src, dest = rng.choice(command), rng.choice(command)  # may repeat and overwrite
            adj[src, dest] = rng.choice([-1, 1])
        # command->motor is driven from the motor side: each motor neuron picks `motor_fanin`
        # command sources; unpicked command neurons get clip(mean fan-out, 1, n_m) motor targets.
        fan(adj, motor, command, self.motor_fanin, fanin_cap=n_m, targets_are_dest=False)
        return adj, sens, (tuple(inter), tuple(command), tuple(motor))


@dataclass(frozen=True)
class AutoNCP(_Config):
    units: int
    output_size: int
    sparsity_level: float = 0.5
    seed: int = 22222

    def __post_init__(self):
        # ncps requires output_size < units - 2 (so at least one inter and one command neuron).
        self._set("units", _int("units", self.units, 4))
        self._set("output_size", _int("output_size", self.output_size, 1, self.units - 3))
        # ncps's message says 0.0..0.9 but its check accepts [0.1, 1.0]; we match the check.
        self._set(
            "sparsity_level", _fraction("sparsity_level", self.sparsity_level, 0.1, 1.0, True)
        )
        self._set("seed", _int("seed", self.seed, 0, 2**32 - 1))

    @property
    def motor_size(self) -> int:
        return self.output_size

    def to_ncp(self) -> NCP:
        """The explicit NCP config AutoNCP stands for (ncps's sizing formulas, verbatim)."""
        density = 1.0 - self.sparsity_level
        inter_and_command = self.units - self.output_size
        command = max(int(0.4 * inter_and_command), 1)
        inter = inter_and_command - command
        return NCP(
            inter,
            command,
            self.output_size,
            sensory_fanout=max(int(inter * density), 1),
            inter_fanout=max(int(command * density), 1),
            recurrent_command_synapses=max(int(command * density * 2), 1),
            motor_fanin=max(int(command * density), 1),
            seed=self.seed,
        )

    def _matrices(self, input_dim):
        return self.to_ncp()._matrices(input_dim)


_KIND_OF = {FullyConnected: "fully_connected", Random: "random", NCP: "ncp", AutoNCP: "auto_ncp"}
_CLASS_OF = {kind: cls for cls, kind in _KIND_OF.items()}


@functools.lru_cache(maxsize=256)
def _build_cached(config: _Config, input_dim: int) -> Wiring:
    # Safe to share: configs are frozen and hashable, and a Wiring is immutable.
    adj, sens, layers = config._matrices(input_dim)
    return Wiring(adj, sens, config.motor_size, layers, description=repr(config))


def wiring_from_config(d: dict):
    """Inverse of ``to_config()``: a config object, or a ``Wiring`` for kind ``"wiring"``."""
    if not isinstance(d, dict) or "kind" not in d:
        raise ValueError(f"config: expected a dict with a 'kind' key, got {d!r}")
    kind = d["kind"]
    if kind == "wiring":
        return Wiring.from_config(d)
    if not isinstance(kind, str) or kind not in _CLASS_OF:
        raise ValueError(f"kind: expected one of {['wiring', *_CLASS_OF]}, got {kind!r}")
    try:
        return _CLASS_OF[kind](**{k: v for k, v in d.items() if k != "kind"})
    except TypeError as e:  # missing or unexpected keys
        raise ValueError(f"config: not a valid {kind!r} config ({e})") from None


def build_wiring(config_or_wiring, input_dim: int) -> Wiring:
    """A built ``Wiring`` for ``input_dim`` features from a config, a Wiring or a config dict."""
    input_dim = _int("input_dim", input_dim)
    obj = config_or_wiring
    obj = wiring_from_config(obj) if isinstance(obj, dict) else obj
    if isinstance(obj, Wiring):
        if obj.input_dim != input_dim:
            raise ValueError(f"input_dim: expected {obj.input_dim} (the wiring's), got {input_dim}")
        return obj
    if isinstance(obj, _Config):
        return obj.build(input_dim)
    raise ValueError(f"config_or_wiring: expected a config, Wiring or dict, got {type(obj)}")
