"""`cellbench ode`: the ODE tables (how far LTC and CfC are from their ODEs) into results/ode/.

Writes, each atomically:
    ltc_unfold_convergence.csv   backend, ode_unfolds, max_abs_error, rms_error
    cfc_pure_error.csv           initial_state, timespan, max_abs_error, rms_error, ode_mean_abs
    ode.json                     both tables, fitted orders, settings, machine
"""

from __future__ import annotations

from pathlib import Path

from .results import DEFAULT_RESULTS, csv_text, machine_info, write_json_atomic, write_text_atomic

DEFAULT_OUT = DEFAULT_RESULTS / "ode"


def _format_ltc(result: dict) -> str:
    by_unfolds: dict[int, dict[str, float]] = {}
    for row in result["rows"]:
        by_unfolds.setdefault(row["ode_unfolds"], {})[row["backend"]] = row["max_abs_error"]
    backends = list(dict.fromkeys(row["backend"] for row in result["rows"]))
    lines = [
        "LTC fused solver vs its ODE (max abs error)",
        f"{'unfolds':>8} " + " ".join(f"{b:>12}" for b in backends),
    ]
    for n, errors in by_unfolds.items():
        lines.append(
            f"{n:>8} " + " ".join(f"{errors.get(b, float('nan')):>12.3e}" for b in backends)
        )
    orders = ", ".join(f"{b} {o:.3f}" for b, o in result["orders"].items())
    lines.append(f"fitted order (unfolds >= 8; 1 expected): {orders}")
    for backend, reason in result["skipped"].items():
        lines.append(f"skipped {backend}: {reason}")
    return "\n".join(lines)


def _format_cfc(result: dict) -> str:
    lines = [
        "CfC pure vs its ODE, one step (rms error / mean |x_ode|)",
        f"{'timespan':>9} {'from zeros':>16} {'from random':>16}",
    ]
    table: dict[float, list[str]] = {}
    for row in result["rows"]:
        table.setdefault(row["timespan"], []).append(
            f"{row['rms_error']:.3g} / {row['ode_mean_abs']:.3g}"
        )
    for span, cells_ in table.items():
        lines.append(f"{span:>9.4g} " + " ".join(f"{c:>16}" for c in cells_))
    return "\n".join(lines)


def run_ode_tables(out_dir: Path = DEFAULT_OUT, seed: int = 0, backends=None, out=print) -> int:
    """Compute both tables, print them, write CSV + JSON under out_dir; returns 0."""
    from cells.ode import tables

    backends = tuple(backends or tables.BACKENDS)
    ltc = tables.ltc_unfold_convergence(seed=seed, backends=backends)
    cfc = tables.cfc_pure_error(seed=seed)
    out(_format_ltc(ltc))
    out("")
    out(_format_cfc(cfc))
    out_dir = Path(out_dir)
    write_text_atomic(out_dir / "ltc_unfold_convergence.csv", csv_text(ltc["rows"]))
    write_text_atomic(out_dir / "cfc_pure_error.csv", csv_text(cfc["rows"]))
    write_json_atomic(
        out_dir / "ode.json",
        {"ltc_unfold_convergence": ltc, "cfc_pure_error": cfc, "machine": machine_info()},
    )
    out(f"wrote {out_dir}/ltc_unfold_convergence.csv, cfc_pure_error.csv and ode.json")
    return 0
