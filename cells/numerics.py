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
