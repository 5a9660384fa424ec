"""Shared by `cellbench train bc` and suites/bc: run names and the profile's dataset."""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from ..atari.settings import AtariSettings
from .profiles import BCProfile


def run_name(game: str, cell: str, backend: str, profile: str, seed: int,
             extractor: str = "nature", carry_state: bool = False,
             lr: float | None = None, shift: int = 0,
             epochs: int | None = None, units: int | None = None) -> str:  # fmt: skip
    """<game>-<cell>-<backend>-<profile>-seed<N>, plus -u<N> with a cell of N units other than
    the cell's default (None: the default), -ncpsconv with ncps's conv block, -carried with
    the state carried across batches, -lr<lr> with another peak lr than the profile's (None:
    the profile's), -shift<N> with training frames moved by up to N px and -e<N> with a
    schedule of N epochs instead of the profile's (None: the profile's)."""
    from .spec import default_units

    suffix = f"-u{units}" if units not in (None, default_units(cell)) else ""
    suffix += "" if extractor == "nature" else f"-{extractor}conv"
    suffix += "-carried" if carry_state else ""
    suffix += f"-lr{lr:g}" if lr is not None else ""
    suffix += f"-shift{shift}" if shift else ""
    suffix += f"-e{epochs}" if epochs is not None else ""
    return f"{game}-{cell}-{backend}-{profile}-seed{seed}{suffix}"


def dataset_dir(game: str, profile: BCProfile) -> Path:
    """data/<game>-<profile>, under $CELLBENCH_DATA instead of data/ when it is set."""
    root = Path(os.environ.get("CELLBENCH_DATA", "data"))
    return root / f"{AtariSettings(game).game}-{profile.name}"


@contextlib.contextmanager
def _dataset_lock(directory: Path):
    """Hold an exclusive lock beside `directory` (a sweep may start several BC runs of one
    profile at once on a node: one generates the dataset, the others wait and reuse it)."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    with open(directory.parent / f".{directory.name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_dataset(game: str, profile: BCProfile, directory: Path | None = None) -> Path:
    """The profile's dataset folder, generated (or completed) when needed. A finished
    `directory` given explicitly is used as it is, whatever its size: completing it to the
    profile's counts would play the default settings into a dataset made with others."""
    from ..atari.generate import PROGRESS, generate
    from ..atari.sequences import read_manifest

    directory_given = directory is not None
    directory = Path(directory) if directory_given else dataset_dir(game, profile)
    wanted = {"train": profile.train, "val": profile.val}
    with _dataset_lock(directory):
        manifest = read_manifest(directory) if directory.is_dir() else None
        if manifest is not None and (directory_given or manifest["counts"] == wanted):
            return directory
        # Absent, or generated here but unfinished / of another size: (re)generate, which
        # resumes. A folder from elsewhere (ncps's) is used as it is.
        if not directory.exists() or (directory / PROGRESS).exists():
            generate(directory, AtariSettings(game), profile.train, profile.val)
    return directory
