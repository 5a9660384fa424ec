"""Workloads of the ODE solver suite (suites/reference): dopri5 on the LTC ODE vs scipy.

Problem: one LTC cell step as an ODE, unit time, zero initial state, standard-normal inputs,
`random_params(0)`, FullyConnected wiring, rtol = atol = 1e-8; every sample of the batch its
own initial-value problem (scipy: one `solve_ivp` call per sample, the way a user would call it).

Solvers, side by side in one run:
    numba/dopri5, numba/dop853   cells.ode, parallel over samples
    scipy/DOP853, scipy/RK45     scipy.integrate.solve_ivp on a numpy right-hand side
    numba/rhs-only               the right-hand side alone, called as often as numba/dopri5 calls
                                 it, over the same threads: the time dopri5 would take if the
                                 solver around the arithmetic were free

`ns_per_synapse` = time / (rhs evaluations x synapses per evaluation), the cost of one
sigmoid-weighted synapse including everything around it.
"""

from __future__ import annotations

import dataclasses

import numba
import numpy as np
from numba import prange

import cells
from cells.ode import integrate, ltc_rhs, tableaux

RTOL = ATOL = 1e-8
BASELINE = ("scipy", "DOP853")
SOLVERS = (
    ("numba", "dopri5"),
    ("numba", "dop853"),
    ("numba", "rhs-only"),
    ("scipy", "DOP853"),
    ("scipy", "RK45"),
)


@dataclasses.dataclass(frozen=True)
class OdeShape:
    name: str
    batch: int
    units: int
    inputs: int

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


SHAPES = {
    "smoke": OdeShape("smoke", batch=4, units=8, inputs=4),
    "small": OdeShape("small", batch=32, units=8, inputs=4),
    "cell": OdeShape("cell", batch=32, units=64, inputs=256),
}


def ltc_case(shape: OdeShape, seed: int = 0):
    """(spec, params, x (B, I)) of the benchmark problem."""
    spec = cells.get_spec("ltc", shape.inputs, shape.units)
    x = np.random.default_rng([seed, 5]).standard_normal((shape.batch, shape.inputs))
    return spec, spec.check_params(spec.random_params(seed)), x


@numba.njit(parallel=True, cache=True)
def _rhs_repeat(rhs, y0, shared, samples, meta, work_size, counts):
    """Call rhs counts[b] times for each sample b (parallel over samples)."""
    total = 0.0
    for b in prange(y0.shape[0]):
        work = np.empty(max(work_size, 1))
        out = np.empty(y0.shape[1])
        for _ in range(counts[b]):
            rhs(0.0, y0[b], shared, samples[b], meta, work, out)
        total += out[0]
    return total


def build_call(solver: str, method: str, shape: OdeShape, threads: int):
    """A timed-ready call and the stats of one run of it (warm-up and compilation done).

    Returns:
        (call, stats) with stats = {rhs_evaluations, accepted_steps, rejected_steps} summed
        over the batch, and `synapses` per evaluation.
    """
    spec, params, x = ltc_case(shape)
    y0 = np.zeros((shape.batch, shape.units))
    t_end = np.ones(shape.batch)
    problem = ltc_rhs.ltc_problem(spec, params, x)
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    if solver == "numba" and method in ("dopri5", "dop853"):
        tableau = tableaux.get_tableau(method)

        def call():
            return integrate.integrate_adaptive(problem, tableau, y0, t_end, RTOL, ATOL)

        stats = {k: int(v.sum()) for k, v in call()[1].items()}
    elif solver == "numba" and method == "rhs-only":
        _, per_sample = integrate.integrate_adaptive(
            problem, tableaux.DOPRI5, y0, t_end, RTOL, ATOL
        )
        counts = per_sample["rhs_evaluations"]
        arrays = (problem.shared, problem.samples, problem.meta, problem.work_size)

        def call():
            return _rhs_repeat(problem.rhs, y0, *arrays, counts)

        stats = {"rhs_evaluations": int(counts.sum()), "accepted_steps": 0, "rejected_steps": 0}
    elif solver == "scipy":
        call, stats = _scipy_call(spec, params, x, y0, method)
    else:
        raise ValueError(f"solver: expected one of {SOLVERS}, got {(solver, method)!r}")
    call()  # warm-up (compilation for numba)
    return call, {**stats, "synapses": problem.synapses}


def _scipy_call(spec, params, x, y0, method):
    from scipy.integrate import solve_ivp

    functions = [ltc_rhs.numpy_rhs(spec, params, row) for row in x]
    stages = {"DOP853": 12, "RK45": 6}[method]

    def call():
        return [
            solve_ivp(f, (0.0, 1.0), y, method=method, rtol=RTOL, atol=ATOL)
            for f, y in zip(functions, y0)
        ]

    solutions = call()
    evaluations = sum(s.nfev for s in solutions)
    accepted = sum(len(s.t) - 1 for s in solutions)
    # scipy counts f(t0) and the initial-step probe, then `stages` per attempted step.
    attempts = sum((s.nfev - 2) // stages for s in solutions)
    stats = {
        "rhs_evaluations": evaluations,
        "accepted_steps": accepted,
        "rejected_steps": attempts - accepted,
    }
    return call, stats


def ratio_table(document: dict) -> list[dict]:
    """pytest-benchmark JSON -> rows with the median and its ratio to scipy DOP853 (same shape,
    same run; < 1 means faster), plus evaluations and ns per synapse."""
    rows = []
    for bench in document.get("benchmarks", []):
        info = bench.get("extra_info", {})
        if "ode_solver" not in info:
            continue
        rows.append(
            {
                "shape": info["shape"]["name"],
                "solver": f"{info['ode_solver']}/{info['method']}",
                "median_ms": bench["stats"]["median"] * 1e3,
                "rhs_evaluations": info["rhs_evaluations"],
                "ns_per_synapse": info.get("ns_per_synapse"),
            }
        )
    baseline = {r["shape"]: r for r in rows if r["solver"] == "/".join(BASELINE)}
    for row in rows:
        base = baseline.get(row["shape"])
        row["vs_scipy_dop853"] = row["median_ms"] / base["median_ms"] if base else None
    return rows


def format_ratio_table(rows: list[dict]) -> str:
    header = (
        f"{'shape':<6} {'solver':<15} {'median ms':>10} {'rhs evals':>10} {'ns/synapse':>11} "
        f"{'speed-up vs scipy DOP853':>25}"
    )
    lines = [header, "-" * len(header)]
    for r in sorted(rows, key=lambda r: (r["shape"], r["median_ms"])):
        speedup = f"{1 / r['vs_scipy_dop853']:.1f}x" if r["vs_scipy_dop853"] else "-"
        ns = f"{r['ns_per_synapse']:.2f}" if r["ns_per_synapse"] else "-"
        lines.append(
            f"{r['shape']:<6} {r['solver']:<15} {r['median_ms']:>10.3f} "
            f"{r['rhs_evaluations']:>10} {ns:>11} {speedup:>25}"
        )
    return "\n".join(lines)
