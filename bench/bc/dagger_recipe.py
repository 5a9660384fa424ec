"""`cellbench train bc --dagger`: behavior cloning with DAgger rounds, as one resumable command.

The recipe the README measured on the full GRU in TF (54% of the expert over 20 full games,
against an idling policy without it):

1. Train the first 60% of the profile's schedule (6 of the full profile's 10 epochs) into
   `<out>-epoch<E>` (`train_bc(stop_after=E)`).
2. That checkpoint plays the DAgger rounds (`bench.bc.dagger.aggregate`), each on the dataset the
   previous one wrote: beta 0.5 for a fifth of the source's sequences, then beta 0.1 for two
   fifteenths (6,000 and 4,000 of 30,000). Beta 0.5 alone rarely reaches the state the policy
   fails in (the expert relaunches a lost ball at once), beta 0.1 lets it get there.
3. Continue the schedule on the last round's dataset into `out` (`continue_from`), then play
   the closed loop.

Each stage resumes as its own command does (checkpoints per epoch, shards per round), so the
same command with `--resume` after an interruption picks up where it stopped. The rounds'
datasets are `<dataset's folder>/<out's name>-round<k>`: every run plays its own.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from .. import checkpoint
from .dagger import aggregate
from .profiles import BCProfile, rounds_epoch
from .train import dataset_manifest, train_bc


@dataclasses.dataclass(frozen=True)
class DaggerRound:
    beta: float  # probability that a step executes the expert's action
    share: float  # new sequences, as a share of the source's training sequences


RECIPE = (DaggerRound(0.5, 0.2), DaggerRound(0.1, 2 / 15))


def stages(out: Path, dataset: Path, profile: BCProfile) -> tuple[Path, list[Path]]:
    """Where the recipe writes: the run stopped before the rounds, and each round's dataset."""
    before = out.with_name(f"{out.name}-epoch{rounds_epoch(profile)}")
    return before, [dataset.parent / f"{out.name}-round{k}" for k in range(1, len(RECIPE) + 1)]


def train_with_dagger(cell: str, backend: str, dataset: Path, out: Path, profile: BCProfile,
                      resume: bool = False, evaluate: bool = True, progress_bar: bool = True,
                      num_envs: int = 8, **options) -> dict:  # fmt: skip
    """The three stages above; returns the final run's summary (`train_bc`'s), whose dataset
    manifest lists the rounds under "dagger" and whose "continue_from" names the stopped run.
    `resume`: continue whichever stage was interrupted (each refuses to overwrite without it).
    `options`: `train_bc`'s seed, impl, threads and extractor, for both trainings.
    """
    dataset, out = Path(dataset), Path(out)
    before, round_sets = stages(out, dataset, profile)
    if (out / checkpoint.NAME).exists() and not resume:  # before the rounds, not after them
        raise ValueError(
            f"out: {out} already holds a checkpoint; pass --resume to continue it or choose "
            "another --out"
        )
    if not (out / checkpoint.NAME).exists():
        train_bc(cell, backend, dataset, before, profile, progress_bar=progress_bar,
                 resume=resume and (before / checkpoint.NAME).exists(),
                 stop_after=rounds_epoch(profile), **options)  # fmt: skip
    grown, source_count = dataset, _train_count(dataset)
    for plan, target in zip(RECIPE, round_sets):
        sequences = max(1, round(plan.share * source_count))
        grown, _ = aggregate(before, grown, target, sequences, plan.beta, num_envs=num_envs,
                             progress_bar=progress_bar)  # fmt: skip
    return train_bc(cell, backend, grown, out, profile, resume=resume, continue_from=before,
                    evaluate=evaluate, progress_bar=progress_bar, **options)  # fmt: skip


def _train_count(dataset: Path) -> int:
    return int(dataset_manifest(dataset)["counts"]["train"])
