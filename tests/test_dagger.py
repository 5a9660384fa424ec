"""DAgger rounds (`bench.bc.dagger`): the policy plays, the scripted expert labels every step,
the dataset grows; `train_bc(continue_from=...)` continues a run on it."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("ale_py")
pytest.importorskip("torch")
pytest.importorskip("tensorflow")

from bench import checkpoint  # noqa: E402
from bench.atari import sequences  # noqa: E402
from bench.atari.generate import generate  # noqa: E402
from bench.atari.loaders import continues  # noqa: E402
from bench.atari.settings import AtariSettings  # noqa: E402
from bench.bc.dagger import PROGRESS, aggregate  # noqa: E402
from bench.bc.profiles import PROFILES  # noqa: E402
from bench.bc.spec import PolicySpec  # noqa: E402
from bench.bc.train import make_trainer, train_bc  # noqa: E402

SMOKE = PROFILES["smoke"]


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    directory = tmp_path_factory.mktemp("source")
    generate(directory, AtariSettings("breakout"), 6, 2, seed=0, num_envs=1, shard_size=3,
             progress_bar=False)  # fmt: skip
    return directory


@pytest.fixture(scope="module")
def runs(source, tmp_path_factory):
    """Two smoke-trained GRU runs in torch from different seeds: two different policies."""
    root = tmp_path_factory.mktemp("runs")
    for seed in (0, 1):
        train_bc("gru", "torch", source, root / f"seed{seed}", SMOKE, seed=seed,
                 progress_bar=False, evaluate=False)  # fmt: skip
    return root / "seed0", root / "seed1"


def _split(directory, split):
    return [sequences.load_sequence(p) for p in sequences.list_split(directory, split)]


def test_a_round_appends_labelled_games_after_the_source_files(source, runs, tmp_path):
    out, manifest = aggregate(runs[0], source, tmp_path / "grown", sequences=4, beta=0.5,
                              num_envs=2, progress_bar=False)  # fmt: skip
    assert manifest["counts"] == {"train": 10, "val": 2}
    for split in ("train", "val"):  # the source's files, linked, first
        for i, path in enumerate(sequences.list_split(source, split)):
            assert sequences.sequence_path(out, split, i).samefile(path)
    new = _split(out, "train")[6:]
    assert len(new) == 4 and all(obs.shape == (32, 84, 84, 4) for obs, _ in new)
    # Shards of 3 consecutive sequences of one game (the source's shard size): 6-8, then 9.
    assert continues(new[1][0][None, 0], new[0][0][None, -1])[0]
    assert continues(new[2][0][None, 0], new[1][0][None, -1])[0]
    assert not continues(new[3][0][None, 0], new[2][0][None, -1])[0]
    (done,) = manifest["dagger"]
    assert done["first"] == 6 and done["sequences"] == 4 and done["seed"] == 1  # source seed + 1
    assert 0 <= done["expert_agreement"] <= 1 and 0.2 < done["policy_executed"] < 0.8
    assert manifest["expert_returns"] == sequences.read_manifest(source)["expert_returns"]
    assert sequences.check_directory(out, progress_bar=False)["problems"] == []


def test_with_beta_one_the_expert_plays_alone_whatever_the_policy(source, runs, tmp_path):
    """beta = 1: every step executes the expert's action, so both policies write the files a
    plain expert dataset of the same seed and shard size holds: frames and labels."""
    grown = [aggregate(run, source, tmp_path / run.name, sequences=4, beta=1.0, seed=7,
                       num_envs=2, progress_bar=False)[0] for run in runs]  # fmt: skip
    expert = tmp_path / "expert"
    generate(expert, AtariSettings("breakout"), 4, 0, seed=7, num_envs=1, shard_size=3,
             progress_bar=False)  # fmt: skip
    want = _split(expert, "train")
    for out in grown:
        got = _split(out, "train")[6:]
        for (obs, actions), (want_obs, want_actions) in zip(got, want, strict=True):
            np.testing.assert_array_equal(obs, want_obs)
            np.testing.assert_array_equal(actions, want_actions)


def test_a_round_labels_with_its_source_datasets_expert(source, runs, tmp_path):
    """A source from before the expert's draws were recorded was labelled per shard; a round
    grown from it labels the same way (beta = 1 writes what such a generation writes), so the
    grown dataset keeps one kind of label."""
    import json
    import shutil

    legacy = tmp_path / "legacy"
    shutil.copytree(source, legacy)
    manifest = json.loads((legacy / "manifest.json").read_text())
    assert manifest.pop("expert_draws") == "fixed"
    (legacy / "manifest.json").write_text(json.dumps(manifest))
    out, grown = aggregate(runs[0], legacy, tmp_path / "round", sequences=4, beta=1.0, seed=7,
                           num_envs=2, progress_bar=False)  # fmt: skip
    assert "expert_draws" not in grown  # still a legacy dataset: per shard
    labels = {}
    for draws in ("per_shard", "fixed"):
        generate(tmp_path / draws, AtariSettings("breakout"), 4, 0, seed=7, num_envs=1,
                 shard_size=3, progress_bar=False, expert_draws=draws)  # fmt: skip
        labels[draws] = np.concatenate([a for _, a in _split(tmp_path / draws, "train")])
    assert (labels["per_shard"] != labels["fixed"]).any()  # the two experts do differ here
    got = np.concatenate([a for _, a in _split(out, "train")[6:]])
    np.testing.assert_array_equal(got, labels["per_shard"])


def test_with_beta_zero_the_policy_plays_and_agreement_is_recomputable(source, runs, tmp_path):
    """beta = 0: the policy executes every step. Replaying it over the recorded frames with
    its state carried (zeros at each shard's start) gives back its choices, and the share of
    them equal to the recorded labels is the round's expert_agreement: the labels are not
    the policy's actions unless they agree."""
    out, manifest = aggregate(runs[0], source, tmp_path / "alone", sequences=3, beta=0.0,
                              num_envs=1, progress_bar=False)  # fmt: skip
    (done,) = manifest["dagger"]
    assert done["policy_executed"] == 1.0
    params, _, meta = checkpoint.load(runs[0] / checkpoint.NAME)
    trainer = make_trainer("torch", PolicySpec.from_config(meta["policy"]), params, 1e-3)
    obs, labels = (np.concatenate(parts) for parts in zip(*_split(out, "train")[6:]))
    state, chosen = None, []
    for frame in obs:
        action, state = trainer.act(frame[None], state)
        chosen.append(action[0])
    agreement = float(np.mean(np.asarray(chosen) == labels))
    assert abs(agreement - done["expert_agreement"]) <= 2 / len(labels)
    assert done["expert_agreement"] < 1  # a smoke policy and the expert differ somewhere


def test_an_interrupted_round_resumes_and_refuses_other_settings(source, runs, tmp_path):
    out = tmp_path / "resumed"

    class Stop(Exception):
        pass

    def stop_after_two(new):
        written.append(new)
        if len(written) == 2:
            raise Stop

    written: list[bool] = []
    with pytest.raises(Stop):
        aggregate(runs[0], source, out, sequences=4, beta=0.5, num_envs=1, progress_bar=False,
                  on_sequence=stop_after_two)  # fmt: skip
    first = sequences.sequence_path(out, "train", 6)
    before = first.stat().st_mtime_ns
    assert not (out / sequences.MANIFEST).exists()
    with pytest.raises(ValueError, match="beta"):
        aggregate(runs[0], source, out, sequences=4, beta=0.25, num_envs=1, progress_bar=False)
    with pytest.raises(ValueError, match="checkpoint_sha256"):
        aggregate(runs[1], source, out, sequences=4, beta=0.5, num_envs=1, progress_bar=False)
    _, manifest = aggregate(runs[0], source, out, sequences=4, beta=0.5, num_envs=1,
                            progress_bar=False)  # fmt: skip
    assert manifest["counts"]["train"] == 10 and first.stat().st_mtime_ns == before
    assert set(json.loads((out / PROGRESS).read_text())["shards"]) == {"train/0", "train/1"}
    written_at = (out / sequences.MANIFEST).stat().st_mtime_ns
    _, again = aggregate(runs[0], source, out, sequences=4, beta=0.5, num_envs=1,
                         progress_bar=False)  # fmt: skip
    assert again == manifest and (out / sequences.MANIFEST).stat().st_mtime_ns == written_at


def test_bad_input_is_named(source, runs, tmp_path):
    with pytest.raises(ValueError, match="beta: expected a probability"):
        aggregate(runs[0], source, tmp_path / "a", beta=1.5, progress_bar=False)
    with pytest.raises(ValueError, match="sequences: expected an integer >= 1"):
        aggregate(runs[0], source, tmp_path / "a", sequences=0, progress_bar=False)
    with pytest.raises(ValueError, match="is the source dataset"):
        aggregate(runs[0], source, source, progress_bar=False)
    with pytest.raises(FileNotFoundError, match="holds no checkpoint.npz"):
        aggregate(tmp_path, source, tmp_path / "a", progress_bar=False)
    with pytest.raises(FileNotFoundError, match="dataset: .* does not exist"):
        aggregate(runs[0], tmp_path / "missing", tmp_path / "a", progress_bar=False)
    from bench.results import FolderBusyError, sole_writer

    with sole_writer(tmp_path / "busy", "out"):  # another round writing there
        with pytest.raises(FolderBusyError, match=f"out: {tmp_path / 'busy'} is being written"):
            aggregate(runs[0], source, tmp_path / "busy", sequences=1, progress_bar=False)
    assert not (tmp_path / "a").exists() and not (tmp_path / "busy").exists()


def test_continuing_a_run_on_the_grown_dataset(source, runs, tmp_path):
    """`continue_from` picks the run up after its last epoch, on the new data and into a new
    folder, records where it came from (also across a resume) and leaves the run alone; a run
    with no epoch left to continue is refused."""
    import dataclasses

    from bench.report.runs import load_bc_runs

    grown, _ = aggregate(runs[0], source, tmp_path / "grown", sequences=3, num_envs=1,
                         progress_bar=False)  # fmt: skip
    two = dataclasses.replace(SMOKE, epochs=2)
    before = (runs[0] / checkpoint.NAME).read_bytes()
    out = tmp_path / "bc" / "train" / "continued"
    summary = train_bc("gru", "torch", grown, out, two, continue_from=runs[0],
                       progress_bar=False, evaluate=False)  # fmt: skip
    assert [h["epoch"] for h in summary["history"]] == [1, 2]
    assert summary["continue_from"] == {"run": str(runs[0]), "epochs_done": 1}
    assert (runs[0] / checkpoint.NAME).read_bytes() == before
    three = dataclasses.replace(SMOKE, epochs=3)
    resumed = train_bc("gru", "torch", grown, out, three, resume=True, progress_bar=False,
                       evaluate=False)  # fmt: skip
    assert resumed["continue_from"] == summary["continue_from"]
    assert set(load_bc_runs(tmp_path, [])["bc_runs"]["cell"]) == {"gru (3 epochs, DAgger 1)"}
    cosine = dataclasses.replace(SMOKE, lr_schedule="cosine")
    finished = tmp_path / "finished"
    train_bc("gru", "torch", source, finished, cosine, progress_bar=False, evaluate=False)
    with pytest.raises(ValueError, match="nothing left to continue"):
        train_bc("gru", "torch", grown, tmp_path / "x", cosine, continue_from=finished,
                 progress_bar=False, evaluate=False)  # fmt: skip
    with pytest.raises(FileNotFoundError, match="holds no checkpoint.npz to continue"):
        train_bc("gru", "torch", grown, tmp_path / "y", three, continue_from=tmp_path,
                 progress_bar=False)  # fmt: skip


def test_the_command_line_round_and_its_continuation(source, runs, tmp_path, capsys):
    """`cellbench dataset dagger` writes <dataset>-dagger1 by default and says what it did, and
    a round on that writes <dataset>-dagger2; `cellbench train bc --continue-from` names a
    finished run's error."""
    from bench.cli import main

    assert main(["dataset", "dagger", str(runs[1]), "--dataset", str(source), "--sequences", "2",
                 "--num-envs", "1"]) == 0  # fmt: skip
    out = source.with_name(f"{source.name}-dagger1")
    said = capsys.readouterr().out
    assert "DAgger round 1: 2 sequences after the 6 training sequences" in said
    assert f"wrote {out}" in said and sequences.read_manifest(out)["counts"]["train"] == 8
    assert main(["dataset", "dagger", str(runs[1]), "--dataset", str(out), "--sequences", "1",
                 "--num-envs", "1"]) == 0  # fmt: skip
    second = source.with_name(f"{source.name}-dagger2")
    assert [r["sequences"] for r in sequences.read_manifest(second)["dagger"]] == [2, 1]
    assert main(["train", "bc", "--cell", "gru", "--backend", "torch", "--profile", "smoke",
                 "--dataset", str(out), "--continue-from", str(runs[1]),
                 "--out", str(tmp_path / "x")]) == 2  # fmt: skip
    assert "finished all 1 epochs" in capsys.readouterr().err
    assert main(["train", "bc", "--cell", "gru", "--backend", "torch", "--profile", "smoke",
                 "--dataset", str(source), "--stop-after", "1"]) == 2  # fmt: skip
    assert "1-epoch schedule, (it has none), got 1" in capsys.readouterr().err
    train = ["train", "bc", "--cell", "gru", "--backend", "torch", "--dataset", str(source)]
    assert main([*train, "--profile", "smoke", "--dagger"]) == 2
    assert "'smoke' trains 1 epoch; DAgger needs 2 or more" in capsys.readouterr().err
    assert main([*train, "--profile", "quick", "--dagger", "--stop-after", "2"]) == 2
    assert "dagger: it trains, plays the rounds and continues by itself" in capsys.readouterr().err


def test_a_finished_dataset_given_explicitly_is_used_as_it_is(source):
    """The source was generated here with 6 + 2 sequences, not the smoke profile's 8 + 4:
    `ensure_dataset` must not complete it with the default settings."""
    from bench.bc.suite import ensure_dataset

    before = sequences.read_manifest(source)
    assert ensure_dataset("breakout", SMOKE, source) == source
    assert sequences.read_manifest(source) == before and before["counts"] == {"train": 6, "val": 2}


def test_a_schedule_stopped_early_for_a_round_and_continued(source, tmp_path):
    """`stop_after` trains the first epochs of a cosine schedule and skips the closed loop; a
    run continued from it finishes the same schedule (its lr where the whole run's would be),
    and the report labels the stopped run; an epoch outside the schedule is refused."""
    import dataclasses

    from bench.report.runs import load_bc_runs

    cosine = dataclasses.replace(SMOKE, epochs=3, lr_schedule="cosine")
    stopped = tmp_path / "bc" / "train" / "stopped"
    summary = train_bc("gru", "torch", source, stopped, cosine, stop_after=1, progress_bar=False)
    assert [h["epoch"] for h in summary["history"]] == [1]
    assert summary["stopped_after"] == 1 and summary["closed_loop"] is None
    labels = set(load_bc_runs(tmp_path, [])["bc_runs"]["cell"])
    assert labels == {"gru (3 epochs, 6 sequences, stopped at epoch 1)"}  # not smoke's 1 and 8
    continued = train_bc("gru", "torch", source, tmp_path / "continued", cosine,
                         continue_from=stopped, progress_bar=False, evaluate=False)  # fmt: skip
    assert [h["lr"] for h in continued["history"]] == [cosine.lr_at(e) for e in range(3)]
    for wrong in (0, 3):
        said = rf"stop_after: .* 3-epoch schedule, from 1 to 2, got {wrong}"
        with pytest.raises(ValueError, match=said):
            train_bc("gru", "torch", source, tmp_path / "x", cosine, stop_after=wrong,
                     progress_bar=False)  # fmt: skip


def test_a_source_without_validation_grows_too(runs, tmp_path):
    """`generate --val 0` writes no validation file; a round on it adds training files only."""
    bare = tmp_path / "bare"
    generate(bare, AtariSettings("breakout"), 2, 0, seed=3, num_envs=1, shard_size=2,
             progress_bar=False)  # fmt: skip
    grown, manifest = aggregate(runs[0], bare, tmp_path / "grown", sequences=1, num_envs=1,
                                progress_bar=False)  # fmt: skip
    assert manifest["counts"] == {"train": 3, "val": 0}
    assert len(sequences.list_split(grown, "train")) == 3 and not list(grown.glob("val_*"))


def test_the_dagger_recipe_trains_plays_two_rounds_and_continues(source, tmp_path):
    """`train_with_dagger`: the first epochs into <out>-epochE, two rounds (beta 0.5, then 0.1
    on the grown data) played by that checkpoint, the rest of the schedule into <out>; an
    interrupted recipe resumes at its stage and keeps what the finished ones wrote."""
    import dataclasses

    from bench.bc.dagger_recipe import stages, train_with_dagger
    from bench.bc.profiles import rounds_epoch

    two = dataclasses.replace(SMOKE, epochs=2, lr_schedule="cosine")
    assert [rounds_epoch(p) for p in (two, PROFILES["quick"], PROFILES["full"])] == [1, 6, 6]
    with pytest.raises(ValueError, match="'smoke' trains 1 epoch; DAgger needs 2 or more"):
        rounds_epoch(SMOKE)
    out = tmp_path / "runs" / "recipe"
    before, round_sets = stages(out, source, two)
    assert before.name == "recipe-epoch1" and [p.name for p in round_sets] == [
        "recipe-round1", "recipe-round2"]  # fmt: skip
    train_bc("gru", "torch", source, before, two, stop_after=1, progress_bar=False)  # interrupted
    stopped_at = (before / checkpoint.NAME).stat().st_mtime_ns
    with pytest.raises(ValueError, match="already holds a checkpoint; pass --resume"):
        train_with_dagger("gru", "torch", source, out, two, num_envs=1, progress_bar=False)
    summary = train_with_dagger("gru", "torch", source, out, two, resume=True, num_envs=1,
                                progress_bar=False, evaluate=False)  # fmt: skip
    assert (before / checkpoint.NAME).stat().st_mtime_ns == stopped_at
    assert summary["continue_from"] == {"run": str(before), "epochs_done": 1}
    assert [h["epoch"] for h in summary["history"]] == [1, 2]
    assert summary["dataset"]["path"] == str(round_sets[1])
    rounds = summary["dataset"]["manifest"]["dagger"]
    assert [(r["beta"], r["sequences"], r["first"]) for r in rounds] == [(0.5, 1, 6), (0.1, 1, 7)]
    assert rounds[0]["checkpoint_sha256"] == rounds[1]["checkpoint_sha256"]
    assert rounds[0]["run"] == str(before.resolve())
    manifests = [(p / sequences.MANIFEST).stat().st_mtime_ns for p in round_sets]
    again = train_with_dagger("gru", "torch", source, out, two, resume=True, num_envs=1,
                              progress_bar=False, evaluate=False)  # fmt: skip
    assert again["history"] == summary["history"]
    assert [(p / sequences.MANIFEST).stat().st_mtime_ns for p in round_sets] == manifests


def test_the_command_line_recipe(tmp_path, monkeypatch, capsys):
    """`cellbench train bc --dagger` runs the recipe end to end (a 2-epoch smoke profile, its
    dataset generated first), says what the rounds found, and names its folders."""
    import dataclasses

    from bench.bc import profiles
    from bench.cli import main

    monkeypatch.setitem(profiles.PROFILES, "smoke", dataclasses.replace(SMOKE, epochs=2))
    data, out = tmp_path / "data" / "smoke", tmp_path / "runs" / "recipe"
    assert main(["train", "bc", "--cell", "gru", "--backend", "tf", "--profile", "smoke",
                 "--dataset", str(data), "--out", str(out), "--dagger"]) == 0  # fmt: skip
    said = capsys.readouterr().out
    assert "2 DAgger rounds, the policy choosing the expert's action on" in said
    assert "(beta 0.5)" in said and "(beta 0.1)" in said and "closed loop" in said
    summary = json.loads((out / "summary.json").read_text())
    assert summary["dataset"]["path"] == str(data.parent / "recipe-round2")
    assert len(summary["closed_loop"]["returns"]) == SMOKE.eval_episodes
    assert json.loads((out.with_name("recipe-epoch1") / "summary.json").read_text())[
        "stopped_after"] == 1  # fmt: skip
