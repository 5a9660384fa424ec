"""Butcher tableaux of the explicit Runge-Kutta solvers.

The two embedded pairs are read from scipy (`scipy.integrate.RK45` is Dormand-Prince 5(4),
`scipy.integrate.DOP853` is Hairer's 8(5,3)), not retyped; euler and rk4 are four numbers each.

Notation (Hairer, Norsett & Wanner I, II.1): stage s is evaluated at t + c[s] h on
y + h sum_q a[s, q] k[q]; the step is y + h sum_s b[s] k[s]. For an embedded pair, `e` holds the
error weights over the stages plus the derivative at the new point (FSAL), length stages + 1;
DOP853 also has `e3`, the weights of its third-order estimate (see `integrate`).
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy import integrate


@dataclasses.dataclass(frozen=True, eq=False)
class Tableau:
    """An explicit Runge-Kutta method.

    Attributes:
        name: "euler", "rk4", "dopri5" or "dop853".
        a: (S, S) stage coefficients (strictly lower triangular).
        b: (S,) weights of the propagated solution.
        c: (S,) stage times.
        order: order of the propagated solution (the slope a convergence test must find).
        e: (S + 1,) error weights, or an empty array for a fixed-step-only method.
        e3: (S + 1,) DOP853's second error estimate, else empty.
        error_order: order of the error estimate; step-size control uses exponent
            -1 / (error_order + 1), as scipy does.
    """

    name: str
    a: np.ndarray
    b: np.ndarray
    c: np.ndarray
    order: int
    e: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))
    e3: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))
    error_order: int = 0

    @property
    def stages(self) -> int:
        return self.b.shape[0]

    @property
    def adaptive(self) -> bool:
        return self.e.shape[0] > 0


def _from_scipy(name: str, method, e, e3=None) -> Tableau:
    stages = method.n_stages
    a = np.zeros((stages, stages))  # scipy stores RK45's A without its zero last column
    columns = min(stages, method.A.shape[1])
    a[:, :columns] = method.A[:stages, :columns]
    return Tableau(
        name=name,
        a=a,
        b=np.ascontiguousarray(method.B, dtype=np.float64),
        c=np.ascontiguousarray(method.C[:stages], dtype=np.float64),
        order=method.order,
        e=np.ascontiguousarray(e, dtype=np.float64),
        e3=np.zeros(0) if e3 is None else np.ascontiguousarray(e3, dtype=np.float64),
        error_order=method.error_estimator_order,
    )


EULER = Tableau("euler", np.zeros((1, 1)), np.ones(1), np.zeros(1), order=1)
RK4 = Tableau(
    "rk4",
    a=np.array([[0, 0, 0, 0], [0.5, 0, 0, 0], [0, 0.5, 0, 0], [0, 0, 1.0, 0]]),
    b=np.array([1 / 6, 1 / 3, 1 / 3, 1 / 6]),
    c=np.array([0, 0.5, 0.5, 1.0]),
    order=4,
)
DOPRI5 = _from_scipy("dopri5", integrate.RK45, integrate.RK45.E)
DOP853 = _from_scipy("dop853", integrate.DOP853, integrate.DOP853.E5, integrate.DOP853.E3)

TABLEAUX = {t.name: t for t in (EULER, RK4, DOPRI5, DOP853)}
#: scipy's method name for the same adaptive algorithm (same tableau and step-size control).
SCIPY_EQUIVALENT = {"dopri5": "RK45", "dop853": "DOP853"}


def get_tableau(method: str) -> Tableau:
    if method not in TABLEAUX:
        raise ValueError(f"method: expected one of {list(TABLEAUX)}, got {method!r}")
    return TABLEAUX[method]
