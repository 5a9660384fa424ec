"""The Atari settings every env, dataset and result of cellbench records.

One frozen dataclass: the game, the DeepMind preprocessing (Mnih et al., 2015; Machado et al.,
2018 for sticky actions) and the three switches that change what a return means:

- `sticky`: probability that the emulator repeats the previous action on each frame
  (Machado et al. recommend 0.25; 0 makes the game deterministic for a seed).
- `episodic_life`: a lost life ends the episode (training signal) or only the game over does
  (evaluation, full-game returns).
- `clip_rewards`: rewards clipped to their sign (training) or the game score (evaluation).

Observations are (84, 84, 4) uint8, channels last, the four most recent grayscale frames: the
layout of ncps's Atari dataset.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

#: Games the project is tested on (any ALE game by name also works).
KNOWN_GAMES = ("breakout", "pong", "kung_fu_master")


def rom_id(game: str) -> str:
    """'Breakout' / 'breakout' / 'KungFuMaster' / 'kung_fu_master' -> snake_case ROM id."""
    snake = re.sub(r"(?<!^)(?=[A-Z])", "_", str(game).strip()).lower().replace("-", "_")
    return re.sub(r"_+", "_", snake)


def env_id(game: str) -> str:
    """The gymnasium id, e.g. 'ALE/KungFuMaster-v5'."""
    return "ALE/" + "".join(part.capitalize() for part in rom_id(game).split("_")) + "-v5"


@dataclasses.dataclass(frozen=True)
class AtariSettings:
    """Everything that decides what an Atari observation and return mean.

    Attributes:
        game: ALE game, any spelling ("breakout", "Breakout", "KungFuMaster").
        sticky: repeat-action probability per emulator frame.
        episodic_life: end the episode at each lost life (training) instead of at game over.
        clip_rewards: clip rewards to {-1, 0, 1}.
        frame_skip: emulator frames per agent step (max-pooled over the last two).
        noop_max: up to this many no-op steps after each reset (random start states).
        screen_size: square observation side.
        frame_stack: frames stacked into the last axis.
        max_episode_frames: emulator frames before truncation (27k agent steps, as DQN).
    """

    game: str = "breakout"
    sticky: float = 0.25
    episodic_life: bool = False
    clip_rewards: bool = False
    frame_skip: int = 4
    noop_max: int = 30
    screen_size: int = 84
    frame_stack: int = 4
    max_episode_frames: int = 108_000

    def __post_init__(self) -> None:
        object.__setattr__(self, "game", rom_id(self.game))
        check_game(self.game)
        if not 0.0 <= float(self.sticky) <= 1.0:
            raise ValueError(f"sticky: expected a probability in [0, 1], got {self.sticky!r}")
        for name in ("frame_skip", "screen_size", "frame_stack", "max_episode_frames"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: expected a positive integer, got {value!r}")
        if (
            isinstance(self.noop_max, bool)
            or not isinstance(self.noop_max, int)
            or self.noop_max < 0
        ):
            raise ValueError(f"noop_max: expected an integer >= 0, got {self.noop_max!r}")

    @property
    def observation_shape(self) -> tuple[int, int, int]:
        return (self.screen_size, self.screen_size, self.frame_stack)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AtariSettings:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(
                f"settings: unknown Atari settings {unknown}; expected {sorted(known)}"
            )
        return cls(**data)


def check_game(game: str) -> None:
    """Raise a ValueError naming the game when ALE has no ROM for it."""
    import warnings

    from ale_py import roms

    with warnings.catch_warnings():  # ale_py warns before returning None; we raise instead
        warnings.simplefilter("ignore", UserWarning)
        path = roms.get_rom_path(rom_id(game))
    if path is None:
        available = roms.get_all_rom_ids()
        close = [g for g in available if rom_id(game)[:4] in g][:5]
        hint = f"; close: {close}" if close else ""
        raise ValueError(
            f"game: {game!r} is not an ALE game ({len(available)} are, e.g. "
            f"{list(KNOWN_GAMES)}){hint}"
        )
