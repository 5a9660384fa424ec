"""Linear test problems dy/dt = M y, whose exact solution expm(M t) y0 tests the solvers."""

from __future__ import annotations

import numpy as np
from scipy import linalg

from .integrate import Problem, rhs_function


@rhs_function
def _linear_rhs(t, y, shared, sample, meta, work, out):
    n = meta[0]
    matrix = shared.reshape((n, n))
    for i in range(n):
        acc = 0.0
        for j in range(n):
            acc += matrix[i, j] * y[j]
        out[i] = acc


def linear_problem(matrix, batch: int = 1) -> Problem:
    """dy/dt = matrix @ y for `batch` samples; matrix (n, n)."""
    matrix = np.ascontiguousarray(matrix, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"matrix: expected a square (n, n) array, got shape {matrix.shape}")
    n = matrix.shape[0]
    return Problem(
        rhs=_linear_rhs,
        shared=matrix.ravel(),
        samples=np.zeros((batch, 0)),
        meta=np.array([n], dtype=np.int64),
        work_size=0,
    )


def exact_solution(matrix, y0, t_end) -> np.ndarray:
    """expm(matrix t_end[b]) y0[b] for each sample: y0 (B, n), t_end (B,) -> (B, n)."""
    return np.stack([linalg.expm(matrix * t) @ y for y, t in zip(y0, t_end)])


#: A damped rotation plus a slow decay: non-trivial, non-stiff, exact solution known.
OSCILLATOR = np.array([[-0.3, 2.0, 0.0], [-2.0, -0.3, 0.0], [0.0, 0.0, -0.7]])
#: Eigenvalues -1 and -200 (with a coupling): explicit solvers are limited by stability.
STIFFISH = np.array([[-1.0, 0.5], [0.0, -200.0]])
