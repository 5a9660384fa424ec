"""Float64 ODE solvers in numba: ground truth for the continuous-time cells.

    y, h = cells.ode.solve_ltc(spec, params, x, h0, timespans, rtol=1e-10, atol=1e-10)
    y, h = cells.ode.solve_cfc_pure(spec, params, x)       # the ODE a pure CfC approximates

Both return trajectories at the cell-step boundaries, shaped like `cells.reference.run`, so
`cells.reference.run(spec.replace(ode_unfolds=n), ...)` can be compared with the ODE it
discretises (`cells.ode.tables`).

Solvers (`cells.ode.integrate`, tableaux in `cells.ode.tableaux`): explicit Euler and classic
RK4 with fixed steps; Dormand-Prince 5(4) (`dopri5`) and Hairer's DOP853 (`dop853`) with
adaptive steps and scipy's step-size control, step rejection and a max-steps guard. Everything
is batched over samples and parallel over them; kernels are compiled once and cached.

Requires numba (the `ode` extra).
"""

from __future__ import annotations

import importlib.util

if importlib.util.find_spec("numba") is None:
    raise ImportError("cells.ode needs numba, which is not installed: pip install 'cellbench[ode]'")

from .integrate import ODESolverError, Problem, integrate_adaptive, integrate_fixed
from .solve import METHODS, solve_cfc_pure, solve_ltc
from .tableaux import TABLEAUX, get_tableau

__all__ = [
    "METHODS",
    "ODESolverError",
    "Problem",
    "TABLEAUX",
    "get_tableau",
    "integrate_adaptive",
    "integrate_fixed",
    "solve_cfc_pure",
    "solve_ltc",
]
