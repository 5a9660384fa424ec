"""Rollouts from a vector env, shared by the torch and TF A2C loops (only the agent differs).

The collector owns the envs, the current observation, the recurrent state (numpy, between
rollouts) and the episode bookkeeping. Each `collect` plays `n_steps` steps of every env with the
agent's policy and returns a `Rollout` whose advantages are already computed (`returns.py`).

gymnasium 1.x autoresets on the NEXT step: after a step returns `terminated or truncated`, the
following step ignores its action, returns reward 0 and the first observation of a new game.
That row is kept in the rollout (its value is the bootstrap of a truncated episode) but marked
invalid, so it adds nothing to the loss. The recurrent state is zeroed before the first
observation of every episode (`starts`), as the agent's forward pass does from the same flags.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from .config import A2CConfig
from .returns import advantages

State = tuple[np.ndarray, ...]
#: agent.act: obs uint8 (N, 84, 84, 4), starts (N,) bool, state -> logits (N, A), values (N,),
#: the state after this step.
ActFunction = Callable[[np.ndarray, np.ndarray, State], tuple[np.ndarray, np.ndarray, State]]


@dataclasses.dataclass
class Rollout:
    """T = n_steps rows of N envs, time-major.

    obs uint8 (T, N, 84, 84, 4); starts, valid bool (T, N); actions int64 (T, N); values,
    advantages, returns float (T, N); initial_state: the state before row 0, a tuple of (N, H)
    float32 arrays.
    """

    obs: np.ndarray
    starts: np.ndarray
    actions: np.ndarray
    valid: np.ndarray
    values: np.ndarray
    advantages: np.ndarray
    returns: np.ndarray
    initial_state: State


def sample_actions(logits: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One action per row of logits (N, A) by the Gumbel-max trick, in numpy so that torch and
    TF agents draw the same actions from the same seed."""
    return np.argmax(np.asarray(logits, np.float64) + rng.gumbel(size=np.shape(logits)), axis=-1)


class RolloutCollector:
    """Plays the envs for the learner and keeps full-game statistics.

    Args:
        config: the run's config (n_steps, gamma, gae_lambda, settings).
        envs: a vector env from `bench.atari.envs.make_vector_env` (full games, raw rewards).
        state_shapes: the recurrent state's parts, e.g. [(N, H), (N, H)] for an LSTM.
        env_seed: seed of the envs' reset; action_seed: seed of the action draws.
    """

    def __init__(self, config: A2CConfig, envs, state_shapes, env_seed: int, action_seed):
        self.config = config
        self.envs = envs
        self.num_envs = envs.num_envs
        self.obs, info = envs.reset(seed=env_seed)
        self.lives = np.asarray(info["lives"])
        self.starts = np.ones(self.num_envs, bool)
        self.state: State = tuple(np.zeros(shape, np.float32) for shape in state_shapes)
        self.rng = np.random.default_rng(action_seed)
        self.games = GameTracker(self.num_envs, config.settings.frame_skip)

    def collect(self, act: ActFunction) -> Rollout:
        config, num_envs = self.config, self.num_envs
        steps, settings = config.n_steps, config.settings
        obs = np.empty((steps, *self.obs.shape), np.uint8)
        starts, valid = np.empty((steps, num_envs), bool), np.empty((steps, num_envs), bool)
        terminal, truncated = np.empty_like(starts), np.empty_like(starts)
        actions = np.empty((steps, num_envs), np.int64)
        values, rewards = np.empty((steps, num_envs)), np.empty((steps, num_envs))
        initial_state = self.state
        for t in range(steps):
            logits, values[t], self.state = act(self.obs, self.starts, self.state)
            actions[t] = sample_actions(logits, self.rng)
            autoreset = self.games.autoreset
            obs[t], starts[t], valid[t] = self.obs, self.starts, ~autoreset
            self.obs, reward, term, trunc, info = self.envs.step(actions[t])
            lives = np.asarray(info["lives"])
            env_done = np.asarray(term) | np.asarray(trunc)
            life_lost = (lives < self.lives) & ~autoreset
            self.lives = lives
            learner_terminal = np.asarray(term) | (settings.episodic_life & life_lost)
            terminal[t], truncated[t] = learner_terminal, np.asarray(trunc) & ~learner_terminal
            rewards[t] = np.sign(reward) if settings.clip_rewards else reward
            self.games.step(reward, env_done)
            # The next row starts an episode after a life lost mid-game or after an autoreset
            # step; the row right after a game over is that game's final observation.
            self.starts = ((terminal[t] | truncated[t]) & ~env_done) | autoreset
        _, bootstrap, _ = act(self.obs, self.starts, self.state)
        advantage, returns = advantages(
            rewards, values, terminal, truncated, bootstrap, config.gamma, config.gae_lambda
        )
        return Rollout(obs, starts, actions, valid, values, advantage, returns, initial_state)


class GameTracker:
    """Full-game returns and lengths of a vector env, fed the env's raw reward per step.

    Attributes:
        games: one dict per finished game: frames (when it ended), episode, return, length.
        frames: emulator frames stepped so far (all envs, autoreset steps included).
        autoreset: (N,) bool, True where the next step is an autoreset step.
    """

    def __init__(self, num_envs: int, frame_skip: int):
        self.frame_skip = frame_skip
        self.game_return = np.zeros(num_envs)
        self.game_length = np.zeros(num_envs, np.int64)
        self.autoreset = np.zeros(num_envs, bool)
        self.games: list[dict] = []
        self.frames = 0

    def step(self, reward, env_done) -> None:
        """Account one step of every env: reward (N,) raw, env_done (N,) terminated|truncated."""
        playing = ~self.autoreset  # an autoreset step belongs to no game
        self.frames += len(playing) * self.frame_skip
        self.game_return += np.where(playing, np.asarray(reward, np.float64), 0.0)
        self.game_length += playing
        for n in np.flatnonzero(env_done):
            self.games.append({
                "frames": self.frames,
                "episode": len(self.games) + 1,
                "return": float(self.game_return[n]),
                "length": int(self.game_length[n]),
            })  # fmt: skip
            self.game_return[n], self.game_length[n] = 0.0, 0
        self.autoreset = np.asarray(env_done, bool).copy()

    def mean_return(self, last: int = 100) -> float | None:
        """Mean full-game return over the last `last` finished games (None before the first)."""
        if not self.games:
            return None
        return float(np.mean([game["return"] for game in self.games[-last:]]))
