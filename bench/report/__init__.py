"""`cellbench report`: results/ -> results/report/index.html (+ report.md, PNGs, CSV tables).

Reads files only (pandas, matplotlib/seaborn; never torch or TensorFlow), re-runs nothing:

    files     reading one file; every problem is a ResultsError naming it
    load      results/ -> tidy DataFrames; unreadable files become warnings naming them
    runs      BC and A2C training-run folders -> tidy DataFrames
    tables    derived frames: same-run kernel speed-ups, numerics checks, summary, A2C curves
    figures   seaborn figures -> PNG bytes
    blocks    text, notes, tables, figures; number formatting
    sections  the report's sections (training: the BC and A2C ones)
    render    HTML (one self-contained file) and Markdown, written atomically
    baseline  --baseline: compare medians with an earlier saved run, flag regressions
    browser   open a report in headless Chromium (tests; `python -m bench.report.browser`)
"""

from __future__ import annotations

import dataclasses
import datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

#: --threshold's default: a median more than 10% above the baseline's is a regression.
DEFAULT_THRESHOLD = 0.10

__all__ = ["DEFAULT_THRESHOLD", "Report", "build_report"]


@dataclasses.dataclass
class Report:
    """What a report run wrote and found: html and markdown paths, the warnings shown at the top
    of the report, and (with a baseline) the comparison table (see `baseline.compare`)."""

    html: Path
    markdown: Path
    warnings: list[str]
    comparison: pd.DataFrame | None = None  # noqa: F821 - pandas is imported lazily

    @property
    def regressions(self) -> int:
        if self.comparison is None or self.comparison.empty:
            return 0
        return int((self.comparison["status"] == "regression").sum())


def build_report(results: str | Path = "results", out: str | Path | None = None,
                 baseline: str | None = None,
                 threshold: float = DEFAULT_THRESHOLD) -> Report:  # fmt: skip
    """Read `results`, write the report to `out` (default <results>/report). A results folder
    that does not exist, or a baseline that names nothing usable, is a ResultsError."""
    # Imported here, not at the top: `cellbench --help` and the other commands never pay for
    # pandas and matplotlib.
    from . import render, sections
    from .baseline import compare, resolve_baseline
    from .load import load_results

    if not threshold > 0:
        raise ValueError(f"threshold: expected a fraction > 0 (0.1 is 10%), got {threshold}")
    results = Path(results)
    out = Path(out) if out is not None else results / "report"
    loaded = load_results(results)
    baseline_files = resolve_baseline(baseline, results) if baseline else None
    warnings = loaded.warnings
    derived = sections.derive(loaded)
    built = sections.build_sections(loaded, derived, warnings)
    comparison = None
    if baseline_files is not None:
        comparison, problems = compare(loaded.table("benchmarks"), baseline_files, threshold)
        warnings += problems
        built.insert(1, sections.baseline_section(comparison, threshold, baseline, problems))
    csvs = {name: frame for name, frame in loaded.tables.items() if not frame.empty}
    csvs["kernels"] = derived["kernel"] if not derived["kernel"].empty else csvs.get("kernels")
    csvs.update({name: derived[name] for name in ("kernel_pairs", "verify_checks",
                                                  "forward_backward", "a2c_curves", "summary")
                 if not derived[name].empty})  # fmt: skip
    if comparison is not None and not comparison.empty:
        csvs["baseline"] = comparison
    csvs = {name: frame for name, frame in csvs.items() if frame is not None}
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    meta = [f"Generated {stamp} from `{results}` by `cellbench report`; it re-runs nothing.",
            "Timings are compared within one run (ratios); absolute times hold only for the "
            "machine listed at the end."]  # fmt: skip
    paths = render.write_report(out, built, csvs, "cellbench report", meta, warnings)
    return Report(paths["html"], paths["markdown"], warnings, comparison)
