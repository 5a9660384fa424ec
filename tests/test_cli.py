"""`cellbench verify` end to end: table, JSON + CSV written, exit status 0 or 1, clear errors."""

import csv
import json
import subprocess
import sys

import pytest

from bench import cli, verify


def test_verify_cli_passes_and_writes_json_and_csv(tmp_path):
    pytest.importorskip("torch")
    out = tmp_path / "v.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.cli",
            "verify",
            "--cells",
            "gru",
            "cfc-pure",
            "--dtype",
            "float64",
            "--backends",
            "torch",
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "implementation checks passed" in result.stdout
    report = json.loads(out.read_text())
    assert report["passed"] and {s["case"] for s in report["summary"]} == {"gru", "cfc-pure"}
    rows = list(csv.DictReader(out.with_suffix(".csv").open()))
    assert len(rows) == len(report["rows"]) and all(r["passed"] == "True" for r in rows)
    assert {"grad ff1_kernel", "grad w_tau", "grad A", "output"} <= {r["quantity"] for r in rows}


def test_verify_exits_1_when_a_check_fails(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    # An impossible tolerance makes every comparison fail; the verdict must say so.
    monkeypatch.setitem(verify.numerics.TOLERANCES, "float64", -1.0)
    lines = []
    status = verify.run_verify(
        ["gru"], ["float64"], ["torch"], json_path=tmp_path / "v.json", out=lines.append
    )
    assert status == 1
    assert "FAIL" in "\n".join(lines)
    assert json.loads((tmp_path / "v.json").read_text())["passed"] is False


def test_verify_rejects_unknown_cells(capsys):
    status = cli.main(["verify", "--cells", "rnn", "--backends", "torch"])
    assert status == 2
    assert "cells: expected names from" in capsys.readouterr().err
