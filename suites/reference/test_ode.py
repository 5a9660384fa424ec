"""dopri5 on the LTC ODE: cellbench's numba solvers against scipy's, side by side in one run.

See `bench.ode_bench` for the problem and the solvers. Groups: one per shape ("ode small B=32
N=8 I=4"), so pytest-benchmark's table puts every solver beside scipy's DOP853. extra_info:
rhs evaluations, accepted and rejected steps, ns per synapse evaluation, threads, tolerances.
"""

from __future__ import annotations

import pytest

pytest.importorskip("numba")

from bench import ode_bench  # noqa: E402

PROFILE_SHAPES = {"smoke": ("smoke",), "quick": ("small", "cell"), "full": ("small", "cell")}
ROUNDS = {"smoke": 2, "quick": 5, "full": 20}


def pytest_generate_tests(metafunc):
    if "shape_name" not in metafunc.fixturenames:
        return
    shapes = PROFILE_SHAPES[metafunc.config.getoption("--profile")]
    params = [
        pytest.param(solver, method, shape, id=f"{shape}-{solver}-{method}")
        for shape in shapes
        for solver, method in ode_bench.SOLVERS
    ]
    metafunc.parametrize("solver, method, shape_name", params)


def test_ode_solver(benchmark, profile, threads, solver, method, shape_name):
    shape = ode_bench.SHAPES[shape_name]
    call, stats = ode_bench.build_call(solver, method, shape, threads)
    benchmark.group = f"ode {shape.name} B={shape.batch} N={shape.units} I={shape.inputs}"
    benchmark.extra_info.update(
        ode_solver=solver,
        method=method,
        problem="ltc unit time, FullyConnected, zero state",
        shape=shape.as_dict(),
        rtol=ode_bench.RTOL,
        atol=ode_bench.ATOL,
        threads=threads if solver == "numba" else 1,
        dtype="float64",
        **stats,
    )
    benchmark.pedantic(call, rounds=ROUNDS[profile], iterations=1, warmup_rounds=1)
    synapse_evaluations = stats["rhs_evaluations"] * stats["synapses"]
    benchmark.extra_info["ns_per_synapse"] = (
        benchmark.stats.stats.median / synapse_evaluations * 1e9
    )
