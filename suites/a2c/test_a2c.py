"""Recurrent A2C per cell x backend: train to the profile's frame budget once, then time one
rollout + update iteration of the trained agent; beside them, the same vector env stepped with
random actions (the raw rate) and random play's full-game return, measured in the same run.

Each run trains in results/a2c/train/<name> and resumes there when interrupted (a finished run is
reused). extra_info: cell, backend, impl, threads, frames/s of the timed iteration and its share of
the raw rate, the model alone's frames/s and the serial ceiling of that share
(`bench.a2c.suite`), training frames/s, final mean return of the last 100 games and its multiple of
random play, the return curve at 25/50/75/100 % of the budget, games, config.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("ale_py")

from bench import checkpoint  # noqa: E402
from bench.a2c.config import profile_config  # noqa: E402
from bench.a2c.rollout import RolloutCollector  # noqa: E402
from bench.a2c.spec import AgentSpec  # noqa: E402
from bench.a2c.suite import (  # noqa: E402
    curve_summary,
    random_play,
    serial_ceiling,
    time_model_alone,
)
from bench.a2c.train import env_seed, make_agent, make_envs, state_shapes, train_a2c  # noqa: E402
from bench.bc.suite import run_name  # noqa: E402

GAME = "breakout"
# Every torch run before every TF one (TF's thread pools disturb torch timings once started).
RUNS = [(cell, backend) for backend in ("torch", "tf") for cell in ("lstm", "gru", "cfc", "ltc")]
ROUNDS = {"smoke": 2, "quick": 10, "full": 20}
RANDOM_STEPS = {"smoke": 200, "quick": 3000, "full": 10000}  # per env; ~150 per random game


@pytest.fixture(scope="module")
def raw(profile):
    """Random play on the A2C env: its stepping rate and full-game return."""
    config = profile_config(profile)
    envs = make_envs(config)
    try:
        return random_play(config, envs, RANDOM_STEPS[profile])
    finally:
        envs.close()


def test_raw_env_stepping(benchmark, profile, raw):
    import numpy as np

    config = profile_config(profile)
    envs = make_envs(config)
    envs.reset(seed=0)
    rng = np.random.default_rng(0)
    actions = rng.integers(0, int(envs.single_action_space.n), (100, config.num_envs))

    def hundred_steps():
        for row in actions:
            envs.step(row)

    benchmark.group = f"a2c {GAME} N={config.num_envs}"
    benchmark.extra_info.update(
        num_envs=config.num_envs, frames_per_round=100 * config.num_envs * 4,
        random_mean_return=raw["mean_return"], random_std_return=raw["std_return"],
        random_games=raw["games"], settings=config.settings.as_dict(),
    )  # fmt: skip
    try:
        benchmark.pedantic(hundred_steps, rounds=ROUNDS[profile], iterations=1, warmup_rounds=1)
    finally:
        envs.close()
    frames = 100 * config.num_envs * config.settings.frame_skip
    benchmark.extra_info["frames_per_second"] = frames / benchmark.stats.stats.median


@pytest.mark.parametrize("cell, backend", RUNS, ids=[f"{c}-{b}" for c, b in RUNS])
def test_a2c_iteration(benchmark, profile, threads, request, raw, cell, backend):
    pytest.importorskip("torch" if backend == "torch" else "tensorflow")
    config = profile_config(profile, cell=cell)
    name = run_name(GAME, cell, backend, profile, config.seed)
    out = Path(request.config.getoption("--results")) / "a2c" / "train" / name
    summary = train_a2c(config, backend, out, resume=True, threads=threads, progress_bar=False)
    params, _, meta = checkpoint.load(out / checkpoint.NAME)
    spec = AgentSpec.from_config(summary["policy"])
    agent = make_agent(backend, spec, params, config, threads=threads)
    envs = make_envs(config)
    seed = env_seed(config, config.updates + 1)  # other games than training played
    collector = RolloutCollector(config, envs, state_shapes(spec, config.num_envs), seed,
                                 [config.seed, 99])  # fmt: skip

    def iteration():
        agent.update(collector.collect(agent.act), config.lr)

    iteration()  # warm-up (tracing, allocation)
    benchmark.group = f"a2c {GAME} N={config.num_envs}"
    try:
        benchmark.pedantic(iteration, rounds=ROUNDS[profile], iterations=1)
        rollout = collector.collect(agent.act)
    finally:
        envs.close()
    frames_per_second = config.frames_per_update / benchmark.stats.stats.median
    model_rate = config.frames_per_update / time_model_alone(agent, rollout, config.lr,
                                                             ROUNDS[profile])  # fmt: skip
    final, random_mean = summary["final_mean_return_100"], raw["mean_return"]
    benchmark.extra_info.update(
        cell=cell, backend=backend, impl=summary["impl"], threads=threads, profile=profile,
        frames_per_second=frames_per_second,
        raw_frames_per_second=raw["frames_per_second"],
        share_of_raw_rate=frames_per_second / raw["frames_per_second"],
        model_frames_per_second=model_rate,
        serial_ceiling=serial_ceiling(raw["frames_per_second"], model_rate),
        training_frames_per_second=summary["frames"] / max(meta["progress"]["seconds"], 1e-9),
        frames=summary["frames"], games=summary["games"], final_mean_return_100=final,
        random_mean_return=random_mean,
        return_vs_random=None if final is None or not random_mean else final / random_mean,
        **curve_summary(meta["progress"]["history"]),
        config=summary["config"],
    )  # fmt: skip
