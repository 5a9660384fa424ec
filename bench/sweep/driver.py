"""The sweep driver: plan the grid against the results directory, schedule the runs left as
Ray tasks, and write each result as it arrives.

A run is one Ray task (`worker.execute_run`) in a fresh worker process (`max_calls=1`) with the
grid's resources. Ray re-executes a task whose worker or node died (`max_retries`), on another
node when its own is gone; a run that fails by itself (an error in training) is recorded as
failed with its output, and the rest of the grid goes on. Results come back to the driver,
which alone writes to the results directory, so every run is written once.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import os
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from . import store
from .cluster import SweepError, check_feasible, connect
from .grid import Grid, Resources, Run
from .worker import execute_run

DEFAULT_RETRIES = 3
#: Seconds between the driver's looks at its Ctrl-C flag while runs are in flight.
_WAIT_SLICE = 0.5


@dataclasses.dataclass
class SweepOutcome:
    """Run names by what became of them in this invocation; `state` is the sweep.json path."""

    finished: list[str]
    failed: list[str]
    skipped: list[str]
    state: Path

    @property
    def ok(self) -> bool:
        return not self.failed


def _row(run: Run, status: str, **facts: Any) -> dict[str, Any]:
    return {"name": run.name, "hash": run.hash, **run.config(), "variant": run.variant,
            "status": status, **facts}  # fmt: skip


def _error_line(result: dict) -> str:
    """The last line a failed run printed (its exception, as a rule), and its exit code."""
    lines = [line for line in result.get("log", "").splitlines() if line.strip()]
    last = lines[-1].strip() if lines else "no output"
    return f"exit code {result.get('returncode')}: {last}"


def plan(grid: Grid, results: Path) -> tuple[list[Run], list[Run]]:
    """(finished earlier, still to run); a run folder in the way raises SweepError."""
    states = {run: store.run_state(results, run) for run in grid.runs}
    blocked = [why for state, why in states.values() if state == store.IN_THE_WAY]
    if blocked:
        raise SweepError(
            f"{len(blocked)} run folder(s) of this grid already exist and were not written by "
            "it; a sweep never overwrites them. Move them away or pass another --results:\n  "
            + "\n  ".join(blocked)
        )
    finished = [run for run, (state, _) in states.items() if state == store.FINISHED]
    return finished, [run for run, (state, _) in states.items() if state == store.TO_RUN]


def run_sweep(
    grid: Grid,
    results: Path,
    address: str | None = None,
    max_parallel: int | None = None,
    resources: dict[str, Any] | None = None,
    retries: int = DEFAULT_RETRIES,
    progress: bool = True,
    echo: Callable[[str], None] = print,
) -> SweepOutcome:
    """Run every unfinished run of `grid` and write its results under `results`.

    Args:
        address: None: a local Ray instance started here; else see `cluster.connect`.
        max_parallel: at most this many runs scheduled at once (None: as resources allow).
        resources: per-run resources overriding the grid's ([resources]; see `Resources`).
        retries: re-executions of a run lost with its worker or node.
        echo: where one line per finished or failed run goes.
    """
    if max_parallel is not None and max_parallel < 1:
        raise SweepError(f"--max-parallel: expected an integer >= 1, got {max_parallel}")
    if retries < 0:
        raise SweepError(f"--retries: expected an integer >= 0, got {retries}")
    per_run: Resources = grid.resources.updated(resources or {})
    threads = per_run.thread_budget
    finished_before, pending = plan(grid, results)
    rows = {run.hash: _row(run, "finished earlier" if run in finished_before else "pending")
            for run in grid.runs}  # fmt: skip
    outcome = SweepOutcome([], [], [run.name for run in finished_before],
                           store.sweep_folder(results, grid.name) / "sweep.json")  # fmt: skip

    def announce() -> None:
        store.write_state(results, grid.name, list(rows.values()))
        echo(f"sweep {grid.name}: {len(grid.runs)} runs, {len(finished_before)} finished "
             f"earlier (skipped), {len(pending)} to run, {threads} thread(s) and "
             f"{per_run.demands()} each")  # fmt: skip

    if not pending:
        announce()
        return outcome
    connect(address)
    import ray

    try:
        check_feasible(per_run)  # before anything is written or scheduled
        announce()
        _schedule(pending, grid.name, results, per_run, max_parallel, retries, progress, echo,
                  rows, outcome)  # fmt: skip
    finally:
        # Stops a local instance; leaves a cluster, whose tasks of this driver then end too.
        ray.shutdown()
    return outcome


def _schedule(pending: list[Run], grid_name: str, results: Path, per_run: Resources,
              max_parallel: int | None, retries: int, progress: bool,
              echo: Callable[[str], None], rows: dict, outcome: SweepOutcome) -> None:  # fmt: skip
    """Keep up to `max_parallel` runs scheduled; write each result as it arrives. An interrupt
    marks the runs in flight as interrupted in sweep.json (their folders were never written)."""
    import ray

    threads = per_run.thread_budget
    task = ray.remote(max_calls=1, max_retries=retries, retry_exceptions=False)(
        execute_run
    ).options(**per_run.ray_options())
    data_root = os.environ.get("CELLBENCH_DATA") or str(Path("data").resolve())
    queue, in_flight = collections.deque(pending), {}
    limit = max_parallel or len(pending)
    record = {"threads": threads, "resources": per_run.ray_options()}
    try:
        with _ctrl_c_flag() as ctrl_c, tqdm(total=len(pending), desc=f"sweep {grid_name}",
                                            unit="run", disable=not progress) as bar:  # fmt: skip
            while queue or in_flight:
                while queue and len(in_flight) < limit:
                    run = queue.popleft()
                    in_flight[task.remote(run.argv(threads), threads, data_root)] = run
                    rows[run.hash]["status"] = "scheduled"
                store.write_state(results, grid_name, list(rows.values()))
                done = []
                while not done:
                    done, _ = ray.wait(list(in_flight), num_returns=1, timeout=_WAIT_SLICE)
                    if ctrl_c.is_set():
                        raise KeyboardInterrupt
                for ref in done:
                    run = in_flight.pop(ref)
                    line = _collect(ref, run, results, grid_name, threads, record, rows)
                    (outcome.finished if rows[run.hash]["status"] == "ok"
                     else outcome.failed).append(run.name)  # fmt: skip
                    bar.write(line) if progress else echo(line)
                    bar.update(1)
                store.write_state(results, grid_name, list(rows.values()))
    except BaseException:
        for row in rows.values():
            if row["status"] == "scheduled":
                row["status"] = "interrupted"
        store.write_state(results, grid_name, list(rows.values()))
        raise


@contextlib.contextmanager
def _ctrl_c_flag() -> Iterator[threading.Event]:
    """A flag that Ctrl-C (SIGINT) sets, besides raising KeyboardInterrupt as usual.

    Ray's wait checks for signals from inside its C++ loop, and a KeyboardInterrupt raised there
    was seen lost once (the sweep then ran to the end). The flag survives that: the driver waits
    in slices of `_WAIT_SLICE` seconds and raises KeyboardInterrupt itself when it is set.
    """
    flag = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield flag  # signal handlers belong to the main thread; Ctrl-C is not ours here
        return

    def on_ctrl_c(signum, frame):
        flag.set()
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, on_ctrl_c)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)


def _collect(ref, run: Run, results: Path, grid_name: str, threads: int, record: dict,
             rows: dict) -> str:  # fmt: skip
    """Fetch one task's answer, write it (finished run or failure record); one line for it."""
    import ray

    folder = store.run_folder(results, run)
    facts = {**record, "command": store.user_command(run, threads, folder)}
    try:
        result = ray.get(ref)
    except ray.exceptions.RayError as error:  # the task itself is lost, retries included
        result = {"status": "failed", "returncode": None, "log": "", "node": {},
                  "error": f"{type(error).__name__}: {error}"}  # fmt: skip
    node = result.get("node") or {}
    if result["status"] == "ok":
        store.write_finished(results, grid_name, run, result, facts)
        rows[run.hash].update(status="ok", seconds=round(result["seconds"], 1),
                              node_id=node.get("node_id"), folder=str(folder))  # fmt: skip
        where = (node.get("node_id") or node.get("host") or "?")[:8]
        return f"ok      {run.suite} {run.name} ({result['seconds']:.0f} s, node {where})"
    error = result.get("error") or _error_line(result)
    path = store.write_failed(results, grid_name, run, error, result.get("log", ""), facts)
    rows[run.hash].update(status="failed", error=error, node_id=node.get("node_id"),
                          record=str(path))  # fmt: skip
    return f"FAILED  {run.suite} {run.name}: {error} (log: {path.with_suffix('.log')})"
