"""The BC dataset's on-disk format (ncps's layout) and its validation.

A dataset directory holds one compressed `.npz` per sequence, named `train_<i>.npz` or
`val_<i>.npz`, each with

    obs      uint8 (32, 84, 84, 4)   four stacked 84x84 grayscale frames per step, channels last
    actions  int64 (32,)             the expert's action at each step

and, when cellbench generated it, `manifest.json` (game, Atari settings, seed, counts, returns
of the expert's games that ended inside a shard, versions; after `cellbench dataset score`,
"expert_score": full games). A directory of ncps's dataset (the same files, no manifest) loads too.
Every problem is reported with the file it is in (`SequenceFileError`).
"""

from __future__ import annotations

import json
import os
import re
import zipfile
from pathlib import Path

import numpy as np

from ..results import write_npz_atomic

SPLITS = ("train", "val")
SEQUENCE_LENGTH = 32
OBS_SHAPE = (SEQUENCE_LENGTH, 84, 84, 4)
MANIFEST = "manifest.json"
_NAME = re.compile(r"^(train|val)_(\d+)\.npz$")


class SequenceFileError(ValueError):
    """A dataset file is missing, unreadable or holds the wrong arrays; names the file."""


def sequence_path(directory: Path, split: str, index: int) -> Path:
    return Path(directory) / f"{split}_{index:06d}.npz"


def list_split(directory: str | os.PathLike, split: str) -> list[Path]:
    """The split's files in index order; raises when the folder or the split is empty/missing."""
    if split not in SPLITS:
        raise ValueError(f"split: expected one of {list(SPLITS)}, got {split!r}")
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(
            f"dataset: {directory} is not a directory; generate one with "
            "`cellbench dataset generate --out DIR`"
        )
    files = [p for p in directory.glob(f"{split}_*.npz") if _NAME.match(p.name)]
    if not files:
        raise SequenceFileError(f"{directory}: the {split!r} split is empty (no {split}_*.npz)")
    # Numeric order, so ncps's unpadded names (train_10 after train_9) sort right too.
    return sorted(files, key=lambda p: int(_NAME.match(p.name).group(2)))


def save_sequence(path: Path, obs: np.ndarray, actions: np.ndarray) -> None:
    """Write one sequence atomically (temporary file in the same folder, then rename)."""
    check_arrays(obs, actions, path)
    write_npz_atomic(path, {"obs": obs, "actions": actions}, compressed=True)


def check_arrays(obs, actions, path, num_actions: int | None = None) -> None:
    """Raise SequenceFileError naming `path` unless obs/actions have the format above."""
    problems = []
    if obs.dtype != np.uint8 or obs.shape != OBS_SHAPE:
        problems.append(f"obs: expected uint8 {OBS_SHAPE}, got {obs.dtype} {obs.shape}")
    if actions.dtype != np.int64 or actions.shape != (SEQUENCE_LENGTH,):
        problems.append(
            f"actions: expected int64 ({SEQUENCE_LENGTH},), got {actions.dtype} {actions.shape}"
        )
    elif actions.size and (actions.min() < 0 or (num_actions and actions.max() >= num_actions)):
        bound = f"[0, {num_actions})" if num_actions else ">= 0"
        problems.append(
            f"actions: expected values in {bound}, got {actions.min()}..{actions.max()}"
        )
    if problems:
        raise SequenceFileError(f"{path}: " + "; ".join(problems))


def load_sequence(path: Path, num_actions: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(obs uint8 (32, 84, 84, 4), actions int64 (32,)) of one file, validated."""
    try:
        with np.load(path, allow_pickle=False) as arrays:
            missing = {"obs", "actions"} - set(arrays.files)
            if missing:
                raise SequenceFileError(
                    f"{path}: expected arrays 'obs' and 'actions', missing {sorted(missing)}"
                )
            obs, actions = arrays["obs"], arrays["actions"]
    except SequenceFileError:
        raise
    except FileNotFoundError as error:
        raise SequenceFileError(f"{path}: file not found") from error
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError) as error:
        raise SequenceFileError(
            f"{path}: unreadable, truncated or corrupt .npz ({type(error).__name__}: {error})"
        ) from error
    check_arrays(obs, actions, path, num_actions)
    return obs, actions


def read_manifest(directory: str | os.PathLike) -> dict | None:
    """The manifest, or None for a directory without one (ncps's); raises if it is corrupt."""
    path = Path(directory) / MANIFEST
    if not path.exists():
        return None
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise SequenceFileError(f"{path}: not valid JSON ({error})") from error
    for key in ("game", "settings", "seed", "counts", "num_actions"):
        if key not in manifest:
            raise SequenceFileError(f"{path}: missing the {key!r} entry")
    return manifest


def check_directory(directory: str | os.PathLike, progress_bar: bool = True) -> dict:
    """Validate every file and the manifest; never stops at the first problem.

    Returns:
        {"directory", "counts": {split: files}, "manifest": bool, "problems": [str, ...]}
    """
    from tqdm import tqdm

    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"dataset: {directory} is not a directory")
    problems: list[str] = []
    try:
        manifest = read_manifest(directory)
    except SequenceFileError as error:
        manifest = None
        problems.append(str(error))
    num_actions = manifest["num_actions"] if manifest else None
    counts = {}
    for split in SPLITS:
        try:
            files = list_split(directory, split)
        except SequenceFileError as error:
            files = []
            if split == "train" or (manifest and manifest["counts"].get(split)):
                problems.append(str(error))
        counts[split] = len(files)
        for path in tqdm(files, desc=f"check {split}", unit="file", disable=not progress_bar):
            try:
                load_sequence(path, num_actions)
            except SequenceFileError as error:
                problems.append(str(error))
        if manifest:
            want = manifest["counts"].get(split, 0)
            indices = {int(_NAME.match(p.name).group(2)) for p in files}
            missing = sorted(set(range(want)) - indices)
            if missing:
                problems.append(
                    f"{directory / MANIFEST}: expects {want} {split} sequences; missing "
                    f"{len(missing)}, e.g. {sequence_path(directory, split, missing[0]).name} "
                    "(re-run the same `cellbench dataset generate` to complete it)"
                )
    return {
        "directory": str(directory),
        "counts": counts,
        "manifest": manifest is not None,
        "problems": problems,
    }
