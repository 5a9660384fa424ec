"""A sweep grid: a TOML file expanded into runs, each checked before anything runs.

A grid file holds defaults at its top level and one or more ``[[grid]]`` blocks; each block is
the cartesian product of its lists (a scalar is a list of one)::

    name = "quick"                  # optional: the file's stem
    profile = "quick"               # smoke | quick | full (a list sweeps profiles)
    games = ["breakout"]
    seeds = [0, 1]

    [resources]                     # per run: Ray resources and the run's thread budget
    num_cpus = 1
    threads = 1

    [[grid]]
    suites = ["bc"]
    cells = ["cfc", "lstm", "gru"]
    backends = ["torch", "tf"]

    [[grid]]
    suites = ["a2c"]
    cells = ["lstm"]
    backends = ["torch"]
    settings = { lr = [7e-4, 3e-4] }    # options of `cellbench train a2c`; lists are swept

A run is (suite, cell, backend, game, profile, seed, settings). Its hash covers exactly those,
so resources and thread budgets, which decide where and how fast a run goes but not what it
computes, can change between a sweep and its resumption.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import sys
from pathlib import Path
from typing import Any

from .suites import GridError, check_run

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

GRID_KEYS = ("suites", "cells", "backends", "games", "seeds", "profile", "settings")
TOP_KEYS = (*GRID_KEYS, "name", "resources", "grid")


@dataclasses.dataclass(frozen=True)
class Run:
    """One training run of a sweep: what `cellbench train <suite>` is asked to do."""

    suite: str
    cell: str
    backend: str
    game: str
    profile: str
    seed: int
    settings: tuple[tuple[str, Any], ...] = ()  # sorted (option, value) pairs

    def config(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "settings": dict(self.settings)}

    @property
    def hash(self) -> str:
        """sha256 of the canonical JSON of `config()`: the run's identity when resuming."""
        text = json.dumps(self.config(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    @property
    def name(self) -> str:
        """The run folder's name: the suites' own <game>-<cell>-<backend>-<profile>-seed<N>,
        plus the hash's first 8 digits when extra settings make it a variant."""
        base = f"{self.game}-{self.cell}-{self.backend}-{self.profile}-seed{self.seed}"
        return f"{base}-{self.hash[:8]}" if self.settings else base

    @property
    def variant(self) -> str:
        """The extra settings as text ("lr=0.0003, n_steps=5"), empty for a plain run."""
        return ", ".join(f"{key}={value}" for key, value in self.settings)

    def argv(self, threads: int) -> list[str]:
        """The `cellbench` arguments that perform this run (without --out)."""
        args = ["train", self.suite, "--cell", self.cell, "--backend", self.backend,
                "--game", self.game, "--profile", self.profile, "--seed", str(self.seed),
                "--threads", str(threads)]  # fmt: skip
        for key, value in self.settings:
            option = f"--{key.replace('_', '-')}"
            if isinstance(value, bool):  # a switch: on or left off
                args += [option] if value else []
            else:
                args += [option, str(value)]
        return args


@dataclasses.dataclass(frozen=True)
class Resources:
    """What each run asks of the cluster: Ray resources, and the threads it may use."""

    num_cpus: float = 1.0
    num_gpus: float = 0.0
    memory: int | None = None  # bytes, or None: not reserved
    threads: int | None = None  # None: max(1, num_cpus rounded down)
    custom: tuple[tuple[str, float], ...] = ()  # other Ray resources, e.g. ("big_node", 1)

    def __post_init__(self) -> None:
        for key in ("num_cpus", "num_gpus"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise GridError(f"resources.{key}: expected a number >= 0, got {value!r}")
        if self.memory is not None and (not isinstance(self.memory, int) or self.memory <= 0):
            raise GridError(f"resources.memory: expected bytes > 0, got {self.memory!r}")
        if self.threads is not None and (not isinstance(self.threads, int) or self.threads < 1):
            raise GridError(f"resources.threads: expected an integer >= 1, got {self.threads!r}")
        for key, value in self.custom:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise GridError(f"resources.{key}: expected an amount > 0, got {value!r}")

    @property
    def thread_budget(self) -> int:
        return self.threads if self.threads is not None else max(1, int(self.num_cpus))

    def ray_options(self) -> dict[str, Any]:
        """Keyword arguments of Ray's `.options()` for one run."""
        options: dict[str, Any] = {"num_cpus": self.num_cpus, "num_gpus": self.num_gpus}
        if self.memory is not None:
            options["memory"] = self.memory
        if self.custom:
            options["resources"] = dict(self.custom)
        return options

    def demands(self) -> dict[str, float]:
        """Resource name (as Ray's cluster totals spell it) -> amount per run."""
        wanted = {"CPU": self.num_cpus, "GPU": self.num_gpus, **dict(self.custom)}
        if self.memory is not None:
            wanted["memory"] = self.memory
        return {key: value for key, value in wanted.items() if value}

    def updated(self, changes: dict[str, Any]) -> Resources:
        """These resources with `changes` (known fields by name, anything else custom)."""
        fields = {f.name for f in dataclasses.fields(self)} - {"custom"}
        known = {k: v for k, v in changes.items() if k in fields}
        custom = {**dict(self.custom), **{k: v for k, v in changes.items() if k not in fields}}
        return dataclasses.replace(self, **known, custom=tuple(sorted(custom.items())))


@dataclasses.dataclass(frozen=True)
class Grid:
    name: str
    path: Path
    runs: tuple[Run, ...]
    resources: Resources


def _as_list(value: Any, where: str) -> list:
    values = value if isinstance(value, list) else [value]
    if not values:
        raise GridError(f"{where}: an empty list expands the grid to nothing")
    return values


def _expand_settings(settings: Any, where: str) -> list[tuple[tuple[str, Any], ...]]:
    """{"lr": [1e-3, 3e-4], "n_steps": 5} -> one sorted tuple of pairs per combination."""
    if not isinstance(settings, dict):
        raise GridError(f"{where}: expected a table of options, got {settings!r}")
    keys = sorted(settings)
    lists = [_as_list(settings[key], f"{where}.{key}") for key in keys]
    return [tuple(zip(keys, combo)) for combo in itertools.product(*lists)]


def _expand_block(block: dict, defaults: dict, where: str) -> list[Run]:
    unknown = sorted(set(block) - set(GRID_KEYS))
    if unknown:
        raise GridError(f"{where}: unknown key(s) {unknown}; a grid block takes {list(GRID_KEYS)}")
    merged = {**defaults, **block}
    missing = [key for key in ("suites", "cells", "backends") if key not in merged]
    if missing:
        raise GridError(f"{where}: missing {missing} (set them in the block or at the top level)")
    axes = {
        "suite": _as_list(merged["suites"], f"{where}.suites"),
        "cell": _as_list(merged["cells"], f"{where}.cells"),
        "backend": _as_list(merged["backends"], f"{where}.backends"),
        "game": _as_list(merged.get("games", "breakout"), f"{where}.games"),
        "profile": _as_list(merged.get("profile", "quick"), f"{where}.profile"),
        "seed": _as_list(merged.get("seeds", 0), f"{where}.seeds"),
    }
    settings = _expand_settings(merged.get("settings", {}), f"{where}.settings")
    runs = []
    for values in itertools.product(*axes.values(), settings):
        fields = dict(zip(axes, values[:-1]))
        runs.append(check_run(Run(**fields, settings=values[-1]), where))
    return runs


def _resources(table: Any, where: str) -> Resources:
    if not isinstance(table, dict):
        raise GridError(f"{where}: expected a table, got {table!r}")
    try:
        return Resources().updated(table)
    except TypeError as error:
        raise GridError(f"{where}: {error}") from None


def parse_grid(data: dict, path: Path) -> Grid:
    """Expand parsed TOML into a Grid; every run is checked (suite, cell, game, settings)."""
    where = str(path)
    unknown = sorted(set(data) - set(TOP_KEYS))
    if unknown:
        raise GridError(f"{where}: unknown key(s) {unknown}; expected some of {list(TOP_KEYS)}")
    defaults = {key: data[key] for key in GRID_KEYS if key in data}
    blocks = data.get("grid", [{}])
    if not isinstance(blocks, list) or not all(isinstance(b, dict) for b in blocks):
        raise GridError(f"{where}: 'grid' must be an array of tables ([[grid]] blocks)")
    runs: dict[str, Run] = {}
    for index, block in enumerate(blocks):
        for run in _expand_block(block, defaults, f"{where} [[grid]] #{index + 1}"):
            runs.setdefault(run.hash, run)  # two blocks naming one run: it runs once
    if not runs:
        raise GridError(f"{where}: the grid expands to no runs")
    name = data.get("name", path.stem)
    if not isinstance(name, str) or not name or "/" in name:
        raise GridError(f"{where}: name: expected a folder-safe text, got {name!r}")
    resources = _resources(data.get("resources", {}), f"{where} [resources]")
    return Grid(name, path, tuple(runs.values()), resources)


def load_grid(path: str | Path) -> Grid:
    """Read and expand a grid file; a missing or malformed file raises GridError."""
    path = Path(path)
    if not path.is_file():
        raise GridError(f"grid: no such file {str(path)!r}")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise GridError(f"{path}: not valid TOML: {error}") from None
    return parse_grid(data, path)
