"""Derived tables: same-run kernel ratios, numerics verdicts, the summary, A2C seed curves.

Every function takes the tidy frames of `load` and returns a new tidy frame (numbers, not
formatted text); `sections` formats them for reading.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .runs import best_profile

CELL_ORDER = ("lstm", "gru", "cfc", "ltc")
BACKEND_ORDER = ("torch", "ncps", "tf")
KIND_ORDER = ("step", "forward", "forward+backward")
#: Implementations in the order the kernel suite runs them (every torch path before TF's).
IMPL_ORDER = ("torch/native", "torch/eager", "torch/fused", "torch/compile", "torch/triton",
              "ncps/torch", "tf/native", "tf/graph", "tf/fused", "tf/xla")  # fmt: skip
#: Same-run baselines: (cell, backend, impl) -> column of speed-ups against it.
BASELINES = {
    "speedup_vs_torch_lstm": ("lstm", "torch", "native"),
    "speedup_vs_keras_lstm": ("lstm", "tf", "native"),
}


def ordered(values, preferred) -> list:
    present = list(dict.fromkeys(v for v in values if pd.notna(v)))
    return [v for v in preferred if v in present] + sorted(v for v in present
                                                           if v not in preferred)  # fmt: skip


def kernel_table(kernels: pd.DataFrame) -> pd.DataFrame:
    """The kernel suite's rows with `shape` and `label` ("backend/impl") columns and same-run
    speed-ups (baseline median / median; > 1 is faster than the baseline) of the same kind and
    shape: speedup_vs_torch_lstm (nn.LSTM), speedup_vs_keras_lstm (keras LSTM), speedup_vs_ncps
    (ncps.torch's module of the same cell)."""
    needed = {"cell", "backend", "impl", "kind", "median_ms"}
    if kernels.empty or not needed <= set(kernels.columns):
        return pd.DataFrame()
    frame = (kernels[kernels["pair"].isna()] if "pair" in kernels else kernels).copy()
    if frame.empty:
        return pd.DataFrame()
    frame["shape"] = frame["shape_name"] if "shape_name" in frame else "default"
    frame["label"] = frame["backend"] + "/" + frame["impl"]
    where = ["kind", "shape"]
    for column, (cell, backend, impl) in BASELINES.items():
        chosen = (frame["cell"] == cell) & (frame["backend"] == backend) & (frame["impl"] == impl)
        base = frame[chosen].drop_duplicates(where).set_index(where)["median_ms"].rename("_base")
        frame[column] = frame.join(base, on=where)["_base"] / frame["median_ms"]
    ncps = frame[frame["backend"] == "ncps"].drop_duplicates([*where, "cell"])
    base = ncps.set_index([*where, "cell"])["median_ms"].rename("_base")
    frame["speedup_vs_ncps"] = frame.join(base, on=[*where, "cell"])["_base"] / frame["median_ms"]
    frame["_c"] = frame["cell"].map(rank(CELL_ORDER))
    frame["_k"] = frame["kind"].map(rank(KIND_ORDER))
    frame["_i"] = frame["label"].map(rank(IMPL_ORDER))
    return frame.sort_values(["shape", "_k", "_c", "_i"]).drop(columns=["_c", "_k", "_i"])


def kernel_pairs(kernels: pd.DataFrame) -> pd.DataFrame:
    """The suite's paired timings (A and B alternated, `bench.kernel_pairs`): kind, shape, a, b
    ("backend/impl cell"), a_median_ms, b_median_ms, ratio (median of the per-round A/B),
    ratio_q1, ratio_q3, target (None: no target) and met."""
    needed = {"pair", "a_cell", "a_backend", "a_impl", "b_cell", "b_backend", "b_impl", "ratio"}
    if kernels.empty or not needed <= set(kernels.columns):
        return pd.DataFrame()
    frame = kernels[kernels["pair"].notna()].copy()
    for side in ("a", "b"):
        frame[side] = (frame[f"{side}_backend"] + "/" + frame[f"{side}_impl"] + " "
                       + frame[f"{side}_cell"])  # fmt: skip
    frame["shape"] = frame["shape_name"] if "shape_name" in frame else "default"
    frame["target"] = frame["target"] if "target" in frame else np.nan
    frame["met"] = [None if pd.isna(t) else bool(r <= t)
                    for r, t in zip(frame["ratio"], frame["target"])]  # fmt: skip
    frame["_k"] = frame["kind"].map(rank(KIND_ORDER))
    columns = ["kind", "shape", "a", "b", "a_median_ms", "b_median_ms", "ratio", "ratio_q1",
               "ratio_q3", "target", "met"]  # fmt: skip
    return frame.sort_values(["shape", "_k", "a", "b"])[columns].reset_index(drop=True)


def rank(order) -> dict:
    return {value: index for index, value in enumerate(order)}


def fastest_per_kind(kernel: pd.DataFrame) -> pd.DataFrame:
    """cell, backend, kind, shape, impl, median_ms, speedup_vs_torch_lstm of each cell's
    fastest implementation per backend, kind and shape."""
    if kernel.empty:
        return pd.DataFrame()
    index = kernel.groupby(["cell", "backend", "kind", "shape"])["median_ms"].idxmin()
    return kernel.loc[index, ["cell", "backend", "kind", "shape", "impl", "median_ms",
                              "speedup_vs_torch_lstm"]].reset_index(drop=True)  # fmt: skip


def forward_backward(kernel: pd.DataFrame) -> pd.DataFrame:
    """cell, label, shape, forward_ms, forward_backward_ms, ratio ((forward+backward) / forward)
    for every implementation timed in both kinds."""
    if kernel.empty:
        return pd.DataFrame()
    wide = kernel.pivot_table(index=["cell", "label", "shape"], columns="kind",
                              values="median_ms", aggfunc="first")  # fmt: skip
    if not {"forward", "forward+backward"} <= set(wide.columns):
        return pd.DataFrame()
    wide = wide.dropna(subset=["forward", "forward+backward"]).reset_index()
    out = wide[["cell", "label", "shape"]].copy()
    out["forward_ms"] = wide["forward"]
    out["forward_backward_ms"] = wide["forward+backward"]
    out["ratio"] = out["forward_backward_ms"] / out["forward_ms"]
    return out


def verify_checks(verify: pd.DataFrame) -> pd.DataFrame:
    """One row per implementation check (case x backend x impl x dtype): cell, quantities,
    passed (every quantity within tolerance), max_rel_err, worst_quantity, tolerance."""
    if verify.empty:
        return pd.DataFrame()
    frame = verify.copy()
    frame["passed"] = frame["passed"].map(_truthy)
    keys = ["case", "cell", "backend", "impl", "dtype"]
    # sort=False: configurations stay in verify's order (lstm, gru, cfc..., ltc...).
    worst = frame.loc[frame.groupby(keys, sort=False)["rel_err"].idxmax()].set_index(keys)
    grouped = frame.groupby(keys, sort=False)
    out = pd.DataFrame({
        "quantities": grouped.size(),
        "passed": grouped["passed"].all(),
        "max_rel_err": grouped["rel_err"].max(),
        "worst_quantity": worst["quantity"],
        "tolerance": grouped["tolerance"].first(),
    }).reset_index()  # fmt: skip
    return out


def _truthy(value) -> bool:
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)


def verify_by_cell(checks: pd.DataFrame) -> pd.DataFrame:
    """cell, backend, dtype, checks, passed, max_rel_err, tolerance."""
    if checks.empty:
        return pd.DataFrame()
    grouped = checks.groupby(["cell", "backend", "dtype"])
    return pd.DataFrame({
        "checks": grouped.size(),
        "passed": grouped["passed"].sum(),
        "max_rel_err": grouped["max_rel_err"].max(),
        "tolerance": grouped["tolerance"].first(),
    }).reset_index()  # fmt: skip


def a2c_curves(metrics: pd.DataFrame, points: int | None = None) -> pd.DataFrame:
    """cell, backend, run, seed, frames, mean_return_100 with every run of a (cell, backend)
    interpolated onto one frame grid, so seeds can be averaged point by point (a seed band).
    The grid stops at the shortest run's last row: a band never mixes in missing seeds. Grid
    size: `points`, default the most rows any of the runs has (at most 500)."""
    if metrics.empty:
        return pd.DataFrame()
    data = metrics.dropna(subset=["mean_return_100"])
    pieces = []
    for (cell, backend), group in data.groupby(["cell", "backend"]):
        runs = list(group.groupby("run"))
        start = max(run["frames"].min() for _, run in runs)
        stop = min(run["frames"].max() for _, run in runs)
        size = points or min(500, max(len(run) for _, run in runs))
        grid = np.unique(np.linspace(start, stop, size).round()) if stop > start else [stop]
        for name, run in runs:
            run = run.sort_values("frames")
            pieces.append(pd.DataFrame({
                "cell": cell, "backend": backend, "run": name, "seed": run["seed"].iloc[0],
                "frames": grid,
                "mean_return_100": np.interp(grid, run["frames"], run["mean_return_100"]),
            }))  # fmt: skip
    return pd.concat(pieces, ignore_index=True) if pieces else pd.DataFrame()


def summary_table(kernel: pd.DataFrame, checks: pd.DataFrame, bc_runs: pd.DataFrame,
                  a2c_runs: pd.DataFrame) -> pd.DataFrame:  # fmt: skip
    """One row per cell x backend: numerics (checks, checks_passed, worst rel err per dtype),
    speed-up vs nn.LSTM of the fastest implementation per kind (speedup_<kind>, impl_<kind>;
    the first shape when the run has several), BC (runs, val_accuracy, closed_loop_return: means
    over the runs of the largest profile present) and A2C (seeds, final_mean_return_100)."""
    rows: dict[tuple, dict] = {}

    def row(cell, backend):
        return rows.setdefault((cell, backend), {"cell": cell, "backend": backend})

    if not checks.empty:
        for (cell, backend), group in checks.groupby(["cell", "backend"]):
            entry = row(cell, backend)
            entry["checks"] = len(group)
            entry["checks_passed"] = int(group["passed"].sum())
            for dtype, part in group.groupby("dtype"):
                entry[f"max_rel_err_{dtype}"] = part["max_rel_err"].max()
    fastest = fastest_per_kind(kernel)
    if not fastest.empty:
        first_shape = kernel["shape"].iloc[0]
        for item in fastest[fastest["shape"] == first_shape].itertuples():
            entry = row(item.cell, item.backend)
            key = item.kind.replace("+", "_")
            entry[f"speedup_{key}"] = item.speedup_vs_torch_lstm
            entry[f"impl_{key}"] = item.impl
    bc = best_profile(bc_runs)
    if not bc.empty:
        for (cell, backend), group in bc.groupby(["cell", "backend"]):
            entry = row(cell, backend)
            entry["bc_profile"] = group["profile"].iloc[0]
            entry["bc_runs"] = len(group)
            entry["bc_val_accuracy"] = group["val_accuracy"].mean()
            entry["bc_closed_loop_return"] = group["closed_loop_mean"].mean()
    a2c = best_profile(a2c_runs)
    if not a2c.empty:
        for (cell, backend), group in a2c.groupby(["cell", "backend"]):
            entry = row(cell, backend)
            entry["a2c_profile"] = group["profile"].iloc[0]
            entry["a2c_seeds"] = len(group)
            entry["a2c_final_mean_return_100"] = group["final_mean_return_100"].mean()
    if not rows:
        return pd.DataFrame()
    frame = pd.DataFrame(list(rows.values()))
    frame["_c"] = frame["cell"].map(lambda c: rank(CELL_ORDER).get(c, 99))
    frame["_b"] = frame["backend"].map(lambda b: rank(BACKEND_ORDER).get(b, 99))
    return frame.sort_values(["_c", "_b", "cell", "backend"]).drop(columns=["_c", "_b"])
