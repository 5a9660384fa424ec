"""What a sweep can run: the training suites, their profiles and the options a grid may set.

Every check here runs in the driver before anything is scheduled, and imports neither torch nor
TF: a grid with an unknown suite, cell, game, profile or option fails in a second, not after
the first run has started on a cluster.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..atari.settings import AtariSettings
from ..backends import BACKENDS

if TYPE_CHECKING:
    from .grid import Run

CELLS = ("lstm", "gru", "cfc", "ltc")


class GridError(ValueError):
    """A grid that cannot be expanded; the message names the file, the block and the key."""


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"expected a non-empty text, got {value!r}")
    return value


def _integer(value: Any) -> int:
    # TOML writes 2e6 as a float; a whole float is accepted as the integer it names.
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        raise ValueError(f"expected an integer, got {value!r}")
    return int(value)


def _flag(value: Any) -> bool:
    # A switch of `cellbench train` (--carry-state): true passes it, false leaves it off.
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {value!r}")
    return value


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"expected a number, got {value!r}")
    return float(value)


@dataclasses.dataclass(frozen=True)
class SweepSuite:
    """A suite a grid may name: its profiles, and the `cellbench train` options it accepts
    (option -> converter of the TOML value), checked together by `validate`."""

    name: str
    profiles: tuple[str, ...]
    options: dict[str, Callable[[Any], Any]]
    validate: Callable[[Run], None] = lambda run: None


def _validate_a2c(run: Run) -> None:
    """Builds the run's A2CConfig, which names any value it refuses (n_steps < 1, lr <= 0...)."""
    from ..a2c.config import profile_config, training_settings

    options = {key: value for key, value in run.settings if key != "impl"}  # not a config field
    profile_config(run.profile, cell=run.cell, seed=run.seed,
                   settings=training_settings(run.game), **options)  # fmt: skip


def _validate_bc(run: Run) -> None:
    """The profile with the run's lr, epochs and shift (which it names if it refuses one), and
    the cell's units; the DAgger recipe needs epochs before and after its rounds."""
    from ..bc.profiles import PROFILES, rounds_epoch
    from ..bc.spec import check_units

    settings = dict(run.settings)
    check_units(settings.get("units"))
    profile = PROFILES[run.profile]
    overrides = {key: settings[key] for key in ("lr", "epochs", "shift") if key in settings}
    profile = dataclasses.replace(profile, **overrides)
    if settings.get("dagger"):
        rounds_epoch(profile)


def _extractor(value: Any) -> str:
    from ..bc.spec import EXTRACTORS

    if value not in EXTRACTORS:
        raise ValueError(f"expected one of {list(EXTRACTORS)}, got {value!r}")
    return value


def _suites() -> dict[str, SweepSuite]:
    from ..a2c.config import PROFILES as A2C_PROFILES
    from ..bc.profiles import PROFILES as BC_PROFILES

    return {
        "bc": SweepSuite("bc", tuple(BC_PROFILES), {"impl": _text, "extractor": _extractor,
                                                    "carry_state": _flag, "dagger": _flag,
                                                    "lr": _number, "epochs": _integer,
                                                    "shift": _integer, "units": _integer},
                         _validate_bc),
        "a2c": SweepSuite(
            "a2c", tuple(A2C_PROFILES),
            {"impl": _text, "frames": _integer, "num_envs": _integer, "n_steps": _integer,
             "gae_lambda": _number, "optimizer": _text, "lr": _number, "eps": _number,
             "dense_lr_scale": _number, "units": _integer},
            _validate_a2c,
        ),
    }  # fmt: skip


SUITES = _suites()


def _choice(value: Any, choices: tuple, what: str, where: str) -> Any:
    if value not in choices:
        raise GridError(f"{where}: {what}: expected one of {list(choices)}, got {value!r}")
    return value


def check_run(run: Run, where: str) -> Run:
    """`run` with its game spelled as the suites spell it and its settings converted, or a
    GridError naming the grid block, the key, what was expected and what came."""
    suite = SUITES[_choice(run.suite, tuple(SUITES), "suite", where)]
    _choice(run.cell, CELLS, "cell", where)
    _choice(run.backend, BACKENDS, "backend", where)
    _choice(run.profile, suite.profiles, f"profile of suite {suite.name}", where)
    if isinstance(run.seed, bool) or not isinstance(run.seed, int) or run.seed < 0:
        raise GridError(f"{where}: seed: expected an integer >= 0, got {run.seed!r}")
    try:
        game = AtariSettings(run.game).game
    except (ValueError, TypeError) as error:
        raise GridError(f"{where}: games: {error}") from None
    settings = []
    for key, value in run.settings:
        if key not in suite.options:
            raise GridError(f"{where}: settings.{key}: not an option of suite {suite.name} "
                             f"(it takes {sorted(suite.options)})")  # fmt: skip
        try:
            settings.append((key, suite.options[key](value)))
        except ValueError as error:
            raise GridError(f"{where}: settings.{key}: {error}") from None
    checked = dataclasses.replace(run, game=game, settings=tuple(settings))
    try:
        suite.validate(checked)
    except (ValueError, TypeError) as error:
        raise GridError(f"{where}: run {checked.name}: {error}") from None
    return checked
