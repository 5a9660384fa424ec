"""The tolerance table and the error measure every parity check uses (one place for both).

Errors are measured norm-wise per tensor: the largest absolute difference divided by the
largest magnitude of the expected tensor. Element-wise relative error would explode on entries
that are near zero by chance; norm-wise error is what rounding actually bounds.
"""

from __future__ import annotations

import numpy as np

#: Maximum norm-wise relative error against the float64 reference, for outputs, final state
#: and gradients, by the dtype the implementation computed in.
TOLERANCES = {"float64": 1e-10, "float32": 1e-5}


def tolerance(dtype) -> float:
    name = np.dtype(dtype).name
    if name not in TOLERANCES:
        raise ValueError(f"dtype: expected one of {sorted(TOLERANCES)}, got {name!r}")
    return TOLERANCES[name]


def errors(actual, expected) -> tuple[float, float]:
    """(max abs error, norm-wise relative error) of `actual` against `expected`."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    if actual.shape != expected.shape:
        raise ValueError(f"actual: expected shape {expected.shape}, got {actual.shape}")
    if actual.size == 0:
        return 0.0, 0.0
    abs_err = float(np.max(np.abs(actual - expected)))
    scale = float(np.max(np.abs(expected)))
    # An all-zero expected tensor (e.g. the gradient of a masked synapse) is compared absolutely.
    return abs_err, abs_err / scale if scale > 0 else abs_err


def model_gradient_errors(actual: dict, expected: dict, floor: float = 1e-3) -> dict[str, float]:
    """Relative error of each gradient tensor of a whole model, plus "<all>" (norm-wise over
    every tensor together).

    Each tensor's max abs error is divided by its own largest entry, floored at `floor` times
    the largest entry of the whole model: a float32 model resolves a tensor whose gradient is
    tiny next to the others only to that absolute level (LTC's `cm` gradient in a policy is 1e-5
    of the largest, and float32 torch and TF each match float64 there only to ~2e-4 relative).
    """
    if set(actual) != set(expected):
        raise ValueError(
            f"actual: expected the gradient names {sorted(expected)}, got {sorted(actual)}"
        )
    largest = max(float(np.max(np.abs(g))) for g in expected.values())
    result = {}
    for key, want in expected.items():
        abs_err, _ = errors(actual[key], want)
        result[key] = abs_err / max(float(np.max(np.abs(want))), floor * largest)
    flat_actual = np.concatenate([np.ravel(actual[k]) for k in expected])
    flat_expected = np.concatenate([np.ravel(g) for g in expected.values()])
    result["<all>"] = float(
        np.linalg.norm(flat_actual - flat_expected) / np.linalg.norm(flat_expected)
    )
    return result
