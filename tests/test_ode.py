"""cells.ode: the numba solvers are proven on problems with known answers, agree with scipy, and
show how far LTC and CfC are from their ODEs."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("numba")

import cells  # noqa: E402
from cells import ode  # noqa: E402
from cells.ode import cfc_rhs, fastmath, linear, ltc_rhs, tables  # noqa: E402
from cells.ode.integrate import integrate_adaptive, integrate_fixed  # noqa: E402
from cells.ode.tableaux import SCIPY_EQUIVALENT, get_tableau  # noqa: E402

solve_ivp = pytest.importorskip("scipy.integrate").solve_ivp


# ------------------------------------------------------------------------- the fast sigmoid
def test_vectorisable_exp_and_sigmoid_are_accurate_to_an_ulp_or_two():
    import numba
    from scipy.special import expit

    @numba.njit(**fastmath.FAST)
    def apply(x, exp_out, sig_out):
        for i in range(x.shape[0]):
            exp_out[i] = fastmath.exp_bounded(x[i])
            sig_out[i] = fastmath.sigmoid(x[i])

    x = np.concatenate([np.linspace(-44, 44, 200_001), [-1e-300, 0.0, 1e-300]])
    exp_out, sig_out = np.empty_like(x), np.empty_like(x)
    apply(x, exp_out, sig_out)
    assert np.max(np.abs(exp_out / np.exp(x) - 1)) <= 4.5e-16
    inside = np.abs(x) <= 40
    assert np.max(np.abs(sig_out[inside] / expit(x[inside]) - 1)) <= 6.7e-16
    # Beyond |x| = 40 the clamp costs < 4.3e-18 absolute; elsewhere the error is an ulp or two.
    assert np.all(np.abs(sig_out - expit(x)) <= 4.3e-18 + 4.5e-16 * expit(x))
    far = np.array([-1e6, -80.0, 80.0, 1e6])
    sig_far = np.empty_like(far)
    apply(far, np.empty_like(far), sig_far)
    np.testing.assert_allclose(sig_far, expit(far), rtol=0, atol=4.3e-18)


# ---------------------------------------------------------------- orders on linear problems
def _fixed_errors(method, steps, matrix=linear.OSCILLATOR, t_end=2.0):
    y0 = np.array([[1.0, 0.5, -1.0]])
    problem = linear.linear_problem(matrix)
    exact = linear.exact_solution(matrix, y0, [t_end])
    errors = []
    for n in steps:
        y, stats = integrate_fixed(problem, get_tableau(method), y0, np.array([t_end]), n)
        assert stats["rhs_evaluations"][0] == n * get_tableau(method).stages
        errors.append(np.max(np.abs(y - exact)))
    return t_end / np.asarray(steps), np.asarray(errors)


@pytest.mark.parametrize(
    "method, steps",
    [
        ("euler", [64, 128, 256, 512, 1024]),
        ("rk4", [8, 16, 32, 64, 128]),
        ("dopri5", [8, 16, 32, 64]),
        ("dop853", [4, 6, 8, 12, 16]),
    ],
)
def test_convergence_order_matches_the_method(method, steps):
    """Diffrax's test: the fitted log-log slope of error vs step size is the declared order."""
    h, errors = _fixed_errors(method, steps)
    slope = tables.fitted_order(h, errors)
    assert abs(slope - get_tableau(method).order) <= 0.2, (slope, errors)


@pytest.mark.parametrize("method", ["dopri5", "dop853"])
@pytest.mark.parametrize(
    "matrix, y0",
    [(linear.OSCILLATOR, [1.0, 0.5, -1.0]), (linear.STIFFISH, [1.0, 2.0])],
    ids=["oscillator", "stiffish"],
)
@pytest.mark.parametrize("rtol", [1e-4, 1e-6, 1e-8])
def test_adaptive_steps_meet_the_tolerance(method, matrix, y0, rtol):
    y0 = np.array([y0])
    t_end = np.array([3.0])
    exact = linear.exact_solution(matrix, y0, t_end)
    y, stats = integrate_adaptive(
        linear.linear_problem(matrix), get_tableau(method), y0, t_end, rtol, rtol * 1e-3
    )
    assert np.max(np.abs(y - exact)) / np.max(np.abs(exact)) <= 10 * rtol
    assert stats["accepted_steps"][0] > 0


def test_adaptive_step_rejection_is_counted():
    """The stiff-ish problem forces rejections (the controller probes past the stability
    limit); accepted + rejected attempts account for every evaluation."""
    problem = linear.linear_problem(linear.STIFFISH)
    _, stats = integrate_adaptive(
        problem, get_tableau("dopri5"), np.array([[1.0, 2.0]]), np.array([20.0]), 1e-6, 1e-9
    )
    assert stats["rejected_steps"][0] > 0
    attempts = stats["accepted_steps"][0] + stats["rejected_steps"][0]
    assert stats["rhs_evaluations"][0] == 2 + 6 * attempts


# --------------------------------------------------------------------- the LTC ODE vs scipy
def _ltc_case(units=8, inputs=4, batch=6, seed=0):
    spec = cells.get_spec("ltc", inputs, units)
    params = spec.check_params(spec.random_params(seed))
    x = np.random.default_rng(seed).standard_normal((batch, inputs))
    return spec, params, x


def test_ltc_rhs_in_numba_equals_the_numpy_formula():
    spec, params, x = _ltc_case(units=16, inputs=5)
    problem = ltc_rhs.ltc_problem(spec, params, x)
    v = np.random.default_rng(3).standard_normal(16)
    out, work = np.empty(16), np.empty(problem.work_size)
    for b in range(x.shape[0]):
        problem.rhs(0.0, v, problem.shared, problem.samples[b], problem.meta, work, out)
        want = ltc_rhs.numpy_rhs(spec, params, x[b])(0.0, v)
        np.testing.assert_allclose(out, want, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("method", ["dopri5", "dop853"])
def test_adaptive_solvers_take_scipys_steps(method):
    """Same tableau and controller as scipy: per sample the same evaluations and steps, and
    the same answer to rounding."""
    spec, params, x = _ltc_case()
    y0 = np.zeros((x.shape[0], spec.units))
    problem = ltc_rhs.ltc_problem(spec, params, x)
    y, stats = integrate_adaptive(problem, get_tableau(method), y0, np.ones(len(x)), 1e-8, 1e-8)
    same = 0
    for b in range(len(x)):
        f = ltc_rhs.numpy_rhs(spec, params, x[b])
        sol = solve_ivp(f, (0, 1), y0[b], method=SCIPY_EQUIVALENT[method], rtol=1e-8, atol=1e-8)
        np.testing.assert_allclose(y[b], sol.y[:, -1], rtol=0, atol=1e-12)
        same += (
            sol.nfev == stats["rhs_evaluations"][b]
            and len(sol.t) - 1 == (stats["accepted_steps"][b])
        )
    # A last-bit difference in the sigmoid could flip one accept decision; not most of them.
    assert same >= len(x) - 1


def test_ltc_sequence_agrees_with_scipy_dop853_to_1e_9():
    spec = cells.get_spec("ltc", 3, cells.wiring.NCP(2, 3, 2, 2, 2, 1, 1))
    params = spec.check_params(spec.random_params(1))
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 4, 3))
    h0 = 0.3 * rng.standard_normal((3, spec.units))
    timespans = rng.uniform(0.2, 2.5, (3, 4))
    y, h_t, stats = ode.solve_ltc(
        spec, params, x, h0, timespans, rtol=1e-12, atol=1e-12, return_stats=True
    )
    assert y.shape == (3, 4, spec.output_size) and h_t.shape == (3, spec.units)
    assert stats["rhs_evaluations"] > 0
    for b in range(3):
        v = h0[b]
        for t in range(4):
            f = ltc_rhs.numpy_rhs(spec, params, x[b, t])
            v = solve_ivp(f, (0, timespans[b, t]), v, method="DOP853", rtol=1e-12, atol=1e-12).y[
                :, -1
            ]
            want = cells.ltc.map_output(spec, params, v[None])[0]
            np.testing.assert_allclose(y[b, t], want, rtol=0, atol=1e-9)
        np.testing.assert_allclose(h_t[b], v, rtol=0, atol=1e-9)


@pytest.mark.parametrize("backend", tables.BACKENDS)
def test_fused_ltc_converges_to_its_ode_at_first_order(backend):
    """The cell's semi-implicit Euler unfolds (numpy reference, torch, TF in float64) approach
    the dopri5 solution with error ~ 1/unfolds."""
    if backend != "reference":
        pytest.importorskip("torch" if backend == "torch" else "tensorflow")
    result = tables.ltc_unfold_convergence(unfolds=(1, 8, 16, 32, 64), backends=(backend,))
    errors = [row["max_abs_error"] for row in result["rows"]]
    assert all(a > b for a, b in zip(errors, errors[1:])), errors
    assert abs(result["orders"][backend] - 1.0) <= 0.2, result["orders"]
    assert errors[-1] < 0.05 < errors[0]


def test_mixed_memory_ltc_converges_too():
    spec = cells.get_spec("ltc", 4, 6, mixed_memory=True)
    params = spec.random_params(2)
    x = np.random.default_rng(2).standard_normal((4, 3, 4))
    truth, (v, c) = ode.solve_ltc(spec, params, x, rtol=1e-11, atol=1e-11)
    errors = []
    for n in (8, 64):
        y, (v_n, c_n) = cells.reference.run(spec.replace(ode_unfolds=n), params, x)
        errors.append(max(np.max(np.abs(y - truth)), np.max(np.abs(c_n - c))))
    assert errors[1] < errors[0] / 4, errors


# ----------------------------------------------------------------------------- the CfC ODE
@pytest.mark.parametrize("activation", cfc_rhs.ACTIVATIONS)
@pytest.mark.parametrize("layers", [0, 2])
def test_cfc_rhs_in_numba_equals_numpy(activation, layers):
    spec = cells.get_spec(
        "cfc", 5, 7, mode="pure", backbone_layers=layers, backbone_units=9,
        backbone_activation=activation,
    )  # fmt: skip
    params = spec.check_params(spec.random_params(4))
    x = np.random.default_rng(4).standard_normal((3, 5))
    problem = cfc_rhs.cfc_pure_problem(spec, params, x)
    state = np.random.default_rng(5).standard_normal(7)
    out, work = np.empty(7), np.empty(problem.work_size)
    for b in range(3):
        problem.rhs(0.0, state, problem.shared, problem.samples[b], problem.meta, work, out)
        want = cfc_rhs.numpy_rhs(spec, params, x[b])(0.0, state)
        np.testing.assert_allclose(out, want, rtol=1e-13, atol=1e-13)


def test_cfc_ode_with_a_state_independent_head_has_its_closed_form():
    """No backbone and zero state rows in ff1: f depends on the input only, so the ODE is
    linear with the exact solution x0 e^{-rt} + (|f| A / r)(1 - e^{-rt})."""
    spec = cells.get_spec("cfc", 3, 4, mode="pure", backbone_layers=0)
    params = spec.random_params(6)
    params["ff1_kernel"][3:] = 0.0
    rng = np.random.default_rng(6)
    x, h0 = rng.standard_normal((5, 1, 3)), rng.standard_normal((5, 4))
    ts = rng.uniform(0.1, 3.0, (5, 1))
    y, _ = ode.solve_cfc_pure(spec, params, x, h0, ts, rtol=1e-12, atol=1e-12)
    f = np.abs(x[:, 0] @ params["ff1_kernel"][:3] + params["ff1_bias"])
    rate = np.abs(params["w_tau"]) + f
    decay = np.exp(-rate * ts)
    want = h0 * decay + f * params["A"] / rate * (1 - decay)
    np.testing.assert_allclose(y[:, 0], want, rtol=0, atol=1e-10)


# rms error of one ncps-initialised pure CfC step vs its ODE at tables.TIMESPANS (seed 0).
CFC_PURE_RMS = {
    "zeros": [1.07569891, 1.07203237, 1.06557348, 1.05427625, 1.03475863, 1.00175164,
              0.947886179, 0.864804517, 0.747024947, 0.599699445, 0.440879395, 0.298963357,
              0.186160006],
    "normal(0, 0.5)": [1.25133249, 1.24592129, 1.23642352, 1.21991871, 1.19173298,
                       1.14502265, 1.07135172, 0.963529232, 0.820795912, 0.653600526,
                       0.479197807, 0.3240824, 0.208580236],
}  # fmt: skip


def test_cfc_pure_error_table_regression():
    """The published numbers: a change to the CfC, its ODE or the solver shows up here."""
    result = tables.cfc_pure_error(seed=0)
    for label, want in CFC_PURE_RMS.items():
        rows = [r for r in result["rows"] if r["initial_state"] == label]
        assert [r["timespan"] for r in rows] == list(tables.TIMESPANS)
        np.testing.assert_allclose([r["rms_error"] for r in rows], want, rtol=1e-6)


# ------------------------------------------------------------------------------ bad input
def test_bad_tolerances_name_the_argument():
    spec, params, x = _ltc_case(batch=2)
    xs = x[:, None]
    with pytest.raises(ValueError, match="rtol: expected a finite number > 0"):
        ode.solve_ltc(spec, params, xs, rtol=0.0)
    with pytest.raises(ValueError, match="atol: expected a finite number > 0"):
        ode.solve_ltc(spec, params, xs, atol=float("nan"))
    with pytest.raises(ValueError, match="max_steps: expected a positive integer"):
        ode.solve_ltc(spec, params, xs, max_steps=0)
    with pytest.raises(ValueError, match="n_steps: expected a positive integer"):
        ode.solve_ltc(spec, params, xs, method="rk4", n_steps=-1)


def test_bad_state_and_timespans_name_the_argument():
    spec, params, x = _ltc_case(batch=2)
    xs = x[:, None]
    h0 = np.zeros((2, spec.units))
    h0[1, 2] = np.nan
    with pytest.raises(ValueError, match="hx: expected finite"):
        ode.solve_ltc(spec, params, xs, h0)
    with pytest.raises(ValueError, match="timespans: expected values > 0"):
        ode.solve_ltc(spec, params, xs, timespans=np.array([[1.0], [0.0]]))
    with pytest.raises(ValueError, match="y0: expected finite"):
        integrate_adaptive(
            linear.linear_problem(np.eye(2)), get_tableau("dopri5"),
            np.array([[np.inf, 0.0]]), np.ones(1), 1e-6, 1e-6,
        )  # fmt: skip


def test_max_steps_exceeded_raises_instead_of_looping():
    spec, params, x = _ltc_case(batch=2)
    with pytest.raises(ode.ODESolverError, match=r"sample 0 exceeded max_steps=3 .* at t="):
        ode.solve_ltc(spec, params, x[:, None], max_steps=3)


def test_blow_up_is_reported():
    problem = linear.linear_problem(np.array([[-1e10]]))
    with pytest.raises(ode.ODESolverError, match="non-finite"):
        integrate_fixed(problem, get_tableau("euler"), np.ones((1, 1)), np.ones(1), 40)
    growth = linear.linear_problem(np.array([[2000.0]]))
    with pytest.raises(ode.ODESolverError, match="sample 0"):
        integrate_adaptive(growth, get_tableau("dopri5"), np.ones((1, 1)), np.ones(1), 1e-6, 1e-6)


def test_wrong_method_or_cell_is_refused():
    spec, params, x = _ltc_case(batch=2)
    xs = x[:, None]
    with pytest.raises(ValueError, match="method: expected one of"):
        ode.solve_ltc(spec, params, xs, method="rk45")
    with pytest.raises(ValueError, match="n_steps: euler takes fixed steps"):
        ode.solve_ltc(spec, params, xs, method="euler")
    with pytest.raises(ValueError, match="spec: expected an LTC"):
        ode.solve_ltc(cells.get_spec("gru", 4, 8), params, xs)
    gated = cells.get_spec("cfc", 4, 8)
    with pytest.raises(ValueError, match="mode='pure'"):
        ode.solve_cfc_pure(gated, gated.init_params(), xs)
    wired = cells.get_spec("cfc", 4, cells.wiring.FullyConnected(8), mode="pure")
    with pytest.raises(NotImplementedError, match="unwired"):
        ode.solve_cfc_pure(wired, wired.init_params(), xs)


def test_fixed_step_euler_on_the_ltc_equals_the_numpy_loop():
    """Explicit Euler by hand on the numpy right-hand side: the same numbers."""
    spec, params, x = _ltc_case(batch=3)
    y, v = ode.solve_ltc(spec, params, x[:, None], method="euler", n_steps=10)
    for b in range(3):
        f, state = ltc_rhs.numpy_rhs(spec, params, x[b]), np.zeros(spec.units)
        for _ in range(10):
            state = state + 0.1 * f(0.0, state)
        np.testing.assert_allclose(v[b], state, rtol=1e-12, atol=1e-14)


# ------------------------------------------------------------------- CLI and benchmark suite
def test_cellbench_ode_writes_both_tables(tmp_path, capsys):
    import csv
    import json

    from bench.cli import main

    assert main(["ode", "--backends", "reference", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "fitted order (unfolds >= 8; 1 expected): reference 0.9" in printed
    document = json.loads((tmp_path / "ode.json").read_text())
    for name in ("ltc_unfold_convergence", "cfc_pure_error"):
        with open(tmp_path / f"{name}.csv", newline="") as handle:
            rows = list(csv.DictReader(handle))
        assert len(rows) == len(document[name]["rows"]) > 0
        first = document[name]["rows"][0]
        assert float(rows[0]["max_abs_error"]) == pytest.approx(first["max_abs_error"])
    assert [r["ode_unfolds"] for r in document["ltc_unfold_convergence"]["rows"]] == list(
        tables.UNFOLDS
    )


def test_reference_suite_smoke_run_records_solver_statistics(tmp_path):
    import json
    import subprocess
    import sys
    from pathlib import Path

    command = [
        sys.executable, "-m", "pytest", "suites/reference", "--benchmark-only",
        "--profile", "smoke", "--threads", "1", "--results", str(tmp_path), "-q",
        "-p", "no:cacheprovider",
    ]  # fmt: skip
    repo = Path(__file__).resolve().parents[1]
    result = subprocess.run(command, cwd=repo, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    latest = json.loads((tmp_path / "reference" / "latest.json").read_text())
    by_solver = {
        (b["extra_info"]["ode_solver"], b["extra_info"]["method"]): b["extra_info"]
        for b in latest["benchmarks"]
    }
    assert set(by_solver) == set(ode_bench_solvers())
    numba_info, scipy_info = by_solver["numba", "dopri5"], by_solver["scipy", "RK45"]
    for key in ("rhs_evaluations", "accepted_steps", "rejected_steps"):
        assert numba_info[key] == scipy_info[key]  # same algorithm, same steps
    assert all(info["ns_per_synapse"] > 0 for info in by_solver.values())
    assert "speed-up vs scipy DOP853" in result.stdout


def ode_bench_solvers():
    from bench import ode_bench

    return ode_bench.SOLVERS
