"""Batched explicit Runge-Kutta integration in numba: fixed steps, or adaptive steps.

Every sample of a batch is its own initial-value problem dy/dt = f(t, y), integrated from t = 0
to its own end time, with its own step sizes (a stiff sample does not slow the others), in
parallel over samples (`prange`). Working arrays are allocated once per sample and call, never
per step.

The adaptive controller is scipy's (`scipy.integrate._ivp.rk`), line for line: the same initial
step (Hairer's algorithm), RMS error norm with scale atol + rtol max(|y|, |y_new|), safety 0.9,
step factors in [0.2, 10], no growth right after a rejection, DOP853's combined 5th/3rd order
error norm. So `dopri5` takes the steps scipy's RK45 takes and `dop853` those of scipy's DOP853
(tests/test_ode.py checks the evaluation counts are equal); `suites/reference` times the two
side by side.

Right-hand sides are numba functions with one signature (`RHS_SIGNATURE`)

    rhs(t, y (n,), shared (P,), sample (S,), meta (M,) int64, work (W,), out (n,)) -> None

`shared` holds the problem's parameters flattened, `sample` the data of this sample (an input
held constant over the interval), `meta` integer sizes, `work` scratch space. They are passed
to the kernels (`cells.ode.kernels`) as first-class function values, so the kernels compile
once for every problem and are cached on disk (`cache=True`).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numba
import numpy as np

from .kernels import (
    MAX_STEPS,
    NON_FINITE,
    OK,
    RHS_SIGNATURE,
    STATS,
    STEP_TOO_SMALL,
    adaptive_kernel,
    fixed_kernel,
)
from .tableaux import Tableau


def rhs_function(function):
    """Compile `function` as a right-hand side (signature above; cached, vectorisable)."""
    return numba.njit(RHS_SIGNATURE, cache=True, fastmath={"contract"}, error_model="numpy")(
        function
    )


class ODESolverError(RuntimeError):
    """An integration could not finish (step limit, vanishing step, non-finite state)."""


@dataclasses.dataclass(frozen=True, eq=False)
class Problem:
    """A batch of initial-value problems sharing one right-hand side.

    Attributes:
        rhs: a function compiled by `rhs_function`.
        shared: (P,) float64 parameters, the same for every sample.
        samples: (B, S) float64 per-sample data (S may be 0).
        meta: (M,) int64 sizes the rhs reads.
        work_size: scratch floats the rhs needs per sample.
        synapses: the dominant inner-loop count of one rhs evaluation of one sample, for the
            ns-per-synapse figures of the benchmark (0 when it means nothing).
    """

    rhs: Any
    shared: np.ndarray
    samples: np.ndarray
    meta: np.ndarray
    work_size: int
    synapses: int = 0

    @property
    def batch(self) -> int:
        return self.samples.shape[0]


def _check_positive(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise ValueError(f"{name}: expected a positive number, got {value!r}")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name}: expected a finite number > 0, got {value!r}")
    return float(value)


def _check_count(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name}: expected a positive integer, got {value!r}")
    return int(value)


def _check_start(problem: Problem, y0, t_end) -> tuple[np.ndarray, np.ndarray]:
    y0 = np.ascontiguousarray(y0, dtype=np.float64)
    t_end = np.ascontiguousarray(t_end, dtype=np.float64)
    if y0.ndim != 2 or y0.shape[0] != problem.batch:
        raise ValueError(f"y0: expected shape ({problem.batch}, n), got {y0.shape}")
    if not np.all(np.isfinite(y0)):
        raise ValueError("y0: expected finite values, got NaN or inf")
    if t_end.shape != (problem.batch,):
        raise ValueError(f"t_end: expected shape ({problem.batch},), got {t_end.shape}")
    if not (np.all(np.isfinite(t_end)) and np.all(t_end > 0)):
        raise ValueError(f"t_end: expected finite times > 0, got min {t_end.min()!r}")
    return y0, t_end


def _arrays(problem: Problem):
    return (
        np.ascontiguousarray(problem.shared, dtype=np.float64),
        np.ascontiguousarray(problem.samples, dtype=np.float64),
        np.ascontiguousarray(problem.meta, dtype=np.int64),
        int(problem.work_size),
    )


def integrate_fixed(problem: Problem, tableau: Tableau, y0, t_end, n_steps: int):
    """n_steps equal steps of `tableau` from 0 to t_end per sample.

    Args:
        y0: (B, n) initial states; t_end: (B,) end times > 0.

    Returns:
        y (B, n) at t_end, and a dict of per-sample int64 (B,) stats.
    """
    y0, t_end = _check_start(problem, y0, t_end)
    n_steps = _check_count("n_steps", n_steps)
    y, evaluations = fixed_kernel(
        problem.rhs, tableau.a, tableau.b, tableau.c, y0, t_end, n_steps, *_arrays(problem)
    )
    if not np.all(np.isfinite(y)):
        bad = int(np.flatnonzero(~np.isfinite(y).all(axis=1))[0])
        raise ODESolverError(
            f"{tableau.name}: sample {bad} became non-finite with {n_steps} fixed steps; "
            "the step is too large for this problem (raise n_steps or use an adaptive method)"
        )
    steps = np.full_like(evaluations, n_steps)
    return y, {
        "rhs_evaluations": evaluations,
        "accepted_steps": steps,
        "rejected_steps": np.zeros_like(steps),
    }


def integrate_adaptive(
    problem: Problem,
    tableau: Tableau,
    y0,
    t_end,
    rtol: float,
    atol: float,
    max_steps: int = 100_000,
):
    """Adaptive steps of an embedded pair from 0 to t_end per sample (scipy's controller).

    Args:
        y0: (B, n) initial states; t_end: (B,) end times > 0.
        rtol, atol: relative and absolute tolerances (> 0).
        max_steps: limit on attempted steps per sample; exceeding it raises.

    Returns:
        y (B, n) at t_end, and a dict of per-sample int64 (B,) stats.

    Raises:
        ODESolverError: a sample hit max_steps, its step size underflowed, or it became
            non-finite; the message names the sample and the time reached.
    """
    if not tableau.adaptive:
        raise ValueError(
            f"method: {tableau.name} has no error estimate, so it needs n_steps "
            "(or use dopri5 or dop853 for adaptive steps)"
        )
    rtol = _check_positive("rtol", rtol)
    atol = _check_positive("atol", atol)
    max_steps = _check_count("max_steps", max_steps)
    y0, t_end = _check_start(problem, y0, t_end)
    y, stats, t_reached = adaptive_kernel(
        problem.rhs,
        tableau.a,
        tableau.b,
        tableau.c,
        tableau.e,
        tableau.e3,
        tableau.error_order,
        rtol,
        atol,
        max_steps,
        y0,
        t_end,
        *_arrays(problem),
    )
    failed = np.flatnonzero(stats[:, 3] != OK)
    if failed.size:
        i = int(failed[0])
        reason = {
            MAX_STEPS: f"exceeded max_steps={max_steps} (raise it, or loosen rtol/atol)",
            STEP_TOO_SMALL: "needed a step below the floating-point resolution of t",
            NON_FINITE: "became non-finite (the ODE blows up from this state)",
        }[int(stats[i, 3])]
        raise ODESolverError(
            f"{tableau.name}: sample {i} {reason}, at t={t_reached[i]:.6g} of "
            f"{t_end[i]:.6g} ({failed.size} of {problem.batch} samples failed)"
        )
    return y, {name: stats[:, j] for j, name in enumerate(STATS[:3])}
