"""Writing results safely, and describing the machine they came from.

Every file under results/ is written atomically: to a temporary file in the same folder,
flushed to disk, then renamed over the target. A run interrupted at any point leaves either
the old file or the new one, never a torn one.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import platform
import tempfile
from pathlib import Path
from typing import Any

DEFAULT_RESULTS = Path("results")


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write `text` to `path` atomically (parents created), UTF-8."""
    return write_bytes_atomic(path, text.encode("utf-8"))


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write `data` to `path` atomically (parents created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def write_npz_atomic(path: str | os.PathLike, arrays: dict, compressed: bool = False) -> Path:
    """Write numpy arrays as one .npz file atomically (built in memory, then renamed in)."""
    import numpy as np

    buffer = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buffer, **arrays)
    return write_bytes_atomic(path, buffer.getvalue())


def write_json_atomic(path: str | os.PathLike, data: Any) -> Path:
    return write_text_atomic(path, json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


WRITER_LOCK = ".writer.lock"


class FolderBusyError(RuntimeError):
    """Another process is writing the folder (see `sole_writer`)."""


@contextlib.contextmanager
def sole_writer(directory: str | os.PathLike, argument: str):
    """Hold `directory`'s writer lock (created with it) for the body, or raise at once when
    another process holds it: two jobs writing one folder would each record only their own
    progress. The lock is the kernel's (flock), so a killed job never leaves it stale. A
    folder created here and left empty by the body is removed again."""
    import fcntl

    directory = Path(directory)
    created = not directory.exists()
    directory.mkdir(parents=True, exist_ok=True)
    lock = directory / WRITER_LOCK
    with open(lock, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise FolderBusyError(
                f"{argument}: {directory} is being written by {holder}; wait for it to finish "
                "or stop it (a stopped job resumes where it left off)"
            ) from None
        handle.truncate(0)
        handle.write(f"process {os.getpid()}\n")
        handle.flush()
        try:
            yield directory
        finally:
            if created and [p.name for p in directory.iterdir()] == [WRITER_LOCK]:
                lock.unlink()  # a job that failed before writing anything leaves no folder
                directory.rmdir()
            fcntl.flock(handle, fcntl.LOCK_UN)


def csv_text(rows: list[dict]) -> str:
    """Rows of dicts as CSV text with a header: every key, in the order first seen (a row
    without one leaves it empty, as rows written before a column existed do); an empty table
    has no columns."""
    buffer = io.StringIO()
    if rows:
        columns = list(dict.fromkeys(key for row in rows for key in row))
        writer = csv.DictWriter(buffer, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return buffer.getvalue()


def _version(module: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(module)
    except metadata.PackageNotFoundError:
        return None


def machine_info() -> dict[str, Any]:
    """Machine, versions and thread counts: printed beside every figure cellbench quotes."""
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
    }
    for package in (
        "numpy", "scipy", "torch", "tensorflow", "keras", "ncps", "numba", "gymnasium", "ale-py",
    ):  # fmt: skip
        info[package] = _version(package)
    import sys

    from .allocator import policy

    info["malloc"] = policy()
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        info["torch_threads"] = torch.get_num_threads()
        info["cuda"] = torch.cuda.is_available() and torch.cuda.get_device_name(0)
    if "tensorflow" in sys.modules:
        tf = sys.modules["tensorflow"]
        info["tf_intra_op_threads"] = tf.config.threading.get_intra_op_parallelism_threads()
        info["tf_gpus"] = len(tf.config.list_physical_devices("GPU"))
    return info
