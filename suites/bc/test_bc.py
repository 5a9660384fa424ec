"""Behavior cloning per cell x backend: train to the profile's budget once, then time a
training step of the trained policy; extra_info holds what the run achieved.

The dataset of the profile is generated on first use (data/<game>-<profile>, or under
$CELLBENCH_DATA); each run trains in results/bc/train/<name> and resumes there when interrupted.
extra_info: cell, backend, impl, threads, samples/s of the last epoch, final validation
accuracy and loss, closed-loop return (mean, std, games), epochs, the dataset's manifest summary.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("ale_py")

from bench import checkpoint  # noqa: E402
from bench.bc.profiles import get_profile  # noqa: E402
from bench.bc.suite import ensure_dataset, run_name  # noqa: E402
from bench.bc.train import make_trainer, train_bc  # noqa: E402

GAME = "breakout"
# Every torch run before every TF one (TF's thread pools disturb torch timings once started).
RUNS = [(cell, backend) for backend in ("torch", "tf") for cell in ("lstm", "gru", "cfc", "ltc")]


@pytest.mark.parametrize("cell, backend", RUNS, ids=[f"{c}-{b}" for c, b in RUNS])
def test_bc_train_step(benchmark, profile, threads, request, cell, backend):
    pytest.importorskip("torch" if backend == "torch" else "tensorflow")
    bc_profile = get_profile(profile)
    dataset = ensure_dataset(GAME, bc_profile)
    name = run_name(GAME, cell, backend, profile, seed=0)
    out = Path(request.config.getoption("--results")) / "bc" / "train" / name
    summary = train_bc(cell, backend, dataset, out, bc_profile, seed=0, resume=True,
                       threads=threads, progress_bar=False)  # fmt: skip
    params, _, _ = checkpoint.load(out / checkpoint.NAME)
    trainer = make_trainer(backend, _spec_of(summary), params, bc_profile.lr, None, threads)
    obs, actions = next(iter(trainer.batches(dataset, "train", bc_profile.batch_size, 0, 0)))
    trainer.train_step(obs, actions)  # warm-up (tracing, allocation)
    benchmark.group = f"bc train step {GAME} B={bc_profile.batch_size} T=32"
    final, played, manifest = (
        summary["final"],
        summary["closed_loop"],
        summary["dataset"]["manifest"],
    )
    benchmark.extra_info.update(
        cell=cell,
        backend=backend,
        impl=summary["impl"],
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
        dataset={"counts": manifest["counts"], "seed": manifest["seed"],
                 "expert_mean": manifest["expert_returns"]["mean"]},
    )  # fmt: skip
    rounds = {"smoke": 2, "quick": 5, "full": 10}[profile]
    benchmark.pedantic(trainer.train_step, args=(obs, actions), rounds=rounds, iterations=1)
    benchmark.extra_info["timed_samples_per_second"] = (
        int(np.prod(np.shape(actions))) / benchmark.stats.stats.median
    )


def _spec_of(summary):
    from bench.bc.spec import PolicySpec

    return PolicySpec.from_config(summary["policy"])
