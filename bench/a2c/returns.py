"""Advantages and returns of a rollout, with gymnasium 1.x's next-step autoreset.

A rollout row t of env n holds the observation the agent saw, its action and value, and what the
env returned for that action. Three flags per row decide the arithmetic:

    terminal[t]   the episode ended at this step (game over, or a lost life under episodic
                  life): nothing is bootstrapped past it.
    truncated[t]  the episode was cut by the time limit: bootstrapped from the value of the final
                  observation, which under next-step autoreset is the observation of row t+1.
    valid[t]      False on an autoreset row: its observation is the final one of the previous
                  episode, and the env ignored its action and returned the first observation of
                  a new episode with reward 0. No transition happened, so the row has no loss.

Either end cuts the advantage trace; an autoreset row is never a target of the trace because the
row before it always ends an episode.
"""

from __future__ import annotations

import numpy as np


def advantages(
    rewards: np.ndarray,
    values: np.ndarray,
    terminal: np.ndarray,
    truncated: np.ndarray,
    bootstrap: np.ndarray,
    gamma: float,
    gae_lambda: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Generalised advantage estimates (n-step returns when gae_lambda == 1).

    Args:
        rewards, values: (T, N) float; values from the rollout's forward pass.
        terminal, truncated: (T, N) bool, as in the module docstring.
        bootstrap: (N,) the value of the observation after the last row.
        gamma, gae_lambda: discount and trace decay.

    Returns:
        (advantages, returns), both (T, N) float64; returns = advantages + values.
    """
    rewards = np.asarray(rewards, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    steps = rewards.shape[0]
    for name, array in (("values", values), ("terminal", terminal), ("truncated", truncated)):
        if np.shape(array) != rewards.shape:
            raise ValueError(f"{name}: expected shape {rewards.shape}, got {np.shape(array)}")
    if np.shape(bootstrap) != rewards.shape[1:]:
        raise ValueError(
            f"bootstrap: expected shape {rewards.shape[1:]}, got {np.shape(bootstrap)}"
        )
    next_values = np.concatenate([values[1:], np.asarray(bootstrap, np.float64)[None]], axis=0)
    keep_value = 1.0 - np.asarray(terminal, np.float64)
    keep_trace = 1.0 - np.asarray(terminal | truncated, np.float64)
    deltas = rewards + gamma * next_values * keep_value - values
    result = np.zeros_like(rewards)
    trace = np.zeros(rewards.shape[1:])
    for t in reversed(range(steps)):  # vectorised over envs; T is small
        trace = deltas[t] + gamma * gae_lambda * keep_trace[t] * trace
        result[t] = trace
    return result, result + values
