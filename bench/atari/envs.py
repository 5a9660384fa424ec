"""The one Atari env factory of the project: single envs and vectorised envs, same observations.

    env = make_env(AtariSettings("breakout"))                  # gymnasium.Env, (84, 84, 4)
    envs = make_vector_env(AtariSettings("pong"), num_envs=8)  # ALE vector env, (8, 84, 84, 4)

Single env: the base ALE env with frameskip=1 and the sticky-action probability, then
gymnasium's `AtariPreprocessing` (no-op starts, frame skip with max-pooling, 84x84 grayscale,
life loss as terminal when `episodic_life`), `FrameStackObservation`, channels last, and sign
reward clipping when `clip_rewards`. Vectorised env: `ale_py.vector_env.AtariVectorEnv`, which
does the same preprocessing in C++ threads, without FIRE on reset (the single env has none
either: agents and experts press FIRE themselves). gymnasium >= 1.0 autoresets on the NEXT step:
the step after `terminated or truncated` returns the first observation of a new episode.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from .settings import AtariSettings, env_id

_REGISTERED = False


def _register() -> None:
    global _REGISTERED
    if not _REGISTERED:
        import ale_py

        gym.register_envs(ale_py)
        _REGISTERED = True


class ChannelsLast(gym.ObservationWrapper):
    """(stack, H, W) -> (H, W, stack), the layout of ncps's dataset and of the models."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        stack, height, width = env.observation_space.shape
        self.observation_space = gym.spaces.Box(0, 255, (height, width, stack), np.uint8)

    def observation(self, observation):
        return np.ascontiguousarray(np.moveaxis(observation, 0, -1))


class RamInInfo(gym.Wrapper):
    """Adds the emulator RAM (128 uint8) after each reset and step as info["ram"], so RAM-reading
    experts work through gymnasium's vector envs, whose info dicts are batched."""

    def reset(self, **kwargs):
        observation, info = self.env.reset(**kwargs)
        return observation, {**info, "ram": self.env.unwrapped.ale.getRAM().copy()}

    def step(self, action):
        observation, reward, terminated, truncated, info = self.env.step(action)
        info = {**info, "ram": self.env.unwrapped.ale.getRAM().copy()}
        return observation, reward, terminated, truncated, info


def make_env(settings: AtariSettings, with_ram: bool = False) -> gym.Env:
    """One preprocessed env (observations (84, 84, 4) uint8); seed it with `reset(seed=...)`."""
    from gymnasium.wrappers import AtariPreprocessing, FrameStackObservation, TransformReward

    _register()
    env = gym.make(
        env_id(settings.game),
        frameskip=1,
        repeat_action_probability=settings.sticky,
        full_action_space=False,
        max_num_frames_per_episode=settings.max_episode_frames,
    )
    env = AtariPreprocessing(
        env,
        noop_max=settings.noop_max,
        frame_skip=settings.frame_skip,
        screen_size=settings.screen_size,
        terminal_on_life_loss=settings.episodic_life,
        grayscale_obs=True,
        scale_obs=False,
    )
    # Zero padding at reset, as ALE's vector env does, so both give the same first frames.
    env = ChannelsLast(FrameStackObservation(env, settings.frame_stack, padding_type="zero"))
    if settings.clip_rewards:
        env = TransformReward(env, lambda reward: float(np.sign(reward)))
    return RamInInfo(env) if with_ram else env


def make_vector_env(
    settings: AtariSettings, num_envs: int, num_threads: int = 0
) -> gym.vector.VectorEnv:
    """`num_envs` envs stepped in ALE's C++ threads; observations (num_envs, 84, 84, 4) uint8."""
    from ale_py.vector_env import AtariVectorEnv
    from gymnasium.wrappers.vector import TransformObservation

    if isinstance(num_envs, bool) or not isinstance(num_envs, int) or num_envs < 1:
        raise ValueError(f"num_envs: expected a positive integer, got {num_envs!r}")
    envs = AtariVectorEnv(
        settings.game,
        num_envs,
        num_threads=num_threads,
        repeat_action_probability=settings.sticky,
        full_action_space=False,
        max_num_frames_per_episode=settings.max_episode_frames,
        img_height=settings.screen_size,
        img_width=settings.screen_size,
        grayscale=True,
        stack_num=settings.frame_stack,
        frameskip=settings.frame_skip,
        maxpool=True,
        noop_max=settings.noop_max,
        episodic_life=settings.episodic_life,
        reward_clipping=settings.clip_rewards,
        use_fire_reset=False,
    )
    size, stack = settings.screen_size, settings.frame_stack
    single = gym.spaces.Box(0, 255, (size, size, stack), np.uint8)
    return TransformObservation(
        envs,
        lambda batch: np.ascontiguousarray(np.moveaxis(batch, 1, -1)),
        gym.vector.utils.batch_space(single, num_envs),
        single,
    )


def make_expert_vector_env(settings: AtariSettings, num_envs: int, asynchronous: bool = True):
    """Single envs with info["ram"], vectorised by gymnasium (processes when asynchronous):
    what a RAM-reading expert plays, since ALE's own vector env does not expose the RAM."""
    factories = [lambda: make_env(settings, with_ram=True) for _ in range(num_envs)]
    if asynchronous and num_envs > 1:
        return gym.vector.AsyncVectorEnv(factories, context="spawn")
    return gym.vector.SyncVectorEnv(factories)
