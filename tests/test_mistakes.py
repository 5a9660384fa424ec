"""Where a policy's mistakes are (`bench.bc.mistakes`): its accuracy on the expert's games, split
by the steps a 1-px reading decides and by the expert's margin."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("ale_py")

from bench.atari.ambiguity import PERTURBATIONS, expert_games  # noqa: E402
from bench.atari.experts import FIRE, NOOP, RIGHT  # noqa: E402
from bench.bc.mistakes import split_accuracy  # noqa: E402


class _Always:
    """Plays one action whatever it sees; records the state resets it is asked for."""

    def __init__(self, action):
        self.action, self.resets = action, []

    def act(self, obs, state):
        assert obs.shape[1:] == (84, 84, 4) and obs.dtype == np.uint8
        return np.full(len(obs), self.action, np.int64), "state"

    def reset_state(self, state, done):
        self.resets.append(done.copy())
        return state


def test_the_split_accounts_for_every_step():
    noop = _Always(NOOP)
    found = split_accuracy(noop, steps=60, seed=3, num_envs=2, bins=4)
    confusion = np.array(found["confusion"])
    assert found["steps"] == confusion.sum() == 120 and not confusion[:, 1:].any()
    assert found["accuracy"] == pytest.approx(confusion[NOOP, NOOP] / 120)
    assert confusion[FIRE, NOOP] > 0  # each game begins with FIRE, which is not in play
    in_play = found["in_play"]
    assert 0 < in_play["steps"] < 120 - confusion[FIRE].sum() + 1
    parts = [found["clear"], found["ambiguous"]]
    assert sum(p["share"] for p in parts) == pytest.approx(1)
    weighted = sum(p["share"] * p["accuracy"] for p in parts)
    assert weighted == pytest.approx(in_play["accuracy"])
    margins = found["margins"]
    assert len(margins) == 4 and sum(p["share"] for p in margins) == pytest.approx(1)
    assert sum(p["share"] * p["accuracy"] for p in margins) == pytest.approx(in_play["accuracy"])
    edges = [(p["low"], p["high"]) for p in margins]
    assert all(lo <= hi for lo, hi in edges) and all(a[1] <= b[0] for a, b in zip(edges, edges[1:]))
    assert set(found["flips"]) == set(PERTURBATIONS)
    assert noop.resets[0].all() and not np.any(noop.resets[1:])  # the first step only


def test_a_policy_is_scored_against_the_expert_it_watches():
    """Played against the labels of the datasets' expert (the draws of FIXED_DRAWS_SEED, not
    the games' seed): NOOP's accuracy and RIGHT's are the label shares."""
    from bench.atari.generate import FIXED_DRAWS_SEED

    games = expert_games(60, seed=3, num_envs=2, draws_seed=FIXED_DRAWS_SEED)
    labels = np.concatenate([step["actions"] for step in games])
    for action in (NOOP, RIGHT):
        found = split_accuracy(_Always(action), steps=60, seed=3, num_envs=2)
        assert found["accuracy"] == pytest.approx(np.mean(labels == action))


def test_a_part_no_step_fell_in_has_no_accuracy(recwarn):
    """2 steps from a reset: the ball has no velocity yet, so nothing is in play or ambiguous;
    those parts say None rather than a mean of nothing (numpy's nan and its warning)."""
    found = split_accuracy(_Always(NOOP), steps=2, seed=3, num_envs=1)
    assert found["in_play"] == {"steps": 0, "accuracy": None}
    assert found["ambiguous"] == {"share": None, "accuracy": None} and found["margins"] == []
    assert found["accuracy"] == pytest.approx(np.trace(found["confusion"]) / 2)
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


def test_bad_steps_are_named():
    with pytest.raises(ValueError, match="steps: expected a positive integer, got 0"):
        split_accuracy(_Always(NOOP), steps=0)


def test_the_commands_on_a_trained_run_and_on_a_missing_one(tmp_path, capsys):
    pytest.importorskip("torch")
    from bench.atari.generate import generate
    from bench.atari.settings import AtariSettings
    from bench.bc.mistakes import main
    from bench.bc.profiles import PROFILES
    from bench.bc.train import train_bc

    data, run = tmp_path / "data", tmp_path / "run"
    generate(data, AtariSettings("breakout"), 4, 2, num_envs=1, shard_size=2, progress_bar=False)
    train_bc("gru", "torch", data, run, PROFILES["smoke"], progress_bar=False, evaluate=False)
    main([str(run), "--steps", "20", "--envs", "2"])
    said = capsys.readouterr().out
    assert "run after 1 epochs, 40 steps of the expert's games: accuracy" in said
    assert "clear:" in said and "ambiguous:" in said and "ball x 1 px:" in said
    assert said.count("accuracy") == 1 + 2 + len(PERTURBATIONS) + 5  # 5: the margins
    with pytest.raises(SystemExit) as exit_info:
        main([str(tmp_path / "nowhere")])
    assert exit_info.value.code == 2
    assert "run: checkpoint:" in capsys.readouterr().err
    # The closed-loop replay reads its run the same way (`parse_run`).
    from bench.bc.evaluate import main as evaluate_main

    evaluate_main([str(run), "--episodes", "1", "--max-steps", "20"])
    assert "run after 1 epochs: returns [" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        evaluate_main([str(tmp_path / "nowhere")])
    assert "run: checkpoint:" in capsys.readouterr().err
