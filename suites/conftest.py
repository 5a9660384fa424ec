"""Suite-wide options and results.

`--profile smoke|quick|full` sizes every suite (default quick); `--threads N` is the thread count
torch and TF both get (default: every core this process may use).

At the end of a run, each suite's benchmarks are written as pytest-benchmark JSON (the same
document `--benchmark-json` writes, so `pytest-benchmark compare` reads it) to
results/<suite>/runs/<UTC time>.json, atomically; results/<suite>/latest.json is replaced only
by a run that was not interrupted, so a stopped run never hides the last complete one.
"""

import datetime
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
from cells.preload import before_tensorflow  # noqa: E402

before_tensorflow()  # torch and Triton load before TF, always

import pytest  # noqa: E402

from bench import kernel_pairs, kernels  # noqa: E402
from bench.results import DEFAULT_RESULTS, machine_info, write_json_atomic  # noqa: E402

PROFILES = ("smoke", "quick", "full")


def pytest_addoption(parser):
    parser.addoption(
        "--profile",
        choices=PROFILES,
        default="quick",
        help="smoke: seconds per test (CI); quick: the whole suite in ~15 min on a 2-core "
        "laptop; full: the real study (hours, GPU welcome). Default quick.",
    )
    parser.addoption(
        "--threads",
        type=int,
        default=kernels.default_threads(),
        help="threads for torch and TF alike (default: the cores this process may use, "
        f"{kernels.default_threads()} here)",
    )
    parser.addoption(
        "--results",
        default=str(DEFAULT_RESULTS),
        help="folder for the JSON results (default: results/)",
    )


@pytest.fixture(scope="session")
def profile(request) -> str:
    return request.config.getoption("--profile")


@pytest.fixture(scope="session")
def threads(request) -> int:
    count = request.config.getoption("--threads")
    if count < 1:
        raise pytest.UsageError(f"--threads: expected a count >= 1, got {count}")
    return count


_LOAD = {}


def pytest_sessionstart(session):
    # Another busy process on the same cores distorts every timing (OpenMP barriers stall when a
    # thread is descheduled); record the load so a reader can tell, and warn below.
    _LOAD["start"] = os.getloadavg()


def _suite_of(benchmark) -> str:
    """'suites/kernels/test_kernels.py::test_kernel[...]' -> 'kernels'."""
    path = Path(benchmark.fullname.split("::")[0])
    return path.parent.name if path.parent.name != "suites" else path.stem


def pytest_sessionfinish(session, exitstatus):
    config = session.config
    bench_session = getattr(config, "_benchmarksession", None)  # pytest-benchmark's run state
    if bench_session is None or not bench_session.benchmarks:
        return
    complete = exitstatus not in (pytest.ExitCode.INTERRUPTED, pytest.ExitCode.INTERNAL_ERROR)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    root = Path(config.getoption("--results"))
    by_suite = {}
    for benchmark in bench_session.benchmarks:
        by_suite.setdefault(_suite_of(benchmark), []).append(benchmark)
    for suite, benchmarks in by_suite.items():
        document = config.hook.pytest_benchmark_generate_json(
            config=config,
            benchmarks=benchmarks,
            include_data=True,
            machine_info=bench_session.get_machine_info(),
            commit_info=config.hook.pytest_benchmark_generate_commit_info(config=config),
        )
        document["cellbench"] = {
            "suite": suite,
            "profile": config.getoption("--profile"),
            "threads": config.getoption("--threads"),
            "complete": complete,
            "load_average_at_start": _LOAD.get("start"),
            "machine": machine_info(),
        }
        run_path = write_json_atomic(root / suite / "runs" / f"{stamp}.json", document)
        if complete:
            write_json_atomic(root / suite / "latest.json", document)
        _SUMMARIES.append((suite, run_path, complete, document))


_SUMMARIES = []


def pytest_terminal_summary(terminalreporter):
    load = _LOAD.get("start")
    if _SUMMARIES and load and load[0] > 0.5:
        terminalreporter.write_line(
            f"cellbench: warning: the 1-minute load average was {load[0]:.2f} when the run "
            "started; other work on these cores distorts timings. Re-run on an idle machine."
        )
    for suite, run_path, complete, document in _SUMMARIES:
        if suite == "kernels":
            terminalreporter.write_sep("-", "kernel ratios (same run)")
            terminalreporter.write_line(kernels.format_ratio_table(kernels.ratio_table(document)))
            pairs = kernel_pairs.pair_rows(document)
            if pairs:
                terminalreporter.write_sep("-", "paired ratios (A and B alternated, same run)")
                terminalreporter.write_line(kernel_pairs.format_pair_rows(pairs))
        if suite == "reference":
            from bench import ode_bench  # needs numba, which only this suite requires

            terminalreporter.write_sep("-", "ODE solver ratios (same run)")
            terminalreporter.write_line(
                ode_bench.format_ratio_table(ode_bench.ratio_table(document))
            )
        if suite == "a2c":
            from bench.a2c.suite import ratio_table

            terminalreporter.write_sep("-", "A2C throughput and returns (same run)")
            terminalreporter.write_line(ratio_table(document))
        note = "" if complete else " (interrupted: latest.json left as it was)"
        terminalreporter.write_line(f"cellbench: wrote {run_path}{note}")
