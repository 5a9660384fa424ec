"""`cellbench dataset generate`: the scripted expert plays, and its sequences become the dataset.

Determinism and resuming rest on one idea: the dataset is cut into shards of `shard_size`
sequences, and shard k of a split is played by one env seeded from (seed, split, k) alone, with
an expert of its own (a row of the wave's batched expert, which no other row touches). A
shard's files therefore do not depend on which other shards ran beside it, on the number of
envs, or on earlier interruptions. Files are written atomically as
soon as a sequence is complete; on a re-run, shards whose files all exist are skipped and any
other shard is replayed from its seed (files already there are kept, not rewritten).

Sequences are 32 consecutive agent steps of one episode (the tail of an episode shorter than
32 steps is dropped), each step the observation the expert saw and the action it chose. The
action the game receives can differ: sticky actions repeat the previous one, and
`Perturbations` can miss the expert's FIREs and hold it off for runs of steps, so the data shows
states the expert alone never visits, labelled with what it would do there (see
`Perturbations`).
Episodes are full games; every episode that ended inside a shard has its return in the
manifest's "expert_returns". A shard stops after 64 x 32 steps, so only short games end there:
that sample is biased low (6 games averaging 314 on Breakout's full dataset, against 600 over
20 full games). `score_expert` plays full games and writes the unbiased "expert_score", which
the report and the BC targets use.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..results import machine_info, sole_writer, write_json_atomic
from .sequences import (
    MANIFEST,
    SEQUENCE_LENGTH,
    SPLITS,
    read_manifest,
    save_sequence,
    sequence_path,
)
from .settings import AtariSettings

PROGRESS = "progress.json"
NOOP = 0  # action 0 of every ALE game's minimal action set
_SPLIT_CODE = {"train": 0, "val": 1}
# Whose sticky-action draws a shard's expert plans with (`experts.BreakoutExpert.repeats`).
# "fixed": the draws of seed FIXED_DRAWS_SEED in every shard, so the whole dataset is labelled
# by one expert, the one `score_expert` scores. "per_shard": each shard's own seed, as datasets
# were generated before "expert_draws" was recorded. Experts of different draws disagree on
# about 15% of the states (README), so per-shard labels mix experts a frame-based policy
# cannot tell apart.
EXPERT_DRAWS = ("fixed", "per_shard")
FIXED_DRAWS_SEED = 0
LEGACY_DRAWS = "per_shard"  # a dataset whose record has no "expert_draws"


def check_draws(draws: str) -> None:
    if draws not in EXPERT_DRAWS:
        raise ValueError(f"expert_draws: expected one of {list(EXPERT_DRAWS)}, got {draws!r}")


def expert_seed(shard: Shard, draws: str) -> int:
    """The seed of the sticky-action draws `shard`'s expert plans with (see EXPERT_DRAWS)."""
    check_draws(draws)
    return FIXED_DRAWS_SEED if draws == "fixed" else shard.seed


def dataset_draws(manifest: dict) -> str:
    """A dataset manifest's (or progress record's) expert draws, LEGACY_DRAWS when unrecorded."""
    return manifest.get("expert_draws", LEGACY_DRAWS)


@dataclasses.dataclass(frozen=True)
class Perturbations:
    """What the game receives instead of the expert's choice, which the data still records.

    This is DART's idea (Laskey et al., 2017, "DART: Noise Injection for Robust Imitation
    Learning"): a policy cloned from the expert's own games never sees the states its own
    mistakes lead to, and there it has nothing to copy. Perturbing what the expert executes
    puts such states into the data, each labelled with the expert's correction. Measured on
    Breakout (README): a full-profile GRU that agrees with the expert on 84% of validation
    steps agrees on only 22% of the steps of its own games, where the expert wants to move and
    the policy holds still.

    fire_miss: probability that a FIRE the expert chooses reaches the game as NOOP. Breakout
        needs FIRE to launch each ball and the expert presses it the step the ball is lost,
        so without misses the data holds almost no frame of a game waiting for its launch.
        0.75 alone did not stop cloned GRUs from idling after a lost life (README).
    hold: probability per step that a hold starts: for a geometric number of steps with mean
        `hold_steps`, the game receives one action drawn uniformly from those without FIRE
        (NOOP, RIGHT, LEFT on Breakout), so the paddle lags, overshoots or wanders, and
        waiting games wait longer. Steps are held a share hold * hold_steps / (1 + hold *
        hold_steps) of the time (0.19 at hold 0.03, hold_steps 8).
    """

    fire_miss: float = 0.0
    hold: float = 0.0
    hold_steps: float = 8.0

    def __post_init__(self):
        for name in ("fire_miss", "hold"):
            value = getattr(self, name)
            is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
            if not is_number or not 0 <= value < 1:
                raise ValueError(f"{name}: expected a probability in [0, 1), got {value!r}")
        steps = self.hold_steps
        if isinstance(steps, bool) or not isinstance(steps, (int, float)) or not steps >= 1:
            raise ValueError(f"hold_steps: expected a mean length >= 1, got {steps!r}")

    def identity(self) -> dict:
        """What a resume must match. Holds are left out while off, so datasets generated
        before they existed still resume."""
        if self.hold == 0:
            return {"fire_miss": float(self.fire_miss)}
        return {key: float(value) for key, value in dataclasses.asdict(self).items()}


@dataclasses.dataclass(frozen=True)
class Shard:
    split: str
    number: int
    first: int  # index of its first file in the split
    count: int
    seed: int

    @property
    def key(self) -> str:
        return f"{self.split}/{self.number}"

    def paths(self, directory: Path) -> list[Path]:
        return [sequence_path(directory, self.split, self.first + j) for j in range(self.count)]


def plan_shards(counts: dict[str, int], seed: int, shard_size: int) -> list[Shard]:
    """Every shard of every split, in order."""
    shards = []
    for split in SPLITS:
        total = counts.get(split, 0)
        for number, first in enumerate(range(0, total, shard_size)):
            state = np.random.SeedSequence([seed, _SPLIT_CODE[split], number]).generate_state(1)
            count = min(shard_size, total - first)
            shards.append(Shard(split, number, first, count, int(state[0])))
    return shards


def pending_shards(shards: list[Shard], progress: dict, directory: Path) -> list[Shard]:
    """Shards still to play: not recorded as done, or with a file missing."""
    return [
        s
        for s in shards
        if s.key not in progress["shards"] or not all(p.exists() for p in s.paths(directory))
    ]


def waves(pending: list[Shard], width: int) -> list[list[Shard | None]]:
    """`pending` in groups of `width`, one shard per sub-env; the last padded with None."""
    groups = [pending[start : start + width] for start in range(0, len(pending), width)]
    return [group + [None] * (width - len(group)) for group in groups]


def wave_expert(shards: list[Shard | None], game: str, draws: str):
    """One expert for a wave of shards, env i planning with shard i's draws (`expert_seed`).
    Each env's actions are those of an expert of its own (the rows do not mix; the files are
    the same byte for byte as with one expert per shard), but one batched plan costs far less
    than a plan per env, whose time numpy's per-call overhead dominates."""
    from .experts import make_expert

    seeds = [expert_seed(shard, draws) if shard else FIXED_DRAWS_SEED for shard in shards]
    return make_expert(game, len(shards), seed=seeds)


class ShardSlot:
    """One sub-env playing one shard: its env's row `index` of the wave's expert, the sequence
    being filled, its returns. A wave of slots steps a vector env: per step, `record` the
    observation and the expert's action, step the env, then `stepped`."""

    def __init__(self, shard: Shard | None, directory: Path, expert, index: int):
        self.shard = shard
        # Draws of the perturbations: from the shard's seed alone, like its env; one stream
        # each, so datasets without holds keep the misses they had before holds existed.
        self.misses = np.random.default_rng([shard.seed, 1]) if shard else None
        self.holds = np.random.default_rng([shard.seed, 2]) if shard else None
        self.hold_left, self.held = 0, NOOP
        self.directory = directory
        self.expert, self.index = expert, index
        self.written = 0
        self.obs: list[np.ndarray] = []
        self.actions: list[int] = []
        self.episode_return = 0.0
        self.returns: list[float] = []
        self.steps = 0
        self.awaiting_reset = False

    @property
    def active(self) -> bool:
        return self.shard is not None and self.written < self.shard.count

    def new_episode(self) -> None:
        self.expert.reset(self.index)
        self.obs, self.actions, self.episode_return = [], [], 0.0
        self.awaiting_reset = False

    def record(self, obs: np.ndarray, action: int) -> None:
        """Keep a step (obs, the expert's action) unless the env is between episodes."""
        if not self.awaiting_reset:
            self.obs.append(obs)
            self.actions.append(int(action))

    def stepped(self, reward: float, done: bool, on_sequence: Callable[[bool], None]) -> bool:
        """Account for the env step just taken: returns, sequences written, episode ends.
        True when the step began a new episode (gymnasium's NEXT_STEP autoreset: the step
        after an episode's last one resets the env and ignores its action)."""
        if self.awaiting_reset:
            self.new_episode()
            return True
        self.steps += 1
        self.episode_return += float(reward)
        if len(self.obs) == SEQUENCE_LENGTH:
            on_sequence(self.emit())
        if done:
            self.returns.append(self.episode_return)
            self.obs, self.actions = [], []  # an episode's short tail is dropped
            self.awaiting_reset = True
        return False

    def emit(self) -> bool:
        """Write the filled sequence (unless a previous run did); True when a file was new."""
        path = sequence_path(self.directory, self.shard.split, self.shard.first + self.written)
        self.written += 1
        obs, actions = np.stack(self.obs), np.asarray(self.actions, dtype=np.int64)
        self.obs, self.actions = [], []
        if path.exists():
            return False
        save_sequence(path, obs, actions)
        return True


def _play_wave(envs, shards: list[Shard | None], settings, directory, on_sequence,
               noise: Perturbations, meanings: list[str], draws: str) -> list:  # fmt: skip
    """Play one shard per sub-env until every shard is written; returns the slots. Each step
    records the expert's choice and sends the env `_perturb`'s version of it."""
    fire = meanings.index("FIRE") if "FIRE" in meanings else None
    holdable = np.array([a for a, name in enumerate(meanings) if "FIRE" not in name])
    expert = wave_expert(shards, settings.game, draws)
    slots = [ShardSlot(shard, directory, expert, i) for i, shard in enumerate(shards)]
    seeds = [shard.seed if shard else 0 for shard in shards]
    observations, info = envs.reset(seed=seeds)
    for slot in slots:
        if slot.active:
            slot.new_episode()
    while any(slot.active for slot in slots):
        chosen = expert.act(info["ram"])  # every env's, finished shards' too (ignored)
        actions = np.zeros(len(slots), dtype=np.int64)
        for i, slot in enumerate(slots):
            if slot.active:
                slot.record(observations[i], chosen[i])
                actions[i] = _perturb(slot, chosen[i], noise, fire, holdable)
        if (actions != chosen).any():  # where equal, this repeats what `act` recorded
            expert.sent(actions)
        observations, rewards, terminated, truncated, info = envs.step(actions)
        for i, slot in enumerate(slots):
            if slot.active:
                slot.stepped(rewards[i], terminated[i] or truncated[i], on_sequence)
    return slots


def _perturb(slot: ShardSlot, chosen: int, noise: Perturbations, fire: int | None,
             holdable: np.ndarray) -> int:  # fmt: skip
    """The action the env receives for the expert's `chosen` one (see `Perturbations`)."""
    if noise.hold > 0 and slot.hold_left == 0 and slot.holds.random() < noise.hold:
        slot.hold_left = int(slot.holds.geometric(1.0 / noise.hold_steps))
        slot.held = int(slot.holds.choice(holdable))
    if slot.hold_left > 0:
        slot.hold_left -= 1
        return slot.held
    if chosen == fire and noise.fire_miss > 0 and slot.misses.random() < noise.fire_miss:
        return NOOP
    return chosen


def _identity(settings: AtariSettings, seed: int, shard_size: int, noise: Perturbations,
              draws: str) -> dict:  # fmt: skip
    return {"settings": settings.as_dict(), "seed": seed, "shard_size": shard_size,
            **noise.identity(), "expert_draws": draws}  # fmt: skip


def load_progress(path: Path, identity: dict, legacy: dict | None = None) -> dict:
    """The progress record at `path` ({**identity, "shards": {key: record}}), fresh when there
    is none; a record of other settings is refused, and so is a folder holding sequences but
    no record (not written by this command). `legacy`: fields records from before they
    existed lack, with the value they had then."""
    directory = path.parent
    if not path.exists():
        if any(directory.glob("*_*.npz")):
            raise ValueError(
                f"out: {directory} already holds .npz files but no {path.name}; it was not "
                "generated by this command (or with other settings): use another --out"
            )
        return {**identity, "shards": {}}
    progress = {**(legacy or {}), **json.loads(path.read_text())}
    recorded = {key: value for key, value in progress.items() if key != "shards"}
    if recorded != identity:
        keys = [*identity, *(key for key in recorded if key not in identity)]
        said = ", ".join(f"{key}={recorded.get(key)!r} (now {identity.get(key)!r})"
                         for key in keys if recorded.get(key) != identity.get(key))  # fmt: skip
        raise ValueError(
            f"out: {directory} holds a dataset generated with {said}; use another --out (or "
            "the same settings and seed to resume it)"
        )
    return progress


def generate(
    out: str | Path,
    settings: AtariSettings,
    train: int,
    val: int,
    seed: int = 0,
    num_envs: int = 2,
    shard_size: int = 64,
    progress_bar: bool = True,
    on_sequence: Callable[[bool], None] | None = None,
    perturbations: Perturbations | None = None,
    expert_draws: str | None = None,
) -> dict:
    """Generate (or finish) a dataset in `out`; returns the manifest it writes.

    Args:
        train, val: sequences per split (>= 1 and >= 0).
        num_envs: envs played side by side (processes when > 1).
        on_sequence: called after each sequence with True when its file was new (tests use it
            to interrupt a run).
        perturbations: what the game receives instead of the expert's choice (default: none);
            part of the dataset's identity, so a resume with others is refused.
        expert_draws: one of EXPERT_DRAWS; None: the draws of the dataset already in `out`
            ("per_shard" for one from before they were recorded), so that a dataset grown in
            place keeps one kind of label, and "fixed" for a new one.
    """
    from tqdm import tqdm

    from .envs import make_expert_vector_env
    from .experts import make_expert

    for name, value, low in (
        ("train", train, 1),
        ("val", val, 0),
        ("num_envs", num_envs, 1),
        ("shard_size", shard_size, 1),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name}: expected an integer >= {low}, got {value!r}")
    noise = perturbations or Perturbations()
    if not isinstance(noise, Perturbations):
        raise TypeError(f"perturbations: expected a Perturbations, got {type(noise).__name__}")
    if expert_draws is not None:
        check_draws(expert_draws)
    make_expert(settings.game, 1)  # no expert for this game: fail before anything is written
    with sole_writer(out, "out") as directory:
        draws = expert_draws or _existing_draws(directory / PROGRESS) or "fixed"
        identity = _identity(settings, seed, shard_size, noise, draws)
        meanings = _action_meanings(settings)
        progress = load_progress(directory / PROGRESS, identity,
                                 {"fire_miss": 0.0, "expert_draws": LEGACY_DRAWS})  # fmt: skip
        write_json_atomic(directory / PROGRESS, progress)  # before any .npz: marks the folder ours
        counts = {"train": train, "val": val}
        shards = plan_shards(counts, seed, shard_size)
        pending = pending_shards(shards, progress, directory)
        total = sum(counts.values())
        done = total - sum(s.count for s in pending)
        started, steps_played = time.perf_counter(), 0
        bar = tqdm(
            total=total,
            initial=done,
            unit="seq",
            desc=f"{settings.game} dataset",
            disable=not progress_bar,
        )
        callback = on_sequence or (lambda new: None)

        def sequence_done(new: bool) -> None:
            bar.update(1)
            callback(new)

        envs = make_expert_vector_env(settings, min(num_envs, max(len(pending), 1)))
        try:
            for wave in waves(pending, envs.num_envs):
                for slot in _play_wave(
                    envs, wave, settings, directory, sequence_done, noise, meanings, draws
                ):
                    if slot.shard is None:
                        continue
                    steps_played += slot.steps
                    progress["shards"][slot.shard.key] = {
                        "returns": slot.returns,
                        "steps": slot.steps,
                    }
                write_json_atomic(directory / PROGRESS, progress)
        finally:
            envs.close()
            bar.close()
        elapsed = time.perf_counter() - started
        manifest = _manifest(settings, seed, shard_size, counts, progress, steps_played, elapsed,
                             len(meanings), noise, draws)  # fmt: skip
        earlier = read_manifest(directory)
        if earlier and "expert_score" in earlier:  # scored before this run completed the dataset
            manifest["expert_score"] = earlier["expert_score"]
        write_json_atomic(directory / MANIFEST, manifest)
        return manifest


def score_expert(directory: str | Path, episodes: int = 20, seed: int = 0,
                 num_envs: int = 2) -> dict:  # fmt: skip
    """Play `episodes` full games of the dataset's expert under its settings and store their
    returns as the manifest's "expert_score" (written atomically); returns that entry. `seed`
    seeds the games; a dataset of "fixed" expert draws is scored with those draws whatever it
    is, one of "per_shard" draws (no single expert) with the draws of `seed`."""
    from .experts import evaluate

    directory = Path(directory)
    manifest = read_manifest(directory) if directory.is_dir() else None
    if manifest is None:
        raise FileNotFoundError(
            f"directory: {directory} holds no dataset manifest; generate the dataset first"
        )
    settings = AtariSettings.from_dict(manifest["settings"])
    stats: dict = {}
    draws = dataset_draws(manifest)
    returns = evaluate(settings, episodes, seed, num_envs, asynchronous=num_envs > 1, stats=stats,
                       draws_seed=FIXED_DRAWS_SEED if draws == "fixed" else None)  # fmt: skip
    manifest["expert_score"] = {
        "episodes": len(returns),
        "mean": float(np.mean(returns)),
        "std": float(np.std(returns)),
        "all": returns,
        "lengths": stats["lengths"],
        "seed": seed,
        "expert_draws": draws,
    }
    write_json_atomic(directory / MANIFEST, manifest)
    return manifest["expert_score"]


def expert_mean(manifest: dict) -> float | None:
    """The expert's full-game mean return ("expert_score"), or None when it was not scored."""
    return (manifest.get("expert_score") or {}).get("mean")


def _existing_draws(path: Path) -> str | None:
    """The expert draws of the progress record at `path`, None when there is none."""
    return dataset_draws(json.loads(path.read_text())) if path.exists() else None


def _manifest(settings, seed, shard_size, counts, progress, steps_played, elapsed, num_actions,
              noise: Perturbations, draws: str) -> dict:  # fmt: skip
    from .experts import make_expert

    returns = [r for record in progress["shards"].values() for r in record["returns"]]
    frames = steps_played * settings.frame_skip
    return {
        "format": "ncps atari cloning: {split}_{index}.npz with obs uint8 (32, 84, 84, 4), "
        "actions int64 (32,)",
        "game": settings.game,
        "settings": settings.as_dict(),
        "seed": seed,
        "shard_size": shard_size,
        "counts": counts,
        "sequence_length": SEQUENCE_LENGTH,
        "num_actions": num_actions,
        "expert": type(make_expert(settings.game, 1)).__name__,
        "expert_draws": draws,
        **{key: float(value) for key, value in dataclasses.asdict(noise).items()},
        "expert_returns": {
            "episodes": len(returns),
            "mean": float(np.mean(returns)) if returns else None,
            "std": float(np.std(returns)) if returns else None,
            "all": returns,
        },
        "this_run": {
            "frames": frames,
            "seconds": elapsed,
            "frames_per_second": frames / elapsed if elapsed > 0 else None,
        },
        "machine": machine_info(),
    }


def _action_meanings(settings: AtariSettings) -> list[str]:
    """The game's minimal action set, by name ("NOOP", "FIRE", ...)."""
    from .envs import make_env

    env = make_env(settings)
    try:
        return list(env.unwrapped.get_action_meanings())
    finally:
        env.close()
