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
    python -m bench.atari.ambiguity --steps 3000 --draws 32   # how much the sticky draws decide
"""

from __future__ import annotations

import argparse
import copy
from collections.abc import Callable
from typing import Any

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


def alternative_actions(expert, ram: np.ndarray, signs: np.random.Generator) -> dict:
    """ram (N, 128) uint8 -> {name: (N,) int64, the expert's action with that reading off} for
    each of `PERTURBATIONS`, a random sign per env. The expert's memory does not move: call it
    before `expert.act(ram)`."""
    alternatives = {}
    for name, perturb in PERTURBATIONS.items():
        changed = np.stack(
            [
                perturb(row.astype(np.int16), int(sign))
                for row, sign in zip(ram, signs.choice([-1, 1], size=len(ram)))
            ]
        )
        changed = np.clip(changed, 0, 255).astype(np.uint8)
        # a copy, so the expert's memory moves on only with the true reading
        alternatives[name] = copy.deepcopy(expert).act(changed)
    return alternatives


def _played(steps: int, seed: int, sticky: float, num_envs: int, draws_seed: int | None,
            before_act: Callable[[Any, np.ndarray], Any]):  # fmt: skip
    """The Breakout expert's games, `steps` agent steps in `num_envs` envs (full games, one
    process), the expert planning with the draws of `draws_seed` (None: `seed`). Per step,
    `before_act(expert, ram)` sees the expert before it acts (it must not move its memory);
    yields (expert, obs, actions, new_episode, what before_act returned)."""
    from .envs import make_expert_vector_env

    for name, value in (("steps", steps), ("num_envs", num_envs)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name}: expected a positive integer, got {value!r}")
    envs = make_expert_vector_env(AtariSettings("breakout", sticky=sticky), num_envs, False)
    expert = make_expert("breakout", num_envs, seed if draws_seed is None else draws_seed)
    new_episode, ended = np.ones(num_envs, bool), np.zeros(num_envs, bool)
    try:
        obs, info = envs.reset(seed=seed)
        for _ in range(steps):
            seen = before_act(expert, info["ram"])
            actions = expert.act(info["ram"])
            yield expert, obs, actions, new_episode, seen
            obs, _reward, terminated, truncated, info = envs.step(actions)
            # NEXT_STEP autoreset: the step after a game ends begins the next one
            new_episode, ended = ended, (terminated | truncated) & ~ended
            for i in np.nonzero(new_episode)[0]:
                expert.reset(i)
    finally:
        envs.close()


def expert_games(steps: int, seed: int = 0, sticky: float = 0.25, num_envs: int = 1,
                 draws_seed: int | None = None):  # fmt: skip
    """Play `steps` agent steps of the Breakout expert, planning with the sticky-action draws
    of `draws_seed` (None: `seed`), in `num_envs` envs (full games, one process); per step,
    yield a dict of
        obs (N, 84, 84, 4) uint8: what a policy sees;
        actions (N,) int64: the expert's choice, which the envs then play;
        counted (N,) bool: ball in play, velocity known, action not FIRE (where the flips count);
        flips {name: (N,) bool}: the action would have been another with that reading off;
        margin (N,) float: the expert's margin over its next best first action (`margin`);
        new_episode (N,) bool: obs is the first of a new game (a policy zeroes its state).
    Deterministic for a seed."""
    signs = np.random.default_rng(seed)
    played = _played(steps, seed, sticky, num_envs, draws_seed,
                     lambda expert, ram: alternative_actions(expert, ram, signs))  # fmt: skip
    for expert, obs, actions, new_episode, alternatives in played:
        flips = {name: other != actions for name, other in alternatives.items()}
        counted = (actions != FIRE) & expert.has_velocity
        yield {"obs": obs, "actions": actions, "counted": counted, "flips": flips,
               "margin": expert.margin.copy(), "new_episode": new_episode}  # fmt: skip


def flip_rates(steps: int = 3000, seed: int = 0, sticky: float = 0.25) -> dict:
    """Play `steps` agent steps of the Breakout expert (one env, full games); -> {"steps": the
    steps counted (ball in play, velocity known), name: % of them whose action flips} for each
    of `PERTURBATIONS`. Deterministic for a seed."""
    flips = dict.fromkeys(PERTURBATIONS, 0)
    counted = 0
    for step in expert_games(steps, seed, sticky):
        counted += int(step["counted"].sum())
        for name, flipped_here in step["flips"].items():
            flips[name] += int((flipped_here & step["counted"]).sum())
    return {"steps": counted, **{k: 100 * v / max(counted, 1) for k, v in flips.items()}}


def draws_agreement(steps: int = 3000, draws: int = 32, seed: int = 0, sticky: float = 0.25,
                    num_envs: int = 4) -> dict:  # fmt: skip
    """How much the expert's labels depend on its sticky-action draws (`BreakoutExpert.repeats`,
    which a frame-based policy cannot see). Along the games of the expert with the draws of
    `seed` (`num_envs` envs, `steps` steps each), every state is labelled by `draws` experts,
    those of the draws of seeds 0 .. draws-1, each with the playing expert's memory. Returns
    {"steps": states labelled, "pairwise": % of them on which the experts of two draws drawn
    at random agree, "majority": % on which the per-state majority label is that of a draw
    drawn at random, the best a policy blind to the draws can score on labels mixed from
    them}. Deterministic for its arguments."""
    if isinstance(draws, bool) or not isinstance(draws, int) or draws < 1:
        raise ValueError(f"draws: expected a positive integer, got {draws!r}")
    repeats = [make_expert("breakout", num_envs, s).repeats for s in range(draws)]

    def label_by_every_draw(expert, ram: np.ndarray) -> np.ndarray:
        labels = np.empty((draws, num_envs), np.int64)
        for k, draw in enumerate(repeats):
            other = copy.deepcopy(expert)  # the same memory, other draws
            other.repeats = draw
            labels[k] = other.act(ram)
        return labels

    pairwise = majority = 0.0
    for *_, labels in _played(steps, seed, sticky, num_envs, None, label_by_every_draw):
        for column in labels.T:
            shares = np.bincount(column) / draws
            pairwise += float((shares**2).sum())
            majority += float(shares.max())
    labelled = steps * num_envs
    return {"steps": labelled, "pairwise": 100 * pairwise / labelled,
            "majority": 100 * majority / labelled}  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="Share of the Breakout expert's actions that flip when a reading the "
        "84x84 frames cannot resolve is slightly off."
    )
    parser.add_argument("--steps", type=int, default=3000, help="agent steps played (3000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sticky", type=float, default=0.25)
    parser.add_argument("--draws", type=int, default=0,
                        help="instead: label each state of 4 games with the experts of this "
                        "many sticky-action draws and report how often they agree")  # fmt: skip
    args = parser.parse_args(argv)
    if args.draws:
        agreement = draws_agreement(args.steps, args.draws, args.seed, args.sticky)
        print(f"breakout expert, {agreement['steps']} states labelled by {args.draws} draws: two "
              f"draws agree on {agreement['pairwise']:.1f}%; the majority label is a draw's on "
              f"{agreement['majority']:.1f}%")  # fmt: skip
        return
    rates = flip_rates(args.steps, args.seed, args.sticky)
    print(f"breakout expert, {rates.pop('steps')} steps with the ball in play:")
    for name, rate in rates.items():
        print(f"  {name:>20}: {rate:5.1f}% of actions flip")


if __name__ == "__main__":
    main()
