"""Training runs of the BC and A2C suites (results/<bc|a2c>/train/<run>/) as tidy frames.

A run folder is named <game>-<cell>-<backend>-<profile>-seed<N> (a sweep adds -<hash> to a run
with extra settings, and a run.json naming them) and holds metrics.csv (one row
per epoch / log interval), summary.json once training finished, and for A2C episodes.csv (one
row per finished full game). A run without summary.json (still training, or interrupted) shows
its metrics only, with a warning.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pandas as pd

from .files import ResultsError, concat, expect_dict, read_csv, read_json

_PROFILE_ORDER = {"smoke": 0, "quick": 1, "full": 2}
_RUN_NAME = re.compile(r"^(?P<game>.+)-(?P<cell>[a-z]+)-(?P<backend>[a-z]+)-(?P<profile>[a-z]+)"
                       r"-seed(?P<seed>\d+)$")  # fmt: skip


def parse_run_name(name: str) -> dict:
    """'breakout-cfc-torch-quick-seed0' -> game, cell, backend, profile, seed (empty if the name
    has another shape)."""
    match = _RUN_NAME.match(name)
    if not match:
        return {}
    parts = match.groupdict()
    parts["seed"] = int(parts["seed"])
    return parts


def _profile_name(value: Any) -> str | None:
    return value.get("name") if isinstance(value, dict) else value


def _variant(folder: Path) -> str:
    """A sweep run's extra settings ("lr=0.0003"), from its run.json; empty otherwise."""
    try:
        record = read_json(folder / "run.json") if (folder / "run.json").exists() else {}
    except ResultsError:
        return ""
    return str(record.get("variant") or "") if isinstance(record, dict) else ""


def _bc_default(profile: dict):
    """The BC profile of that name as the code defines it (None for another suite's profile)."""
    from ..bc.profiles import PROFILES

    known = PROFILES.get(profile.get("name"))
    return known if known is not None and "batch_size" in profile else None


def _identity(folder: Path, summary: dict) -> dict:
    """run, game, cell, backend, impl, seed, profile: from summary.json, else the folder name.
    A sweep's variant (a run with extra settings), another conv extractor, a cell width other
    than the cell's default, a carried state, a BC peak lr, epoch count or dataset size other
    than its profile's, a dataset grown by DAgger rounds or a schedule stopped early joins the
    cell's label, "lstm (lr=0.0003)", "cfc (ncps conv)", "gru (carried state, DAgger 1)", "gru
    (256 units, lr 0.003, 3 epochs, 90,000 sequences)", "gru (stopped at epoch 6)", so variants
    get curves of their own instead of passing for seeds of one another."""
    from ..bc.spec import default_units

    name = folder.name
    parsed = parse_run_name(name)
    game = summary.get("game") or summary.get("dataset_game")
    cell = summary.get("cell") or parsed.get("cell")
    policy = summary.get("policy") or {}
    extractor = policy.get("extractor", "nature")
    profile = summary.get("profile")
    extras = [] if extractor == "nature" else [f"{extractor} conv"]
    units = (policy.get("cell") or {}).get("units")
    if isinstance(units, int) and cell and units != default_units(cell):
        extras.append(f"{units} units")
    if isinstance(profile, dict) and profile.get("carry_state"):
        extras.append("carried state")
    default = _bc_default(profile) if isinstance(profile, dict) else None
    if default is not None and profile.get("lr", default.lr) != default.lr:
        extras.append(f"lr {profile['lr']:g}")
    if default is not None and profile.get("epochs", default.epochs) != default.epochs:
        extras.append(f"{profile['epochs']} epochs")
    if isinstance(profile, dict) and profile.get("shift"):
        extras.append(f"shift {profile['shift']} px")
    manifest = (summary.get("dataset") or {}).get("manifest") or {}
    rounds = manifest.get("dagger")
    if rounds:
        extras.append(f"DAgger {len(rounds)}")
    trained_on = (manifest.get("counts") or {}).get("train")
    if default is not None and not rounds and trained_on not in (None, default.train):
        extras.append(f"{trained_on:,} sequences")
    if summary.get("stopped_after"):
        extras.append(f"stopped at epoch {summary['stopped_after']}")
    variant = _variant(folder) or ", ".join(extras)
    return {
        "run": name,
        "game": game or parsed.get("game"),
        "cell": f"{cell} ({variant})" if variant else cell,
        "backend": summary.get("backend") or parsed.get("backend"),
        "impl": summary.get("impl"),
        "seed": summary.get("seed", parsed.get("seed")),
        "profile": _profile_name(summary.get("profile")) or parsed.get("profile"),
    }


def run_folders(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []


def _summary(folder: Path) -> dict:
    """A run's summary.json, or {} while the run has not finished."""
    path = folder / "summary.json"
    return expect_dict(read_json(path), path, "summary") if path.exists() else {}


def load_bc_runs(root: Path, warnings: list[str]) -> dict[str, pd.DataFrame]:
    """bc_runs, bc_metrics, bc_returns (see the module docstring) from results/bc/train/*."""
    runs, metrics, returns = [], [], []
    for folder in run_folders(root / "bc" / "train"):
        try:
            summary = _summary(folder)
            ident = _identity(folder, summary)
            if (folder / "metrics.csv").exists():
                frame = read_csv(folder / "metrics.csv", ("epoch", "val_accuracy"))
                metrics.append(
                    frame.assign(
                        **{k: ident[k] for k in ("run", "cell", "backend", "seed", "profile")}
                    )
                )
            if not summary:
                warnings.append(f"{folder}: no summary.json (training unfinished?); "
                                "only its metrics.csv is shown")  # fmt: skip
                continue
            final, played = summary.get("final") or {}, summary.get("closed_loop") or {}
            manifest = (summary.get("dataset") or {}).get("manifest") or {}
            counts = manifest.get("counts") or {}
            scores = played.get("returns") or []
            runs.append({
                **ident,
                "epochs": final.get("epoch"),
                **{key: final.get(key) for key in ("train_loss", "train_accuracy", "val_loss",
                                                   "val_accuracy", "samples_per_second")},
                "closed_loop_mean": played.get("mean"),
                "closed_loop_std": played.get("std"),
                "closed_loop_games": len(scores),
                "closed_loop_truncated": played.get("truncated"),
                "closed_loop_agreement": played.get("expert_agreement"),
                "dataset_train": counts.get("train"),
                "dataset_val": counts.get("val"),
                "expert_mean": _expert_mean(summary),
            })  # fmt: skip
            returns += [{**{k: ident[k] for k in ("run", "cell", "backend", "seed", "profile")},
                         "game": i + 1, "return": r} for i, r in enumerate(scores)]  # fmt: skip
        except ResultsError as error:
            warnings.append(str(error))
    return {"bc_runs": pd.DataFrame(runs), "bc_metrics": concat(metrics),
            "bc_returns": pd.DataFrame(returns)}  # fmt: skip


def _expert_mean(summary: dict) -> float | None:
    """The expert's full-game score: from the run's copy of the manifest, else from the dataset
    folder (scored after the run trained); None when it was never scored (the returns figure
    then says how to score it)."""
    from ..atari.generate import expert_mean
    from ..atari.sequences import read_manifest

    dataset = summary.get("dataset") or {}
    score = expert_mean(dataset.get("manifest") or {})
    if score is None and dataset.get("path") and Path(dataset["path"]).is_dir():
        score = expert_mean(read_manifest(dataset["path"]) or {})
    return score


A2C_METRICS = ("update", "frames", "episodes", "seconds", "frames_per_second", "mean_return_100")
A2C_EPISODES = ("frames", "episode", "return", "length")


def load_a2c_runs(root: Path, warnings: list[str]) -> dict[str, pd.DataFrame]:
    """a2c_runs, a2c_metrics, a2c_episodes (see the module docstring) from
    results/a2c/train/<game>-<cell>-<backend>-<profile>-seed<N>/."""
    runs, metrics, episodes = [], [], []
    keys = ("run", "cell", "backend", "seed", "profile")
    for folder in run_folders(root / "a2c" / "train"):
        try:
            summary = _summary(folder)
            ident = _identity(folder, summary)
            if (folder / "metrics.csv").exists():
                frame = read_csv(folder / "metrics.csv", A2C_METRICS)
                metrics.append(frame.assign(**{k: ident[k] for k in keys}))
            if (folder / "episodes.csv").exists():
                frame = read_csv(folder / "episodes.csv", A2C_EPISODES)
                episodes.append(frame.assign(**{k: ident[k] for k in keys}))
            if not summary:
                warnings.append(f"{folder}: no summary.json (training unfinished?); "
                                "only its metrics are shown")  # fmt: skip
                continue
            runs.append({**ident, **{key: summary.get(key) for key in (
                "frames", "updates", "games", "final_mean_return_100", "frames_per_second",
                "training_seconds")}})  # fmt: skip
        except ResultsError as error:
            warnings.append(str(error))
    return {"a2c_runs": pd.DataFrame(runs), "a2c_metrics": concat(metrics),
            "a2c_episodes": concat(episodes)}  # fmt: skip


def best_profile(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of the largest profile present (full > quick > smoke): the summary quotes the
    most substantial runs, never a smoke run beside a quick one."""
    if frame.empty or "profile" not in frame:
        return frame
    rank = frame["profile"].map(lambda p: _PROFILE_ORDER.get(p, -1))
    return frame[rank == rank.max()]
