"""How far the cells are from the ODEs they discretise: the tables `cellbench ode` writes.

- `ltc_unfold_convergence`: the LTC's fused semi-implicit Euler solver (the numpy reference,
  torch, TF, all float64) against the dopri5 solution of its ODE, for ode_unfolds 1..64. A
  first-order method's error halves when the unfolds double: the fitted log-log slope of error
  vs 1/unfolds should be 1.
- `cfc_pure_error`: a pure-mode CfC against the ODE it approximates (`cells.ode.cfc_rhs`), one
  cell step over timespans 0.01..10, from a zero state (the cell's default) and from a random
  one.
"""

from __future__ import annotations

import importlib
import importlib.util

import numpy as np

from .. import get_spec, reference
from .solve import solve_cfc_pure, solve_ltc

UNFOLDS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64)
TIMESPANS = tuple(float(t) for t in np.round(np.logspace(-2, 1, 13), 6))
BACKENDS = ("reference", "torch", "tf")
_TRUTH_TOL = 1e-12  # dopri5's rtol = atol for the ground truth


def _errors(actual, truth) -> dict:
    diff = np.asarray(actual) - truth
    return {
        "max_abs_error": float(np.max(np.abs(diff))),
        "rms_error": float(np.sqrt(np.mean(diff**2))),
    }


def fitted_order(steps, errors) -> float:
    """Slope of log(error) against log(step size): the observed order of convergence."""
    return float(np.polyfit(np.log(steps), np.log(errors), 1)[0])


def _backend_runner(backend: str):
    """A function (spec, params, x, timespans) -> y in float64, or None if not installed."""
    if backend == "reference":
        return lambda spec, params, x, ts: reference.run(spec, params, x, timespans=ts)[0]
    if importlib.util.find_spec("torch" if backend == "torch" else "tensorflow") is None:
        return None
    module = importlib.import_module(f"cells.{backend}")

    def run(spec, params, x, ts):
        if backend == "torch":
            import torch

            built = module.build(spec, params, "eager", dtype=torch.float64)
        else:
            built = module.build(spec, params, "graph", dtype="float64")
        return module.value_and_grads(built, x, None, ts)[0]

    return run


def ltc_problem(seed: int = 0, batch: int = 8, steps: int = 4, inputs: int = 6, units: int = 12):
    """The LTC, weights, inputs and timespans the convergence table uses."""
    spec = get_spec("ltc", inputs, units)
    rng = np.random.default_rng([seed, 9])
    x = rng.standard_normal((batch, steps, inputs))
    timespans = rng.uniform(0.5, 1.5, size=(batch, steps))
    return spec, spec.random_params(seed), x, timespans


def ltc_unfold_convergence(seed: int = 0, unfolds=UNFOLDS, backends=BACKENDS) -> dict:
    """Error of the fused LTC solver vs its ODE per backend and unfold count.

    Returns:
        {"rows": [{backend, ode_unfolds, max_abs_error, rms_error}], "orders": {backend:
        slope fitted over unfolds >= 8}, "skipped": {backend: reason}, "settings": {...}}
    """
    spec, params, x, timespans = ltc_problem(seed)
    truth, _ = solve_ltc(spec, params, x, timespans=timespans, rtol=_TRUTH_TOL, atol=_TRUTH_TOL)
    rows, orders, skipped = [], {}, {}
    for backend in backends:
        runner = _backend_runner(backend)
        if runner is None:
            skipped[backend] = f"{backend} is not installed"
            continue
        errors = []
        for n in unfolds:
            y = runner(spec.replace(ode_unfolds=n), params, x, timespans)
            errors.append(_errors(y, truth))
            rows.append({"backend": backend, "ode_unfolds": n, **errors[-1]})
        tail = [(n, e["max_abs_error"]) for n, e in zip(unfolds, errors) if n >= 8]
        if len(tail) >= 2:
            orders[backend] = fitted_order([1.0 / n for n, _ in tail], [e for _, e in tail])
    settings = {
        "cell": spec.to_config(),
        "seed": seed,
        "batch": x.shape[0],
        "steps": x.shape[1],
        "timespans": "uniform(0.5, 1.5)",
        "truth": f"dopri5 rtol=atol={_TRUTH_TOL}",
    }
    return {"rows": rows, "orders": orders, "skipped": skipped, "settings": settings}


def cfc_pure_problem(seed: int = 0, batch: int = 32, inputs: int = 8, units: int = 16):
    """The pure CfC (ncps's initialisation), inputs and random initial state the table uses."""
    spec = get_spec("cfc", inputs, units, mode="pure")
    rng = np.random.default_rng([seed, 11])
    x = rng.standard_normal((batch, 1, inputs))
    h_random = 0.5 * rng.standard_normal((batch, units))
    return spec, spec.init_params(seed), x, h_random


def cfc_pure_error(seed: int = 0, timespans=TIMESPANS) -> dict:
    """Error of one pure-CfC step vs its ODE over timespans, from zero and random states.

    Returns:
        {"rows": [{initial_state, timespan, max_abs_error, rms_error, ode_mean_abs}],
         "settings": {...}}
    """
    spec, params, x, h_random = cfc_pure_problem(seed)
    rows = []
    for label, h0 in (("zeros", np.zeros_like(h_random)), ("normal(0, 0.5)", h_random)):
        for span in timespans:
            ts = np.full(x.shape[:2], span)
            truth, _ = solve_cfc_pure(spec, params, x, h0, ts, rtol=_TRUTH_TOL, atol=_TRUTH_TOL)
            cell, _ = reference.run(spec, params, x, h0, ts)
            rows.append(
                {
                    "initial_state": label,
                    "timespan": span,
                    **_errors(cell, truth),
                    "ode_mean_abs": float(np.mean(np.abs(truth))),
                }
            )
    settings = {
        "cell": spec.to_config(),
        "seed": seed,
        "batch": x.shape[0],
        "params": "init_params (ncps init: w_tau = 0, A = 1)",
        "truth": f"dopri5 rtol=atol={_TRUTH_TOL}",
    }
    return {"rows": rows, "settings": settings}
