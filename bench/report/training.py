"""The training sections: behavior cloning (curves, closed-loop returns, runs, the timed
training step) and A2C (learning curves with seed bands, runs, the timed iteration)."""

from __future__ import annotations

import pandas as pd

from . import figures
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
    run_text,
    text,
    times,
)
from .load import COMMANDS, Results
from .runs import best_profile


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
        caption = "Closed-loop full-game returns: one dot per game, bar: mean."
        if not len(expert):
            caption += (" No expert line: the dataset's expert was not scored over full games "
                        "(`cellbench dataset score DIR`).")  # fmt: skip
        blocks.append(Figure("bc_returns", figures.bc_returns(
            returns, float(expert.iloc[0]) if len(expert) else None), caption))  # fmt: skip
    if not runs.empty:
        columns = {"cell": ("cell", text), "backend": ("backend", text),
                   "impl": ("impl", text), "profile": ("profile", text),
                   "seed": ("seed", text), "epochs": ("epochs", text),
                   "val_accuracy": ("val. accuracy", num), "val_loss": ("val. loss", num),
                   "samples_per_second": ("samples/s", num),
                   "closed_loop": ("closed-loop return", text),
                   "closed_loop_agreement": ("closed-loop agreement", num)}  # fmt: skip
        frame = runs.assign(closed_loop=[
            f"{num(m)} ± {num(s)} ({int(n)} games)" if not missing(m) else "–"
            for m, s, n in zip(runs["closed_loop_mean"], runs["closed_loop_std"],
                               runs["closed_loop_games"])])  # fmt: skip
        blocks.append(Table(display(by_cell(frame), columns), "Every BC run (last epoch).",
                            "bc_runs.csv"))  # fmt: skip
    bench = results.table("bc_bench")
    if not bench.empty and {"cell", "backend"} <= set(bench.columns):
        # Suite runs before the evaluation game was timed have no "kind": all training steps.
        games = bench["kind"].eq("eval_game") if "kind" in bench else pd.Series(False, bench.index)
        blocks.append(Table(display(by_cell(bench[~games]), {
            "cell": ("cell", text), "backend": ("backend", text), "impl": ("impl", text),
            "median_ms": ("train step ms", num),
            "timed_samples_per_second": ("samples/s (timed)", num)}),
            "One training step of the trained policy, timed by the BC suite. "
            + run_text(results, "bc"), "bc_bench.csv"))  # fmt: skip
        if games.any():
            blocks.append(Table(display(by_cell(bench[games]), {
                "cell": ("cell", text), "backend": ("backend", text), "impl": ("impl", text),
                "median_ms": ("game ms", num), "eval_steps_per_second": ("steps/s", num),
                "eval_truncated": ("games cut at the step cap", text)}),
                "One closed-loop evaluation game (one env) of the trained policy, timed by the "
                "BC suite.", "bc_bench.csv"))  # fmt: skip
    return Section("bc", "Behavior cloning", blocks)


def a2c_section(results: Results, derived: dict) -> Section:
    runs, metrics = results.table("a2c_runs"), results.table("a2c_metrics")
    if runs.empty and metrics.empty:
        return Section("a2c", "A2C", [missing_note("A2C runs", "a2c")])
    blocks: list = []
    curves = derived["a2c_curves"]
    if not curves.empty:
        seeds = curves.groupby(["cell", "backend"])["run"].nunique()
        count = f"{seeds.min()}" if seeds.min() == seeds.max() else f"{seeds.min()}-{seeds.max()}"
        blocks.append(Figure("a2c_curves", figures.a2c_curves(curves),
                             "Mean full-game return of the last 100 games vs emulator frames; "
                             f"colour: cell, line style: backend; line: mean over seeds, band: "
                             f"min-max over seeds ({count} per cell and backend; one seed draws "
                             "no band)."))  # fmt: skip
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
            f"{num(m)} ± {num(s)}" if not missing(m) else "–"
            for m, s in zip(table["return_mean"], table["return_std"])
        ]
        blocks.append(Table(display(by_cell(table), {
            "cell": ("cell", text), "backend": ("backend", text), "profile": ("profile", text),
            "seeds": ("seeds", text), "frames": ("frames", num),
            "return": ("final mean return (100 games), mean ± sd over seeds", text),
            "frames_per_second": ("frames/s", num)}),
            "Per cell and backend.", "a2c_runs.csv"))  # fmt: skip
    unfinished = in_progress(metrics, runs, "frames")
    if not unfinished.empty:
        blocks.append(Table(display(by_cell(unfinished), {
            "run": ("run", text), "frames": ("frames so far", num), "update": ("updates", num),
            "episodes": ("games", num), "mean_return_100": ("mean return (100 games)", num),
            "frames_per_second": ("frames/s", num)}),
            "Still training, or stopped before the end (no summary.json yet): the last "
            "metrics row of each run; the curves include them.", "a2c_metrics.csv"))  # fmt: skip
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
               if not missing(random_return) else "") + "."))  # fmt: skip
    runs = bench[bench["cell"].notna()]
    columns = {"cell": ("cell", text), "backend": ("backend", text), "impl": ("impl", text),
               "median_ms": ("iteration ms", num), "frames_per_second": ("frames/s", num),
               "share_of_raw_rate": ("share of raw rate", num),
               "model_frames_per_second": ("model alone frames/s", num),
               "serial_ceiling": ("serial ceiling", num),
               "final_mean_return_100": ("final return", num),
               "return_vs_random": ("vs random play", times)}  # fmt: skip
    blocks.append(Table(display(by_cell(runs), columns),
                        "One rollout + update iteration of the trained agent, timed by the A2C "
                        "suite; the model alone replays its network work without the env, and "
                        "the serial ceiling is the share of the raw rate that env and model "
                        "taking turns would reach. " + run_text(results, "a2c"),
                        "a2c_bench.csv"))  # fmt: skip
    return blocks


def in_progress(metrics: pd.DataFrame, runs: pd.DataFrame, step: str) -> pd.DataFrame:
    """The last metrics row (largest `step`) of every run that has metrics but no summary."""
    if metrics.empty:
        return pd.DataFrame()
    done = set(runs["run"]) if not runs.empty else set()
    open_runs = metrics[~metrics["run"].isin(done)]
    if open_runs.empty:
        return pd.DataFrame()
    return open_runs.sort_values(step).groupby("run").tail(1)
