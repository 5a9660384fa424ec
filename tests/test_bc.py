"""The BC policy: one canonical weight dict gives the same loss and gradients in torch and TF;
a few training steps of every cell x backend lower the loss; bad input gets clear errors."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("ale_py")
torch = pytest.importorskip("torch")
tf = pytest.importorskip("tensorflow")

import cells  # noqa: E402
from bench import checkpoint  # noqa: E402
from bench.bc.profiles import PROFILES  # noqa: E402
from bench.bc.spec import PolicySpec, make_policy_spec  # noqa: E402
from bench.bc.train import make_trainer, train_bc  # noqa: E402
from cells.numerics import model_gradient_errors  # noqa: E402

CELLS = ("lstm", "gru", "cfc", "ltc")


def _batch(seed=0, batch=2, steps=4):
    rng = np.random.default_rng(seed)
    obs = rng.integers(0, 256, (batch, steps, 84, 84, 4), dtype=np.uint8)
    return obs, rng.integers(0, 4, (batch, steps)).astype(np.int64)


@pytest.mark.parametrize("cell", CELLS)
def test_torch_and_tf_give_the_same_loss_and_gradients(cell):
    """float32, same canonical weights and batch; gradients compared per tensor with the
    floor that `cells.numerics.model_gradient_errors` explains."""
    spec = make_policy_spec(cell, 4)
    params = spec.init_params(3)
    obs, actions = _batch()
    loss_t, grads_t = make_trainer("torch", spec, params, 1e-3).loss_and_grads(obs, actions)
    loss_k, grads_k = make_trainer("tf", spec, params, 1e-3).loss_and_grads(obs, actions)
    assert abs(loss_t - loss_k) <= 1e-4 * abs(loss_k)
    assert set(grads_k) == set(spec.param_shapes()) - set(spec.state_keys())
    errors = model_gradient_errors(grads_t, grads_k)
    assert max(errors.values()) <= 1e-4, errors


@pytest.mark.parametrize("cell", CELLS)
def test_torch_and_tf_agree_from_a_carried_initial_state(cell):
    """Truncated BPTT starts batches from a carried state: the same state gives the same loss
    and gradients in both, and other gradients than zeros would."""
    spec = make_policy_spec(cell, 4)
    params = spec.init_params(4)
    obs, actions = _batch(1)
    torch_trainer, tf_trainer = (make_trainer(b, spec, params, 1e-3) for b in ("torch", "tf"))
    _, zeros = torch_trainer.act(obs[:, 0], None)  # the state's structure
    rng = np.random.default_rng(0)
    parts = zeros if isinstance(zeros, tuple) else (zeros,)
    state = tuple(rng.normal(0.0, 0.5, tuple(part.shape)) for part in parts)
    state = state if isinstance(zeros, tuple) else state[0]
    loss_t, grads_t = torch_trainer.loss_and_grads(obs, actions, state)
    loss_k, grads_k = tf_trainer.loss_and_grads(obs, actions, state)
    assert abs(loss_t - loss_k) <= 1e-4 * abs(loss_k)
    assert max(model_gradient_errors(grads_t, grads_k).values()) <= 1e-4
    # from zeros the gradients differ (LTC's least: its state barely reaches the logits at
    # initialisation, 2e-3 in this measure, 20 times the parity bound above)
    from_zeros = torch_trainer.loss_and_grads(obs, actions)[1]
    assert max(model_gradient_errors(grads_t, from_zeros).values()) > 1e-3


def test_exported_weights_round_trip():
    spec = make_policy_spec("cfc", 6)
    params = spec.init_params(1)
    for backend in ("torch", "tf"):
        exported = make_trainer(backend, spec, params, 1e-3).export_params()
        for key, value in params.items():
            np.testing.assert_allclose(exported[key], value, rtol=1e-6, atol=1e-7, err_msg=key)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    from bench.atari.generate import generate
    from bench.atari.settings import AtariSettings

    directory = tmp_path_factory.mktemp("bc_data")
    generate(directory, AtariSettings("breakout"), 8, 4, seed=0, num_envs=1, progress_bar=False)
    return directory


@pytest.mark.parametrize("backend", ["torch", "tf"])
@pytest.mark.parametrize("cell", CELLS)
def test_a_few_steps_on_expert_data_lower_the_loss(dataset, cell, backend):
    from bench.atari import sequences

    files = sequences.list_split(dataset, "train")[:2]
    obs, actions = (np.stack(arrays) for arrays in zip(*map(sequences.load_sequence, files)))
    spec = make_policy_spec(cell, 4)
    trainer = make_trainer(backend, spec, spec.init_params(0), 1e-3)
    losses = [trainer.train_step(obs, actions)[0] for _ in range(8)]
    assert losses[-1] < 0.9 * losses[0], losses


def test_policy_spec_bad_input():
    cell = cells.get_spec("gru", 512, 16)
    with pytest.raises(ValueError, match="num_actions: expected an integer >= 2"):
        PolicySpec(cell, 1)
    with pytest.raises(ValueError, match="cell: expected input_size 512"):
        PolicySpec(cells.get_spec("gru", 100, 16), 4)
    with pytest.raises(ValueError, match="extractor"):
        PolicySpec(cell, 4, extractor="resnet")
    spec = PolicySpec(cell, 4)
    params = spec.init_params()
    params["head_kernel"] = params["head_kernel"][:, :3]
    with pytest.raises(ValueError, match=r"params\['head_kernel'\]: expected shape \(16, 4\)"):
        spec.check_params(params)
    with pytest.raises(ValueError, match="backend"):
        make_trainer("jax", spec, spec.init_params(), 1e-3)


# ------------------------------------------------------------------ closed-loop evaluation
class _Constant:
    """A policy playing one action everywhere (the `act` of a trainer)."""

    def __init__(self, action: int):
        self.action = action

    def act(self, obs, state):
        return np.full(len(obs), self.action, dtype=np.int64), state


def test_closed_loop_agreement_is_the_share_of_steps_the_expert_would_play_alike():
    """A policy that never presses FIRE never launches the ball, so the expert (which wants
    FIRE at every one of those steps) agrees with none of them; one that presses FIRE all the
    time agrees at the launch and then no more often than the expert fires. Without the expert's
    watch there is no agreement."""
    from bench.atari.settings import AtariSettings
    from bench.bc.evaluate import play

    settings = AtariSettings("breakout", sticky=0.25)
    idle = play(_Constant(0), settings, episodes=2, seed=3, max_steps=40)
    assert idle["expert_agreement"] == 0.0 and idle["mean"] == 0.0 and idle["truncated"] == 2
    firing = play(_Constant(1), settings, episodes=2, seed=3, max_steps=40)
    assert 0 < firing["expert_agreement"] < 0.5
    unwatched = play(_Constant(0), settings, episodes=2, seed=3, max_steps=40,
                     expert_agreement=False)  # fmt: skip
    assert unwatched["expert_agreement"] is None and unwatched["truncated"] == 2


class _FireWhenFresh:
    """A policy whose state counts its steps: it presses FIRE on a fresh (zeroed) state only."""

    def act(self, obs, state):
        state = np.zeros(len(obs), dtype=np.int64) if state is None else state
        return np.where(state == 0, 1, 0).astype(np.int64), state + 1

    @staticmethod
    def reset_state(state, done):
        return np.where(done, 0, state)


def test_zeroing_the_state_on_a_lost_life_relaunches_a_policy_that_fires_when_fresh():
    """The diagnostic of `play`: the policy launches the first ball and, with its state zeroed
    at each lost life, every later one, so it loses all 5 lives; without, it idles after the
    first."""
    from bench.atari.settings import AtariSettings
    from bench.bc.evaluate import play

    settings = AtariSettings("breakout", sticky=0.0)
    kept = play(_FireWhenFresh(), settings, episodes=1, seed=0, max_steps=1500)
    zeroed = play(_FireWhenFresh(), settings, episodes=1, seed=0, max_steps=1500,
                  zero_state_on_life_loss=True)  # fmt: skip
    assert kept["truncated"] == 1 and zeroed["truncated"] == 0


# ------------------------------------------------------------------ training on a dataset
def test_training_writes_metrics_checkpoint_summary_and_resumes(dataset, tmp_path):
    profile = PROFILES["smoke"]
    out = tmp_path / "run"
    summary = train_bc("gru", "torch", dataset, out, profile, progress_bar=False)
    assert (out / "metrics.csv").read_text().startswith("epoch,train_loss,train_accuracy")
    assert summary["final"]["epoch"] == 1 and 0 <= summary["final"]["val_accuracy"] <= 1
    assert len(summary["closed_loop"]["returns"]) == profile.eval_episodes
    assert 0 <= summary["closed_loop"]["expert_agreement"] <= 1
    with pytest.raises(ValueError, match="already holds a checkpoint"):
        train_bc("gru", "torch", dataset, out, profile, progress_bar=False)
    longer = profile.__class__(**{**profile.as_dict(), "epochs": 2})
    resumed = train_bc("gru", "torch", dataset, out, longer, resume=True, progress_bar=False,
                       evaluate=False)  # fmt: skip
    assert [h["epoch"] for h in resumed["history"]] == [1, 2]
    with pytest.raises(ValueError, match="policy="):
        train_bc("lstm", "torch", dataset, out, longer, resume=True, progress_bar=False)
    with pytest.raises(ValueError, match="backend="):
        train_bc("gru", "tf", dataset, out, longer, resume=True, progress_bar=False)
    decaying = profile.__class__(**{**longer.as_dict(), "lr_schedule": "cosine"})
    with pytest.raises(ValueError, match=r"lr_schedule='constant' \(now 'cosine'\)"):
        train_bc("gru", "torch", dataset, out, decaying, resume=True, progress_bar=False)
    (out / checkpoint.NAME).write_bytes(b"garbage")
    with pytest.raises(ValueError, match="unreadable or corrupt"):
        train_bc("gru", "torch", dataset, out, longer, resume=True, progress_bar=False)


@pytest.mark.parametrize("backend", ["torch", "tf"])
def test_a_carried_state_reads_each_lane_as_one_long_sequence(dataset, backend):
    """Batches of 2 lanes over the 8 training sequences of one game: lanes 0-3 and 4-7.
    Evaluated 32 steps at a time with the state carried, the loss is that of the two lanes
    played from zeros as 128-step sequences; from zeros every 32 steps it is not."""
    from bench.atari import sequences
    from bench.bc.train import CarriedState

    spec = make_policy_spec("gru", 4)
    trainer = make_trainer(backend, spec, spec.init_params(0), 1e-3)
    batches = list(trainer.batches(dataset, "train", 2, 0, 0, carry_state=True))
    assert len(batches) == 4
    totals = {}
    for carry in (True, False):
        carried, totals[carry] = CarriedState(trainer, carry), 0.0
        for obs, actions in batches:
            evaluated = trainer.evaluate_batch(obs, actions, carried.initial(obs))
            carried.keep(obs, evaluated.final)
            totals[carry] += evaluated.loss
    loaded = [sequences.load_sequence(f) for f in sequences.list_split(dataset, "train")]
    obs, actions = (np.stack([np.concatenate(part[i : i + 4]) for i in (0, 4)])
                    for part in zip(*loaded))  # fmt: skip
    whole = trainer.evaluate_batch(obs, actions).loss
    assert totals[True] == pytest.approx(whole, rel=1e-5)
    # an untrained policy's state moves the loss little (here by ~1e-3), but 10x the tolerance
    # the carried loss meets is well inside that
    assert abs(totals[False] - whole) > 1e-4 * whole


def test_carried_state_starts_a_new_game_from_zeros(dataset):
    from bench.atari import sequences
    from bench.bc.train import CarriedState

    spec = make_policy_spec("lstm", 4)
    trainer = make_trainer("torch", spec, spec.init_params(0), 1e-3)
    train, val = (sequences.list_split(dataset, split) for split in ("train", "val"))
    first, following = (np.stack([sequences.load_sequence(f)[0] for f in files])
                        for files in ([train[0], train[1]], [train[1], val[0]]))  # fmt: skip
    carried = CarriedState(trainer, True)
    assert carried.initial(first) is None  # nothing carried yet: zeros
    final = trainer.evaluate_batch(first, np.zeros((2, 32), np.int64)).final
    carried.keep(first, final)
    h, c = carried.initial(following)
    np.testing.assert_array_equal(h[0].numpy(), final[0][0].numpy())  # train 1 continues 0
    assert not h[1].any() and not c[1].any() and final[0][1].any()  # val 0 is another game
    assert len(carried.initial(following[:1])[0]) == 1  # a shorter last batch: the first rows
    assert CarriedState(trainer, False).initial(following) is None


@pytest.mark.parametrize("backend", ["torch", "tf"])
def test_a_policy_predicting_one_action_everywhere_is_reported_as_collapsed(dataset, backend):
    """Validation counts the policy's greedy actions: a head that always picks one action
    predicts it on every step and scores its share of the labels, and gets the warning,
    whichever action it is; a policy spreading its predictions does not."""
    from bench.atari import sequences
    from bench.bc.train import _validate, collapse_warning

    labels = np.concatenate([sequences.load_sequence(f)[1]
                             for f in sequences.list_split(dataset, "val")])  # fmt: skip
    counts = np.bincount(labels, minlength=4)
    spec = make_policy_spec("gru", 4)
    for action in range(4):
        params = spec.init_params(0)
        params["head_kernel"] = np.zeros_like(params["head_kernel"])
        params["head_bias"] = np.eye(4, dtype=params["head_bias"].dtype)[action] * 10
        trainer = make_trainer(backend, spec, params, 1e-3)
        _, accuracy, predicted = _validate(trainer, dataset, PROFILES["smoke"], 0)
        assert accuracy == pytest.approx(counts[action] / labels.size)
        np.testing.assert_array_equal(predicted, np.eye(4, dtype=np.int64)[action] * labels.size)
        warning = collapse_warning(3, predicted, 3e-3)
        assert warning.startswith(f"epoch 3: the policy predicts action {action} on 100.00% of")
        assert "try a lower --lr than this run's peak 0.003" in warning
    assert collapse_warning(1, np.array([989, 11, 0, 0]), 1e-3) is None  # 98.9%
    assert "action 2 on 99.00%" in collapse_warning(1, np.array([5, 0, 990, 5]), 1e-3)
    assert collapse_warning(1, np.array([60, 1, 20, 19]), 1e-3) is None


def test_training_with_carried_state_records_it_and_resumes_only_so(dataset, tmp_path):
    import dataclasses

    from bench.bc.suite import run_name
    from bench.report.runs import load_bc_runs

    carried = dataclasses.replace(PROFILES["smoke"], carry_state=True, batch_size=3)
    out = tmp_path / "bc" / "train" / run_name("breakout", "gru", "tf", "smoke", 0,
                                               carry_state=True)  # fmt: skip
    summary = train_bc("gru", "tf", dataset, out, carried, progress_bar=False, evaluate=False)
    assert summary["profile"]["carry_state"] and out.name.endswith("-carried")
    assert 0 <= summary["final"]["val_accuracy"] <= 1
    longer = dataclasses.replace(carried, carry_state=False, epochs=2)
    with pytest.raises(ValueError, match=r"carry_state=True \(now False\)"):
        train_bc("gru", "tf", dataset, out, longer, resume=True, progress_bar=False)
    assert set(load_bc_runs(tmp_path, [])["bc_runs"]["cell"]) == {"gru (carried state)"}


def test_another_peak_lr_is_named_recorded_labelled_and_checked(dataset, tmp_path):
    import dataclasses

    from bench.bc.suite import run_name
    from bench.report.runs import load_bc_runs

    assert run_name("breakout", "gru", "tf", "full", 0, lr=3e-3).endswith("-seed0-lr0.003")
    assert run_name("breakout", "gru", "tf", "full", 0, lr=None).endswith("-seed0")
    faster = dataclasses.replace(PROFILES["smoke"], lr=3e-3, batch_size=3)
    out = tmp_path / "bc" / "train" / run_name("breakout", "gru", "tf", "smoke", 0, lr=3e-3)
    summary = train_bc("gru", "tf", dataset, out, faster, progress_bar=False, evaluate=False)
    assert summary["profile"]["lr"] == 3e-3
    assert float((out / "metrics.csv").read_text().splitlines()[1].split(",")[-1]) == 3e-3
    with pytest.raises(ValueError, match=r"lr=0.003 \(now 0.001\)"):
        train_bc("gru", "tf", dataset, out, dataclasses.replace(faster, lr=1e-3), resume=True,
                 progress_bar=False)  # fmt: skip
    assert set(load_bc_runs(tmp_path, [])["bc_runs"]["cell"]) == {"gru (lr 0.003)"}
    for bad in (0.0, -1e-3, float("nan")):
        with pytest.raises(ValueError, match="lr: expected a learning rate > 0"):
            dataclasses.replace(PROFILES["smoke"], lr=bad)


def test_another_epoch_count_is_named_labelled_and_refused_when_not_positive(
    dataset, tmp_path, capsys
):
    """`--epochs N` trains a schedule of N epochs (for a larger dataset at the same number of
    steps), names the run -e<N> and labels it; a count below 1 is refused before any work."""
    import json

    from bench.bc.suite import run_name
    from bench.cli import main
    from bench.report.runs import load_bc_runs

    assert run_name("breakout", "gru", "tf", "full", 0, epochs=3).endswith("-seed0-e3")
    assert run_name("breakout", "gru", "tf", "full", 0, epochs=None).endswith("-seed0")
    out = tmp_path / "bc" / "train" / "two"
    train = ["train", "bc", "--cell", "gru", "--backend", "tf", "--profile", "smoke",
             "--dataset", str(dataset), "--out", str(out)]  # fmt: skip
    assert main([*train, "--epochs", "2"]) == 0
    assert "breakout-gru-tf-smoke-seed0-e2: val accuracy" in capsys.readouterr().out
    assert json.loads((out / "summary.json").read_text())["profile"]["epochs"] == 2
    assert len((out / "metrics.csv").read_text().splitlines()) == 1 + 2
    assert set(load_bc_runs(tmp_path, [])["bc_runs"]["cell"]) == {"gru (2 epochs)"}
    for bad in ("0", "-1"):
        assert main([*train[:-1], str(tmp_path / "never"), "--epochs", bad]) == 2
        assert f"epochs: expected a positive integer, got {bad}" in capsys.readouterr().err
    assert not (tmp_path / "never").exists()


def test_another_unit_count_is_named_recorded_labelled_and_checked(dataset, tmp_path, capsys):
    """`--units N` widens the cell alone (conv and head as they were), names the run -u<N>,
    labels it "N units", refuses to resume it as a cell of another width, and refuses a count
    below 1 before any work; the default count gets no suffix or label."""
    import json

    from bench.bc.suite import run_name
    from bench.cli import main
    from bench.report.runs import load_bc_runs

    assert run_name("breakout", "gru", "tf", "full", 0, units=256).endswith("-seed0-u256")
    train = ["train", "bc", "--cell", "gru", "--backend", "tf", "--profile", "smoke",
             "--dataset", str(dataset)]  # fmt: skip
    out = tmp_path / "bc" / "train" / "wide"
    assert main([*train, "--out", str(out), "--units", "24"]) == 0
    assert "breakout-gru-tf-smoke-seed0-u24: val accuracy" in capsys.readouterr().out
    assert json.loads((out / "summary.json").read_text())["policy"]["cell"]["units"] == 24
    params, _, _ = checkpoint.load(out / checkpoint.NAME)
    wide, default = make_policy_spec("gru", 4, 24).param_shapes(), make_policy_spec("gru", 4)
    assert {key: value.shape for key, value in params.items()} == wide
    widened = {key for key, shape in default.param_shapes().items() if wide[key] != shape}
    assert widened == {key for key in wide if key.startswith("cell/")} | {"head_kernel"}
    assert main([*train, "--out", str(tmp_path / "bc" / "train" / "plain"), "--units", "64"]) == 0
    assert "breakout-gru-tf-smoke-seed0: val accuracy" in capsys.readouterr().out
    labels = set(load_bc_runs(tmp_path, [])["bc_runs"]["cell"])
    assert labels == {"gru (24 units)", "gru"}
    with pytest.raises(ValueError, match=r"policy=.*'units': 24\}.* has policy=.*'units': 64\}"):
        train_bc("gru", "tf", dataset, out, PROFILES["smoke"], resume=True, progress_bar=False)
    for bad in ("0", "-3"):
        assert main([*train, "--out", str(tmp_path / "never"), "--units", bad]) == 2
        assert f"units: expected a positive whole unit count, got {bad}" in capsys.readouterr().err
    assert not (tmp_path / "never").exists()


def test_training_on_labels_of_per_shard_experts_warns(dataset, tmp_path, capsys):
    """A dataset from before the expert's draws were recorded mixes experts that a policy
    cannot tell apart; training on it says so, on one of one expert it does not."""
    import json
    import shutil

    from bench.bc.train import mixed_labels_warning

    older = tmp_path / "older"
    shutil.copytree(dataset, older)
    manifest = json.loads((older / "manifest.json").read_text())
    assert mixed_labels_warning(manifest, dataset) is None
    assert manifest.pop("expert_draws") == "fixed"
    (older / "manifest.json").write_text(json.dumps(manifest))
    assert mixed_labels_warning({"settings": {}}, older) is None  # not ours: nothing known
    train_bc("gru", "tf", older, tmp_path / "run", PROFILES["smoke"], progress_bar=False,
             evaluate=False)  # fmt: skip
    said = capsys.readouterr().err
    assert f"warning: dataset: {older} was labelled by experts of different sticky-action" in said
    assert said.count("warning: dataset:") == 1
    train_bc("gru", "tf", dataset, tmp_path / "new", PROFILES["smoke"], progress_bar=False,
             evaluate=False)  # fmt: skip
    assert "warning: dataset:" not in capsys.readouterr().err


def test_a_run_folder_being_trained_into_is_refused_to_a_second_job(dataset, tmp_path):
    """Two jobs resuming one run would overwrite each other's checkpoints and metrics; a job
    that fails before writing anything leaves no folder behind."""
    from bench.results import FolderBusyError, sole_writer

    out = tmp_path / "run"
    with sole_writer(out, "out"):
        with pytest.raises(FolderBusyError, match=f"out: {out} is being written by process"):
            train_bc("gru", "tf", dataset, out, PROFILES["smoke"], resume=True,
                     progress_bar=False)  # fmt: skip
    assert not (out / "metrics.csv").exists()
    with pytest.raises(ValueError, match="impl"):  # fails before writing: no folder is left
        train_bc("gru", "tf", dataset, tmp_path / "never", PROFILES["smoke"], impl="no_such",
                 progress_bar=False)  # fmt: skip
    assert not (tmp_path / "never").exists()


@pytest.mark.parametrize("backend", ["torch", "tf"])
def test_shifted_training_moves_training_frames_only_and_resumes_only_so(
    backend, dataset, tmp_path, monkeypatch
):
    import dataclasses

    from bench.bc import tf_trainer, torch_trainer
    from bench.bc.suite import run_name
    from bench.report.runs import load_bc_runs

    module, loader = {"torch": (torch_trainer, "torch_loader"),
                      "tf": (tf_trainer, "tf_dataset")}[backend]  # fmt: skip
    calls, original = [], getattr(module, loader)

    def recording(directory, split, *args, **kwargs):
        calls.append((split, kwargs.get("shift", 0)))
        return original(directory, split, *args, **kwargs)

    monkeypatch.setattr(module, loader, recording)
    assert run_name("breakout", "gru", backend, "full", 0, shift=0).endswith("-seed0")
    moved = dataclasses.replace(PROFILES["smoke"], shift=4, batch_size=3)
    out = tmp_path / "bc" / "train" / run_name("breakout", "gru", backend, "smoke", 0, shift=4)
    summary = train_bc("gru", backend, dataset, out, moved, progress_bar=False, evaluate=False)
    assert summary["profile"]["shift"] == 4 and out.name.endswith("-seed0-shift4")
    assert sorted(set(calls)) == [("train", 4), ("val", 0)]
    with pytest.raises(ValueError, match=r"shift=4 \(now 0\)"):
        train_bc("gru", backend, dataset, out, dataclasses.replace(moved, shift=0), resume=True,
                 progress_bar=False)  # fmt: skip
    assert set(load_bc_runs(tmp_path, [])["bc_runs"]["cell"]) == {"gru (shift 4 px)"}
    for bad in (-1, 2.0, True):
        with pytest.raises(ValueError, match=f"shift: expected an integer >= 0 .*got {bad!r}"):
            dataclasses.replace(PROFILES["smoke"], shift=bad)


def test_the_cosine_schedule_sets_each_epochs_lr_in_both_frameworks(dataset, tmp_path):
    import dataclasses

    cosine = dataclasses.replace(PROFILES["smoke"], epochs=3, lr=1e-3, lr_schedule="cosine")
    assert [cosine.lr_at(e) for e in range(3)] == pytest.approx([1e-3, 0.75e-3, 0.25e-3])
    assert PROFILES["smoke"].lr_at(2) == PROFILES["smoke"].lr
    with pytest.raises(ValueError, match="lr_schedule: expected one of"):
        dataclasses.replace(cosine, lr_schedule="linear")
    for backend in ("torch", "tf"):
        out = tmp_path / backend
        two = dataclasses.replace(cosine, epochs=2)
        summary = train_bc("gru", backend, dataset, out, two, progress_bar=False, evaluate=False)
        assert [h["lr"] for h in summary["history"]] == pytest.approx([1e-3, 0.5e-3])
        with pytest.raises(ValueError, match=r"epochs=2 \(now 3\)"):
            train_bc("gru", backend, dataset, out, cosine, resume=True, progress_bar=False)
    # the lr each trainer is given is the lr it steps with: at 0 nothing moves
    obs, actions = _batch()
    spec = make_policy_spec("gru", 4)
    for backend in ("torch", "tf"):
        trainer = make_trainer(backend, spec, spec.init_params(0), 1e-3)
        trainer.set_lr(0.0)
        trainer.train_step(obs, actions)
        after = trainer.export_params()
        for key, value in spec.init_params(0).items():
            np.testing.assert_allclose(after[key], value, atol=1e-7, err_msg=f"{backend} {key}")
        trainer.set_lr(1e-3)
        trainer.train_step(obs, actions)
        assert not np.allclose(trainer.export_params()["head_kernel"], after["head_kernel"])


def test_missing_dataset_and_wrong_action_count(dataset, tmp_path):
    import json
    import shutil

    with pytest.raises(FileNotFoundError, match="cellbench dataset generate"):
        train_bc("gru", "torch", tmp_path / "nope", tmp_path / "o", PROFILES["smoke"])
    other = tmp_path / "other"
    shutil.copytree(dataset, other)
    manifest = json.loads((other / "manifest.json").read_text())
    manifest["num_actions"] = 18
    (other / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="has 18 actions, but breakout has 4"):
        train_bc("gru", "torch", other, tmp_path / "o", PROFILES["smoke"])


def test_bc_suite_smoke_run_records_what_training_achieved(tmp_path, run_smoke_suite):
    import json

    run_smoke_suite("bc", "gru-torch", CELLBENCH_DATA=str(tmp_path / "data"))
    latest = json.loads((tmp_path / "results" / "bc" / "latest.json").read_text())
    step, game = latest["benchmarks"]
    assert (step["extra_info"]["kind"], game["extra_info"]["kind"]) == ("train_step", "eval_game")
    # The evaluation game: greedy play of the trained policy, to game over or the step cap.
    played = game["extra_info"]
    cap = PROFILES["smoke"].eval_max_steps
    assert len(played["eval_steps"]) == 2 and all(1 <= n <= cap for n in played["eval_steps"])
    assert played["eval_steps_per_second"] > 0 and len(played["eval_returns"]) == 2
    info = step["extra_info"]
    assert info["cell"] == "gru" and info["backend"] == "torch" and info["epochs"] == 1
    assert 0 <= info["val_accuracy"] <= 1 and info["samples_per_second"] > 0
    assert info["closed_loop_games"] == PROFILES["smoke"].eval_episodes
    assert info["dataset"]["counts"] == {"train": 8, "val": 4}
    assert (tmp_path / "data" / "breakout-smoke" / "manifest.json").exists()
    summary = tmp_path / "results" / "bc" / "train" / "breakout-gru-torch-smoke-seed0"
    assert (summary / "summary.json").exists()


@pytest.mark.parametrize("backend", ["torch", "tf"])
def test_runs_log_tensorboard_scalars(dataset, tmp_path, backend):
    pytest.importorskip("tensorboard")  # in the dev extra, so CI runs this
    summary = train_bc("gru", backend, dataset, tmp_path, PROFILES["smoke"], progress_bar=False,
                       evaluate=False)  # fmt: skip
    events = list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
    assert len(events) == 1 and events[0].stat().st_size > 0
    values = {}
    for record in tf.compat.v1.train.summary_iterator(str(events[0])):
        for value in record.summary.value:
            has_tensor = value.HasField("tensor")
            values[value.tag] = (
                float(tf.make_ndarray(value.tensor)) if has_tensor else value.simple_value
            )
    assert values["val_accuracy"] == pytest.approx(summary["final"]["val_accuracy"])
