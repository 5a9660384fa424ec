"""The kernel workloads (bench/kernels.py) and the suite's results files (suites/conftest.py)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

import cells
from bench import kernels

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
        "forward-cfc-torch-fused or forward-lstm-torch-native",
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
    ]
    info = latest["benchmarks"][0]["extra_info"]
    for key in ("cell", "backend", "impl", "device", "dtype", "shape", "threads", "flops"):
        assert key in info
    assert info["threads"] == 1 and info["gflops"] > 0
    assert latest["cellbench"]["complete"] is True
    assert "vs nn.LSTM" in result.stdout
