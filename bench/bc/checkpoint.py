"""One-file checkpoints of a BC run: canonical parameters, optimizer state and progress.

`checkpoint.npz` holds "param/<canonical name>" arrays (framework-neutral), the optimizer state
(torch: its serialised state dict as bytes, "optimizer"; TF: "optimizer/<i>" arrays) and "meta",
a JSON string: policy spec, backend, impl, dataset, epochs done, metrics so far. It is written
atomically after every epoch, so an interrupted run resumes from its last finished epoch.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

NAME = "checkpoint.npz"


def save(directory: Path, params: dict, optimizer, meta: dict) -> Path:
    arrays = {f"param/{k}": v for k, v in params.items()}
    if isinstance(optimizer, dict):
        arrays.update({f"optimizer/{k}": v for k, v in optimizer.items()})
    else:
        arrays["optimizer"] = optimizer
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / NAME
    fd, tmp = tempfile.mkstemp(prefix=f".{NAME}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            np.savez(handle, **arrays)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load(path: Path) -> tuple[dict, object, dict]:
    """(params, optimizer state, meta); ValueError naming the file if it is unreadable."""
    try:
        with np.load(path, allow_pickle=False) as arrays:
            meta = json.loads(arrays["meta"].tobytes().decode())
            params = {k[len("param/") :]: arrays[k] for k in arrays.files if k.startswith("param/")}
            if "optimizer" in arrays.files:
                optimizer = arrays["optimizer"]
            else:
                optimizer = {
                    k[len("optimizer/") :]: arrays[k]
                    for k in arrays.files
                    if k.startswith("optimizer/")
                }
    except (zipfile.BadZipFile, EOFError, OSError, KeyError, ValueError) as error:
        raise ValueError(f"checkpoint: {path} is unreadable or corrupt ({error})") from error
    return params, optimizer, meta


def check_compatible(meta: dict, expected: dict, path: Path) -> None:
    """Raise a ValueError naming what differs between a checkpoint and the run resuming it."""
    for key in ("policy", "backend", "dataset_game"):
        if meta.get(key) != expected.get(key):
            raise ValueError(
                f"checkpoint: {path} was written by a run with {key}={meta.get(key)!r}, this run "
                f"has {key}={expected.get(key)!r}; use another --out or drop --resume"
            )
