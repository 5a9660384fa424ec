"""Behavior cloning per cell x backend: train to the profile's budget once, then time a
training step and a closed-loop evaluation game of the trained policy; extra_info holds what
the run achieved.

The dataset of the profile is generated on first use (data/<game>-<profile>, or under
$CELLBENCH_DATA); each run trains in results/bc/train/<name> and resumes there when interrupted.
extra_info: cell, backend, impl, threads, samples/s of the last epoch, final validation
accuracy and loss, closed-loop return (mean, std, games), epochs, the dataset's manifest summary.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("ale_py")

from bench import checkpoint  # noqa: E402
from bench.atari.generate import expert_mean  # noqa: E402
from bench.atari.sequences import read_manifest  # noqa: E402
from bench.atari.settings import AtariSettings  # noqa: E402
from bench.bc.evaluate import play  # noqa: E402
from bench.bc.profiles import get_profile  # noqa: E402
from bench.bc.spec import PolicySpec  # noqa: E402
from bench.bc.suite import ensure_dataset, run_name  # noqa: E402
from bench.bc.train import make_trainer, train_bc  # noqa: E402

GAME = "breakout"
# Every torch run before every TF one (TF's thread pools disturb torch timings once started);
# per cell x backend, a training step, then an evaluation game.
KINDS = ("train_step", "eval_game")
RUNS = [(cell, backend, kind) for backend in ("torch", "tf")
        for cell in ("lstm", "gru", "cfc", "ltc") for kind in KINDS]  # fmt: skip


@dataclasses.dataclass
class TrainedRun:
    summary: dict
    trainer: object  # the backend's trainer, holding the trained weights
    dataset: Path
    profile: object  # BCProfile


_TRAINED: dict[tuple[str, str], TrainedRun] = {}


def trained_run(cell: str, backend: str, profile: str, threads: int, request) -> TrainedRun:
    """The cell x backend run trained to the profile's budget (once per session; a finished
    run in results/ is reused, an interrupted one resumed), with a trainer holding its weights."""
    if (cell, backend) not in _TRAINED:
        pytest.importorskip("torch" if backend == "torch" else "tensorflow")
        bc_profile = get_profile(profile)
        dataset = ensure_dataset(GAME, bc_profile)
        name = run_name(GAME, cell, backend, profile, seed=0)
        out = Path(request.config.getoption("--results")) / "bc" / "train" / name
        summary = train_bc(cell, backend, dataset, out, bc_profile, seed=0, resume=True,
                           threads=threads, progress_bar=False)  # fmt: skip
        params, _, _ = checkpoint.load(out / checkpoint.NAME)
        spec = PolicySpec.from_config(summary["policy"])
        trainer = make_trainer(backend, spec, params, bc_profile.lr, None, threads)
        _TRAINED[cell, backend] = TrainedRun(summary, trainer, dataset, bc_profile)
    return _TRAINED[cell, backend]


def _run_info(run: TrainedRun, cell: str, backend: str, profile: str, threads: int) -> dict:
    final, played = run.summary["final"], run.summary["closed_loop"]
    manifest = run.summary["dataset"]["manifest"]
    return dict(
        cell=cell,
        backend=backend,
        impl=run.summary["impl"],
        threads=threads,
        profile=profile,
        epochs=final["epoch"],
        samples_per_second=final["samples_per_second"],
        val_accuracy=final["val_accuracy"],
        val_loss=final["val_loss"],
        closed_loop_mean=played["mean"],
        closed_loop_std=played["std"],
        closed_loop_games=len(played["returns"]),
        closed_loop_truncated=played["truncated"],
        expert_agreement=played.get("expert_agreement"),  # on the policy's own states
        # the full-game score (None until `cellbench dataset score`), as the dataset holds it now
        dataset={"counts": manifest["counts"], "seed": manifest["seed"],
                 "expert_mean": expert_mean(read_manifest(run.dataset) or manifest)},
    )  # fmt: skip


@pytest.mark.parametrize("cell, backend, kind", RUNS, ids=[f"{c}-{b}-{k}" for c, b, k in RUNS])
def test_bc(benchmark, profile, threads, request, cell, backend, kind):
    run = trained_run(cell, backend, profile, threads, request)
    benchmark.extra_info.update(_run_info(run, cell, backend, profile, threads), kind=kind)
    (time_train_step if kind == "train_step" else time_eval_game)(benchmark, run, profile)


def time_train_step(benchmark, run: TrainedRun, profile: str) -> None:
    """One Adam step of the trained policy on a training batch."""
    trainer, bc_profile = run.trainer, run.profile
    obs, actions = next(iter(trainer.batches(run.dataset, "train", bc_profile.batch_size, 0, 0)))
    trainer.train_step(obs, actions)  # warm-up (tracing, allocation)
    benchmark.group = f"bc train step {GAME} B={bc_profile.batch_size} T=32"
    rounds = {"smoke": 2, "quick": 5, "full": 10}[profile]
    benchmark.pedantic(trainer.train_step, args=(obs, actions), rounds=rounds, iterations=1)
    benchmark.extra_info["timed_samples_per_second"] = (
        int(np.prod(np.shape(actions))) / benchmark.stats.stats.median
    )


def time_eval_game(benchmark, run: TrainedRun, profile: str) -> None:
    """One closed-loop game of the trained policy (one env, greedy actions, the state carried),
    to game over or the profile's step cap: what evaluating a policy costs per game."""
    settings = AtariSettings.from_dict(run.summary["dataset"]["manifest"]["settings"])
    cap = run.profile.eval_max_steps
    # The expert's watch (expert_agreement) is off: it would be timed with the policy.
    play(run.trainer, settings, 1, seed=0, max_steps=8, expert_agreement=False)  # warm-up
    games = []

    def one_game():
        games.append(play(run.trainer, settings, 1, seed=len(games) + 2000, max_steps=cap,
                          expert_agreement=False))  # fmt: skip

    benchmark.group = f"bc evaluation game {GAME} (1 env, at most {cap} steps)"
    rounds = {"smoke": 2, "quick": 2, "full": 3}[profile]
    benchmark.pedantic(one_game, rounds=rounds, iterations=1)
    steps = sum(game["steps"] for game in games)
    seconds = sum(benchmark.stats.stats.data)
    benchmark.extra_info.update(
        eval_returns=[game["mean"] for game in games],
        eval_steps=[game["steps"] for game in games],
        eval_truncated=sum(game["truncated"] for game in games),
        eval_steps_per_second=steps / seconds,
    )
