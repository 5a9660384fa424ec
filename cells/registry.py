"""A plain registry of implementations, one per backend (`cells.torch`, `cells.tf`).

An implementation is a name ("eager", "graph", "native", later "fused", "xla" ...) plus the cells
it supports and a factory. Suites and tests parametrize over `Registry.names()` and ask
`unsupported(spec)` so they can list exactly which path ran; `build` raises
`NotImplementedError` naming the reason when an implementation cannot run a spec.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from .spec import CellSpec


@dataclasses.dataclass(frozen=True)
class Implementation:
    """One registered way of computing a cell.

    Attributes:
        name: the `impl` string users pass.
        cells: the cell names it computes.
        factory: factory(spec, params, **options) -> module or layer.
        description: one line for `--help` and reports.
        supports_backward: whether gradients flow through it.
        limits: optional check(spec) -> reason string when a spec is outside what it supports.
    """

    name: str
    cells: tuple[str, ...]
    factory: Callable[..., Any]
    description: str
    supports_backward: bool = True
    limits: Callable[[CellSpec], str | None] | None = None

    def unsupported(self, spec: CellSpec) -> str | None:
        """None when this implementation can compute `spec`, else the reason it cannot."""
        if spec.name not in self.cells:
            return f"impl {self.name!r} computes {list(self.cells)}, not {spec.name!r}"
        return self.limits(spec) if self.limits else None


class Registry:
    """name -> Implementation for one backend."""

    def __init__(self, backend: str):
        self.backend = backend
        self._entries: dict[str, Implementation] = {}

    def register(self, implementation: Implementation) -> Implementation:
        self._entries[implementation.name] = implementation
        return implementation

    def names(self) -> tuple[str, ...]:
        return tuple(self._entries)

    def get(self, impl: str) -> Implementation:
        if impl not in self._entries:
            raise ValueError(
                f"impl: expected one of {list(self._entries)} for the {self.backend} backend, "
                f"got {impl!r}"
            )
        return self._entries[impl]

    def build(self, spec: CellSpec, params=None, impl: str = "eager", **options):
        if not isinstance(spec, CellSpec):
            raise ValueError(
                f"spec: expected a CellSpec (cells.get_spec), got {type(spec).__name__}"
            )
        implementation = self.get(impl)
        reason = implementation.unsupported(spec)
        if reason:
            raise NotImplementedError(f"{self.backend}: {reason}")
        return implementation.factory(spec, params, **options)
