"""`cellbench report` on results made by really running the smoke profile (kernel, ODE-solver,
BC and A2C suites, `cellbench verify` on two configurations, `cellbench ode`, a second A2C
seed): every section renders, the CSV tables equal the JSON they came from, missing and corrupt
results degrade to notes naming what to run or which file is broken, --baseline flags
regressions, and the HTML loads in a real headless Chromium with every image decoded."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
from importlib.util import find_spec
from pathlib import Path

import numpy as np
import pytest

pd = pytest.importorskip("pandas")
pytest.importorskip("seaborn")

from bench.report import build_report  # noqa: E402
from bench.report import tables as report_tables  # noqa: E402
from bench.report.load import ResultsError, load_results  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CELLBENCH = [sys.executable, "-m", "bench.cli"]
SECTIONS = ("summary", "kernels", "numerics", "ode", "bc", "a2c", "machine")
#: What the smoke fixture produces: every figure of the report but the A2C curve (a smoke A2C
#: budget ends before any full game does).
FIGURES = ("kernel_times", "kernel_speedups", "forward_backward", "numerics", "ode_convergence",
           "cfc_error", "bc_curves", "bc_returns")  # fmt: skip


def _run(command: list[str], env: dict, log: list[str]) -> None:
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=600)  # fmt: skip
    log.append(f"$ {' '.join(command)}\n{done.stdout[-2000:]}{done.stderr[-3000:]}")
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}):\n{log[-1]}")


@pytest.fixture(scope="session")
def smoke_results(tmp_path_factory) -> Path:
    """A results folder written by the real commands at their smallest sizes (about a minute on
    two cores): two lanes side by side, the suites in one, verify / ode / a second A2C seed in
    the other."""
    missing = [m for m in ("torch", "tensorflow", "numba", "ale_py") if find_spec(m) is None]
    if missing:  # e.g. tox's single-framework envs: the suites cannot run there
        pytest.skip(f"the smoke results need {missing}")
    root = tmp_path_factory.mktemp("smoke")
    results = root / "results"
    env = {**os.environ, "CELLBENCH_DATA": str(root / "data"), "TF_CPP_MIN_LOG_LEVEL": "2"}
    # tests/conftest.py sets it for Triton's CPU tests; the suites would then time Triton's
    # interpreter.
    env.pop("TRITON_INTERPRET", None)
    # Kernels (no torch.compile: its compilation alone would double the time), the ODE solvers
    # (not the bare right-hand side, whose numba compilation costs 10 s), BC for two cells in
    # two backends, A2C's raw-env yardstick and one cell.
    bc, a2c = "suites/bc/test_bc.py::test_bc", "suites/a2c/test_a2c.py"
    tests = ["suites/kernels", "suites/reference", f"{bc}[gru-torch-train_step]",
             f"{bc}[gru-torch-eval_game]", f"{bc}[cfc-tf-train_step]"]  # fmt: skip
    if (REPO / "suites" / "a2c").is_dir():
        tests += [f"{a2c}::test_raw_env_stepping", f"{a2c}::test_a2c_iteration[gru-torch]"]
    lane_suites = [[sys.executable, "-m", "pytest", *tests, "--benchmark-only", "--profile",
                    "smoke", "--threads", "1", "--results", str(results), "-q", "-p",
                    "no:cacheprovider", "-k", "not compile and not rhs-only"]]  # fmt: skip
    a2c_out = results / "a2c" / "train"
    lane_tools = [
        [*CELLBENCH, "verify", "--cells", "lstm", "cfc-pure", "--json",
         str(results / "verify" / "verify.json")],
        [*CELLBENCH, "ode", "--out", str(results / "ode"), "--backends", "reference"],
    ]  # fmt: skip
    # A second seed beside the A2C suite's seed 0 (both here when there is no A2C suite), for
    # the seed aggregation.
    for seed in (1,) if (REPO / "suites" / "a2c").is_dir() else (0, 1):
        lane_tools.append([*CELLBENCH, "train", "a2c", "--cell", "gru", "--backend", "torch",
                           "--profile", "smoke", "--seed", str(seed), "--threads", "1",
                           "--no-progress", "--out",
                           str(a2c_out / f"breakout-gru-torch-smoke-seed{seed}")])  # fmt: skip
    logs: list[str] = []
    errors: list[BaseException] = []

    def lane(commands):
        try:
            for command in commands:
                _run(command, env, logs)
        except BaseException as error:  # noqa: BLE001 - re-raised in the main thread
            errors.append(error)

    threads = [threading.Thread(target=lane, args=(c,)) for c in (lane_suites, lane_tools)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results


@pytest.fixture(scope="session")
def report(smoke_results, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    return build_report(smoke_results, out)


def _html(report) -> str:
    return Path(report.html).read_text(encoding="utf-8")


def _csv(report, name: str) -> pd.DataFrame:
    return pd.read_csv(Path(report.html).parent / "tables" / f"{name}.csv")


def _json(path: Path):
    return json.loads(Path(path).read_text(encoding="utf-8"))


# ---- every section renders, from real smoke results -----------------------------------------


def test_every_section_renders(report):
    html = _html(report)
    assert report.warnings == []
    for anchor in SECTIONS:
        assert f'<section id="{anchor}">' in html, anchor
    assert "could not be built" not in html
    out = Path(report.html).parent
    for name in FIGURES:
        png = (out / f"{name}.png").read_bytes()
        assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5000, name
    markdown = Path(report.markdown).read_text(encoding="utf-8")
    for title in (
        "## Summary",
        "## Kernel timings",
        "## Numerics",
        "## ODE ground truth",
        "## Behavior cloning",
        "## A2C",
        "## Machine, versions and settings",
    ):
        assert title in markdown, title
    linked = re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", markdown)
    assert sorted(linked) == sorted(f"{name}.png" for name in FIGURES)
    assert html.count('<img src="data:image/png;base64,') == len(FIGURES)


def test_html_is_self_contained(report):
    html = _html(report)
    assert "<script" not in html.lower()
    # Every resource the page loads is inline; the only links are to the CSVs beside it.
    assert not re.findall(r'(?:src|href)="(?:https?:)?//', html)
    for source in re.findall(r'<img[^>]+src="([^"]+)"', html):
        assert source.startswith("data:image/png;base64,")
    for link in re.findall(r'href="([^"#]+)"', html):
        assert link == "data:," or link.startswith("tables/"), link


def test_kernel_csv_matches_the_json(smoke_results, report):
    document = _json(smoke_results / "kernels" / "latest.json")
    table = _csv(report, "kernels").set_index("fullname")
    singles = [b for b in document["benchmarks"] if "pair" not in b["extra_info"]]
    assert len(table) == len(singles) > 10
    for bench in singles:
        row, info = table.loc[bench["fullname"]], bench["extra_info"]
        assert row["median_ms"] == pytest.approx(bench["stats"]["median"] * 1e3, rel=1e-12)
        assert row["iqr_ms"] == pytest.approx(bench["stats"]["iqr"] * 1e3, rel=1e-12)
        assert (row["cell"], row["backend"], row["impl"], row["kind"]) == (
            info["cell"], info["backend"], info["impl"], info["kind"])  # fmt: skip
        assert row["shape_batch"] == info["shape"]["batch"]
        assert row["gflops"] == pytest.approx(info["gflops"], rel=1e-12)
    pairs = [b["extra_info"] for b in document["benchmarks"] if "pair" in b["extra_info"]]
    table = _csv(report, "kernel_pairs")
    assert len(table) == len(pairs) > 0  # the smoke run times the torch pairs at least
    for info in pairs:
        row = table[(table["a"] == "{backend}/{impl} {cell}".format(**info["a"]))
                    & (table["b"] == "{backend}/{impl} {cell}".format(**info["b"]))
                    & (table["kind"] == info["kind"])]  # fmt: skip
        assert row["ratio"].item() == pytest.approx(info["ratio"], rel=1e-12)


def _medians(document) -> dict:
    """(cell, backend, impl, kind) -> median seconds of the single workloads."""
    keys = ("cell", "backend", "impl", "kind")
    return {tuple(b["extra_info"][k] for k in keys): b["stats"]["median"]
            for b in document["benchmarks"] if "pair" not in b["extra_info"]}  # fmt: skip


def test_speedups_and_summary_equal_ratios_of_json_medians(smoke_results, report):
    medians = _medians(_json(smoke_results / "kernels" / "latest.json"))
    table = _csv(report, "kernels")
    for row in table.itertuples():
        lstm = medians[("lstm", "torch", "native", row.kind)]
        mine = medians[(row.cell, row.backend, row.impl, row.kind)]
        assert row.speedup_vs_torch_lstm == pytest.approx(lstm / mine, rel=1e-9)
        ncps = medians.get((row.cell, "ncps", "torch", row.kind))
        if ncps is None:
            assert np.isnan(row.speedup_vs_ncps)
        else:
            assert row.speedup_vs_ncps == pytest.approx(ncps / mine, rel=1e-9)
    # The summary quotes each backend's fastest implementation per kind.
    summary = _csv(report, "summary").set_index(["cell", "backend"])
    html = _html(report)
    for (cell, backend), row in summary.iterrows():
        for kind in ("step", "forward", "forward+backward"):
            mine = {impl: t for (c, b, impl, k), t in medians.items()
                    if (c, b, k) == (cell, backend, kind)}  # fmt: skip
            key = kind.replace("+", "_")
            if not mine:
                assert pd.isna(row.get(f"speedup_{key}")), (cell, backend, kind)
                continue
            impl = min(mine, key=mine.get)
            expected = medians[("lstm", "torch", "native", kind)] / mine[impl]
            assert row[f"impl_{key}"] == impl
            assert row[f"speedup_{key}"] == pytest.approx(expected, rel=1e-9)
            assert f"{expected:.2f}× {impl}" in html


def test_numerics_tables_match_verify_json(smoke_results, report):
    document = _json(smoke_results / "verify" / "verify.json")
    checks = _csv(report, "verify_checks").set_index(["case", "backend", "impl", "dtype"])
    assert len(checks) == len(document["summary"]) > 10
    for entry in document["summary"]:
        row = checks.loc[(entry["case"], entry["backend"], entry["impl"], entry["dtype"])]
        assert row["max_rel_err"] == pytest.approx(entry["max_rel_err"], rel=1e-12)
        assert bool(row["passed"]) == entry["passed"]
        assert row["quantities"] == entry["checked"]
    summary = _csv(report, "summary").set_index(["cell", "backend"])
    lstm = [e for e in document["summary"] if e["case"] == "lstm" and e["backend"] == "torch"]
    assert summary.loc[("lstm", "torch"), "checks"] == len(lstm)
    assert summary.loc[("lstm", "torch"), "max_rel_err_float32"] == pytest.approx(
        max(e["max_rel_err"] for e in lstm if e["dtype"] == "float32"), rel=1e-12)  # fmt: skip
    assert f"{sum(e['passed'] for e in document['summary'])}/{len(document['summary'])}" in (
        _html(report))  # fmt: skip


def test_ode_and_solver_tables_match_their_files(smoke_results, report):
    ltc = pd.read_csv(smoke_results / "ode" / "ltc_unfold_convergence.csv")
    pd.testing.assert_frame_equal(_csv(report, "ode_ltc"), ltc)
    orders = _json(smoke_results / "ode" / "ode.json")["ltc_unfold_convergence"]["orders"]
    table = _csv(report, "ode_orders").set_index("backend")["order"]
    assert table.to_dict() == pytest.approx(orders, rel=1e-12)
    assert f"{orders['reference']:.3f}"[:4] in _html(report)
    document = _json(smoke_results / "reference" / "latest.json")
    reference = _csv(report, "reference").set_index("fullname")
    for bench in document["benchmarks"]:
        row = reference.loc[bench["fullname"]]
        assert row["median_ms"] == pytest.approx(bench["stats"]["median"] * 1e3, rel=1e-12)
        assert row["rhs_evaluations"] == bench["extra_info"]["rhs_evaluations"]


def test_bc_tables_match_the_training_summaries(smoke_results, report):
    folders = sorted((smoke_results / "bc" / "train").iterdir())
    assert len(folders) == 2  # gru/torch and cfc/tf
    runs = _csv(report, "bc_runs").set_index("run")
    metrics = _csv(report, "bc_metrics")
    for folder in folders:
        summary = _json(folder / "summary.json")
        row = runs.loc[folder.name]
        assert (row["cell"], row["backend"]) == (summary["cell"], summary["backend"])
        assert row["val_accuracy"] == pytest.approx(summary["final"]["val_accuracy"], rel=1e-12)
        assert row["closed_loop_mean"] == pytest.approx(summary["closed_loop"]["mean"])
        assert row["closed_loop_games"] == len(summary["closed_loop"]["returns"])
        mine = metrics[metrics["run"] == folder.name]
        mine = mine.drop(columns=["run", "cell", "backend", "seed", "profile"])
        mine = mine.reset_index(drop=True)
        pd.testing.assert_frame_equal(mine, pd.read_csv(folder / "metrics.csv"))
    bench = _json(smoke_results / "bc" / "latest.json")
    table = _csv(report, "bc_bench").set_index("fullname")
    for entry in bench["benchmarks"]:
        row = table.loc[entry["fullname"]]
        assert row["median_ms"] == pytest.approx(entry["stats"]["median"] * 1e3, rel=1e-12)
        assert row["val_accuracy"] == pytest.approx(entry["extra_info"]["val_accuracy"])
    # The timed evaluation game gets a table of its own, its steps/s from the suite's JSON.
    (game,) = [e for e in bench["benchmarks"] if e["extra_info"]["kind"] == "eval_game"]
    markdown = (Path(report.html).parent / "report.md").read_text()
    caption = "One closed-loop evaluation game (one env) of the trained policy"
    assert caption in markdown
    rate = f"{game['extra_info']['eval_steps_per_second']:,.0f}"
    assert rate in markdown.split(caption)[0].rsplit("\n\n", 2)[-2], rate
    summary = _csv(report, "summary").set_index(["cell", "backend"])
    gru = runs[(runs["cell"] == "gru") & (runs["backend"] == "torch")]
    assert summary.loc[("gru", "torch"), "bc_val_accuracy"] == pytest.approx(
        gru["val_accuracy"].mean())  # fmt: skip


def test_a2c_runs_are_read_and_seeds_aggregated(smoke_results, report):
    folders = sorted((smoke_results / "a2c" / "train").iterdir())
    runs = _csv(report, "a2c_runs").set_index("run")
    assert set(runs.index) == {f.name for f in folders}
    for folder in folders:
        summary = _json(folder / "summary.json")
        assert runs.loc[folder.name, "frames"] == summary["frames"]
        assert runs.loc[folder.name, "games"] == summary["games"]
        assert runs.loc[folder.name, "profile"] == "smoke"
    gru = runs[(runs["cell"] == "gru") & (runs["backend"] == "torch")]
    summary = _csv(report, "summary").set_index(["cell", "backend"])
    assert summary.loc[("gru", "torch"), "a2c_seeds"] == len(gru) >= 2
    html = _html(report)
    section = html.split('<section id="a2c">')[1].split("</section>")[0]
    # A smoke budget ends before any full game does: the section says so instead of a curve.
    if gru["final_mean_return_100"].isna().all():
        assert "No finished game yet" in section
    else:
        assert 'alt="a2c_curves"' in section


# ---- missing, partial and corrupt results ---------------------------------------------------


def _copy(source: Path, target: Path, parts: tuple[str, ...]) -> Path:
    for part in parts:
        shutil.copytree(source / part, target / part)
    return target


def test_missing_results_say_what_to_run(smoke_results, tmp_path):
    results = _copy(smoke_results, tmp_path / "results", ("kernels",))
    report = build_report(results, tmp_path / "report")
    html = _html(report)
    for command in (
        "cellbench verify",
        "cellbench ode",
        "pytest suites/reference --benchmark-only",
        "pytest suites/bc --benchmark-only",
        "pytest suites/a2c --benchmark-only",
    ):
        assert f"<code>{command}</code>" in html, command
    kernels = html.split('<section id="kernels">')[1].split("</section>")[0]
    assert 'alt="kernel_times"' in kernels and "No kernel timings" not in kernels
    assert report.warnings == []


def test_empty_results_folder_still_renders(tmp_path):
    (tmp_path / "results").mkdir()
    report = build_report(tmp_path / "results", tmp_path / "report")
    html = _html(report)
    assert "No results at all" in html
    for anchor in SECTIONS:
        assert f'<section id="{anchor}">' in html


def test_corrupt_and_partial_files_are_named_and_the_rest_renders(smoke_results, tmp_path):
    results = _copy(smoke_results, tmp_path / "results", ("kernels", "verify", "bc", "ode"))
    latest = results / "kernels" / "latest.json"
    latest.write_text(latest.read_text()[:5000])  # truncated, as by a full disk
    verify = _json(results / "verify" / "verify.json")
    (results / "verify" / "verify.json").write_text(json.dumps({**verify, "rows": "oops"}))
    bc_summary = sorted((results / "bc" / "train").glob("*/summary.json"))[0]
    bc_summary.write_text("{not json")
    bench = _json(results / "bc" / "latest.json")
    del bench["benchmarks"][0]["stats"]["median"]  # partial: valid JSON, a field missing
    (results / "bc" / "latest.json").write_text(json.dumps(bench))
    (results / "ode" / "cfc_pure_error.csv").write_text("initial_state,timespan\nzeros,0.1\n")

    done = subprocess.run([*CELLBENCH, "report", "--results", str(results), "--out",
                           str(tmp_path / "report")], cwd=REPO, capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    html = (tmp_path / "report" / "index.html").read_text(encoding="utf-8")
    problems = html.split("Problems reading results")[1].split("</ul>")[0]
    assert f"{latest}: not valid JSON" in problems
    assert f"{results / 'verify' / 'verify.json'}: no &#x27;rows&#x27; list" in problems
    assert f"{bc_summary}: not valid JSON" in problems
    assert f"{results / 'bc' / 'latest.json'}: benchmarks[0]: stats.median" in problems
    assert f"{results / 'ode' / 'cfc_pure_error.csv'}: expected columns" in problems
    for path in (latest, bc_summary, results / "verify" / "verify.json"):
        assert str(path) in done.stderr
    # The kernel section falls back to the newest readable saved run, and says so.
    assert "no readable latest.json; showing" in problems
    kernels = html.split('<section id="kernels">')[1].split("</section>")[0]
    assert 'alt="kernel_times"' in kernels and "/runs/" in kernels
    # verify.csv stands in for the unreadable verify.json.
    assert "showing verify.csv instead" in problems
    assert 'alt="numerics"' in html
    assert 'alt="ode_convergence"' in html and 'alt="cfc_error"' not in html


def test_load_errors_name_the_file(tmp_path):
    (tmp_path / "kernels").mkdir()
    (tmp_path / "kernels" / "latest.json").write_text('{"benchmarks": [{"stats": ')
    loaded = load_results(tmp_path)
    assert loaded.table("kernels").empty
    assert loaded.warnings == [f"{tmp_path / 'kernels' / 'latest.json'}: not valid JSON "
                               "(Expecting value at line 1, column 27); the file is truncated "
                               "or was edited by hand"]  # fmt: skip


def test_a2c_run_without_summary_shows_its_metrics(smoke_results, tmp_path):
    results = _copy(smoke_results, tmp_path / "results", ("a2c",))
    folder = sorted((results / "a2c" / "train").iterdir())[-1]
    (folder / "summary.json").unlink()  # as while it still trains
    report = build_report(results, tmp_path / "report")
    assert report.warnings == [f"{folder}: no summary.json (training unfinished?); only its "
                               "metrics are shown"]  # fmt: skip
    html = _html(report)
    section = html.split('<section id="a2c">')[1].split("</section>")[0]
    assert "Still training" in section and f"<td>{folder.name}</td>" in section
    last = pd.read_csv(folder / "metrics.csv").iloc[-1]
    assert f"<td>{int(last['frames']):,}</td>" in section
    assert "A2C runs (" not in html.split('<section id="summary">')[1].split("</section>")[0]


# ---- --baseline -------------------------------------------------------------------------------


def _scaled_baseline(smoke_results: Path, target: Path, factors: dict[int, float]) -> Path:
    document = _json(smoke_results / "kernels" / "latest.json")
    for index, factor in factors.items():
        stats = document["benchmarks"][index]["stats"]
        for key in ("median", "mean", "min", "max"):
            stats[key] *= factor
    target.write_text(json.dumps(document))
    return target


def test_baseline_flags_regressions_beyond_the_threshold(smoke_results, tmp_path):
    # Baseline medians at 1/2 (so now 2x slower: a regression), 0.95 (5% slower: within 10%)
    # and 2x (now faster) of this run's.
    baseline = _scaled_baseline(smoke_results, tmp_path / "base.json", {0: 0.5, 1: 0.95, 2: 2.0})
    names = [b["fullname"] for b in _json(smoke_results / "kernels" / "latest.json")["benchmarks"]]
    report = build_report(smoke_results, tmp_path / "report", baseline=str(baseline))
    table = report.comparison.set_index("fullname")
    assert table.loc[names[0], "status"] == "regression"
    assert table.loc[names[0], "ratio"] == pytest.approx(2.0, rel=1e-9)
    assert table.loc[names[1], "status"] == "same"
    assert table.loc[names[2], "status"] == "faster"
    assert (table.drop(index=names[:3])["status"] == "same").all()
    assert report.regressions == 1
    html = _html(report)
    assert "1 regression(s) beyond 10%" in html and names[0] in html
    # A tighter threshold catches the 5% too; the CLI exits 1 and says how many.
    done = subprocess.run([*CELLBENCH, "report", "--results", str(smoke_results), "--out",
                           str(tmp_path / "report2"), "--baseline", str(baseline),
                           "--threshold", "0.01"], cwd=REPO, capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert "2 regression(s) beyond 1%" in done.stdout


def test_baseline_as_folder_or_run_name(smoke_results, tmp_path):
    same = build_report(smoke_results, tmp_path / "a", baseline=str(smoke_results))
    assert same.regressions == 0
    assert set(same.comparison["suite"]) >= {"kernels", "reference", "bc"}
    assert (same.comparison["status"] == "same").all()
    stamp = next((smoke_results / "kernels" / "runs").glob("*.json")).stem
    by_name = build_report(smoke_results, tmp_path / "b", baseline=stamp)
    assert set(by_name.comparison["baseline_file"]) >= {
        str(smoke_results / "kernels" / "runs" / f"{stamp}.json")}  # fmt: skip
    assert (by_name.comparison["status"] == "same").all()


# ---- bad input ------------------------------------------------------------------------------


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CELLBENCH, "report", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=300)  # fmt: skip


def test_missing_results_folder_is_a_clear_error(tmp_path):
    done = _cli("--results", str(tmp_path / "nowhere"), "--out", str(tmp_path / "r"))
    assert done.returncode == 2
    assert f"results: folder '{tmp_path / 'nowhere'}' does not exist" in done.stderr
    assert not (tmp_path / "r").exists()


def test_unknown_baseline_is_a_clear_error(tmp_path):
    (tmp_path / "results").mkdir()
    done = _cli("--results", str(tmp_path / "results"), "--baseline", "no-such-run")
    assert done.returncode == 2
    assert "--baseline: 'no-such-run' is neither a JSON file, a results folder, nor a run" in (
        done.stderr)  # fmt: skip
    (tmp_path / "empty").mkdir()
    done = _cli("--results", str(tmp_path / "results"), "--baseline", str(tmp_path / "empty"))
    assert done.returncode == 2 and "holds no pytest-benchmark results" in done.stderr
    with pytest.raises(ValueError, match="threshold: expected a fraction > 0"):
        build_report(tmp_path / "results", tmp_path / "r", baseline=str(tmp_path / "results"),
                     threshold=0)  # fmt: skip


def test_results_error_is_a_value_error():
    assert issubclass(ResultsError, ValueError)  # so `cellbench` reports it as a usage error


# ---- rendering details ----------------------------------------------------------------------


def test_report_imports_neither_torch_nor_tensorflow(smoke_results, tmp_path):
    code = (
        "import sys; from bench.report import build_report; "
        f"build_report({str(smoke_results)!r}, {str(tmp_path / 'r')!r}); "
        "print(sorted(m for m in ('torch', 'tensorflow', 'keras') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_stale_figures_of_an_earlier_report_are_removed(smoke_results, tmp_path):
    out = tmp_path / "report"
    build_report(smoke_results, out)
    assert (out / "bc_curves.png").exists() and (out / "tables" / "bc_runs.csv").exists()
    (out / "mine.png").write_bytes(b"not the report's")
    partial = _copy(smoke_results, tmp_path / "results", ("kernels",))
    build_report(partial, out)
    assert not (out / "bc_curves.png").exists() and not (out / "tables" / "bc_runs.csv").exists()
    assert (out / "kernel_times.png").exists()
    assert (out / "mine.png").exists()  # never written by a report: left alone


def test_a2c_curves_interpolate_seeds_onto_one_grid():
    metrics = pd.DataFrame({
        "run": ["s0"] * 3 + ["s1"] * 3, "cell": "cfc", "backend": "torch",
        "seed": [0] * 3 + [1] * 3,
        "frames": [0, 100, 200, 0, 120, 180], "mean_return_100": [1.0, 3.0, 5.0, 2.0, 2.0, 8.0],
    })  # fmt: skip
    curves = report_tables.a2c_curves(metrics, points=7)
    grid = sorted(curves["frames"].unique())
    assert grid[0] == 0 and grid[-1] == 180  # the shorter run's end: no band over one seed
    s1 = curves[curves["run"] == "s1"].set_index("frames")["mean_return_100"]
    assert s1[150] == pytest.approx(5.0)  # halfway between (120, 2) and (180, 8)
    s0 = curves[curves["run"] == "s0"].set_index("frames")["mean_return_100"]
    assert s0[150] == pytest.approx(4.0)
    from bench.report import figures

    assert figures.a2c_curves(curves).startswith(b"\x89PNG")


# ---- the page in a real browser ---------------------------------------------------------------


def _chromium():
    from bench.report.browser import find_chromium

    pytest.importorskip("playwright")
    path = find_chromium()
    if path is None:
        # `make test` installs Debian's chromium and sets this, so CI cannot skip silently.
        if os.environ.get("CELLBENCH_REQUIRE_BROWSER"):
            pytest.fail("chromium is not installed (make test installs it: apt-get install "
                        "chromium)")  # fmt: skip
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return path


def test_report_loads_in_headless_chromium(report, tmp_path):
    from bench.report.browser import check_page

    result = check_page(report.html, tmp_path / "page.png", chromium=_chromium())
    assert result["errors"] == [], result["errors"]
    assert result["blocked"] == []
    assert result["title"] == "cellbench report"
    assert len(result["images"]) == len(FIGURES)
    for image in result["images"]:
        assert image["decoded"] and image["natural_width"] > 100, image
    assert result["height"] > 3000  # every section laid out, not an empty body
    assert result["pixel_std"] > 10, result["pixel_std"]  # text and figures, not a blank page
    assert (tmp_path / "page.png").stat().st_size > 50_000


def test_the_browser_check_catches_a_broken_page(tmp_path):
    """The check itself can fail: a broken image, a script error, a remote fetch and a blank
    page are all caught."""
    from bench.report.browser import check_page

    page = tmp_path / "broken.html"
    page.write_text(
        '<!DOCTYPE html><html><head><link rel="icon" href="data:,"></head><body>'
        '<img alt="bad" src="data:image/png;base64,AAAA">'
        '<img alt="remote" src="https://example.invalid/x.png">'
        "<script>console.error('boom'); undefinedFunction();</script></body></html>"
    )
    result = check_page(page, chromium=_chromium())
    assert any("boom" in e for e in result["errors"])
    assert any("undefinedFunction" in e for e in result["errors"])
    assert "https://example.invalid/x.png" in result["blocked"]
    assert [i["natural_width"] for i in result["images"]] == [0, 0]
    blank = tmp_path / "blank.html"
    blank.write_text('<!DOCTYPE html><html><head><link rel="icon" href="data:,"></head></html>')
    assert check_page(blank, chromium=_chromium())["pixel_std"] < 1
