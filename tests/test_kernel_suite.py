"""The kernel workloads (bench/kernels.py) and the suite's results files (suites/conftest.py)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

import cells
from bench import kernel_pairs, kernels

REPO = Path(__file__).resolve().parents[1]


def test_lstm_flops_follow_the_stated_convention():
    spec = cells.get_spec("lstm", 10, 6)
    per_row = 2 * (10 + 6) * 4 * 6 + 10 * 6
    assert kernels.flops(spec, 3, 5, "forward") == 3 * 5 * per_row
    assert kernels.flops(spec, 3, 5, "step") == 3 * per_row
    assert kernels.flops(spec, 3, 5, "forward+backward") == 3 * 3 * 5 * per_row


def test_cfc_and_ltc_flops_grow_with_their_extra_work():
    base = kernels.flops(cells.get_spec("cfc", 8, 4, backbone_units=16), 2, 3, "forward")
    deeper = cells.get_spec("cfc", 8, 4, backbone_units=16, backbone_layers=2)
    assert kernels.flops(deeper, 2, 3, "forward") == base + 2 * 3 * (2 * 16 * 16 + 4 * 16)
    ltc = kernels.flops(cells.get_spec("ltc", 8, 4, ode_unfolds=6), 2, 3, "forward")
    ltc_one = kernels.flops(cells.get_spec("ltc", 8, 4, ode_unfolds=1), 2, 3, "forward")
    assert ltc - ltc_one == 2 * 3 * 8 * 5 * 4 * 4


@pytest.mark.parametrize(
    "cell, backend, impl, kind, reason",
    [
        ("lstm", "ncps", "torch", "forward", "ncps has no plain LSTM"),
        ("cfc", "torch", "nope", "forward", "no impl 'nope'"),
        ("cfc", "torch", "native", "forward", "computes ['lstm', 'gru']"),
        ("cfc", "torch", "triton", "forward+backward", "forward-only"),
    ],
)
def test_unsupported_says_why(cell, backend, impl, kind, reason):
    assert reason in kernels.unsupported(cell, backend, impl, kind, kernels.SHAPES["smoke"])


def test_supported_workload_runs():
    pytest.importorskip("torch")
    shape = kernels.SHAPES["smoke"]
    assert kernels.unsupported("cfc", "torch", "fused", "forward+backward", shape) is None
    call = kernels.build_call("cfc", "torch", "fused", "forward+backward", shape, threads=1)
    call()


def _document(rows):
    return {
        "benchmarks": [
            {
                "stats": {"median": ms / 1e3},
                "extra_info": {
                    "cell": cell,
                    "backend": backend,
                    "impl": impl,
                    "kind": "forward",
                    "shape": {"name": "cpu"},
                    "gflops": 1.0,
                },
            }
            for cell, backend, impl, ms in rows
        ]
    }


def test_ratio_table_divides_by_baselines_of_the_same_run():
    rows = kernels.ratio_table(
        _document(
            [
                ("lstm", "torch", "native", 2.0),
                ("lstm", "tf", "native", 4.0),
                ("cfc", "torch", "fused", 3.0),
                ("cfc", "ncps", "torch", 12.0),
            ]
        )
    )
    fused = next(r for r in rows if r["impl"] == "fused")
    assert fused["vs_torch_lstm"] == pytest.approx(1.5)
    assert fused["vs_keras_lstm"] == pytest.approx(0.75)
    assert fused["vs_ncps"] == pytest.approx(0.25)
    gru_less = kernels.ratio_table(_document([("cfc", "torch", "fused", 3.0)]))
    assert gru_less[0]["vs_torch_lstm"] is None
    assert "cfc" in kernels.format_ratio_table(rows)


@pytest.mark.slow
def test_smoke_run_writes_pytest_benchmark_json(tmp_path):
    """The suite itself, on two tiny workloads: real pytest-benchmark JSON with extra_info,
    one file per run and latest.json."""
    pytest.importorskip("torch")
    command = [
        sys.executable,
        "-m",
        "pytest",
        "suites/kernels",
        "--benchmark-only",
        "--profile",
        "smoke",
        "--threads",
        "1",
        "--results",
        str(tmp_path),
        "-q",
        "-p",
        "no:cacheprovider",
        "-k",
        # the two workloads, and their pair timed in alternation
        "(forward-cfc-torch-fused or forward-lstm-torch-native) and not ncps",
    ]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    latest = json.loads((tmp_path / "kernels" / "latest.json").read_text())
    runs = list((tmp_path / "kernels" / "runs").glob("*.json"))
    assert len(runs) == 1 and json.loads(runs[0].read_text()) == latest
    names = sorted(b["name"] for b in latest["benchmarks"])
    assert names == [
        "test_kernel[smoke-forward-cfc-torch-fused]",
        "test_kernel[smoke-forward-lstm-torch-native]",
        "test_pair[smoke-forward-cfc-torch-fused-vs-lstm-torch-native]",
    ]
    pair = next(b for b in latest["benchmarks"] if b["name"].startswith("test_pair"))
    info = pair["extra_info"]
    assert info["a"] == {"cell": "cfc", "backend": "torch", "impl": "fused"}
    assert info["b"] == {"cell": "lstm", "backend": "torch", "impl": "native"}
    assert info["ratio_q1"] <= info["ratio"] <= info["ratio_q3"]
    assert pair["stats"]["rounds"] == 3  # each round ran both sides
    assert "paired ratios" in result.stdout
    info = next(b for b in latest["benchmarks"] if b["name"].startswith("test_kernel"))[
        "extra_info"
    ]
    for key in ("cell", "backend", "impl", "device", "dtype", "shape", "threads", "flops"):
        assert key in info
    assert info["threads"] == 1 and info["gflops"] > 0
    assert latest["cellbench"]["complete"] is True
    assert "vs nn.LSTM" in result.stdout


def test_time_pair_alternates_the_order_and_times_each_side():
    log, now = [], [0.0]

    def workload(name, seconds):
        def run():
            log.append(name)
            now[0] += seconds

        return run

    a, b = kernel_pairs.time_pair(
        workload("a", 2.0), workload("b", 0.5), rounds=4, clock=lambda: now[0]
    )
    assert log == ["a", "b", "b", "a", "a", "b", "b", "a"]
    assert a == [2.0] * 4 and b == [0.5] * 4
    log.clear()
    kernel_pairs.time_pair(workload("a", 1), workload("b", 1), rounds=1, start=1)
    assert log == ["b", "a"]
    with pytest.raises(ValueError, match="rounds"):
        kernel_pairs.time_pair(workload("a", 1), workload("b", 1), rounds=0)


def test_pair_ratio_is_immune_to_a_slow_spell_that_hits_both_sides():
    # rounds 2 and 4 ran at half speed: per-round ratios stay 2, the medians do not
    summary = kernel_pairs.summarise([2.0, 4.0, 2.0, 4.0, 2.0], [1.0, 2.0, 1.0, 2.0, 1.0])
    assert summary["ratio"] == pytest.approx(2.0)
    assert summary["ratio_q1"] == pytest.approx(2.0) and summary["ratio_q3"] == pytest.approx(2.0)
    assert summary["a_median_ms"] == pytest.approx(2000.0)
    with pytest.raises(ValueError, match="equal"):
        kernel_pairs.summarise([1.0], [1.0, 2.0])


def _pair_document():
    def pair(name, kind, ratio, target):
        a, b = name.split("-vs-")
        side = lambda text: dict(zip(("cell", "backend", "impl"), text.split("-")))  # noqa: E731
        return {
            "name": f"test_pair[cpu-{kind}-{name}]",
            "stats": {"median": 0.004, "rounds": 20},
            "extra_info": {
                "pair": name, "a": side(a), "b": side(b), "kind": kind,
                "shape": {"name": "cpu"}, "target": target, "a_median_ms": 3.0 * ratio,
                "b_median_ms": 3.0, "ratio": ratio, "ratio_q1": ratio * 0.9,
                "ratio_q3": ratio * 1.1,
            },
        }  # fmt: skip

    document = _document([("lstm", "torch", "native", 2.0), ("cfc", "torch", "cpp", 1.0)])
    document["benchmarks"] += [
        pair("cfc-tf-cpp-vs-cfc-torch-cpp", "forward", 1.2, 1.5),
        pair("cfc-tf-xla-vs-cfc-torch-cpp", "forward", 1.7, None),
        pair("cfc-tf-cpp-vs-cfc-torch-cpp", "forward+backward", 1.6, 1.5),
    ]
    return document


def test_pair_rows_judge_each_pair_against_its_target():
    rows = kernel_pairs.pair_rows(_pair_document())
    assert [(r["a"], r["b"], r["kind"], r["met"]) for r in rows] == [
        ("tf/cpp cfc", "torch/cpp cfc", "forward", True),
        ("tf/xla cfc", "torch/cpp cfc", "forward", None),
        ("tf/cpp cfc", "torch/cpp cfc", "forward+backward", False),
    ]
    text = kernel_pairs.format_pair_rows(rows)
    assert "1.200x" in text and "NO" in text
    # the single-workload table leaves the pairs out
    assert len(kernels.ratio_table(_pair_document())) == 2


def test_report_keeps_pairs_out_of_the_kernel_table_and_tabulates_them(tmp_path):
    pytest.importorskip("pandas")
    from bench.report import tables
    from bench.report.load import benchmark_rows

    frame = benchmark_rows(_pair_document(), tmp_path / "latest.json")
    kernel = tables.kernel_table(frame)
    assert sorted(kernel["label"]) == ["torch/cpp", "torch/native"]
    assert kernel.loc[kernel["cell"] == "cfc", "speedup_vs_torch_lstm"].item() == 2.0
    pairs = tables.kernel_pairs(frame)
    assert list(pairs["a"]) == ["tf/cpp cfc", "tf/xla cfc", "tf/cpp cfc"]
    assert list(pairs["met"]) == [True, None, False]
    assert tables.kernel_pairs(benchmark_rows(_document([]), tmp_path / "x.json")).empty


def test_suite_runs_every_torch_only_workload_before_the_first_tf_one():
    """Pairs are collected after the single workloads; conftest.py moves the torch-only ones
    before the first workload or pair that touches TF."""
    command = [sys.executable, "-m", "pytest", "suites/kernels", "--collect-only", "-q",
               "--profile", "quick", "-p", "no:cacheprovider"]  # fmt: skip
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    ids = [line.split("[", 1)[1] for line in result.stdout.splitlines() if "::test_" in line]
    touches_tf = ["tf-" in test_id for test_id in ids]
    first_tf = touches_tf.index(True)
    assert all(touches_tf[first_tf:])
    assert any("-vs-" in test_id for test_id in ids[:first_tf])  # torch-only pairs come first
