"""`cellbench sweep GRID.toml`: the command line of the sweep driver."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..results import DEFAULT_RESULTS


def _resources(text: str) -> dict:
    """'num_cpus=2,threads=2,big_node=1' -> {"num_cpus": 2.0, "threads": 2, "big_node": 1.0}."""
    parsed = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        try:
            number = float(value)
        except ValueError:
            number = None
        if not sep or not key.strip() or number is None:
            raise argparse.ArgumentTypeError(
                f"expected NAME=AMOUNT[,NAME=AMOUNT...], e.g. num_cpus=2,threads=2; got {item!r}"
            )
        key = key.strip()
        whole = key in ("threads", "memory")
        if whole and not number.is_integer():
            raise argparse.ArgumentTypeError(f"{key}: expected a whole number, got {value!r}")
        parsed[key] = int(number) if whole else number
    return parsed


def add_sweep(subparsers) -> None:
    parser = subparsers.add_parser(
        "sweep",
        help="run a grid of BC / A2C trainings on Ray (local or a cluster)",
        description=(
            "Expand GRID.toml (suites x cells x backends x games x seeds x profile x settings; "
            "see suites/grids/) into runs and execute each as a Ray task in its own process, "
            "with the grid's resources and thread budget per run. Without --address, Ray "
            "starts on this machine (no set-up). Every run is checked before anything starts. "
            "Results land in RESULTS/<suite>/train/<run>/ as with `cellbench train`, each run "
            "written whole by this driver, with run.json (config hash, node, command) and "
            "train.log; RESULTS/sweeps/<grid>/sweep.json lists every run's state. Re-running "
            "the same command resumes: finished runs (same config hash) are skipped. A run that "
            "fails is recorded with its error and log, and the grid goes on; a run lost with "
            "its worker or node is retried. Exit status 1 when a run failed."
        ),
    )
    parser.add_argument("grid", type=Path, help="grid file (TOML), e.g. suites/grids/quick.toml")
    parser.add_argument("--address", help="Ray cluster: 'auto' (the one this machine joined), "
                        "HOST:PORT (head's GCS port) or ray://HOST:PORT (Ray Client); "
                        "default: start Ray locally")  # fmt: skip
    parser.add_argument(
        "--max-parallel",
        type=int,
        metavar="N",
        help="at most N runs at once (default: as many as resources allow)",
    )
    parser.add_argument(
        "--resources",
        type=_resources,
        metavar="NAME=AMOUNT,...",
        help="per-run resources overriding the grid's [resources]: num_cpus, "
        "num_gpus, memory (bytes), threads, or any custom Ray resource",
    )
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS,
                        help="results folder (default %(default)s)")  # fmt: skip
    parser.add_argument(
        "--retries",
        type=int,
        default=3,
        help="re-executions of a run lost with its worker or node (default 3)",
    )
    parser.add_argument("--dry-run", action="store_true",
                        help="list the runs, their state and commands; run nothing")  # fmt: skip
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(handler=run_sweep_command)


def _dry_run(grid, results: Path, resources: dict | None) -> int:
    from . import store

    threads = grid.resources.updated(resources or {}).thread_budget
    for run in grid.runs:
        state, _ = store.run_state(results, run)
        command = store.user_command(run, threads, store.run_folder(results, run))
        print(f"{state:10s} {run.hash[:8]} {command}")
    print(f"{len(grid.runs)} runs in {grid.path}")
    return 0


def run_sweep_command(args) -> int:
    from .cluster import SweepError
    from .driver import run_sweep
    from .grid import load_grid

    grid = load_grid(args.grid)
    if args.dry_run:
        return _dry_run(grid, args.results, args.resources)
    try:
        outcome = run_sweep(grid, args.results, args.address, args.max_parallel, args.resources,
                            args.retries, progress=not args.no_progress)  # fmt: skip
    except SweepError as error:
        print(f"cellbench sweep: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("cellbench sweep: interrupted; finished runs are kept, run the same command to "
              "resume", file=sys.stderr)  # fmt: skip
        return 130
    print(
        f"sweep {grid.name}: {len(outcome.finished)} finished, {len(outcome.failed)} failed, "
        f"{len(outcome.skipped)} skipped (finished earlier); state in {outcome.state}"
    )
    for name in outcome.failed:
        print(f"  failed: {name} (see {outcome.state.parent / 'failed' / name}.json)")
    return 0 if outcome.ok else 1
