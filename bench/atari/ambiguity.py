"""How often a RAM expert's choice turns on detail the 84x84 frames do not show.

A cloned policy sees 84x84 grayscale frames, about 1.9 screen pixels per frame pixel across,
while the scripted expert acts on exact RAM positions. Along the expert's own games this counts
how often its action would have been another had one reading been slightly off: the ball 1 px
left or right, the paddle 1 px, or the paddle controller read as the screen shows it (the
controller keeps moving past the walls while the paddle stops). Each rate is the share of
agent steps, ball in play, whose action flips. It estimates the label noise a frame-based
policy faces, not a strict bound: the frames' grey levels carry some sub-pixel position and the
policy's memory some history.

    python -m bench.atari.ambiguity --steps 3000
"""

from __future__ import annotations

import argparse
import copy

import numpy as np

from .experts import (
    FIRE,
    PADDLE_MAX,
    PADDLE_MIN,
    POT_ZERO,
    RAM_BALL_X,
    RAM_PADDLE_POT,
    RAM_PADDLE_X,
    make_expert,
)
from .settings import AtariSettings


def _one_px(index: int, sign_index: int | None = None):
    def perturb(ram: np.ndarray, sign: int) -> np.ndarray:
        ram[index] += sign
        if sign_index is not None:  # the controller moves with the paddle, reading inverted
            ram[sign_index] -= sign
        return ram

    return perturb


def _pot_as_seen(ram: np.ndarray, sign: int) -> np.ndarray:
    pot = POT_ZERO - ram[RAM_PADDLE_POT]
    ram[RAM_PADDLE_POT] = POT_ZERO - np.clip(pot, PADDLE_MIN, PADDLE_MAX)
    return ram


# name -> perturb(ram int16 (128,), sign +-1) -> ram; Breakout's readings (experts.py).
PERTURBATIONS = {
    "ball x 1 px": _one_px(RAM_BALL_X),
    "paddle 1 px": _one_px(RAM_PADDLE_X, RAM_PADDLE_POT),
    "controller as seen": _pot_as_seen,
}


def flip_rates(steps: int = 3000, seed: int = 0, sticky: float = 0.25) -> dict:
    """Play `steps` agent steps of the Breakout expert (one env, full games); -> {"steps": the
    steps counted (ball in play, velocity known), name: % of them whose action flips} for each
    of `PERTURBATIONS`. Deterministic for a seed."""
    from .envs import make_expert_vector_env

    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps: expected a positive integer, got {steps!r}")
    settings = AtariSettings("breakout", sticky=sticky)
    envs = make_expert_vector_env(settings, 1)
    expert = make_expert("breakout", 1, seed)
    signs = np.random.default_rng(seed)
    flips = dict.fromkeys(PERTURBATIONS, 0)
    counted, restarting = 0, False
    try:
        _, info = envs.reset(seed=seed)
        for _ in range(steps):
            ram = info["ram"]
            alternatives = {}
            for name, perturb in PERTURBATIONS.items():
                changed = perturb(ram[0].astype(np.int16), int(signs.choice([-1, 1])))
                changed = np.clip(changed, 0, 255).astype(np.uint8)[None]
                # a copy, so the expert's memory moves on only with the true reading
                alternatives[name] = copy.deepcopy(expert).act(changed)[0]
            action = expert.act(ram)
            if action[0] != FIRE and expert.has_velocity[0]:
                counted += 1
                for name, alternative in alternatives.items():
                    flips[name] += int(alternative != action[0])
            _, _, terminated, truncated, info = envs.step(action)
            if restarting:  # NEXT_STEP autoreset: this step began a new game
                expert.reset(0)
            restarting = bool(terminated[0] or truncated[0])
    finally:
        envs.close()
    return {"steps": counted, **{k: 100 * v / max(counted, 1) for k, v in flips.items()}}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="Share of the Breakout expert's actions that flip when a reading the "
        "84x84 frames cannot resolve is slightly off."
    )
    parser.add_argument("--steps", type=int, default=3000, help="agent steps played (3000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sticky", type=float, default=0.25)
    args = parser.parse_args(argv)
    rates = flip_rates(args.steps, args.seed, args.sticky)
    print(f"breakout expert, {rates.pop('steps')} steps with the ball in play:")
    for name, rate in rates.items():
        print(f"  {name:>20}: {rate:5.1f}% of actions flip")


if __name__ == "__main__":
    main()
