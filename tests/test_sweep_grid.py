"""`cellbench sweep` without Ray: grid expansion, run hashing and naming, the results layout's
finished / in-the-way checks, and every bad grid refused before anything runs."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from bench.cli import main
from bench.sweep import store
from bench.sweep.cli import _resources
from bench.sweep.grid import Resources, Run, load_grid, parse_grid
from bench.sweep.suites import SUITES, GridError

GRIDS = Path(__file__).resolve().parents[1] / "suites" / "grids"


def grid_of(text: str, tmp_path: Path, name: str = "g.toml"):
    path = tmp_path / name
    path.write_text(text)
    return load_grid(path)


def test_blocks_expand_as_products_over_top_level_defaults(tmp_path):
    grid = grid_of(
        """
        profile = "smoke"
        games = ["breakout", "Pong"]
        seeds = [0, 1]
        [[grid]]
        suites = "bc"
        cells = ["cfc", "lstm"]
        backends = ["torch", "tf"]
        [[grid]]
        suites = "a2c"
        cells = "gru"
        backends = "torch"
        seeds = [3]
        settings = { lr = [1e-3, 3e-4], n_steps = 5, impl = "eager" }
        """,
        tmp_path,
    )
    bc = [run for run in grid.runs if run.suite == "bc"]
    a2c = [run for run in grid.runs if run.suite == "a2c"]
    assert len(bc) == 2 * 2 * 2 * 2  # cells x backends x games x seeds
    assert len(a2c) == 2 * 2  # games x lr values; the block's seeds replace the defaults
    assert {run.game for run in grid.runs} == {"breakout", "pong"}  # spelled as the suites do
    assert {run.seed for run in a2c} == {3}
    assert sorted(dict(run.settings)["lr"] for run in a2c) == [3e-4, 3e-4, 1e-3, 1e-3]
    assert all(dict(run.settings)["n_steps"] == 5 for run in a2c)
    assert grid.name == "g" and len({run.hash for run in grid.runs}) == len(grid.runs)


def test_a_run_named_twice_runs_once(tmp_path):
    grid = grid_of(
        """
        profile = "smoke"
        [[grid]]
        suites = "bc"
        cells = ["cfc", "lstm"]
        backends = "torch"
        [[grid]]
        suites = "bc"
        cells = ["lstm", "gru"]
        backends = "torch"
        """,
        tmp_path,
    )
    assert [run.cell for run in grid.runs] == ["cfc", "lstm", "gru"]


def test_the_hash_is_the_config_and_only_the_config():
    run = Run("a2c", "lstm", "tf", "breakout", "quick", 2, (("lr", 0.0003),))
    canonical = json.dumps(
        {"backend": "tf", "cell": "lstm", "game": "breakout", "profile": "quick", "seed": 2,
         "settings": {"lr": 0.0003}, "suite": "a2c"}, sort_keys=True, separators=(",", ":"),
    )  # fmt: skip
    assert run.hash == hashlib.sha256(canonical.encode()).hexdigest()
    assert run.hash != Run("a2c", "lstm", "tf", "breakout", "quick", 2, (("lr", 0.001),)).hash
    assert run.hash != Run("a2c", "lstm", "tf", "breakout", "quick", 3, (("lr", 0.0003),)).hash
    # A plain run keeps the suites' own folder name; a variant adds its hash.
    plain = Run("a2c", "lstm", "tf", "breakout", "quick", 2)
    assert plain.name == "breakout-lstm-tf-quick-seed2"
    assert run.name == f"breakout-lstm-tf-quick-seed2-{run.hash[:8]}"
    assert run.variant == "lr=0.0003"
    assert run.argv(3) == ["train", "a2c", "--cell", "lstm", "--backend", "tf", "--game",
                           "breakout", "--profile", "quick", "--seed", "2", "--threads", "3",
                           "--lr", "0.0003"]  # fmt: skip


@pytest.mark.parametrize("suite", sorted(SUITES))
def test_every_grid_option_is_an_option_of_cellbench_train(suite):
    """A grid's settings become `cellbench train` flags: each must exist there."""
    from bench.cli import build_parser

    parser = build_parser()
    values = {"optimizer": "adam", "extractor": "nature", "impl": "eager", "carry_state": True,
              "dagger": True}  # fmt: skip
    for key in SUITES[suite].options:
        run = Run(suite, "gru", "torch", "breakout", "smoke", 0, ((key, values.get(key, "1")),))
        args = parser.parse_args(run.argv(1))  # an unknown flag exits
        assert str(getattr(args, key)) in (str(values.get(key)), "1", "1.0"), key


def test_switches_pass_when_true_and_stay_off_when_false(tmp_path):
    switches = "settings = { carry_state = [true, false], dagger = true }"
    grid = grid_of(BC + f'profile = "full"\n{switches}', tmp_path)
    argvs = sorted(run.argv(1)[14:] for run in grid.runs)
    assert argvs == [["--carry-state", "--dagger"], ["--dagger"]]


def test_resources_are_not_part_of_a_runs_identity(tmp_path):
    base = 'profile = "smoke"\nsuites = "bc"\ncells = "cfc"\nbackends = "torch"\n'
    one = grid_of(base + "[resources]\nnum_cpus = 1\n", tmp_path, "one.toml")
    four = grid_of(base + "[resources]\nnum_cpus = 4\nthreads = 2\n", tmp_path, "four.toml")
    assert [r.hash for r in one.runs] == [r.hash for r in four.runs]
    assert (one.resources.thread_budget, four.resources.thread_budget) == (1, 2)
    assert four.resources.ray_options() == {"num_cpus": 4, "num_gpus": 0.0}


def test_resources_from_the_command_line_override_the_grids():
    changes = _resources("num_cpus=2, threads=3,big_node=1")
    assert changes == {"num_cpus": 2.0, "threads": 3, "big_node": 1.0}
    resources = Resources(num_cpus=1).updated(changes)
    assert resources.thread_budget == 3
    assert resources.ray_options() == {"num_cpus": 2.0, "num_gpus": 0.0,
                                       "resources": {"big_node": 1.0}}  # fmt: skip
    assert resources.demands() == {"CPU": 2.0, "big_node": 1.0}
    for bad in ("num_cpus", "num_cpus=two", "threads=1.5", "=2"):
        with pytest.raises(Exception, match="expected"):
            _resources(bad)


def test_the_example_grids_expand():
    quick, full, smoke = (load_grid(GRIDS / f"{name}.toml") for name in ("quick", "full", "smoke"))
    assert len(quick.runs) == 2 * 3 * 2 and {r.profile for r in quick.runs} == {"quick"}
    assert len(full.runs) == 2 * 4 * 2 * 3 * 5 and {r.profile for r in full.runs} == {"full"}
    assert {r.suite for r in smoke.runs} == {"bc", "a2c"}
    dagger = load_grid(GRIDS / "bc-dagger.toml")
    assert len(dagger.runs) == 4 * 2 and all("--dagger" in r.argv(2) for r in dagger.runs)


BC = 'suites = "bc"\ncells = "cfc"\nbackends = "tf"\n'
A2C = 'suites = "a2c"\ncells = "cfc"\nbackends = "tf"\n'


@pytest.mark.parametrize(
    "text, expected",
    [
        ('suites = "rl"\ncells = "cfc"\nbackends = "tf"',
         r"suite: expected one of \['bc', 'a2c'\], got 'rl'"),
        ('suites = "bc"\ncells = "rnn"\nbackends = "tf"', r"cell: expected one of .*got 'rnn'"),
        ('suites = "bc"\ncells = "cfc"\nbackends = "jax"', r"backend: expected one of .*'jax'"),
        (BC + 'games = "not_a_game"', r"games: .*not_a_game"),
        (BC + 'profile = "huge"',
         r"profile of suite bc: expected one of \['smoke', 'quick', 'full'\], got 'huge'"),
        (BC + "seeds = [-1]", r"seed: expected an integer >= 0, got -1"),
        ('suites = "bc"\ncells = []\nbackends = "tf"', r"cells: an empty list expands the grid "
                                                       "to nothing"),
        ('suites = "bc"\ncells = "cfc"', r"missing \['backends'\]"),
        (BC + "seed = 1", r"unknown key\(s\) \['seed'\]"),
        (BC + "settings = { frames = 1000 }", r"settings.frames: not an option of suite bc"),
        (BC + "settings = { lr = 0.0 }", r"lr: expected a learning rate > 0, got 0.0"),
        (BC + "settings = { shift = -2 }", r"shift: expected an integer >= 0 \(pixels\), got -2"),
        (BC + "settings = { shift = 1.5 }", r"settings.shift: expected an integer, got 1.5"),
        (BC + "settings = { epochs = 0 }", r"epochs: expected a positive integer, got 0"),
        (BC + "settings = { units = 0 }", r"units: expected a positive whole unit count, got 0"),
        (A2C + "settings = { n_steps = 0 }", r"n_steps: expected an integer >= 1, got 0"),
        (A2C + "settings = { units = 0 }", r"units: expected an integer >= 1, got 0"),
        (A2C + "settings = { n_steps = 2.5 }", r"settings.n_steps: expected an integer, got 2.5"),
        (A2C + "settings = { lr = -1.0 }", r"lr: expected a finite number in \(0.0, inf\]"),
        (BC + 'settings = { dagger = "yes" }', r"settings.dagger: expected true or false"),
        (BC + 'profile = "smoke"\nsettings = { dagger = true }',
         r"'smoke' trains 1 epoch; DAgger needs 2 or more"),
        (BC + "[resources]\nnum_cpus = -1", r"resources.num_cpus: expected a number >= 0"),
        (BC + "[resources]\nthreads = 0", r"resources.threads: expected an integer >= 1, got 0"),
        (BC + '[[grid]]\ncell = "lstm"', r"#1: unknown key\(s\) \['cell'\]"),
        ("suites = [", r"not valid TOML"),
    ],
)  # fmt: skip
def test_a_bad_grid_names_what_is_wrong(tmp_path, text, expected):
    with pytest.raises(GridError, match=expected):
        grid_of(text, tmp_path)


def test_a_missing_grid_file_is_named(tmp_path):
    with pytest.raises(GridError, match="no such file"):
        load_grid(tmp_path / "absent.toml")
    assert main(["sweep", str(tmp_path / "absent.toml"), "--dry-run"]) == 2


def test_finished_runs_and_folders_in_the_way(tmp_path):
    grid = parse_grid({"profile": "smoke", "suites": "bc", "cells": ["cfc", "lstm", "gru"],
                       "backends": "torch"}, tmp_path / "g.toml")  # fmt: skip
    finished, hand_run, other = grid.runs
    results = tmp_path / "results"
    folder = store.run_folder(results, finished)
    folder.mkdir(parents=True)
    (folder / "summary.json").write_text("{}")
    (folder / "run.json").write_text(json.dumps({"hash": finished.hash, "status": "ok"}))
    store.run_folder(results, hand_run).mkdir(parents=True)  # e.g. `cellbench train` by hand
    assert store.is_finished(results, finished) and store.conflict(results, finished) is None
    assert "no run.json" in store.conflict(results, hand_run)
    assert store.conflict(results, other) is None and not store.is_finished(results, other)
    # The same folder holding another configuration is in the way too.
    (folder / "run.json").write_text(json.dumps({"hash": "f" * 64, "status": "ok"}))
    assert "another configuration (hash ffffffff)" in store.conflict(results, finished)


def test_dry_run_lists_each_run_its_state_and_command(tmp_path, capsys):
    path = tmp_path / "g.toml"
    path.write_text('profile = "smoke"\nsuites = "a2c"\ncells = ["cfc", "gru"]\nbackends = "tf"\n'
                    "[resources]\nnum_cpus = 2\n")  # fmt: skip
    results = tmp_path / "results"
    (results / "a2c" / "train" / "breakout-gru-tf-smoke-seed0").mkdir(parents=True)
    assert main(["sweep", str(path), "--results", str(results), "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("to run") and lines[0].endswith(
        "cellbench train a2c --cell cfc --backend tf --game breakout --profile smoke --seed 0 "
        f"--threads 2 --out {results}/a2c/train/breakout-cfc-tf-smoke-seed0"
    )
    assert lines[1].startswith("in the way") and lines[2] == f"2 runs in {path}"
    assert not (results / "sweeps").exists()  # a dry run writes nothing


@pytest.mark.parametrize("address", ["127.0.0.1:1", "ray://127.0.0.1:1", "no-port"])
def test_an_unreachable_address_fails_before_anything_runs(tmp_path, capsys, address):
    pytest.importorskip("ray")
    results = tmp_path / "results"
    code = main(["sweep", str(GRIDS / "smoke.toml"), "--results", str(results),
                 "--address", address])  # fmt: skip
    assert code == 2
    error = capsys.readouterr().err
    assert "--address" in error and ("cannot reach 127.0.0.1:1" in error
                                     or "expected 'auto', 'HOST:PORT'" in error)  # fmt: skip
    assert not results.exists()  # nothing written


def test_resources_no_node_has_fail_before_anything_runs(tmp_path, capsys):
    pytest.importorskip("ray")
    results = tmp_path / "results"
    code = main(["sweep", str(GRIDS / "smoke.toml"), "--results", str(results), "--resources",
                 "no_such_node_kind=1", "--no-progress"])  # fmt: skip
    assert code == 2
    assert "no node of the cluster has that much" in capsys.readouterr().err
    assert not results.exists()
