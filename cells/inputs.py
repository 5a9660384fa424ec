"""Checks on what a caller passes to a cell, shared by the reference and every backend.

Shape checks work on plain shape tuples so that numpy, torch and TF share one message; value
checks (finite, positive) take numpy arrays, and backends call them on host copies.
Every error names the argument, the expected and the actual value.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .spec import CellSpec


def check_sequence_shape(
    spec: CellSpec, shape: Sequence[int], argument: str = "x"
) -> tuple[int, int]:
    """x must be (B, T, I) with I = spec.input_size; returns (B, T)."""
    shape = tuple(int(s) for s in shape)
    if len(shape) != 3:
        raise ValueError(
            f"{argument}: expected a rank-3 tensor (batch, time, {spec.input_size}), "
            f"got shape {shape}"
        )
    if shape[2] != spec.input_size:
        raise ValueError(
            f"{argument}: expected {spec.input_size} features in the last axis, got shape {shape}"
        )
    if shape[0] < 1 or shape[1] < 1:
        raise ValueError(
            f"{argument}: expected at least one sample and one step, got shape {shape}"
        )
    return shape[0], shape[1]


def check_timespans_shape(shape: Sequence[int], batch: int, steps: int) -> None:
    """timespans must be (B, T) or (B, T, 1)."""
    shape = tuple(int(s) for s in shape)
    if shape not in ((batch, steps), (batch, steps, 1)):
        raise ValueError(
            f"timespans: expected shape ({batch}, {steps}) or ({batch}, {steps}, 1), got {shape}"
        )


def check_timespan_values(timespans: np.ndarray) -> None:
    """Elapsed times must be finite and > 0 (LTC divides by them)."""
    timespans = np.asarray(timespans)
    if not np.all(np.isfinite(timespans)):
        raise ValueError("timespans: expected finite values > 0, got NaN or inf")
    if timespans.size and timespans.min() <= 0:
        raise ValueError(f"timespans: expected values > 0, got minimum {float(timespans.min())!r}")


def check_finite(array: np.ndarray, argument: str) -> None:
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{argument}: expected finite values, got NaN or inf")


def state_parts(spec: CellSpec, hx, batch: int, shape_of=np.shape) -> tuple:
    """Normalise an initial state to a tuple of `spec.state_arity` tensors of (B, state_size).

    `hx` is None, one tensor (cells whose state is h), or a pair (h, c). Returns the parts
    as given (no copy, no conversion) so each backend keeps its own tensor type; None stays
    None for the caller to fill with zeros.
    """
    if hx is None:
        return None
    expected = (batch, spec.state_size)
    if spec.state_arity == 2:
        if not isinstance(hx, (tuple, list)) or len(hx) != 2:
            raise ValueError(
                f"hx: {spec.describe()} has the state (h, c); expected a pair of {expected} "
                f"tensors, got {type(hx).__name__}"
            )
        parts = tuple(hx)
    else:
        if isinstance(hx, (tuple, list)):
            if len(hx) != 1:
                raise ValueError(
                    f"hx: {spec.describe()} has the state h alone; expected one {expected} "
                    f"tensor, got a sequence of {len(hx)}"
                )
            hx = hx[0]
        parts = (hx,)
    for index, part in enumerate(parts):
        shape = tuple(int(s) for s in shape_of(part))
        if shape != expected:
            label = "hx" if spec.state_arity == 1 else f"hx[{index}]"
            raise ValueError(f"{label}: expected shape {expected}, got {shape}")
    return parts


def pack_state(spec: CellSpec, parts: tuple):
    """The public form of a state: h alone, or the pair (h, c)."""
    return parts[0] if spec.state_arity == 1 else tuple(parts)
