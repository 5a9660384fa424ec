"""`cellbench train a2c`: synchronous recurrent A2C on an ALE vector env, in torch or TF.

One loop for both frameworks: the same config, canonical initial weights, env seeds, action draws
(numpy, `rollout.sample_actions`), rollouts and logging; only the agent (`torch_agent`,
`tf_agent`) differs. Per update: collect n_steps x num_envs steps, one optimizer step. Every
`log_every` frames a metrics row; every `checkpoint_every` frames and at the end a checkpoint
(atomic); `resume=True` continues from it with fresh games (an env's state cannot be saved, so
the games in progress at the checkpoint are dropped). Everything lands in `out`:

    metrics.csv     update, frames, episodes, seconds, frames_per_second, mean_return_100,
                    policy_loss, value_loss, entropy, grad_norm (means since the previous row),
                    dead_features (`features.dead_share` on the row's last rollout)
    episodes.csv    frames, episode, return, length: every finished full game (raw score)
    checkpoint.npz  `bench.checkpoint`
    summary.json    config, settings, final figures, machine
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np

from .. import checkpoint
from ..atari.envs import make_vector_env
from ..backends import DEFAULT_IMPL, backend_class
from ..results import csv_text, machine_info, sole_writer, write_json_atomic, write_text_atomic
from ..tensorboard import make_logger
from .config import A2CConfig, stored_config
from .features import dead_share
from .losses import STATS
from .rollout import RolloutCollector
from .spec import AgentSpec, make_agent_spec


def make_agent(backend: str, spec: AgentSpec, params, config: A2CConfig, impl: str | None = None,
               threads: int | None = None):  # fmt: skip
    agent = backend_class(backend, "bench.a2c.torch_agent:TorchAgent",
                          "bench.a2c.tf_agent:TFAgent")  # fmt: skip
    return agent(spec, params, config, impl or DEFAULT_IMPL[backend], threads)


def make_envs(config: A2CConfig, num_threads: int = 0):
    """The run's vector env: full games with raw rewards (the learner applies episodic life and
    clipping itself, see `config`)."""
    settings = dataclasses.replace(config.settings, episodic_life=False, clip_rewards=False)
    return make_vector_env(settings, config.num_envs, num_threads)


def state_shapes(spec: AgentSpec, num_envs: int) -> list[tuple[int, int]]:
    return [(num_envs, spec.cell.state_size)] * spec.cell.state_arity


def env_seed(config: A2CConfig, updates_done: int) -> int:
    """Env seed of a (re)start: a resumed run plays other games than the first start did."""
    return int(np.random.SeedSequence([config.seed, updates_done]).generate_state(1)[0] >> 1)


def learning_rate(config: A2CConfig, update: int) -> float:
    """Linear decay to 0 over the budget (baselines' schedule), or constant."""
    return config.lr * (1.0 - update / config.updates) if config.lr_decay else config.lr


def train_a2c(
    config: A2CConfig,
    backend: str,
    out: Path,
    resume: bool = False,
    impl: str | None = None,
    threads: int | None = None,
    progress_bar: bool = True,
) -> dict:
    """Train to `config.frames`, writing metrics, episodes and checkpoints; returns the summary.
    Only one process writes `out` at a time; another is refused at once."""
    with sole_writer(out, "out"):
        return _train_a2c(config, backend, Path(out), resume, impl, threads, progress_bar)


def _train_a2c(config, backend, out, resume, impl, threads, progress_bar) -> dict:
    """`train_a2c` with `out` locked."""
    envs = make_envs(config)
    try:
        spec = make_agent_spec(config.cell, int(envs.single_action_space.n), config.units)
        identity = {"policy": spec.to_config(), "backend": backend, "game": config.settings.game}
        params, optimizer_state, progress = _start(spec, config, identity, out, resume)
        agent = make_agent(backend, spec, params, config, impl, threads)
        if optimizer_state is not None:
            agent.load_optimizer_state(optimizer_state)
        collector = RolloutCollector(config, envs, state_shapes(spec, config.num_envs),
                                     env_seed(config, progress["updates"]),
                                     [config.seed, 7, progress["updates"]])  # fmt: skip
        collector.games.frames, collector.games.games = progress["frames"], progress["games"]
        meta = {**identity, "impl": impl or DEFAULT_IMPL[backend], "config": config.as_dict()}
        log, close_log = make_logger(backend, out, step="frames")
        try:
            _train_updates(agent, collector, config, out, progress, meta, log, progress_bar)
        finally:
            close_log()
    finally:
        envs.close()
    history = progress["history"]
    summary = {
        **meta,
        "cell": config.cell,
        "seed": config.seed,
        "settings": config.settings.as_dict(),
        "frames": collector.games.frames,
        "updates": progress["updates"],
        "games": len(collector.games.games),
        "final_mean_return_100": collector.games.mean_return(100),
        "frames_per_second": history[-1]["frames_per_second"] if history else None,
        "training_seconds": progress["seconds"],  # every session of the run
        "machine": machine_info(),
    }
    write_json_atomic(out / "summary.json", summary)
    return summary


def _start(spec: AgentSpec, config: A2CConfig, identity: dict, out: Path, resume: bool):
    """(params, optimizer state or None, progress) of a new or resumed run."""
    path = out / checkpoint.NAME
    fresh = {"updates": 0, "frames": 0, "games": [], "history": [], "seconds": 0.0}
    if path.exists() and not resume:
        raise ValueError(
            f"out: {out} already holds a checkpoint; pass --resume to continue it or choose "
            "another --out"
        )
    if not path.exists():
        return spec.init_params(config.seed), None, fresh
    params, optimizer_state, meta = checkpoint.load(path)
    checkpoint.check_compatible(meta, identity, path)
    saved = _resumable(stored_config(meta.get("config", {})))
    now = _resumable(config.as_dict())
    changed = sorted(key for key in now if saved.get(key) != now[key])
    if changed:
        raise ValueError(
            f"checkpoint: {path} was written with other settings: "
            + ", ".join(f"{key}={saved.get(key)!r} (now {now[key]!r})" for key in changed)
            + "; only the frame budget and the log/checkpoint intervals may change on --resume"
        )
    return spec.check_params(params, f"checkpoint {path}"), optimizer_state, meta["progress"]


def _resumable(config: dict) -> dict:
    """The settings a resumed run must share with its checkpoint."""
    return {k: v for k, v in config.items() if k not in ("frames", "log_every", "checkpoint_every")}


def _train_updates(agent, collector, config, out, progress, meta, log, progress_bar) -> None:
    """Updates until the budget; metrics rows, files and checkpoints on the way; adds this
    call's wall time to progress["seconds"]."""
    from tqdm import tqdm

    games = collector.games
    sums, count = dict.fromkeys(STATS, 0.0), 0
    # On the grid of multiples of the intervals, also after a resume.
    next_log = _next_multiple(progress["frames"], config.log_every)
    next_checkpoint = _next_multiple(progress["frames"], config.checkpoint_every)
    started = interval_start = time.perf_counter()
    interval_frames = progress["frames"]
    bar = tqdm(total=config.frames, initial=progress["frames"], unit="frame", unit_scale=True,
               desc=f"a2c {config.cell}/{agent.backend}", disable=not progress_bar)  # fmt: skip
    with bar:
        while progress["updates"] < config.updates:
            rollout = collector.collect(agent.act)
            stats = agent.update(rollout, learning_rate(config, progress["updates"]))
            if not np.isfinite(stats["loss"]):
                raise FloatingPointError(
                    f"A2C diverged at update {progress['updates'] + 1}: the loss is not finite"
                )
            progress["updates"] += 1
            progress["frames"] = games.frames
            sums = {key: sums[key] + stats[key] for key in STATS}
            count += 1
            bar.update(games.frames - bar.n)
            last = progress["updates"] >= config.updates
            if games.frames >= next_log or last:
                now = time.perf_counter()
                row = {
                    "update": progress["updates"],
                    "frames": games.frames,
                    "episodes": len(games.games),
                    "seconds": progress["seconds"] + now - started,
                    "frames_per_second": (games.frames - interval_frames) / (now - interval_start),
                    "mean_return_100": games.mean_return(100),
                    **{key: sums[key] / count for key in STATS if key != "loss"},
                    "dead_features": dead_share(agent.features(rollout.obs)),
                }
                progress["history"].append(row)
                write_text_atomic(out / "metrics.csv", csv_text(progress["history"]))
                write_text_atomic(out / "episodes.csv", csv_text(games.games))
                if log is not None:
                    log({k: v for k, v in row.items() if v is not None})
                mean = row["mean_return_100"]
                bar.set_postfix(ret=f"{mean:.1f}" if mean is not None else "-",
                                fps=f"{row['frames_per_second']:.0f}")  # fmt: skip
                sums, count = dict.fromkeys(STATS, 0.0), 0
                interval_start, interval_frames = time.perf_counter(), games.frames
                next_log = _next_multiple(games.frames, config.log_every)
            if games.frames >= next_checkpoint or last:
                progress["games"] = games.games
                progress_now = {**progress, "seconds": progress["seconds"]
                                + time.perf_counter() - started}  # fmt: skip
                checkpoint.save(out, agent.export_params(), agent.optimizer_state(),
                                {**meta, "progress": progress_now})  # fmt: skip
                next_checkpoint = _next_multiple(games.frames, config.checkpoint_every)
    progress["seconds"] += time.perf_counter() - started


def _next_multiple(frames: int, every: int) -> int:
    return (frames // every + 1) * every
