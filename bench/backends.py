"""Choosing the framework at run time: torch, or TF, which loads only after torch and Triton."""

from __future__ import annotations

import importlib

BACKENDS = ("torch", "tf")
DEFAULT_IMPL = {"torch": "eager", "tf": "graph"}


def backend_class(backend: str, torch_target: str, tf_target: str) -> type:
    """The class named "module:Class" for the backend, imported on demand."""
    if backend not in BACKENDS:
        raise ValueError(f"backend: expected one of {list(BACKENDS)}, got {backend!r}")
    if backend == "tf":
        from cells.preload import before_tensorflow

        before_tensorflow()
    module, name = (torch_target if backend == "torch" else tf_target).split(":")
    return getattr(importlib.import_module(module), name)
