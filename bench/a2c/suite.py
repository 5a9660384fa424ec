"""What suites/a2c measures beside training: the raw env stepping rate and random play (the two
yardsticks of the A2C targets), a return-curve summary, and the suite's ratio table.

Throughput is quoted in emulator frames per second (agent steps x frame skip, all envs), the
unit of the frame budget; the raw rate is the same vector env stepped with uniformly random
actions and nothing else, measured in the same run.

Beside them, the model alone: one iteration's network work (its n_steps + 1 act calls and the
update) replayed on a recorded rollout, no env. Its rate bounds what training can reach: with
env and model taking turns and not slowing each other, training would run at
1 / (1/raw + 1/model) frames/s, the `serial_ceiling` share of the raw rate. A measured share
below it is the cost of the two competing for the cores; a ceiling below a target says the
model, not the loop, is what misses it on this machine.
"""

from __future__ import annotations

import time

import numpy as np

from .config import A2CConfig
from .rollout import GameTracker


def random_play(config: A2CConfig, envs, steps: int, seed: int = 0) -> dict:
    """Step `envs` (see `train.make_envs`) `steps` times with uniform random actions.

    Returns frames_per_second and steps_per_second of the stepping alone, and the full-game
    returns (mean, std, games) of the games finished on the way.
    """
    rng = np.random.default_rng([seed, 11])
    draws = rng.integers(0, int(envs.single_action_space.n), (steps, envs.num_envs))
    games = GameTracker(envs.num_envs, config.settings.frame_skip)
    envs.reset(seed=seed)
    started = time.perf_counter()
    for actions in draws:
        _, reward, term, trunc, _ = envs.step(actions)
        games.step(reward, np.asarray(term) | np.asarray(trunc))
    seconds = time.perf_counter() - started
    returns = [game["return"] for game in games.games]
    return {
        "frames_per_second": steps * envs.num_envs * config.settings.frame_skip / seconds,
        "steps_per_second": steps * envs.num_envs / seconds,
        "games": len(returns),
        "mean_return": float(np.mean(returns)) if returns else None,
        "std_return": float(np.std(returns)) if returns else None,
    }


def time_model_alone(agent, rollout, lr: float, rounds: int) -> float:
    """Median seconds of one iteration's model work without the env: the act calls that
    collected `rollout` (N envs x (n_steps + 1), the last one the bootstrap), replayed on its
    recorded observations, then the update."""
    steps = len(rollout.obs)
    seconds = []
    for _ in range(rounds):
        state = rollout.initial_state
        started = time.perf_counter()
        for t in (*range(steps), steps - 1):
            _, _, state = agent.act(rollout.obs[t], rollout.starts[t], state)
        agent.update(rollout, lr)
        seconds.append(time.perf_counter() - started)
    return float(np.median(seconds))


def serial_ceiling(raw_rate: float, model_rate: float) -> float:
    """The share of the raw rate that env stepping and the model reach when they take turns
    without slowing each other: 1 / (1 + raw/model)."""
    return 1.0 / (1.0 + raw_rate / model_rate)


def curve_summary(history: list[dict]) -> dict:
    """Mean return of the last 100 games at 25/50/75/100 % of the frames trained."""
    if not history:
        return {}
    total = history[-1]["frames"]
    summary = {}
    for share in (25, 50, 75, 100):
        row = next(r for r in history if r["frames"] >= total * share / 100)
        summary[f"return_at_{share}pct"] = row["mean_return_100"]
    return summary


def ratio_table(document: dict) -> str:
    """Per cell x backend: timed frames/s, its share of the raw env rate, the serial ceiling of
    that share (see the module's docstring), final return and its multiple of random play (one
    run's pytest-benchmark document)."""
    raw = [b for b in document["benchmarks"] if b["name"].startswith("test_raw_env_stepping")]
    runs = [b for b in document["benchmarks"] if b["extra_info"].get("cell")]
    if not raw or not runs:
        return "(no raw-env or A2C benchmarks in this run)"
    raw_info = raw[0]["extra_info"]
    # The shares divide by the random-play rate each run recorded (the longer measurement);
    # the timed 100-step rounds are shown beside it, never silently in its place.
    lines = [
        f"raw env: {runs[0]['extra_info']['raw_frames_per_second']:,.0f} frames/s over random "
        f"play (the 'vs raw' denominator; timed 100-step rounds: "
        f"{raw_info['frames_per_second']:,.0f}); random play "
        f"{_fmt(raw_info['random_mean_return'])} over {raw_info['random_games']} games",
        f"{'cell':6} {'backend':7} {'frames/s':>9} {'vs raw':>7} {'model f/s':>9} {'ceiling':>7} "
        f"{'return':>7} {'vs random':>9}",
    ]
    for bench in runs:
        info = bench["extra_info"]
        lines.append(
            f"{info['cell']:6} {info['backend']:7} {info['frames_per_second']:9,.0f} "
            f"{info['share_of_raw_rate']:7.2f} "
            f"{_fmt(info.get('model_frames_per_second'), digits=0):>9} "
            f"{_fmt(info.get('serial_ceiling')):>7} {_fmt(info['final_mean_return_100']):>7} "
            f"{_fmt(info['return_vs_random'], 'x'):>9}"
        )
    return "\n".join(lines)


def _fmt(value, suffix: str = "", digits: int = 2) -> str:
    return "-" if value is None else f"{value:,.{digits}f}{suffix}"
