"""`cellbench report --baseline RUN`: compare this run's timings with an earlier saved run.

RUN is what pytest-benchmark and the suites save (results/<suite>/runs/<UTC time>.json):
a path to one such JSON file, a results folder (every suite's latest.json in it; or a single
suite's folder holding latest.json), or just a run's name (<UTC time>, found under
<results>/<suite>/runs/). Benchmarks are matched by their pytest node id (`fullname`) and
compared on the median; a median more than `threshold` above the baseline's is a regression.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from . import DEFAULT_THRESHOLD
from .load import BENCH_SUITES, ResultsError, benchmark_rows, read_json


def _suite_of(document: dict, path: Path) -> str:
    """The suite a pytest-benchmark document belongs to: cellbench's own record, else the
    folder of its first test file (suites/<suite>/test_x.py), else the file's folder."""
    suite = (document.get("cellbench") or {}).get("suite")
    if suite:
        return suite
    for bench in document.get("benchmarks", []):
        parts = Path(str(bench.get("fullname", "")).split("::")[0]).parts
        if len(parts) >= 2 and parts[-2] != "suites":
            return parts[-2]
    folder = path.parent.parent if path.parent.name == "runs" else path.parent
    return folder.name


def resolve_baseline(run: str, results_root: Path) -> dict[str, Path]:
    """suite -> baseline JSON file for RUN (see the module docstring); a RUN that names nothing
    usable is a ResultsError saying what was expected."""
    path = Path(run)
    if path.is_file():
        document = read_json(path)
        if not isinstance(document, dict):
            raise ResultsError(f"--baseline: {path} is not a pytest-benchmark JSON document")
        return {_suite_of(document, path): path}
    if path.is_dir():
        found = {s: path / s / "latest.json" for s in BENCH_SUITES
                 if (path / s / "latest.json").is_file()}  # fmt: skip
        if not found and (path / "latest.json").is_file():
            found = {path.name: path / "latest.json"}
        if not found:
            raise ResultsError(
                f"--baseline: folder {path} holds no pytest-benchmark results (expected "
                f"<suite>/latest.json for a suite in {list(BENCH_SUITES)}, or latest.json)"
            )
        return found
    found = {s: results_root / s / "runs" / f"{run}.json" for s in BENCH_SUITES
             if (results_root / s / "runs" / f"{run}.json").is_file()}  # fmt: skip
    if not found:
        raise ResultsError(
            f"--baseline: {run!r} is neither a JSON file, a results folder, nor a run name "
            f"under {results_root}/<suite>/runs/"
        )
    return found


def compare(current: pd.DataFrame, baselines: dict[str, Path],
            threshold: float = DEFAULT_THRESHOLD) -> tuple[pd.DataFrame, list[str]]:  # fmt: skip
    """(comparison, warnings). `current` is load's `benchmarks` table; only its shown rows (each
    suite's latest) are compared. One row per benchmark in either run: suite, fullname,
    baseline_ms, current_ms, ratio (current / baseline median), status ("regression" when
    ratio > 1 + threshold, "faster" when ratio < 1 / (1 + threshold), "same", "new" or
    "missing"), baseline_file."""
    if threshold <= 0:
        raise ValueError(f"threshold: expected a fraction > 0 (0.1 is 10%), got {threshold}")
    warnings, pieces = [], []
    shown = current[current["shown"].astype(bool)] if not current.empty else current
    for suite, path in baselines.items():
        try:
            base = benchmark_rows(read_json(path), path)
        except ResultsError as error:
            warnings.append(str(error))
            continue
        mine = (shown[shown["suite"] == suite] if not shown.empty
                else pd.DataFrame(columns=["fullname", "median_ms"]))  # fmt: skip
        merged = pd.merge(
            base[["fullname", "median_ms"]].rename(columns={"median_ms": "baseline_ms"}),
            mine[["fullname", "median_ms"]].rename(columns={"median_ms": "current_ms"}),
            on="fullname",
            how="outer",
        )
        merged.insert(0, "suite", suite)
        merged["baseline_file"] = str(path)
        pieces.append(merged)
    if not pieces:
        return pd.DataFrame(), warnings
    table = pd.concat(pieces, ignore_index=True)
    table["ratio"] = table["current_ms"] / table["baseline_ms"]
    table["status"] = table["ratio"].map(lambda r: _status(r, threshold))
    table.loc[table["baseline_ms"].isna(), "status"] = "new"
    table.loc[table["current_ms"].isna(), "status"] = "missing"
    order = {"regression": 0, "faster": 1, "new": 2, "missing": 3, "same": 4}
    table = table.sort_values(["suite", "status", "ratio"], ascending=[True, True, False],
                              key=lambda s: s.map(order) if s.name == "status" else s)  # fmt: skip
    columns = ["suite", "fullname", "baseline_ms", "current_ms", "ratio", "status",
               "baseline_file"]  # fmt: skip
    return table[columns].reset_index(drop=True), warnings


def _status(ratio: float, threshold: float) -> str:
    if pd.isna(ratio):
        return "same"
    if ratio > 1 + threshold:
        return "regression"
    if ratio < 1 / (1 + threshold):
        return "faster"
    return "same"
