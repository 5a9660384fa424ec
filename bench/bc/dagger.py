"""`cellbench dataset dagger`: the cloned policy plays, the expert labels, the data grows.

DAgger (Ross, Gordon and Bagnell, 2011, "A Reduction of Imitation Learning and Structured
Prediction to No-Regret Online Learning"): a policy cloned from the expert's games meets states
the expert never led to, and fails there (the README's Breakout GRU agrees with the expert on
84% of validation steps and on 3% of the steps of its own games). DAgger lets the policy play,
has the expert label every step it reaches, and trains on the union. The scripted expert reads
the RAM, so it can label any state: no human in the loop.

Each step the game receives the expert's action with probability `beta`, else the policy's
(the paper's mixture policy; beta = 0 is the policy alone). Either way the policy's recurrent
state follows the frames, as in closed-loop play: the state is carried from step to step and
zeroed at a new episode, so the data holds the states the policy's own play builds. Train on
it with `--carry-state` to show the model those states.

The new dataset is the source's files (hard links where the file system allows, else copies)
plus the new training sequences after them, in shards of consecutive sequences of one game, as
`generate` writes them (resumable the same way: shard k is played from its seed alone, files
are written atomically, a re-run replays unfinished shards and keeps the files there).
Validation stays the expert's, so validation accuracy compares across rounds. The manifest
keeps the source's and lists each round under "dagger": the run and checkpoint that played,
beta, the returns of the games that ended, and the expert's agreement with the policy.

    cellbench dataset dagger results/bc/train/RUN --dataset data/breakout-full
    cellbench train bc ... --dataset data/breakout-full-dagger1 --continue-from results/bc/train/RUN
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .. import checkpoint
from ..atari.generate import (
    ShardSlot,
    dataset_draws,
    load_progress,
    pending_shards,
    plan_shards,
    wave_expert,
    waves,
)
from ..atari.sequences import MANIFEST, SPLITS, list_split, sequence_path
from ..atari.settings import AtariSettings
from ..results import machine_info, sole_writer, write_json_atomic
from .spec import PolicySpec
from .train import dataset_manifest, make_trainer

PROGRESS = "dagger-progress.json"  # not generate's: `ensure_dataset` must not regenerate here
_MIX_STREAM = 3  # after ShardSlot's perturbation streams (1, 2) of the same shard seed


def aggregate(
    run: str | Path,
    dataset: str | Path,
    out: str | Path | None = None,
    sequences: int | None = None,
    beta: float = 0.5,
    seed: int | None = None,
    num_envs: int = 8,
    progress_bar: bool = True,
    on_sequence: Callable[[bool], None] | None = None,
) -> tuple[Path, dict]:
    """One DAgger round: `run`'s checkpoint plays, the expert labels; returns `out` and the
    manifest it wrote there (source + new sequences).

    Args:
        run: a BC run folder holding checkpoint.npz (its last finished epoch plays).
        dataset: the dataset it trained on (or any of the same game), with a manifest.
        out: the new dataset (default: `dataset` + "-dagger<round>", replacing the round
            number a grown dataset's name ends in).
        sequences: new training sequences (default: a fifth of the source's).
        beta: probability that a step executes the expert's action instead of the policy's.
        seed: seed of the games (default: the source's seed + the round number, so the
            round's games are not the source's).
        num_envs: games played side by side, one policy batch (in this process).
        on_sequence: called after each new sequence with True when its file was new.
    """
    from tqdm import tqdm

    from ..atari.experts import make_expert

    run, dataset = Path(run), Path(dataset)
    source = dataset_manifest(dataset)
    rounds = list(source.get("dagger", []))
    number = len(rounds) + 1
    if out is None:  # data/breakout-full -> data/breakout-full-dagger1 -> ...-dagger2
        out = dataset.with_name(re.sub(r"-dagger\d+$", "", dataset.name) + f"-dagger{number}")
    out = Path(out)
    sequences = max(1, source["counts"]["train"] // 5) if sequences is None else sequences
    seed = int(source["seed"]) + number if seed is None else seed
    _check_arguments(sequences, beta, seed, num_envs, dataset, out)
    settings = AtariSettings.from_dict(source["settings"])
    make_expert(settings.game, 1)  # no expert for this game: fail before anything is written
    params, meta, digest = _load_run(run, settings.game)
    files = _source_files(dataset, source["counts"])
    counts = {split: len(paths) for split, paths in files.items()}
    identity = {"source": str(dataset.resolve()), "source_counts": counts,
                "run": str(run.resolve()), "checkpoint_sha256": digest, "sequences": sequences,
                "beta": float(beta), "seed": seed,
                "shard_size": int(source.get("shard_size", 64))}  # fmt: skip
    with sole_writer(out, "out"):
        progress = load_progress(out / PROGRESS, identity)
        write_json_atomic(out / PROGRESS, progress)  # before any .npz: marks the folder ours
        # Seeded as `generate` seeds a dataset of `sequences` (so beta = 1 writes its files),
        # numbered after the source's.
        planned = plan_shards({"train": sequences}, seed, identity["shard_size"])
        shards = [
            dataclasses.replace(shard, first=shard.first + counts["train"]) for shard in planned
        ]
        pending = pending_shards(shards, progress, out)
        if not pending and (out / MANIFEST).exists():  # a finished round: keep its record as it is
            return out, dataset_manifest(out)
        _link_source(files, out)
        spec = PolicySpec.from_config(meta["policy"])
        trainer = make_trainer(meta["backend"], spec, params, 1e-3, meta.get("impl"))
        done = sequences - sum(s.count for s in pending)
        bar = tqdm(total=sequences, initial=done, unit="seq", disable=not progress_bar,
                   desc=f"{settings.game} DAgger round {number}")  # fmt: skip

        def sequence_done(new: bool) -> None:
            bar.update(1)
            if on_sequence is not None:
                on_sequence(new)

        started = time.perf_counter()
        try:
            _play_shards(trainer, settings, pending, out, progress, beta, num_envs, sequence_done,
                         dataset_draws(source))  # fmt: skip
        finally:
            bar.close()
        records = progress["shards"].values()
        recorded = sum(r["recorded"] for r in records)
        this_round = {
            **{key: identity[key] for key in ("run", "checkpoint_sha256", "beta", "seed")},
            "source": str(dataset),
            "cell": spec.cell.name,
            "backend": meta["backend"],
            "epochs_done": meta["epochs_done"],
            "first": counts["train"],
            "sequences": sequences,
            "returns": [ret for r in records for ret in r["returns"]],
            # The share of recorded steps on which the policy chose the expert's action (whichever
            # was executed): `evaluate.play`'s expert_agreement, on this round's games.
            "expert_agreement": sum(r["agreed"] for r in records) / recorded,
            "policy_executed": sum(r["policy_executed"] for r in records) / recorded,
            "seconds_this_run": time.perf_counter() - started,
            "machine": machine_info(),
        }
        grown = {"train": counts["train"] + sequences, "val": counts["val"]}
        manifest = {**source, "counts": grown, "dagger": rounds + [this_round]}
        manifest.pop("this_run", None)  # the source's generation, not this folder's
        write_json_atomic(out / MANIFEST, manifest)
        return out, manifest


def _play_shards(trainer, settings, pending, out, progress, beta, num_envs, on_sequence,
                 draws) -> None:  # fmt: skip
    """Play the pending shards in waves of `num_envs`, recording each finished one (returns,
    steps, tallies) in `progress`, which is written after every wave. `draws`: the source
    dataset's expert draws (`generate.EXPERT_DRAWS`), so that the round's labels are its
    expert's."""
    from ..atari.envs import make_expert_vector_env

    envs = make_expert_vector_env(settings, min(num_envs, max(len(pending), 1)), asynchronous=False)
    try:
        for wave in waves(pending, envs.num_envs):
            for slot, tally in _play_wave(envs, trainer, wave, settings, out, beta, on_sequence,
                                          draws):  # fmt: skip
                if slot.shard is not None:
                    progress["shards"][slot.shard.key] = {"returns": slot.returns,
                                                          "steps": slot.steps, **tally}  # fmt: skip
            write_json_atomic(out / PROGRESS, progress)
    finally:
        envs.close()


def _play_wave(envs, trainer, shards, settings, directory, beta, on_sequence, draws) -> list:
    """Play one shard per sub-env until each is written; returns (slot, tally) pairs, tally
    counting the recorded steps, those where the policy chose the expert's action, and those
    where the policy's action was executed."""
    expert = wave_expert(shards, settings.game, draws)
    slots = [ShardSlot(shard, directory, expert, i) for i, shard in enumerate(shards)]
    mixers = [np.random.default_rng([shard.seed, _MIX_STREAM]) if shard else None
              for shard in shards]  # fmt: skip
    tallies = [{"recorded": 0, "agreed": 0, "policy_executed": 0} for _ in slots]
    observations, info = envs.reset(seed=[shard.seed if shard else 0 for shard in shards])
    for slot in slots:
        if slot.active:
            slot.new_episode()
    state = None
    while any(slot.active for slot in slots):
        chosen, state = trainer.act(observations, state)
        actions = np.array(chosen, dtype=np.int64)
        expert_actions = expert.act(info["ram"])  # every env's, finished shards' too (ignored)
        for i, slot in enumerate(slots):
            if not slot.active:
                continue
            wanted = int(expert_actions[i])
            recorded = not slot.awaiting_reset  # the step after a game's end is not data
            slot.record(observations[i], wanted)
            expert_plays = mixers[i].random() < beta
            if expert_plays:
                actions[i] = wanted
            if recorded:
                tallies[i]["recorded"] += 1
                tallies[i]["agreed"] += int(chosen[i] == wanted)
                tallies[i]["policy_executed"] += int(not expert_plays)
        if (actions != expert_actions).any():  # its sticky-action model tracks the game
            expert.sent(actions)  # (where equal, this repeats what `act` recorded)
        observations, rewards, terminated, truncated, info = envs.step(actions)
        began = np.array([slot.active and slot.stepped(rewards[i], terminated[i] or truncated[i],
                                                       on_sequence)
                          for i, slot in enumerate(slots)])  # fmt: skip
        if began.any():
            state = trainer.reset_state(state, began)
    return list(zip(slots, tallies))


def _check_arguments(sequences, beta, seed, num_envs, dataset: Path, out: Path) -> None:
    for name, value, low in (("sequences", sequences, 1), ("num_envs", num_envs, 1),
                             ("seed", seed, 0)):  # fmt: skip
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name}: expected an integer >= {low}, got {value!r}")
    if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not 0 <= beta <= 1:
        raise ValueError(f"beta: expected a probability in [0, 1], got {beta!r}")
    if out.resolve() == dataset.resolve():
        raise ValueError(f"out: {out} is the source dataset; a round writes a new folder")


def _load_run(run: Path, game: str) -> tuple[dict, dict, str]:
    """The run's checkpoint: (params, meta, sha256 of the file)."""
    path = run / checkpoint.NAME
    if not path.exists():
        raise FileNotFoundError(
            f"run: {run} holds no {checkpoint.NAME}; train it with `cellbench train bc` first"
        )
    params, _, meta = checkpoint.load(path)
    if meta.get("dataset_game") != game:
        raise ValueError(
            f"run: {run} was trained on {meta.get('dataset_game')!r}, the dataset is {game!r}"
        )
    return params, meta, hashlib.sha256(path.read_bytes()).hexdigest()


def _source_files(dataset: Path, counts: dict[str, int]) -> dict[str, list[Path]]:
    """Each split's files, listed once; each split must be numbered 0..n-1, since new files
    follow them. A split the manifest `counts` as 0 (`generate --val 0`) has none."""
    files = {}
    for split in SPLITS:
        files[split] = list_split(dataset, split) if counts.get(split) != 0 else []
        indices = [int(p.stem.split("_")[1]) for p in files[split]]
        if indices != list(range(len(indices))):
            raise ValueError(
                f"dataset: the {split} files of {dataset} are not numbered 0..{len(indices) - 1} "
                "(missing files?); check it with `cellbench dataset check`"
            )
    return files


def _link_source(files: dict[str, list[Path]], out: Path) -> None:
    """The source's files into `out`, as hard links (no space) or, across file systems,
    copies written atomically; files already there are kept."""
    for split, paths in files.items():
        for index, path in enumerate(paths):
            target = sequence_path(out, split, index)
            if target.exists():
                continue
            try:
                os.link(path, target)
            except OSError:
                partial = target.with_suffix(".partial")
                shutil.copyfile(path, partial)
                os.replace(partial, target)
