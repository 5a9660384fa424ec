"""One sweep run, as it executes on a Ray worker: `cellbench train ...` in its own process.

The run trains into a scratch folder on the worker's node and hands back every file it wrote,
as bytes; only the driver writes to the results directory, so nodes need no shared filesystem
and a run lost with its node leaves nothing half-written behind. A child process, rather than
the Ray worker itself, gives each run a fresh interpreter (torch and TF imported in the order
cellbench needs, memory returned at exit), its own thread budget, and a complete log of what it
printed, C libraries included.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

LOG_LIMIT = 200_000  # characters of the run's log kept (its end, where errors are)
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                    "NUMBA_NUM_THREADS", "TF_NUM_INTRAOP_THREADS")  # fmt: skip


def _die_with_parent() -> None:
    """In the child, before exec: be killed when the Ray worker that started it dies, so a lost
    worker or node never leaves an orphaned training behind (Linux; elsewhere a no-op)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def _node() -> dict[str, Any]:
    """Where this run executes: Ray's node id when inside Ray, the host and process."""
    node_id = None
    try:
        import ray

        if ray.is_initialized():
            node_id = ray.get_runtime_context().get_node_id()
    except ImportError:
        pass
    return {"node_id": node_id, "host": socket.gethostname(), "pid": os.getpid()}


def _collect(folder: Path) -> dict[str, bytes]:
    """Every file under `folder`, keyed by its path relative to it (POSIX separators)."""
    return {path.relative_to(folder).as_posix(): path.read_bytes()
            for path in sorted(folder.rglob("*")) if path.is_file()}  # fmt: skip


def execute_run(argv: list[str], threads: int, data_root: str | None = None) -> dict[str, Any]:
    """Run `cellbench <argv> --out <scratch>` and return what happened.

    Args:
        argv: the run's `cellbench` arguments (`Run.argv`), without --out.
        threads: the run's thread budget: --threads is in argv; the BLAS/OpenMP variables of
            the child are set to it as well, so no library spawns one thread per core.
        data_root: where BC datasets live on this node ($CELLBENCH_DATA); None keeps the
            node's own setting, else ./data of the worker.

    Returns:
        {"status": "ok" | "failed", "returncode", "seconds", "files": {relative path: bytes}
        (empty when failed), "log": the run's output (its last LOG_LIMIT characters), "node":
        node id, host and pid, "command": the full command line}.
    """
    env = {**os.environ, **{name: str(threads) for name in THREAD_VARIABLES},
           "TQDM_DISABLE": "1", "PYTHONUNBUFFERED": "1"}  # fmt: skip
    if data_root:
        env["CELLBENCH_DATA"] = data_root
    scratch = Path(tempfile.mkdtemp(prefix="cellbench-run-"))
    command = [sys.executable, "-m", "bench.cli", *argv, "--out", str(scratch / "run")]
    started = time.perf_counter()
    try:
        with open(scratch / "run.log", "w+b") as log:
            process = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, env=env,
                                     preexec_fn=_die_with_parent, check=False)  # fmt: skip
            log.seek(0)
            text = log.read().decode("utf-8", errors="replace")
        ok = process.returncode == 0
        return {
            "status": "ok" if ok else "failed",
            "returncode": process.returncode,
            "seconds": time.perf_counter() - started,
            "files": _collect(scratch / "run") if ok else {},
            "log": text[-LOG_LIMIT:],
            "node": _node(),
            "command": command,
        }
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
