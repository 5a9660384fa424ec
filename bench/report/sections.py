"""The report's sections as plain blocks (text, notes, tables, figures) that `render` turns into
HTML and Markdown alike.

Each builder takes the loaded `Results` (plus derived frames) and returns a `Section`. A section
whose results are missing says which command produces them; a builder that fails on odd data
becomes a section with that error (`build_sections`), so one bad table never costs the report.
"""

from __future__ import annotations

import pandas as pd

from . import figures, tables
from .blocks import (
    Figure,
    Note,
    Section,
    Table,
    Text,
    by_cell,
    display,
    missing,
    missing_note,
    num,
    relative,
    run_text,
    sci,
    text,
    times,
)
from .load import COMMANDS, Results
from .runs import best_profile
from .training import a2c_section, bc_section

LOAD_WARNING = 0.5  # 1-minute load average above which timings are flagged (as the suites do)


# ---- sections -------------------------------------------------------------------------------


def summary_section(results: Results, derived: dict) -> Section:
    summary = derived["summary"]
    blocks: list = []
    checks, kernel = derived["verify_checks"], derived["kernel"]
    if not checks.empty:
        passed = int(checks["passed"].sum())
        tolerance = ", ".join(f"{d} ≤ {t:.0e}" for d, t in
                              checks.groupby("dtype")["tolerance"].first().items())  # fmt: skip
        kind = "ok" if passed == len(checks) else "warning"
        blocks.append(Note(f"Numerics: {passed}/{len(checks)} implementation checks within "
                           f"tolerance (outputs, final state, every gradient vs the float64 "
                           f"reference; relative error {tolerance}).", kind))  # fmt: skip
    if not kernel.empty and "speedup_vs_torch_lstm" in kernel:
        blocks.append(Text(_speed_headline(kernel)))
    if summary.empty:
        blocks.append(Note("No results at all under this folder: run `pytest suites/ "
                           "--benchmark-only` and `cellbench verify`."))  # fmt: skip
        return Section("summary", "Summary", blocks)
    columns = {
        "cell": ("cell", text),
        "backend": ("backend", text),
        "numerics": ("numerics", text),
        "worst_err": ("worst rel. err f32 / f64", text),
        "speedup_step": ("vs nn.LSTM: step", text),
        "speedup_forward": ("forward", text),
        "speedup_forward_backward": ("forward+backward", text),
        "bc_val_accuracy": ("BC val. accuracy", lambda v: num(v, 3)),
        "bc_closed_loop_return": ("BC return", lambda v: num(v, 3)),
        "a2c": ("A2C return", text),
    }
    shown = summary.copy()
    shown["numerics"] = [_verdict(row) for row in summary.to_dict("records")]
    shown["worst_err"] = [f"{sci(row.get('max_rel_err_float32'))} / "
                          f"{sci(row.get('max_rel_err_float64'))}"
                          if "max_rel_err_float32" in row or "max_rel_err_float64" in row
                          else "–" for row in summary.to_dict("records")]  # fmt: skip
    for kind in ("step", "forward", "forward_backward"):
        if f"speedup_{kind}" in summary:
            shown[f"speedup_{kind}"] = [
                f"{times(s)} {i}" if not missing(s) else "–"
                for s, i in zip(summary[f"speedup_{kind}"], summary[f"impl_{kind}"])
            ]
    if "a2c_final_mean_return_100" in summary:
        shown["a2c"] = [f"{num(r)} ({int(n)} seed{'s' if n != 1 else ''})"
                        if not missing(r) else "–"
                        for r, n in zip(summary["a2c_final_mean_return_100"],
                                        summary["a2c_seeds"].fillna(0))]  # fmt: skip
    caption = ("Per cell and backend. Numerics: implementation checks (configuration x impl x "
               "dtype) within tolerance. Speed-up: nn.LSTM's median time / the cell's, for the "
               "fastest implementation of that backend, same kind and shape, same run (> 1: "
               "faster than nn.LSTM).")  # fmt: skip
    if "bc_profile" in summary:
        caption += f" BC: {summary['bc_profile'].dropna().iloc[0]} profile, mean over runs."
    if "a2c_profile" in summary:
        caption += (f" A2C: {summary['a2c_profile'].dropna().iloc[0]} profile, mean return of "
                    "the last 100 full games, averaged over seeds.")  # fmt: skip
    blocks.append(Table(display(shown, columns), caption, "summary.csv"))
    present = {
        "kernels": not kernel.empty, "verify": not checks.empty,
        "ode": not (results.table("ode_ltc").empty and results.table("ode_cfc").empty),
        # A run still training has metrics but no summary yet: it is there all the same.
        "bc": not (results.table("bc_runs").empty and results.table("bc_metrics").empty),
        "a2c": not (results.table("a2c_runs").empty and results.table("a2c_metrics").empty),
    }  # fmt: skip
    names = {"kernels": "kernel timings", "verify": "numerics check", "ode": "ODE tables",
             "bc": "BC runs", "a2c": "A2C runs"}  # fmt: skip
    absent = [(names[key], key) for key, there in present.items() if not there]
    if absent:
        blocks.append(Note("Not in these results: " + "; ".join(
            f"{what} (`{COMMANDS[key]}`)" for what, key in absent) + "."))  # fmt: skip
    return Section("summary", "Summary", blocks)


def _verdict(row: dict) -> str:
    total, passed = row.get("checks"), row.get("checks_passed")
    if missing(total):
        return "–"
    word = "pass" if passed == total else "FAIL"
    return f"{word} {int(passed)}/{int(total)}"


def _speed_headline(kernel: pd.DataFrame) -> str:
    fastest = tables.fastest_per_kind(kernel)
    first_shape = kernel["shape"].iloc[0]
    parts = []
    for kind in tables.KIND_ORDER:
        rows = fastest[
            (fastest["kind"] == kind)
            & (fastest["shape"] == first_shape)
            & (fastest["cell"] != "lstm")
        ].dropna(subset=["speedup_vs_torch_lstm"])
        best = rows.loc[rows.groupby("cell")["speedup_vs_torch_lstm"].idxmax()]
        if best.empty:
            continue
        best = best.set_index("cell").reindex(
            tables.ordered(best["cell"], tables.CELL_ORDER)).reset_index()  # fmt: skip
        parts.append(f"{kind}: " + ", ".join(
            f"{r.cell} {times(r.speedup_vs_torch_lstm)} ({r.backend}/{r.impl})"
            for r in best.itertuples()))  # fmt: skip
    shape = _shape_text(kernel)
    return (
        f"Speed vs nn.LSTM, fastest implementation of each cell ({shape}; > 1 is faster): "
        + "; ".join(parts)
        + "."
    )


def _shape_text(kernel: pd.DataFrame) -> str:
    row = kernel.iloc[0]
    dims = [f"{k}={row[c]}" for k, c in (("B", "shape_batch"), ("T", "shape_steps"),
                                         ("I", "shape_inputs"), ("H", "shape_hidden"))
            if c in kernel.columns and not missing(row[c])]  # fmt: skip
    extra = [f"{c} {row[c]}" for c in ("device", "dtype") if c in kernel and not missing(row[c])]
    if "threads" in kernel and not missing(row["threads"]):
        threads = int(row["threads"])
        extra.append(f"{threads} thread{'s' if threads != 1 else ''}")
    shape = f"shape '{row['shape']}'" + (f" ({' '.join(dims)})" if dims else "")
    return ", ".join([shape, *extra])


def kernels_section(results: Results, derived: dict) -> Section:
    kernel, pairs = derived["kernel"], derived["kernel_pairs"]
    if kernel.empty and pairs.empty:
        return Section("kernels", "Kernel timings", [missing_note("kernel timings", "kernels")])
    blocks: list = [Text(run_text(results, "kernels") + (
        f" Workloads: {_shape_text(kernel)}." if not kernel.empty else ""))]  # fmt: skip
    load = _load_note(results, "kernels")
    if load:
        blocks.append(load)
    if not kernel.empty:
        blocks += _kernel_blocks(kernel, derived["forward_backward"])
    if not pairs.empty:
        blocks.append(_pairs_table(pairs))
    return Section("kernels", "Kernel timings", blocks)


def _kernel_blocks(kernel: pd.DataFrame, ratios: pd.DataFrame) -> list:
    """Figures and the table of the single workloads."""
    blocks: list = [Figure("kernel_times", figures.kernel_times(kernel),
                           "Median time per call of every cell x backend/impl, per kind (step: "
                           "one length-1 call on a given state; forward: a sequence under "
                           "no_grad; forward+backward: a sequence and every weight "
                           "gradient).")]  # fmt: skip
    if kernel["speedup_vs_torch_lstm"].notna().any():
        blocks.append(Figure("kernel_speedups", figures.kernel_speedups(kernel),
                             "Speed-up vs nn.LSTM (torch/native lstm) of the same kind and "
                             "shape, same run: nn.LSTM's median / the workload's (> 1: "
                             "faster)."))  # fmt: skip
    if not ratios.empty:
        blocks.append(Figure("forward_backward", figures.forward_backward(ratios),
                             "Forward vs backward: (forward+backward) time / forward time of "
                             "each implementation (dashed: 3, the FLOP convention's "
                             "ratio)."))  # fmt: skip
    columns = {
        "kind": ("kind", text), "shape": ("shape", text), "cell": ("cell", text),
        "label": ("backend/impl", text), "median_ms": ("median ms", num),
        "iqr_ms": ("IQR ms", num), "rounds": ("rounds", text), "gflops": ("GFLOP/s", num),
        "speedup_vs_torch_lstm": ("vs nn.LSTM", times),
        "speedup_vs_keras_lstm": ("vs keras LSTM", times), "speedup_vs_ncps": ("vs ncps", times),
    }  # fmt: skip
    blocks.append(Table(display(kernel, columns), "Every timed workload; speed-ups are the "
                        "baseline's median / this median, same run (> 1: faster).",
                        "kernels.csv"))  # fmt: skip
    return blocks


def _pairs_table(pairs: pd.DataFrame) -> Table:
    columns = {
        "kind": ("kind", text), "shape": ("shape", text), "a": ("A", text), "b": ("B", text),
        "a_median_ms": ("A ms", num), "b_median_ms": ("B ms", num), "ratio": ("A / B", times),
        "ratio_q1": ("IQR from", times), "ratio_q3": ("IQR to", times),
        "target": ("target", times),
        "met": ("met", lambda v: {True: "yes", False: "no"}.get(v, "–")),
    }  # fmt: skip
    return Table(display(pairs, columns), "Paired timings: A and B run in alternation, so a "
                 "slow spell of the machine falls on both. A / B is the median of the per-round "
                 "ratios (< 1: A is faster), with their interquartile range, against the kernel "
                 "issue's target.", "kernel_pairs.csv")  # fmt: skip


def _load_note(results: Results, suite: str) -> Note | None:
    meta = (results.documents.get(suite) or {}).get("cellbench") or {}
    load = (meta.get("load_average_at_start") or [None])[0]
    if load is not None and load > LOAD_WARNING:
        return Note(f"The 1-minute load average was {load:.2f} when this run started: other "
                    "work on the same cores distorts timings. Compare ratios within the run, "
                    "and re-run on an idle machine for absolute times.", "warning")  # fmt: skip
    return None


def numerics_section(results: Results, derived: dict) -> Section:
    checks = derived["verify_checks"]
    if checks.empty:
        return Section("numerics", "Numerics", [missing_note("numerics check", "verify")])
    document = results.documents.get("verify") or {}
    sizes = document.get("sizes") or {}
    passed = int(checks["passed"].sum())
    blocks: list = [Text(
        f"From `{results.sources.get('verify')}`: every configuration x backend implementation "
        f"x dtype vs the float64 numpy reference (outputs, final state, gradients w.r.t. inputs, "
        f"initial state and every parameter; reference gradients by the complex-step method)"
        + (f", sizes {', '.join(f'{k} {v}' for k, v in sizes.items())}" if sizes else "")
        + f". {passed}/{len(checks)} checks pass.")]  # fmt: skip
    blocks.append(Figure("numerics", figures.numerics_heatmap(checks),
                         "Worst relative error (norm-wise) over every compared quantity, per "
                         "configuration and implementation; colour scale ends at the dtype's "
                         "tolerance; x marks a failure."))  # fmt: skip
    per_cell = by_cell(tables.verify_by_cell(checks))
    columns = {"cell": ("cell", text), "backend": ("backend", text), "dtype": ("dtype", text),
               "checks": ("checks", text), "passed": ("passed", text),
               "max_rel_err": ("worst rel. err", sci),
               "tolerance": ("tolerance", sci)}  # fmt: skip
    blocks.append(Table(display(per_cell, columns), "Per cell, backend and dtype.",
                        "verify_checks.csv"))  # fmt: skip
    failed = checks[~checks["passed"]]
    if not failed.empty:
        columns = {"case": ("configuration", text), "backend": ("backend", text),
                   "impl": ("impl", text), "dtype": ("dtype", text),
                   "worst_quantity": ("worst quantity", text),
                   "max_rel_err": ("rel. err", sci), "tolerance": ("tolerance", sci)}  # fmt: skip
        blocks.append(Note(f"{len(failed)} check(s) exceed their tolerance.", "warning"))
        blocks.append(Table(display(failed, columns), "Failed checks.", "verify.csv"))
    return Section("numerics", "Numerics", blocks)


def ode_section(results: Results, derived: dict) -> Section:
    blocks: list = []
    ltc, cfc = results.table("ode_ltc"), results.table("ode_cfc")
    document = results.documents.get("ode") or {}
    if ltc.empty and cfc.empty:
        blocks.append(missing_note("ODE tables", "ode"))
    if not ltc.empty:
        settings = (document.get("ltc_unfold_convergence") or {}).get("settings") or {}
        cell = settings.get("cell") or {}
        blocks.append(Text(
            "The LTC's fused semi-implicit Euler solver against its ODE solved by dopri5 "
            "(rtol = atol = 1e-12)" + (f", {cell.get('units')} units, {cell.get('input_size')} "
                                       f"inputs, batch {settings.get('batch')}, "
                                       f"{settings.get('steps')} steps" if cell else "")
            + ". First order expected."))  # fmt: skip
        blocks.append(Figure("ode_convergence", figures.ode_convergence(ltc),
                             "LTC error vs ode_unfolds (log-log) per backend; dotted: slope -1. "
                             "Backends that coincide draw on top of each other."))  # fmt: skip
        orders = results.table("ode_orders")
        if not orders.empty:
            blocks.append(Table(display(orders, {"backend": ("backend", text),
                                                  "order": ("fitted order", num)}),
                                "Order of convergence fitted to log(error) vs log(unfolds).",
                                "ode_orders.csv"))  # fmt: skip
    if not cfc.empty:
        blocks.append(Figure("cfc_error", figures.cfc_error(cfc),
                             "One pure-mode CfC step vs the ODE it approximates, over the "
                             "timespan, from zero and random initial states; ode_mean_abs is the "
                             "ODE solution's mean magnitude, for scale."))  # fmt: skip
    reference = results.table("reference")
    if reference.empty:
        blocks.append(missing_note("ODE solver timings", "reference"))
    else:
        blocks.append(Text("ODE solver timings. " + run_text(results, "reference")))
        blocks.append(Table(display(_solver_table(reference), {
            "shape": ("shape", text), "solver": ("solver", text), "median_ms": ("median ms", num),
            "rhs_evaluations": ("RHS evals", text), "ns_per_synapse": ("ns/synapse", num),
            "speedup": ("vs scipy DOP853", times)}),
            "numba solvers vs scipy's solve_ivp on the same LTC problems; speed-up: scipy "
            "DOP853's median / this median (> 1: faster).", "reference.csv"))  # fmt: skip
    return Section("ode", "ODE ground truth", blocks)


def _solver_table(reference: pd.DataFrame) -> pd.DataFrame:
    frame = reference.copy()
    frame["shape"] = frame.get("shape_name", "default")
    frame["solver"] = frame.get("ode_solver", "?").astype(str) + "/" + frame.get(
        "method", "?").astype(str)  # fmt: skip
    base = frame[frame["solver"] == "scipy/DOP853"].set_index("shape")["median_ms"]
    frame["speedup"] = frame["shape"].map(base) / frame["median_ms"]
    return frame.sort_values(["shape", "median_ms"])


def baseline_section(comparison: pd.DataFrame, threshold: float, run: str,
                     problems: list[str]) -> Section:  # fmt: skip
    blocks: list = [
        Text(
            f"Baseline `{run}`: medians matched by benchmark; a regression is a "
            f"median more than {threshold:.0%} above the baseline's."
        )
    ]
    blocks += [Note(p, "warning") for p in problems]
    if comparison.empty:
        blocks.append(Note("Nothing to compare: no suite of the baseline is in these results."))
        return Section("baseline", "Regressions vs baseline", blocks)
    counts = comparison["status"].value_counts()
    regressions = int(counts.get("regression", 0))
    blocks.append(
        Note(
            f"{regressions} regression(s) beyond {threshold:.0%}, {int(counts.get('faster', 0))} "
            f"faster, {int(counts.get('same', 0))} within, {int(counts.get('new', 0))} new, "
            f"{int(counts.get('missing', 0))} missing.",
            "warning" if regressions else "ok",
        )
    )
    changed = comparison[comparison["status"] != "same"]
    if not changed.empty:
        blocks.append(Table(display(changed, {
            "suite": ("suite", text), "fullname": ("benchmark", text),
            "baseline_ms": ("baseline ms", num), "current_ms": ("current ms", num),
            "ratio": ("current / baseline", times), "status": ("status", text)}),
            "Benchmarks outside the threshold, new or missing.", "baseline.csv"))  # fmt: skip
    return Section("baseline", "Regressions vs baseline", blocks)


def machine_section(results: Results, derived: dict) -> Section:
    blocks: list = []
    machine = results.table("machine")
    if not machine.empty:
        frame = machine.assign(value=machine["value"].map(text))  # one text type per column
        grouped = (frame.groupby(["key", "value"], sort=False)["source"]
                   .agg(lambda s: ", ".join(dict.fromkeys(s))).reset_index())  # fmt: skip
        sources = frame["source"].nunique()
        grouped["source"] = [("all" if len(set(s.split(", "))) == sources and sources > 1 else s)
                             for s in grouped["source"]]  # fmt: skip
        blocks.append(Table(grouped.rename(columns={"source": "recorded by"}),
                            "Machine, versions and thread counts as each result recorded them "
                            "(a value that differs between results is listed once per value).",
                            "machine.csv"))  # fmt: skip
    else:
        blocks.append(Note("No machine information (no results)."))
    runs = results.table("runs")
    if not runs.empty:
        runs = runs.assign(
            file=runs["file"].map(lambda f: relative(f, results.root)),
            datetime=runs["datetime"].map(lambda t: text(t)[:16].replace("T", " ")),
        )
        columns = {"suite": ("suite", text), "file": ("file", text),
                   "shown": ("shown", text), "datetime": ("time", text),
                   "profile": ("profile", text), "threads": ("threads", text),
                   "complete": ("complete", text), "benchmarks": ("benchmarks", text),
                   "load_1min": ("load avg at start", num), "commit": ("commit", text),
                   "dirty": ("dirty tree", text)}  # fmt: skip
        blocks.append(Table(display(runs, columns), "Every saved pytest-benchmark run (shown: "
                            "the run the report uses; the others serve --baseline).",
                            "runs.csv"))  # fmt: skip
    settings = results.table("atari_settings")
    if not settings.empty:
        blocks.append(
            Table(
                settings.map(text),
                "Atari settings (DeepMind preprocessing; sticky-action probability as played).",
                "atari_settings.csv",
            )
        )
    return Section("machine", "Machine, versions and settings", blocks)


def derive(results: Results) -> dict[str, pd.DataFrame]:
    """The derived frames every section reads (also written as CSV)."""
    kernel = tables.kernel_table(results.table("kernels"))
    checks = tables.verify_checks(results.table("verify"))
    return {
        "kernel": kernel,
        "kernel_pairs": tables.kernel_pairs(results.table("kernels")),
        "forward_backward": tables.forward_backward(kernel),
        "verify_checks": checks,
        # One profile per figure: a smoke run beside a full one would make a meaningless band.
        "a2c_curves": tables.a2c_curves(best_profile(results.table("a2c_metrics"))),
        "summary": tables.summary_table(
            kernel, checks, results.table("bc_runs"), results.table("a2c_runs")
        ),  # fmt: skip
    }


BUILDERS = (
    ("summary", "Summary", summary_section),
    ("kernels", "Kernel timings", kernels_section),
    ("numerics", "Numerics", numerics_section),
    ("ode", "ODE ground truth", ode_section),
    ("bc", "Behavior cloning", bc_section),
    ("a2c", "A2C", a2c_section),
    ("machine", "Machine, versions and settings", machine_section),
)


def build_sections(results: Results, derived: dict, warnings: list[str]) -> list[Section]:
    """Every section in order; a builder that raises leaves a section saying why (and a
    warning), never a missing report."""
    sections = []
    for anchor, title, builder in BUILDERS:
        try:
            sections.append(builder(results, derived))
        except Exception as error:  # noqa: BLE001 - one odd table must not cost the report
            message = f"section {title!r} could not be built: {type(error).__name__}: {error}"
            warnings.append(message)
            sections.append(Section(anchor, title, [Note(message, "warning")]))
    return sections
