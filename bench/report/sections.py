"""The report's sections as plain blocks (text, notes, tables, figures) that `render` turns into
HTML and Markdown alike.

Each builder takes the loaded `Results` (plus derived frames) and returns a `Section`. A section
whose results are missing says which command produces them; a builder that fails on odd data
becomes a section with that error (`build_sections`), so one bad table never costs the report.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from . import figures, tables
from .load import COMMANDS, Results, best_profile

LOAD_WARNING = 0.5  # 1-minute load average above which timings are flagged (as the suites do)


@dataclasses.dataclass
class Text:
    """A paragraph; `code` spans in backquotes."""

    text: str


@dataclasses.dataclass
class Note:
    """A highlighted line: kind "missing" (what to run), "warning" or "ok"."""

    text: str
    kind: str = "missing"


@dataclasses.dataclass
class Table:
    """A display table (strings), its caption and the CSV (under tables/) with its numbers."""

    frame: pd.DataFrame
    caption: str
    csv: str | None = None


@dataclasses.dataclass
class Figure:
    """A PNG written as <name>.png beside report.md and embedded in index.html."""

    name: str
    png: bytes
    caption: str


@dataclasses.dataclass
class Section:
    anchor: str
    title: str
    blocks: list


# ---- number formatting ----------------------------------------------------------------------


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or pd.isna(value)


def num(value, digits: int = 3) -> str:
    """A readable number: 3 significant digits, thousands separated, no exponent in 1e-3..1e6."""
    if _missing(value):
        return "–"
    value = float(value)
    if value.is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    if 1e-3 <= abs(value) < 1e6:
        decimals = max(0, digits - 1 - math.floor(math.log10(abs(value)))) if value else 0
        return f"{value:,.{decimals}f}"
    return f"{value:.{digits - 1}e}"


def times(value) -> str:
    return "–" if _missing(value) else f"{float(value):.2f}×"


def sci(value) -> str:
    return "–" if _missing(value) else f"{float(value):.1e}"


def _display(frame: pd.DataFrame, columns: dict[str, tuple[str, Callable]]) -> pd.DataFrame:
    """Rename and format: columns maps source column -> (header, formatter)."""
    out = pd.DataFrame(index=frame.index)
    for source, (header, formatter) in columns.items():
        if source in frame.columns:
            out[header] = frame[source].map(formatter)
    return out.reset_index(drop=True)


def _text(value) -> str:
    return "–" if _missing(value) else str(value)


def _missing_note(what: str, key: str) -> Note:
    return Note(f"No {what} in these results: run `{COMMANDS[key]}`.")


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
        "cell": ("cell", _text),
        "backend": ("backend", _text),
        "numerics": ("numerics", _text),
        "worst_err": ("worst rel. err f32 / f64", _text),
        "speedup_step": ("vs nn.LSTM: step", _text),
        "speedup_forward": ("forward", _text),
        "speedup_forward_backward": ("forward+backward", _text),
        "bc_val_accuracy": ("BC val. accuracy", lambda v: num(v, 3)),
        "bc_closed_loop_return": ("BC return", lambda v: num(v, 3)),
        "a2c": ("A2C return", _text),
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
                f"{times(s)} {i}" if not _missing(s) else "–"
                for s, i in zip(summary[f"speedup_{kind}"], summary[f"impl_{kind}"])
            ]
    if "a2c_final_mean_return_100" in summary:
        shown["a2c"] = [f"{num(r)} ({int(n)} seed{'s' if n != 1 else ''})"
                        if not _missing(r) else "–"
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
    blocks.append(Table(_display(shown, columns), caption, "summary.csv"))
    absent = [(what, key) for what, key, table in (
        ("kernel timings", "kernels", kernel), ("numerics check", "verify", checks),
        ("ODE tables", "ode", results.table("ode_ltc")),
        ("BC runs", "bc", results.table("bc_runs")),
        ("A2C runs", "a2c", results.table("a2c_runs"))) if table.empty]  # fmt: skip
    if absent:
        blocks.append(Note("Not in these results: " + "; ".join(
            f"{what} (`{COMMANDS[key]}`)" for what, key in absent) + "."))  # fmt: skip
    return Section("summary", "Summary", blocks)


def _verdict(row: dict) -> str:
    total, passed = row.get("checks"), row.get("checks_passed")
    if _missing(total):
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
            if c in kernel.columns and not _missing(row[c])]  # fmt: skip
    extra = [str(row[c]) for c in ("device", "dtype") if c in kernel and not _missing(row[c])]
    if "threads" in kernel and not _missing(row["threads"]):
        threads = int(row["threads"])
        extra.append(f"{threads} thread{'s' if threads != 1 else ''}")
    return " ".join([f"shape {row['shape']}", *dims]) + (", " + ", ".join(extra) if extra else "")


def kernels_section(results: Results, derived: dict) -> Section:
    kernel = derived["kernel"]
    if kernel.empty:
        return Section("kernels", "Kernel timings", [_missing_note("kernel timings", "kernels")])
    blocks: list = [Text(_run_text(results, "kernels") + f" Workloads: {_shape_text(kernel)}.")]
    load = _load_note(results, "kernels")
    if load:
        blocks.append(load)
    blocks.append(Figure("kernel_times", figures.kernel_times(kernel),
                         "Median time per call of every cell x backend/impl, per kind (step: one "
                         "length-1 call on a given state; forward: a sequence under no_grad; "
                         "forward+backward: a sequence and every weight gradient)."))  # fmt: skip
    if kernel["speedup_vs_torch_lstm"].notna().any():
        blocks.append(Figure("kernel_speedups", figures.kernel_speedups(kernel),
                             "Speed-up vs nn.LSTM (torch/native lstm) of the same kind and "
                             "shape, same run: nn.LSTM's median / the workload's (> 1: "
                             "faster)."))  # fmt: skip
    ratios = derived["forward_backward"]
    if not ratios.empty:
        blocks.append(Figure("forward_backward", figures.forward_backward(ratios),
                             "Forward vs backward: (forward+backward) time / forward time of "
                             "each implementation (dashed: 3, the FLOP convention's "
                             "ratio)."))  # fmt: skip
    columns = {
        "kind": ("kind", _text), "shape": ("shape", _text), "cell": ("cell", _text),
        "label": ("backend/impl", _text), "median_ms": ("median ms", num),
        "iqr_ms": ("IQR ms", num), "rounds": ("rounds", _text), "gflops": ("GFLOP/s", num),
        "speedup_vs_torch_lstm": ("vs nn.LSTM", times),
        "speedup_vs_keras_lstm": ("vs keras LSTM", times), "speedup_vs_ncps": ("vs ncps", times),
    }  # fmt: skip
    blocks.append(Table(_display(kernel, columns), "Every timed workload; speed-ups are the "
                        "baseline's median / this median, same run (> 1: faster).",
                        "kernels.csv"))  # fmt: skip
    return Section("kernels", "Kernel timings", blocks)


def _run_text(results: Results, suite: str) -> str:
    document = results.documents.get(suite) or {}
    meta = document.get("cellbench") or {}
    path = results.sources.get(suite)
    parts = [f"From `{path}`" if path else "", f"run {document.get('datetime', '?')}"]
    if meta.get("profile"):
        parts.append(f"profile {meta['profile']}")
    if meta.get("threads"):
        threads = meta["threads"]
        parts.append(f"{threads} thread{'s' if threads != 1 else ''} (torch and TF alike)")
    return ", ".join(p for p in parts if p) + "."


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
        return Section("numerics", "Numerics", [_missing_note("numerics check", "verify")])
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
    by_cell = _by_cell(tables.verify_by_cell(checks))
    columns = {"cell": ("cell", _text), "backend": ("backend", _text), "dtype": ("dtype", _text),
               "checks": ("checks", _text), "passed": ("passed", _text),
               "max_rel_err": ("worst rel. err", sci),
               "tolerance": ("tolerance", sci)}  # fmt: skip
    blocks.append(Table(_display(by_cell, columns), "Per cell, backend and dtype.",
                        "verify_checks.csv"))  # fmt: skip
    failed = checks[~checks["passed"]]
    if not failed.empty:
        columns = {"case": ("configuration", _text), "backend": ("backend", _text),
                   "impl": ("impl", _text), "dtype": ("dtype", _text),
                   "worst_quantity": ("worst quantity", _text),
                   "max_rel_err": ("rel. err", sci), "tolerance": ("tolerance", sci)}  # fmt: skip
        blocks.append(Note(f"{len(failed)} check(s) exceed their tolerance.", "warning"))
        blocks.append(Table(_display(failed, columns), "Failed checks.", "verify.csv"))
    return Section("numerics", "Numerics", blocks)


def ode_section(results: Results, derived: dict) -> Section:
    blocks: list = []
    ltc, cfc = results.table("ode_ltc"), results.table("ode_cfc")
    document = results.documents.get("ode") or {}
    if ltc.empty and cfc.empty:
        blocks.append(_missing_note("ODE tables", "ode"))
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
            blocks.append(Table(_display(orders, {"backend": ("backend", _text),
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
        blocks.append(_missing_note("ODE solver timings", "reference"))
    else:
        blocks.append(Text("ODE solver timings. " + _run_text(results, "reference")))
        blocks.append(Table(_display(_solver_table(reference), {
            "shape": ("shape", _text), "solver": ("solver", _text), "median_ms": ("median ms", num),
            "rhs_evaluations": ("RHS evals", _text), "ns_per_synapse": ("ns/synapse", num),
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


def bc_section(results: Results, derived: dict) -> Section:
    runs, metrics = results.table("bc_runs"), results.table("bc_metrics")
    if runs.empty and metrics.empty:
        return Section("bc", "Behavior cloning", [Note(
            f"No BC runs in these results: run `{COMMANDS['bc']}` (or `cellbench train bc "
            "--cell cfc --backend torch`).")])  # fmt: skip
    blocks: list = []
    if not runs.empty:
        shown = best_profile(runs)
        first = shown.iloc[0]
        blocks.append(
            Text(
                f"{len(runs)} run(s) under `{results.root / 'bc' / 'train'}`; the figures show the "
                f"{first['profile']} profile ({num(first['dataset_train'])} training and "
                f"{num(first['dataset_val'])} validation sequences of 32 steps, game "
                f"{first['game']}). Closed loop: full games played by the trained policy."
            )
        )
    if not metrics.empty:
        curves = best_profile(metrics)
        blocks.append(Figure("bc_curves", figures.bc_curves(curves),
                             "Validation accuracy and loss per epoch; colour: cell, line style: "
                             "backend; several seeds give a min-max band."))  # fmt: skip
    returns = best_profile(results.table("bc_returns"))
    if not returns.empty:
        expert = best_profile(runs)["expert_mean"].dropna() if not runs.empty else pd.Series()
        blocks.append(Figure("bc_returns", figures.bc_returns(
            returns, float(expert.iloc[0]) if len(expert) else None),
            "Closed-loop full-game returns: one dot per game, bar: mean."))  # fmt: skip
    if not runs.empty:
        columns = {"cell": ("cell", _text), "backend": ("backend", _text),
                   "impl": ("impl", _text), "profile": ("profile", _text),
                   "seed": ("seed", _text), "epochs": ("epochs", _text),
                   "val_accuracy": ("val. accuracy", num), "val_loss": ("val. loss", num),
                   "samples_per_second": ("samples/s", num),
                   "closed_loop": ("closed-loop return", _text)}  # fmt: skip
        frame = runs.assign(closed_loop=[
            f"{num(m)} ± {num(s)} ({int(n)} games)" if not _missing(m) else "–"
            for m, s, n in zip(runs["closed_loop_mean"], runs["closed_loop_std"],
                               runs["closed_loop_games"])])  # fmt: skip
        blocks.append(Table(_display(_by_cell(frame), columns), "Every BC run (last epoch).",
                            "bc_runs.csv"))  # fmt: skip
    bench = results.table("bc_bench")
    if not bench.empty and {"cell", "backend"} <= set(bench.columns):
        blocks.append(Table(_display(_by_cell(bench), {
            "cell": ("cell", _text), "backend": ("backend", _text), "impl": ("impl", _text),
            "median_ms": ("train step ms", num),
            "timed_samples_per_second": ("samples/s (timed)", num)}),
            "One training step of the trained policy, timed by the BC suite. "
            + _run_text(results, "bc"), "bc_bench.csv"))  # fmt: skip
    return Section("bc", "Behavior cloning", blocks)


def _by_cell(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows in cell order (lstm, gru, cfc, ltc), then backend order (torch, ncps, tf)."""
    cells, backends = tables.rank(tables.CELL_ORDER), tables.rank(tables.BACKEND_ORDER)
    keys = frame.assign(_c=frame["cell"].map(lambda c: cells.get(c, 99)),
                        _b=frame["backend"].map(lambda b: backends.get(b, 99)))  # fmt: skip
    return keys.sort_values(["_c", "_b"], kind="stable").drop(columns=["_c", "_b"])


def a2c_section(results: Results, derived: dict) -> Section:
    runs, metrics = results.table("a2c_runs"), results.table("a2c_metrics")
    if runs.empty and metrics.empty:
        return Section("a2c", "A2C", [_missing_note("A2C runs", "a2c")])
    blocks: list = []
    curves = derived["a2c_curves"]
    if not curves.empty:
        seeds = curves.groupby(["cell", "backend"])["run"].nunique()
        blocks.append(Figure("a2c_curves", figures.a2c_curves(curves),
                             "Mean full-game return of the last 100 games vs emulator frames; "
                             f"colour: cell, line style: backend; line: mean over seeds, band: "
                             f"min-max over seeds ({seeds.min()}-{seeds.max()} per cell and "
                             "backend)."))  # fmt: skip
    elif not metrics.empty:
        blocks.append(Note("No finished game yet in these A2C runs: no learning curve.",
                           "warning"))  # fmt: skip
    if not runs.empty:
        grouped = best_profile(runs).groupby(["cell", "backend", "profile"])
        table = pd.DataFrame({
            "seeds": grouped.size(),
            "frames": grouped["frames"].max(),
            "return_mean": grouped["final_mean_return_100"].mean(),
            "return_std": grouped["final_mean_return_100"].std(ddof=0),
            "frames_per_second": grouped["frames_per_second"].mean(),
        }).reset_index()  # fmt: skip
        table["return"] = [
            f"{num(m)} ± {num(s)}" if not _missing(m) else "–"
            for m, s in zip(table["return_mean"], table["return_std"])
        ]
        blocks.append(Table(_display(_by_cell(table), {
            "cell": ("cell", _text), "backend": ("backend", _text), "profile": ("profile", _text),
            "seeds": ("seeds", _text), "frames": ("frames", num),
            "return": ("final mean return (100 games), mean ± sd over seeds", _text),
            "frames_per_second": ("frames/s", num)}),
            "Per cell and backend.", "a2c_runs.csv"))  # fmt: skip
    bench = results.table("a2c_bench")
    if not bench.empty and "cell" in bench.columns:
        blocks += _a2c_bench_blocks(results, bench)
    return Section("a2c", "A2C", blocks)


def _a2c_bench_blocks(results: Results, bench: pd.DataFrame) -> list:
    """The A2C suite's timed rollout + update iterations, and its raw-env / random-play
    yardsticks (the benchmark rows without a cell)."""
    blocks: list = []
    raw = bench[bench["cell"].isna()]
    if not raw.empty and "frames_per_second" in raw:
        row = raw.iloc[0]
        random_return = row.get("random_mean_return")
        blocks.append(Text(
            f"Raw env (random actions, nothing else): {num(row['frames_per_second'])} frames/s"
            + (f"; random play scores {num(random_return)} per full game"
               if not _missing(random_return) else "") + "."))  # fmt: skip
    runs = bench[bench["cell"].notna()]
    columns = {"cell": ("cell", _text), "backend": ("backend", _text), "impl": ("impl", _text),
               "median_ms": ("iteration ms", num), "frames_per_second": ("frames/s", num),
               "share_of_raw_rate": ("share of raw rate", num),
               "final_mean_return_100": ("final return", num),
               "return_vs_random": ("vs random play", times)}  # fmt: skip
    blocks.append(Table(_display(_by_cell(runs), columns),
                        "One rollout + update iteration of the trained agent, timed by the A2C "
                        "suite. " + _run_text(results, "a2c"), "a2c_bench.csv"))  # fmt: skip
    return blocks


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
        blocks.append(Table(_display(changed, {
            "suite": ("suite", _text), "fullname": ("benchmark", _text),
            "baseline_ms": ("baseline ms", num), "current_ms": ("current ms", num),
            "ratio": ("current / baseline", times), "status": ("status", _text)}),
            "Benchmarks outside the threshold, new or missing.", "baseline.csv"))  # fmt: skip
    return Section("baseline", "Regressions vs baseline", blocks)


def machine_section(results: Results, derived: dict) -> Section:
    blocks: list = []
    machine = results.table("machine")
    if not machine.empty:
        frame = machine.assign(value=machine["value"].map(_text))  # one text type per column
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
            file=runs["file"].map(lambda f: _relative(f, results.root)),
            datetime=runs["datetime"].map(lambda t: _text(t)[:16].replace("T", " ")),
        )
        columns = {"suite": ("suite", _text), "file": ("file", _text),
                   "shown": ("shown", _text), "datetime": ("time", _text),
                   "profile": ("profile", _text), "threads": ("threads", _text),
                   "complete": ("complete", _text), "benchmarks": ("benchmarks", _text),
                   "load_1min": ("load avg at start", num), "commit": ("commit", _text),
                   "dirty": ("dirty tree", _text)}  # fmt: skip
        blocks.append(Table(_display(runs, columns), "Every saved pytest-benchmark run (shown: "
                            "the run the report uses; the others serve --baseline).",
                            "runs.csv"))  # fmt: skip
    settings = results.table("atari_settings")
    if not settings.empty:
        blocks.append(
            Table(
                settings.map(_text),
                "Atari settings (DeepMind preprocessing; sticky-action probability as played).",
                "atari_settings.csv",
            )
        )
    return Section("machine", "Machine, versions and settings", blocks)


def _relative(path: str, root) -> str:
    try:
        return str(Path(path).relative_to(root))
    except ValueError:
        return str(path)


def derive(results: Results) -> dict[str, pd.DataFrame]:
    """The derived frames every section reads (also written as CSV)."""
    kernel = tables.kernel_table(results.table("kernels"))
    checks = tables.verify_checks(results.table("verify"))
    return {
        "kernel": kernel,
        "forward_backward": tables.forward_backward(kernel),
        "verify_checks": checks,
        "a2c_curves": tables.a2c_curves(results.table("a2c_metrics")),
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
