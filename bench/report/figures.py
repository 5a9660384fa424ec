"""seaborn figures of the report, each returned as PNG bytes (matplotlib's Agg backend: no
display, no GUI toolkit, same pixels everywhere).

Inputs are the tidy frames of `tables` / `load`; each function documents the columns it reads.
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg", force=True)  # before pyplot: a report is drawn without any display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter  # noqa: E402

from .tables import CELL_ORDER, IMPL_ORDER, KIND_ORDER, ordered  # noqa: E402

DPI = 100


def _style():
    return plt.rc_context({**sns.axes_style("whitegrid"), **sns.plotting_context("notebook"),
                           "font.size": 10, "axes.titlesize": 11, "axes.labelsize": 10,
                           "legend.fontsize": 9, "xtick.labelsize": 9,
                           "ytick.labelsize": 9})  # fmt: skip


def _log_axis(axis, which: str = "x") -> None:
    """Log scale labelled 1-2-5 in plain numbers: matplotlib's default labels every minor tick
    when the range is under a decade, and the labels then overlap."""
    target = axis.xaxis if which == "x" else axis.yaxis
    target.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    target.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    target.set_minor_formatter(NullFormatter())


def to_png(figure) -> bytes:
    """The figure as PNG bytes (no timestamp metadata, so equal figures give equal bytes)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight",
                   metadata={"Software": None})  # fmt: skip
    plt.close(figure)
    return buffer.getvalue()


def impl_palette(labels) -> dict:
    """backend/impl -> colour: torch blues, ncps greens, TF oranges, so a backend reads as one
    family across every figure."""
    families = {"torch": "Blues", "ncps": "Greens", "tf": "Oranges"}
    palette = {}
    for backend, cmap in families.items():
        mine = [label for label in labels if label.split("/")[0] == backend]
        colours = sns.color_palette(cmap, len(mine) + 2)[2:]
        palette.update(zip(mine, colours[::-1]))
    others = [label for label in labels if label not in palette]
    palette.update(zip(others, sns.color_palette("Greys", len(others) + 2)[2:]))
    return palette


def _impl_bars(data: pd.DataFrame, value: str, xlabel: str, reference: float | None = None):
    """Horizontal bars of `value` per cell (rows of bars) and backend/impl (hue), one panel per
    kind, one row of panels per shape; log x axis."""
    labels = ordered(data["label"], IMPL_ORDER)
    kinds = ordered(data["kind"], KIND_ORDER)
    shapes = ordered(data["shape"], [])
    cells = ordered(data["cell"], CELL_ORDER)
    with _style():
        grid = sns.catplot(data=data, kind="bar", x=value, y="cell", hue="label", col="kind",
                           row="shape" if len(shapes) > 1 else None, order=cells,
                           hue_order=labels, col_order=kinds, palette=impl_palette(labels),
                           sharex=False, height=3.6, aspect=0.95, orient="h",
                           errorbar=None, legend_out=True)  # fmt: skip
        grid.set(xscale="log")
        for axis in grid.axes.flat:
            _log_axis(axis, "x")
        grid.set_axis_labels(xlabel, "")
        grid.set_titles(row_template="{row_name}", col_template="{col_name}")
        if reference is not None:
            for axis in grid.axes.flat:
                axis.axvline(reference, color="0.3", linestyle="--", linewidth=1)
        grid.legend.set_title("backend/impl")
        return to_png(grid.figure)


def kernel_times(kernel: pd.DataFrame) -> bytes:
    """Median time (ms) per cell x backend/impl, panels per kind. Reads cell, label, kind,
    shape, median_ms."""
    return _impl_bars(kernel, "median_ms", "median time per call (ms, log scale)")


def kernel_speedups(kernel: pd.DataFrame) -> bytes:
    """Speed-up vs nn.LSTM of the same kind and shape in the same run (log scale, dashed line at
    1). Reads cell, label, kind, shape, speedup_vs_torch_lstm."""
    data = kernel.dropna(subset=["speedup_vs_torch_lstm"])
    return _impl_bars(data, "speedup_vs_torch_lstm",
                      "speed-up vs nn.LSTM (> 1: faster; log scale)", reference=1.0)  # fmt: skip


def forward_backward(ratios: pd.DataFrame) -> bytes:
    """(forward+backward) / forward time per cell x backend/impl. Reads cell, label, shape,
    ratio."""
    labels = ordered(ratios["label"], IMPL_ORDER)
    shapes = ordered(ratios["shape"], [])
    with _style():
        grid = sns.catplot(data=ratios, kind="bar", x="ratio", y="cell", hue="label",
                           col="shape" if len(shapes) > 1 else None,
                           order=ordered(ratios["cell"], CELL_ORDER), hue_order=labels,
                           palette=impl_palette(labels), height=3.6, aspect=1.4, orient="h",
                           errorbar=None)  # fmt: skip
        grid.set_axis_labels("(forward + backward) time / forward time", "")
        for axis in grid.axes.flat:
            axis.axvline(3.0, color="0.3", linestyle="--", linewidth=1)
        grid.legend.set_title("backend/impl")
        return to_png(grid.figure)


def numerics_heatmap(checks: pd.DataFrame) -> bytes:
    """log10 of the worst relative error per configuration (rows) x backend/impl (columns), one
    panel per dtype, coloured up to that dtype's tolerance; failures are marked "x". Reads case,
    backend, impl, dtype, max_rel_err, tolerance, passed."""
    data = checks.assign(label=checks["backend"] + "/" + checks["impl"])
    dtypes = ordered(data["dtype"], ["float64", "float32"])
    cases = list(dict.fromkeys(data["case"]))
    labels = ordered(data["label"], IMPL_ORDER)
    height = max(3.0, 0.32 * len(cases) + 1.5)
    with _style():
        figure, axes = plt.subplots(1, len(dtypes), figsize=(5.2 * len(dtypes), height),
                                    squeeze=False)  # fmt: skip
        for axis, dtype in zip(axes[0], dtypes):
            part = data[data["dtype"] == dtype]
            errors = part.pivot_table(index="case", columns="label", values="max_rel_err",
                                      aggfunc="max")  # fmt: skip
            passed = part.pivot_table(index="case", columns="label", values="passed",
                                      aggfunc="min")  # fmt: skip
            errors = errors.reindex(index=cases, columns=labels)
            passed = passed.reindex(index=cases, columns=labels)
            logs = np.log10(errors.astype(float).clip(lower=1e-300))
            text = errors.map(lambda v: "" if pd.isna(v) else f"{v:.0e}".replace("e-0", "e-"))
            text = text.where(passed.fillna(True).astype(bool), text + " x")
            tolerance = float(part["tolerance"].max())
            sns.heatmap(logs, ax=axis, annot=text, fmt="", cmap="viridis",
                        vmax=np.log10(tolerance), vmin=np.log10(tolerance) - 8,
                        cbar_kws={"label": "log10 rel. error"}, annot_kws={"fontsize": 7},
                        linewidths=0.5, linecolor="white")  # fmt: skip
            axis.set_title(f"{dtype} (tolerance {tolerance:.0e})")
            axis.set_xlabel("")
            axis.set_ylabel("")
            axis.tick_params(axis="x", rotation=45)
            for tick in axis.get_xticklabels():
                tick.set_horizontalalignment("right")
        figure.tight_layout()
        return to_png(figure)


def ode_convergence(ltc: pd.DataFrame) -> bytes:
    """LTC error vs ode_unfolds (log-log) per backend, max and RMS error, with a slope -1 guide
    (first order). Reads backend, ode_unfolds, max_abs_error, rms_error."""
    long = ltc.melt(id_vars=["backend", "ode_unfolds"], value_vars=["max_abs_error", "rms_error"],
                    var_name="error", value_name="value")  # fmt: skip
    with _style():
        grid = sns.relplot(data=long, kind="line", x="ode_unfolds", y="value", hue="backend",
                           style="backend", markers=True, dashes=False, col="error",
                           height=3.4, aspect=1.2, facet_kws={"sharey": False})  # fmt: skip
        grid.set(xscale="log", yscale="log")
        for axis in grid.axes.flat:
            _log_axis(axis, "x")
        for axis, (_, part) in zip(grid.axes.flat, long.groupby("error", sort=False)):
            start = part.sort_values("ode_unfolds").iloc[0]
            unfolds = np.array(sorted(part["ode_unfolds"].unique()), dtype=float)
            guide = start["value"] * start["ode_unfolds"] / unfolds
            axis.plot(unfolds, guide, color="0.4", linestyle=":", label="order 1")
        grid.set_axis_labels("ode_unfolds (semi-implicit Euler steps per input step)",
                             "error vs dopri5 (rtol 1e-12)")  # fmt: skip
        grid.set_titles(col_template="{col_name}")
        for axis, title in zip(grid.axes.flat, ("max abs error", "RMS error")):
            axis.set_title(title)
        return to_png(grid.figure)


def cfc_error(cfc: pd.DataFrame) -> bytes:
    """One pure CfC step vs its ODE over timespans (log x), max and RMS error per initial state,
    with the ODE solution's mean magnitude for scale. Reads initial_state, timespan,
    max_abs_error, rms_error, ode_mean_abs (optional)."""
    values = [c for c in ("max_abs_error", "rms_error", "ode_mean_abs") if c in cfc.columns]
    long = cfc.melt(id_vars=["initial_state", "timespan"], value_vars=values,
                    var_name="quantity", value_name="value")  # fmt: skip
    with _style():
        grid = sns.relplot(data=long, kind="line", x="timespan", y="value", hue="quantity",
                           style="quantity", markers=True, col="initial_state", height=3.4,
                           aspect=1.2)  # fmt: skip
        grid.set(xscale="log", yscale="log")
        grid.set_axis_labels("timespan", "vs dopri5 (rtol 1e-12)")
        grid.set_titles(col_template="initial state {col_name}")
        return to_png(grid.figure)


def _seed_line(data, x, y, axis, hue_order):
    sns.lineplot(data=data, x=x, y=y, hue="cell", style="backend", hue_order=hue_order,
                 markers=True, errorbar=("pi", 100), ax=axis)  # fmt: skip


def bc_curves(metrics: pd.DataFrame) -> bytes:
    """Validation accuracy and loss per epoch, per cell (colour) and backend (line style);
    several seeds give a min-max band. Reads epoch, val_accuracy, val_loss, cell, backend."""
    cells = ordered(metrics["cell"], CELL_ORDER)
    with _style():
        figure, axes = plt.subplots(1, 2, figsize=(10, 3.6))
        _seed_line(metrics, "epoch", "val_accuracy", axes[0], cells)
        _seed_line(metrics, "epoch", "val_loss", axes[1], cells)
        axes[0].set_title("validation accuracy")
        axes[1].set_title("validation loss")
        axes[0].get_legend().remove()
        axes[1].legend(loc="upper left", bbox_to_anchor=(1.02, 1), frameon=False)
        for axis in axes:
            axis.xaxis.get_major_locator().set_params(integer=True)
        figure.tight_layout()
        return to_png(figure)


def bc_returns(returns: pd.DataFrame, expert: float | None = None) -> bytes:
    """Closed-loop full-game returns per cell and backend: one dot per game, the mean as a bar;
    the expert's mean as a dashed line when known. Reads cell, backend, return."""
    cells = ordered(returns["cell"], CELL_ORDER)
    backends = ordered(returns["backend"], ["torch", "tf"])
    with _style():
        figure, axis = plt.subplots(figsize=(7, 3.4))
        sns.barplot(data=returns, x="cell", y="return", hue="backend", order=cells,
                    hue_order=backends, errorbar=None, alpha=0.45, ax=axis)  # fmt: skip
        sns.stripplot(data=returns, x="cell", y="return", hue="backend", order=cells,
                      hue_order=backends, dodge=True, legend=False, ax=axis, size=5)  # fmt: skip
        if expert is not None and np.isfinite(expert):
            axis.axhline(expert, color="0.3", linestyle="--", linewidth=1,
                         label=f"expert mean {expert:.0f}")  # fmt: skip
        axis.set_ylabel("full-game return (closed loop)")
        axis.set_xlabel("")
        axis.legend(loc="upper left", bbox_to_anchor=(1.02, 1), frameon=False)
        figure.tight_layout()
        return to_png(figure)


def a2c_curves(curves: pd.DataFrame) -> bytes:
    """Mean return of the last 100 games vs frames, per cell (colour) and backend (line style),
    seeds averaged with a min-max band. Reads frames, mean_return_100, cell, backend, run."""
    cells = ordered(curves["cell"], CELL_ORDER)
    with _style():
        figure, axis = plt.subplots(figsize=(8, 3.8))
        sns.lineplot(data=curves, x="frames", y="mean_return_100", hue="cell", style="backend",
                     hue_order=cells, errorbar=("pi", 100), ax=axis)  # fmt: skip
        axis.xaxis.set_major_formatter(FuncFormatter(_frames))
        axis.set_xlabel("emulator frames")
        axis.set_ylabel("mean full-game return, last 100 games")
        axis.legend(loc="upper left", bbox_to_anchor=(1.02, 1), frameon=False)
        figure.tight_layout()
        return to_png(figure)


def _frames(value, _position=None) -> str:
    """200000 -> 200k, 2000000 -> 2M: frame budgets read at a glance."""
    if abs(value) >= 1e6:
        return f"{value / 1e6:g}M"
    return f"{value / 1e3:g}k" if abs(value) >= 1e3 else f"{value:g}"
