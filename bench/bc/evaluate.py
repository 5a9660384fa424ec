"""Closed-loop evaluation: the policy plays full games with its recurrent state carried.

Each of `episodes` envs plays one full game (no episodic life, unclipped score, the dataset's
sticky-action probability), the policy acting greedily on observations normalised exactly as in
training (inside the model). The state is carried from step to step and zeroed when an env
starts a new episode. A game that reaches `max_steps` agent steps is cut there (counted in
"truncated"): a policy that never presses FIRE would otherwise idle for 27,000 steps.

Where the game has a scripted expert, it watches every step of the games (from the RAM) and
"expert_agreement" is the share of the policy's actions it would have chosen too: validation
accuracy measured on the policy's own states rather than the expert's. A gap between the two is
the covariate shift of behavior cloning (Ross et al., 2011): the policy's mistakes take it where
the data never went.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..atari.envs import make_expert_vector_env, make_vector_env
from ..atari.experts import EXPERTS, make_expert
from ..atari.settings import AtariSettings, rom_id


def play(trainer, settings: AtariSettings, episodes: int, seed: int, max_steps: int,
         expert_agreement: bool = True) -> dict:  # fmt: skip
    """-> {"returns": [...], "mean", "std", "truncated", "steps", "expert_agreement"} (the last
    None without an expert for the game or with `expert_agreement=False`, which timing uses so
    that the expert's planning is not timed with the policy)."""
    settings = dataclasses.replace(settings, episodic_life=False, clip_rewards=False)
    watched = expert_agreement and rom_id(settings.game) in EXPERTS
    # The expert reads the RAM, which only gymnasium's vector env of single envs exposes.
    envs = (make_expert_vector_env(settings, episodes, asynchronous=False) if watched
            else make_vector_env(settings, episodes))  # fmt: skip
    expert = make_expert(settings.game, episodes) if watched else None
    try:
        obs, info = envs.reset(seed=seed)
        state, totals = None, np.zeros(episodes)
        finished = np.zeros(episodes, dtype=bool)
        steps, agreed, watched_steps = 0, 0, 0
        while not finished.all() and steps < max_steps:
            actions, state = trainer.act(obs, state)
            if expert is not None:
                wanted = expert.act(info["ram"])
                expert.sent(actions)  # its sticky-action model repeats what the game received
                agreed += int((wanted == actions)[~finished].sum())
                watched_steps += int((~finished).sum())
            obs, rewards, terminated, truncated, info = envs.step(actions)
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
        "expert_agreement": agreed / watched_steps if watched_steps else None,
    }
