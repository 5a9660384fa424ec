"""Closed-loop evaluation: the policy plays full games with its recurrent state carried.

Each of `episodes` envs of ALE's vector env plays one full game (no episodic life, unclipped
score, the dataset's sticky-action probability), the policy acting greedily on observations
normalised exactly as in training (inside the model). The state is carried from step to step
and zeroed when an env starts a new episode. A game that reaches `max_steps` agent steps is cut
there (counted in "truncated"): a policy that never presses FIRE would otherwise idle for
27,000 steps.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..atari.envs import make_vector_env
from ..atari.settings import AtariSettings


def play(trainer, settings: AtariSettings, episodes: int, seed: int, max_steps: int) -> dict:
    """-> {"returns": [...], "mean", "std", "truncated", "steps"}."""
    settings = dataclasses.replace(settings, episodic_life=False, clip_rewards=False)
    envs = make_vector_env(settings, episodes)
    try:
        obs, _ = envs.reset(seed=seed)
        state, totals = None, np.zeros(episodes)
        finished = np.zeros(episodes, dtype=bool)
        steps = 0
        while not finished.all() and steps < max_steps:
            actions, state = trainer.act(obs, state)
            obs, rewards, terminated, truncated, _ = envs.step(actions)
            totals += np.where(finished, 0.0, rewards)
            finished |= terminated | truncated  # the first game of each env is the one counted
            steps += 1
    finally:
        envs.close()
    returns = totals.tolist()
    return {
        "returns": returns,
        "mean": float(np.mean(returns)),
        "std": float(np.std(returns)),
        "truncated": int((~finished).sum()),
        "steps": steps,
    }
