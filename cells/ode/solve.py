"""Whole sequences through the continuous-time ODEs, shaped like `cells.reference.run`.

Each cell step t integrates the cell's ODE over [0, timespans[:, t]] with the input x[:, t] held
constant, starting from the state the previous step reached (after the memory LSTM when the
spec has mixed memory, which is a discrete update at the step boundary, as in the cell).
"""

from __future__ import annotations

import numpy as np

from .. import inputs, ltc, memory, numpy_ops, reference
from ..spec import CellSpec
from . import cfc_rhs, ltc_rhs
from .integrate import integrate_adaptive, integrate_fixed
from .tableaux import get_tableau

METHODS = ("euler", "rk4", "dopri5", "dop853")


def _solve(
    spec: CellSpec,
    params,
    x,
    h0,
    timespans,
    make_problem,
    output,
    method,
    rtol,
    atol,
    max_steps,
    n_steps,
    return_stats,
):
    tableau = get_tableau(method)
    if n_steps is None and not tableau.adaptive:
        raise ValueError(f"n_steps: {method} takes fixed steps, so give n_steps (got None)")
    params, x, state, ts = reference.prepare(spec, params, x, h0, timespans)
    batch, steps = x.shape[:2]
    outputs = np.empty((batch, steps, spec.output_size))
    totals = {"rhs_evaluations": 0, "accepted_steps": 0, "rejected_steps": 0}
    for t in range(steps):
        if spec.mixed_memory:
            h, c = memory.step(numpy_ops, params, x[:, t], *state)
        else:
            (h,) = state
        problem = make_problem(spec, params, x[:, t])
        if n_steps is None:
            h, stats = integrate_adaptive(problem, tableau, h, ts[:, t, 0], rtol, atol, max_steps)
        else:
            h, stats = integrate_fixed(problem, tableau, h, ts[:, t, 0], n_steps)
        for key in totals:
            totals[key] += int(stats[key].sum())
        state = (h, c) if spec.mixed_memory else (h,)
        outputs[:, t] = output(spec, params, h)
    result = (outputs, inputs.pack_state(spec, state))
    return result + (totals,) if return_stats else result


def solve_ltc(
    spec,
    params,
    x,
    h0=None,
    timespans=None,
    *,
    method: str = "dopri5",
    rtol: float = 1e-8,
    atol: float = 1e-8,
    max_steps: int = 100_000,
    n_steps: int | None = None,
    return_stats: bool = False,
):
    """The LTC's ODE solved along a sequence (see `cells.ode.ltc_rhs`).

    Args:
        spec: an LTC spec; params: its canonical parameters.
        x: (B, T, I) inputs; h0: None (zeros), v (B, H), or (v, c) with mixed memory;
        timespans: None (all 1.0) or (B, T) / (B, T, 1) positive step lengths.
        method: "dopri5" (default) or "dop853" adaptive, or "euler"/"rk4" with n_steps.
        rtol, atol, max_steps: adaptive step control (per sample and cell step).
        n_steps: fixed steps per cell step instead of adaptive ones.
        return_stats: also return totals of rhs evaluations, accepted and rejected steps.

    Returns:
        y (B, T, motor) mapped outputs and the final state, like `cells.reference.run`.
    """
    if spec.name != "ltc":
        raise ValueError(f"spec: expected an LTC spec, got {spec.describe()}")
    return _solve(
        spec,
        params,
        x,
        h0,
        timespans,
        ltc_rhs.ltc_problem,
        ltc.map_output,
        method,
        rtol,
        atol,
        max_steps,
        n_steps,
        return_stats,
    )


def solve_cfc_pure(
    spec,
    params,
    x,
    h0=None,
    timespans=None,
    *,
    method: str = "dopri5",
    rtol: float = 1e-8,
    atol: float = 1e-8,
    max_steps: int = 100_000,
    n_steps: int | None = None,
    return_stats: bool = False,
):
    """The ODE that a pure-mode CfC approximates, solved along a sequence.

    Arguments and results as `solve_ltc` (see `cells.ode.cfc_rhs` for the ODE); the outputs
    are the states, as the unwired CfC's are.
    """
    cfc_rhs.check_spec(spec)
    return _solve(
        spec,
        params,
        x,
        h0,
        timespans,
        cfc_rhs.cfc_pure_problem,
        lambda spec, params, h: h,
        method,
        rtol,
        atol,
        max_steps,
        n_steps,
        return_stats,
    )
