"""Read results/ into tidy pandas DataFrames; never re-run anything.

Every loader reads files only. A file that is missing leaves its table empty (the section then
says which command produces it); a file that cannot be read (truncated JSON, wrong structure, a
CSV without its columns) raises `ResultsError` naming the file, which `load_results` collects as
a warning shown at the top of the report, and the rest still loads.

Tables (`Results.tables`, each also written as <name>.csv beside the report):

    benchmarks      every pytest-benchmark file of every suite (latest.json and runs/*.json):
                    suite, file, shown, name, fullname, group, median_ms, mean_ms, min_ms,
                    max_ms, stddev_ms, iqr_ms, rounds, then extra_info flattened with "_"
                    (shape_name, shape_batch, ..., dataset_counts_train, ...)
    kernels, reference, bc_bench, a2c_bench
                    the rows of `benchmarks` of the file each suite shows (its latest.json)
    runs            one row per benchmark file: suite, file, shown, datetime, profile, threads,
                    complete, benchmarks, load_1min, commit, dirty
    verify          verify.json's rows: case, cell, backend, impl, dtype, quantity,
                    max_abs_err, rel_err, tolerance, passed
    ode_ltc         backend, ode_unfolds, max_abs_error, rms_error
    ode_cfc         initial_state, timespan, max_abs_error, rms_error, ode_mean_abs
    ode_orders      backend, order (fitted order of convergence, from ode.json)
    bc_runs         one row per BC run folder: run, game, cell, backend, impl, seed, profile,
                    epochs, train_loss, train_accuracy, val_loss, val_accuracy,
                    samples_per_second, closed_loop_mean, closed_loop_std, closed_loop_games,
                    closed_loop_truncated, closed_loop_agreement (share of the
                    policy's steps where the expert chose the same action), dataset_train,
                    dataset_val, expert_mean
    bc_metrics      run, cell, backend, seed, profile + metrics.csv's columns (one row per epoch)
    bc_returns      run, cell, backend, seed, profile, game, return (closed-loop full games)
    a2c_runs        run, game, cell, backend, impl, seed, profile, frames, updates, games,
                    final_mean_return_100, frames_per_second, training_seconds
    a2c_metrics     run, cell, backend, seed, profile + metrics.csv's columns
    a2c_episodes    run, cell, backend, seed, profile + episodes.csv's columns
    machine         source, key, value (long form: one row per machine/version/thread field)
    atari_settings  source + the settings' fields (game, sticky, episodic_life, ...)
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pandas as pd

from .files import ResultsError, concat, expect_dict, read_csv, read_json
from .runs import best_profile, load_a2c_runs, load_bc_runs, run_folders

__all__ = ["BENCH_SUITES", "COMMANDS", "Results", "ResultsError", "best_profile",
           "load_results", "read_json"]  # fmt: skip

#: Suites that write pytest-benchmark JSON, in report order.
BENCH_SUITES = ("kernels", "reference", "bc", "a2c")
#: The command that produces each kind of result (what a missing section tells the reader).
COMMANDS = {
    "kernels": "pytest suites/kernels --benchmark-only",
    "reference": "pytest suites/reference --benchmark-only",
    "bc": "pytest suites/bc --benchmark-only",
    "a2c": "pytest suites/a2c --benchmark-only",
    "verify": "cellbench verify",
    "ode": "cellbench ode",
}
_STATS = ("median", "mean", "min", "max", "stddev", "iqr")


@dataclasses.dataclass
class Results:
    """Everything the report shows, read from one results folder.

    tables: name -> tidy DataFrame (see the module docstring); documents: suite -> the
    pytest-benchmark document shown (raw dict), plus "verify" and "ode" (verify.json, ode.json);
    sources: what -> file it came from; warnings: one line per file that could not be read (or
    was replaced by a fallback).
    """

    root: Path
    tables: dict[str, pd.DataFrame]
    documents: dict[str, dict]
    sources: dict[str, Path]
    warnings: list[str]

    def table(self, name: str) -> pd.DataFrame:
        return self.tables.get(name, pd.DataFrame())


# ---- pytest-benchmark documents --------------------------------------------------------------


def benchmark_rows(document: Any, path: Path) -> pd.DataFrame:
    """One row per benchmark of a pytest-benchmark document: name, fullname, group, the timing
    statistics in ms (median_ms, mean_ms, min_ms, max_ms, stddev_ms, iqr_ms) and rounds, then
    `extra_info` flattened with "_" (nested dicts: shape -> shape_name, shape_batch, ...)."""
    document = expect_dict(document, path, "the document")
    benchmarks = document.get("benchmarks")
    if not isinstance(benchmarks, list):
        raise ResultsError(f"{path}: no 'benchmarks' list (not a pytest-benchmark JSON file?)")
    rows, extras = [], []
    for index, bench in enumerate(benchmarks):
        where = f"{path}: benchmarks[{index}]"
        if not isinstance(bench, dict) or not isinstance(bench.get("stats"), dict):
            raise ResultsError(f"{where} has no 'stats'")
        stats = bench["stats"]
        if not isinstance(stats.get("median"), (int, float)):
            raise ResultsError(f"{where}: stats.median is {stats.get('median')!r}, not a number")
        row = {"name": bench.get("name"), "fullname": bench.get("fullname", bench.get("name")),
               "group": bench.get("group")}  # fmt: skip
        for stat in _STATS:
            value = stats.get(stat)
            row[f"{stat}_ms"] = value * 1e3 if isinstance(value, (int, float)) else None
        row["rounds"] = stats.get("rounds")
        rows.append(row)
        extra = bench.get("extra_info") or {}
        extras.append(extra if isinstance(extra, dict) else {})
    frame = pd.DataFrame(rows, columns=["name", "fullname", "group",
                                        *(f"{s}_ms" for s in _STATS), "rounds"])  # fmt: skip
    if extras and any(extras):
        flat = pd.json_normalize(extras, sep="_")
        # Lists (load averages, returns) do not fit a tidy cell; keep them as JSON text.
        for column in flat.columns:
            if flat[column].map(lambda v: isinstance(v, (list, dict))).any():
                flat[column] = flat[column].map(
                    lambda v: json.dumps(v) if isinstance(v, (list, dict)) else v
                )
        flat = flat.rename(columns={c: f"extra_{c}" for c in flat.columns if c in frame.columns})
        frame = pd.concat([frame, flat], axis=1)
    return frame


def _run_row(suite: str, path: Path, document: dict, shown: bool) -> dict:
    meta = document.get("cellbench") or {}
    load = meta.get("load_average_at_start") or [None]
    commit = document.get("commit_info") or {}
    return {
        "suite": suite,
        "file": str(path),
        "shown": shown,
        "datetime": document.get("datetime"),
        "profile": meta.get("profile"),
        "threads": meta.get("threads"),
        "complete": meta.get("complete"),
        "benchmarks": len(document.get("benchmarks", [])),
        "load_1min": load[0],
        "commit": (commit.get("id") or "")[:10] or None,
        "dirty": commit.get("dirty"),
    }


def load_suite(root: Path, suite: str, warnings: list[str]):
    """(document shown, its path, run rows, benchmark frames) of one suite's folder.

    The shown document is latest.json (the last uninterrupted run); when it is missing or
    unreadable, the newest readable runs/*.json stands in and a warning says so."""
    folder = root / suite
    latest = folder / "latest.json"
    run_files = sorted((folder / "runs").glob("*.json")) if (folder / "runs").is_dir() else []
    candidates = ([latest] if latest.exists() else []) + run_files[::-1]
    shown_doc, shown_path, parsed = None, None, []
    for path in candidates:
        try:
            document = read_json(path)
            frame = benchmark_rows(document, path)
        except ResultsError as error:
            warnings.append(str(error))
            continue
        parsed.append((path, document, frame))
        if shown_doc is None:
            shown_doc, shown_path = document, path
    if shown_path is not None and shown_path != latest:
        warnings.append(
            f"{folder}: no readable latest.json; showing {shown_path.name}, the newest readable "
            "run (it may be incomplete)"
        )
    runs, frames = [], []
    for path, document, frame in parsed:
        shown = path == shown_path
        runs.append(_run_row(suite, path, document, shown))
        frames.append(frame.assign(suite=suite, file=str(path), shown=shown))
    return shown_doc, shown_path, runs, frames


# ---- verify and ODE tables ---------------------------------------------------------------------

VERIFY_COLUMNS = ("case", "cell", "backend", "impl", "dtype", "quantity", "max_abs_err",
                  "rel_err", "tolerance", "passed")  # fmt: skip


def load_verify(root: Path, warnings: list[str]) -> tuple[pd.DataFrame, dict, Path | None]:
    """verify.json's rows (verify.csv when the JSON is absent or unreadable: a warning says
    so), its document and its path."""
    folder = root / "verify"
    json_path, csv_path = folder / "verify.json", folder / "verify.csv"
    if json_path.exists():
        try:
            document = expect_dict(read_json(json_path), json_path, "the document")
            rows = document.get("rows")
            if not isinstance(rows, list):
                raise ResultsError(f"{json_path}: no 'rows' list")
            frame = pd.DataFrame(rows)
            missing = [c for c in VERIFY_COLUMNS if c not in frame.columns]
            if rows and missing:
                raise ResultsError(f"{json_path}: rows lack {missing}")
            return frame, document, json_path
        except ResultsError as error:
            if not csv_path.exists():
                raise
            warnings.append(f"{error}; showing {csv_path.name} instead")
    if csv_path.exists():
        return read_csv(csv_path, VERIFY_COLUMNS), {}, csv_path
    return pd.DataFrame(), {}, None


def load_ode(root: Path, warnings: list[str]) -> dict[str, Any]:
    """The `cellbench ode` tables: ode_ltc, ode_cfc, ode_orders, and ode.json's document; each
    file on its own, so one unreadable file costs only its own figure."""
    folder = root / "ode"
    out: dict[str, Any] = {"document": None, "ode_orders": pd.DataFrame()}
    files = {
        "ode_ltc": ("ltc_unfold_convergence.csv", ("backend", "ode_unfolds", "max_abs_error",
                                                   "rms_error")),
        "ode_cfc": ("cfc_pure_error.csv", ("initial_state", "timespan", "max_abs_error",
                                           "rms_error")),
    }  # fmt: skip
    for name, (filename, columns) in files.items():
        out[name] = pd.DataFrame()
        if (folder / filename).exists():
            try:
                out[name] = read_csv(folder / filename, columns)
            except ResultsError as error:
                warnings.append(str(error))
    path = folder / "ode.json"
    if path.exists():
        try:
            document = expect_dict(read_json(path), path, "the document")
        except ResultsError as error:
            warnings.append(str(error))
            return out
        out["document"] = document
        fitted = (document.get("ltc_unfold_convergence") or {}).get("orders") or {}
        out["ode_orders"] = pd.DataFrame({"backend": list(fitted), "order": list(fitted.values())})
    return out


# ---- machine, versions, settings ---------------------------------------------------------------


def _machine_rows(source: str, machine: dict | None) -> list[dict]:
    if not isinstance(machine, dict):
        return []
    return [{"source": source, "key": key, "value": value} for key, value in machine.items()
            if not isinstance(value, (dict, list))]  # fmt: skip


def machine_table(results_docs: dict[str, dict], extra: dict[str, dict]) -> pd.DataFrame:
    """source, key, value: cellbench's machine_info of every suite's shown run (plus its CPU
    and thread count), of verify, ode and of one BC / A2C summary."""
    rows = []
    for suite, document in results_docs.items():
        meta = document.get("cellbench") or {}
        cpu = ((document.get("machine_info") or {}).get("cpu") or {}).get("brand_raw")
        rows += _machine_rows(f"{suite} suite", {"cpu": cpu, "suite threads": meta.get("threads"),
                                                 "profile": meta.get("profile"),
                                                 **(meta.get("machine") or {})})  # fmt: skip
    for source, machine in extra.items():
        rows += _machine_rows(source, machine)
    return pd.DataFrame(rows, columns=["source", "key", "value"])


def settings_of_summary(summary: dict) -> dict | None:
    """Atari settings recorded by a BC summary (dataset manifest) or an A2C summary."""
    if isinstance(summary.get("settings"), dict):
        return summary["settings"]
    manifest = (summary.get("dataset") or {}).get("manifest") or {}
    return manifest.get("settings")


def load_results(root: str | Path) -> Results:
    """Read every result under `root`; a folder that does not exist is a ResultsError."""
    root = Path(root)
    if not root.is_dir():
        raise ResultsError(
            f"results: folder {str(root)!r} does not exist; run the suites first "
            f"(`pytest suites/ --benchmark-only`) or pass --results DIR"
        )
    warnings: list[str] = []
    tables: dict[str, pd.DataFrame] = {}
    documents, sources, runs, frames = {}, {}, [], []
    names = {"kernels": "kernels", "reference": "reference", "bc": "bc_bench", "a2c": "a2c_bench"}
    for suite in BENCH_SUITES:
        document, path, suite_runs, suite_frames = load_suite(root, suite, warnings)
        runs += suite_runs
        frames += suite_frames
        shown = [f for f in suite_frames if bool(f["shown"].iloc[0])] if suite_frames else []
        tables[names[suite]] = (shown[0].drop(columns=["shown"]).reset_index(drop=True)
                                if shown else pd.DataFrame())  # fmt: skip
        if document is not None:
            documents[suite], sources[suite] = document, path
    tables["benchmarks"] = concat(frames)
    tables["runs"] = pd.DataFrame(runs)

    extra_machines: dict[str, dict] = {}
    documents_extra: dict[str, dict] = {}  # verify.json and ode.json, for their settings
    try:
        verify, verify_doc, verify_path = load_verify(root, warnings)
    except ResultsError as error:
        warnings.append(str(error))
        verify, verify_doc, verify_path = pd.DataFrame(), {}, None
    tables["verify"] = verify
    if verify_path is not None:
        sources["verify"] = verify_path
        documents_extra["verify"] = verify_doc
        extra_machines["verify"] = verify_doc.get("machine")
    ode = load_ode(root, warnings)
    tables.update({k: v for k, v in ode.items() if k != "document"})
    if ode["document"]:
        extra_machines["ode"] = ode["document"].get("machine")
        documents_extra["ode"] = ode["document"]

    tables.update(load_bc_runs(root, warnings))
    tables.update(load_a2c_runs(root, warnings))
    settings_rows = []
    for kind in ("bc", "a2c"):
        for folder in run_folders(root / kind / "train"):
            path = folder / "summary.json"
            if not path.exists():
                continue
            try:
                summary = expect_dict(read_json(path), path, "summary")
            except ResultsError:
                continue  # already reported by the loader above
            extra_machines.setdefault(f"{kind} training", summary.get("machine"))
            settings = settings_of_summary(summary)
            if isinstance(settings, dict):
                source = "BC dataset" if kind == "bc" else "A2C training"
                settings_rows.append({"source": source, **settings})
    tables["machine"] = machine_table(documents, extra_machines)
    tables["atari_settings"] = pd.DataFrame(settings_rows).drop_duplicates(ignore_index=True)
    return Results(root, tables, {**documents, **documents_extra}, sources, warnings)
