"""One-file checkpoints of a training run (BC, A2C): canonical parameters, optimizer state and
progress.

`checkpoint.npz` holds "param/<canonical name>" arrays (framework-neutral), the optimizer state
(torch: its serialised state dict as bytes, "optimizer"; TF: "optimizer/<i>" arrays) and "meta",
a JSON string: the run's identity (policy spec, backend, game...) and its progress. It is written
atomically, so an interrupted run resumes from its last checkpoint.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

from .results import write_npz_atomic

NAME = "checkpoint.npz"


def save(directory: Path, params: dict, optimizer, meta: dict) -> Path:
    arrays = {f"param/{k}": v for k, v in params.items()}
    if isinstance(optimizer, dict):
        arrays.update({f"optimizer/{k}": v for k, v in optimizer.items()})
    else:
        arrays["optimizer"] = optimizer
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    return write_npz_atomic(Path(directory) / NAME, arrays)


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
    """Raise a ValueError naming what differs between a checkpoint and the run resuming it; every
    key of `expected` (the run's identity) must match."""
    for key in expected:
        if meta.get(key) != expected.get(key):
            raise ValueError(
                f"checkpoint: {path} was written by a run with {key}={meta.get(key)!r}, this run "
                f"has {key}={expected.get(key)!r}; use another --out or drop --resume"
            )


def torch_optimizer_state(optimizer) -> np.ndarray:
    """A torch optimizer's state dict, serialised to bytes (stored as one uint8 array)."""
    import io

    import torch

    buffer = io.BytesIO()
    torch.save(optimizer.state_dict(), buffer)
    return np.frombuffer(buffer.getvalue(), dtype=np.uint8)


def load_torch_optimizer_state(optimizer, blob: np.ndarray) -> None:
    import io

    import torch

    optimizer.load_state_dict(torch.load(io.BytesIO(blob.tobytes()), weights_only=True))


def keras_optimizer_state(optimizer) -> dict[str, np.ndarray]:
    """A Keras optimizer's variables (iterations, moments...) in their order."""
    return {f"{i:04d}": np.asarray(v) for i, v in enumerate(optimizer.variables)}


def load_keras_optimizer_state(optimizer, arrays: dict[str, np.ndarray]) -> None:
    variables = optimizer.variables
    if len(arrays) != len(variables):
        raise ValueError(
            f"checkpoint: expected {len(variables)} optimizer arrays, got {len(arrays)}"
        )
    for variable, key in zip(variables, sorted(arrays)):
        variable.assign(arrays[key])
