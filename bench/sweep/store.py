"""Where a sweep's runs land: the suites' own layout, so `cellbench report` reads them as it
reads any run.

    <results>/<suite>/train/<run name>/     a finished run: what training wrote, plus
        run.json                            the sweep's record (hash, config, node, seconds,
        train.log                           command) and the run's full output
    <results>/sweeps/<grid name>/
        sweep.json                          every run of the grid and its state
        failed/<run name>.json, .log        a failed run: its error and output
        staging/                            a finished run being written (renamed into place)

A run folder appears whole or not at all: its files are written into staging/ and the folder
is renamed into place, run.json included, so a driver interrupted while writing leaves no
half-written run for the report or a resumed sweep to read.
"""

from __future__ import annotations

import datetime
import json
import os
import shlex
import shutil
from pathlib import Path
from typing import Any

from ..results import write_bytes_atomic, write_json_atomic, write_text_atomic
from .grid import Run

RECORD = "run.json"
LOG = "train.log"


def run_folder(results: Path, run: Run) -> Path:
    return results / run.suite / "train" / run.name


def sweep_folder(results: Path, grid_name: str) -> Path:
    return results / "sweeps" / grid_name


def read_record(folder: Path) -> dict | None:
    """A run folder's run.json, or None when absent or unreadable."""
    try:
        record = json.loads((folder / RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


FINISHED, TO_RUN, IN_THE_WAY = "finished", "to run", "in the way"


def run_state(results: Path, run: Run) -> tuple[str, str | None]:
    """(FINISHED | TO_RUN | IN_THE_WAY, why it is in the way), reading run.json once.

    Finished: the run's folder holds this very run (same hash), finished. In the way: a folder
    of that name that a sweep did not write (a hand-run or suite run) or that holds another
    configuration; a sweep never overwrites one."""
    folder = run_folder(results, run)
    if not folder.exists():
        return TO_RUN, None
    record = read_record(folder)
    if record is None:
        return IN_THE_WAY, f"{folder}: written by another command (no run.json)"
    if record.get("hash") != run.hash:
        other = str(record.get("hash"))[:8]
        return IN_THE_WAY, f"{folder}: holds another configuration (hash {other})"
    if record.get("status") == "ok" and (folder / "summary.json").is_file():
        return FINISHED, None
    return IN_THE_WAY, f"{folder}: holds this run, unfinished (no summary.json)"


def is_finished(results: Path, run: Run) -> bool:
    return run_state(results, run)[0] == FINISHED


def conflict(results: Path, run: Run) -> str | None:
    """Why the run's folder is in its way, or None (see `run_state`)."""
    return run_state(results, run)[1]


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def user_command(run: Run, threads: int, folder: Path) -> str:
    """The command that performs this run by hand."""
    return shlex.join(["cellbench", *run.argv(threads), "--out", str(folder)])


def write_finished(results: Path, grid_name: str, run: Run, result: dict, record: dict) -> Path:
    """Write a finished run's files and run.json into place at once; returns the folder.

    Args:
        result: `worker.execute_run`'s answer (status "ok").
        record: the sweep's facts about the run (threads, resources...), merged into run.json.
    """
    folder = run_folder(results, run)
    staging = sweep_folder(results, grid_name) / "staging" / f"{run.name}-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    for relative, data in result["files"].items():
        write_bytes_atomic(staging / relative, data)
    write_text_atomic(staging / LOG, result["log"])
    write_json_atomic(staging / RECORD, {
        "sweep": grid_name, "hash": run.hash, "status": "ok", "run": run.config(),
        "variant": run.variant, "node": result["node"], "seconds": result["seconds"],
        "finished": _now(), **record,
    })  # fmt: skip
    folder.parent.mkdir(parents=True, exist_ok=True)
    os.rename(staging, folder)  # the folder did not exist: checked before the sweep began
    failed = sweep_folder(results, grid_name) / "failed"
    for stale in (failed / f"{run.name}.json", failed / f"{run.name}.log"):
        stale.unlink(missing_ok=True)
    return folder


def write_failed(results: Path, grid_name: str, run: Run, error: str, log: str,
                 record: dict) -> Path:  # fmt: skip
    """Record a failed run (its error and output) without touching any run folder."""
    failed = sweep_folder(results, grid_name) / "failed"
    write_text_atomic(failed / f"{run.name}.log", log)
    return write_json_atomic(failed / f"{run.name}.json", {
        "sweep": grid_name, "hash": run.hash, "status": "failed", "run": run.config(),
        "error": error, "log": str(failed / f"{run.name}.log"), "finished": _now(), **record,
    })  # fmt: skip


def write_state(results: Path, grid_name: str, rows: list[dict[str, Any]]) -> Path:
    """sweep.json: one row per run of the grid (name, hash, status, seconds, node...)."""
    return write_json_atomic(sweep_folder(results, grid_name) / "sweep.json",
                             {"sweep": grid_name, "updated": _now(), "runs": rows})  # fmt: skip
