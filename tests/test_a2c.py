"""Recurrent A2C: advantages against plain loops (episode ends mid-rollout, autoreset rows, life
losses), the hidden-state reset, the same loss and gradients in torch and TF, the same optimizer
step, a smoke run of every cell x backend, resume, and clear errors on bad input."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

pytest.importorskip("ale_py")
torch = pytest.importorskip("torch")
tf = pytest.importorskip("tensorflow")

from bench import checkpoint  # noqa: E402
from bench.a2c.config import (  # noqa: E402
    DENSE_LR_PARAMS,
    A2CConfig,
    profile_config,
    training_settings,
)
from bench.a2c.returns import advantages  # noqa: E402
from bench.a2c.rollout import RolloutCollector  # noqa: E402
from bench.a2c.spec import make_agent_spec  # noqa: E402
from bench.a2c.train import make_agent, make_envs, state_shapes, train_a2c  # noqa: E402
from cells.numerics import model_gradient_errors  # noqa: E402

CELLS = ("lstm", "gru", "cfc", "ltc")


def _reference_advantages(rewards, values, terminal, truncated, bootstrap, gamma, lam):
    """The definition, one (t, n) at a time: A_t = sum_k (gamma lam)^(k-t) delta_k up to and
    including the first step that ends the episode."""
    steps, envs = rewards.shape
    result = np.zeros((steps, envs))
    for n in range(envs):
        for t in range(steps):
            total, weight = 0.0, 1.0
            for k in range(t, steps):
                next_value = values[k + 1, n] if k + 1 < steps else bootstrap[n]
                if terminal[k, n]:
                    next_value = 0.0
                total += weight * (rewards[k, n] + gamma * next_value - values[k, n])
                if terminal[k, n] or truncated[k, n]:
                    break
                weight *= gamma * lam
            result[t, n] = total
    return result


def _random_flags(rng, steps, envs):
    terminal = rng.random((steps, envs)) < 0.15
    truncated = (rng.random((steps, envs)) < 0.1) & ~terminal
    return terminal, truncated


@pytest.mark.parametrize("lam", [1.0, 0.95, 0.0])
def test_advantages_match_the_definition(lam):
    rng = np.random.default_rng(0)
    rewards, values = rng.normal(size=(12, 5)), rng.normal(size=(12, 5))
    terminal, truncated = _random_flags(rng, 12, 5)
    bootstrap = rng.normal(size=5)
    got, returns = advantages(rewards, values, terminal, truncated, bootstrap, 0.9, lam)
    want = _reference_advantages(rewards, values, terminal, truncated, bootstrap, 0.9, lam)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(returns, want + values, rtol=1e-12, atol=1e-12)


def test_n_step_returns_are_discounted_sums_to_the_episode_end():
    """lam = 1: R_t = r_t + gamma r_t+1 + ... up to the end; + gamma^m V after a truncation
    (the value of the next row, the final observation) or past the last row; nothing after a
    terminal step."""
    rewards = np.array([[1.0], [2.0], [3.0], [4.0], [5.0]])
    values = np.array([[0.5], [0.25], [10.0], [0.0], [0.0]])
    terminal = np.array([[False], [True], [False], [False], [False]])
    truncated = np.array([[False], [False], [True], [False], [False]])
    _, returns = advantages(rewards, values, terminal, truncated, np.array([7.0]), 0.5, 1.0)
    assert returns[:, 0].tolist() == [1 + 0.5 * 2, 2, 3 + 0.5 * 0.0, 4 + 0.5 * 5 + 0.25 * 7,
                                      5 + 0.5 * 7]  # fmt: skip


def test_advantages_reject_mismatched_shapes():
    with pytest.raises(ValueError, match="bootstrap"):
        advantages(np.zeros((3, 2)), np.zeros((3, 2)), np.zeros((3, 2), bool),
                   np.zeros((3, 2), bool), np.zeros(3), 0.99)  # fmt: skip


class _StepLog:
    """The real vector env, stepped through; records what each step returned."""

    def __init__(self, envs):
        self.envs, self.num_envs, self.steps = envs, envs.num_envs, []

    def reset(self, **kwargs):
        obs, info = self.envs.reset(**kwargs)
        self.first_lives = np.asarray(info["lives"]).copy()
        return obs, info

    def step(self, actions):
        obs, reward, term, trunc, info = self.envs.step(actions)
        self.steps.append((np.asarray(reward, float), np.asarray(term), np.asarray(trunc),
                           np.asarray(info["lives"]).copy()))  # fmt: skip
        return obs, reward, term, trunc, info


def _uniform_policy(obs, starts, state):
    return np.zeros((len(obs), 4)), np.zeros(len(obs)), state


@pytest.fixture(scope="module")
def random_play():
    """Breakout with uniform random actions, 3 envs x 4 rollouts of 100 steps: several games
    over and many lives lost, on the real env."""
    config = A2CConfig(num_envs=3, n_steps=100, gamma=0.9)
    envs = make_envs(config)
    log = _StepLog(envs)
    collector = RolloutCollector(config, log, [(3, 8)], env_seed=5, action_seed=1)
    rollouts = [collector.collect(_uniform_policy) for _ in range(4)]
    envs.close()
    return config, log, collector, rollouts


def test_rollout_flags_and_returns_follow_the_env(random_play):
    """A plain loop over the env's own outputs: the row after a game over is an autoreset row
    (invalid, its reward 0); a new episode starts after a lost life and after an autoreset
    row; returns are clipped rewards discounted to the end of each life, bootstrapped with 0
    (the values) past a rollout."""
    config, log, collector, rollouts = random_play
    rewards = np.array([s[0] for s in log.steps])
    term = np.array([s[1] for s in log.steps]) | np.array([s[2] for s in log.steps])
    lives = np.array([s[3] for s in log.steps])
    steps, envs = rewards.shape
    want_valid, want_starts = np.ones((steps, envs), bool), np.zeros((steps, envs), bool)
    want_starts[0] = True
    ends_life = np.zeros((steps, envs), bool)
    for n in range(envs):
        previous_lives = log.first_lives[n]
        for t in range(steps):
            if t > 0 and term[t - 1, n]:
                want_valid[t, n] = False
                assert rewards[t, n] == 0 and not term[t, n]
                if t + 1 < steps:
                    want_starts[t + 1, n] = True
            elif lives[t, n] < previous_lives or term[t, n]:
                ends_life[t, n] = True
                if t + 1 < steps and not term[t, n]:
                    want_starts[t + 1, n] = True
            previous_lives = lives[t, n]
    assert term.sum() >= 3 and ends_life.sum() >= 15, "the fixture should see games end"
    np.testing.assert_array_equal(np.concatenate([r.valid for r in rollouts]), want_valid)
    np.testing.assert_array_equal(np.concatenate([r.starts for r in rollouts]), want_starts)
    want_returns = np.zeros((steps, envs))
    clipped = np.sign(rewards)
    for t0 in range(0, steps, config.n_steps):
        for n in range(envs):
            running = 0.0
            for t in reversed(range(t0, t0 + config.n_steps)):
                running = clipped[t, n] + (0.0 if ends_life[t, n] else config.gamma * running)
                want_returns[t, n] = running
    got = np.concatenate([r.returns for r in rollouts])
    np.testing.assert_allclose(got[want_valid], want_returns[want_valid], atol=1e-12)


def test_full_game_returns_are_raw_scores(random_play):
    _, log, collector, _ = random_play
    rewards = np.array([s[0] for s in log.steps])
    done = np.array([s[1] for s in log.steps]) | np.array([s[2] for s in log.steps])
    want = []
    for n in range(rewards.shape[1]):
        ends = np.flatnonzero(done[:, n])
        starts = np.concatenate([[0], ends + 1])
        want += [(end, rewards[start : end + 1, n].sum()) for start, end in zip(starts, ends)]
    got = sorted((g["frames"], g["return"]) for g in collector.games.games)
    assert len(got) == len(want) >= 3
    assert sorted(r for _, r in got) == sorted(r for _, r in want)
    assert [g["episode"] for g in collector.games.games] == list(range(1, len(want) + 1))


def _rollout(cell, seed=0):
    """A real rollout of 3 envs x 6 steps, with an episode start and an autoreset row placed
    inside it so that the masks matter."""
    config = A2CConfig(cell=cell, num_envs=3, n_steps=6)
    spec = make_agent_spec(cell, 4)
    params = spec.init_params(seed)
    agent = make_agent("torch", spec, params, config)
    envs = make_envs(config)
    collector = RolloutCollector(config, envs, state_shapes(spec, 3), env_seed=seed,
                                 action_seed=seed)  # fmt: skip
    collector.collect(agent.act)
    rollout = collector.collect(agent.act)
    envs.close()
    rng = np.random.default_rng(seed)
    rollout.starts[2, 1] = True
    rollout.valid[3, 0] = False
    rollout.advantages = rng.normal(size=rollout.advantages.shape)
    rollout.returns = rng.normal(size=rollout.returns.shape)
    rollout.initial_state = tuple(rng.normal(size=s.shape).astype(np.float32)
                                  for s in rollout.initial_state)  # fmt: skip
    return config, spec, params, rollout


@pytest.mark.parametrize("cell", CELLS)
def test_torch_and_tf_give_the_same_loss_and_gradients(cell):
    """Same canonical weights and rollout (float32): loss parts within 1e-4 relative,
    gradients as `cells.numerics.model_gradient_errors` measures them within 1e-4."""
    config, spec, params, rollout = _rollout(cell)
    stats_t, grads_t = make_agent("torch", spec, params, config).loss_and_grads(rollout)
    stats_k, grads_k = make_agent("tf", spec, params, config).loss_and_grads(rollout)
    for key, want in stats_k.items():
        assert abs(stats_t[key] - want) <= 1e-4 * max(abs(want), 1e-3), (key, stats_t, stats_k)
    assert set(grads_k) == set(spec.param_shapes())
    errors = model_gradient_errors(grads_t, grads_k)
    assert max(errors.values()) <= 1e-4, errors


def _unroll(model, backend, obs, starts, state):
    """model.unroll on numpy inputs -> numpy (logits (T, N, A), values (T, N))."""
    if backend == "torch":
        with torch.no_grad():
            logits, values, _ = model.unroll(torch.as_tensor(obs), torch.as_tensor(starts),
                                             tuple(map(torch.as_tensor, state)))  # fmt: skip
    else:
        logits, values, _ = model.unroll(obs, starts, state)
    return np.asarray(logits), np.asarray(values)


@pytest.mark.parametrize("backend", ["torch", "tf"])
def test_the_state_is_zeroed_where_an_episode_starts(backend):
    """Rows from a start on equal a fresh unroll from a zero state; other envs are untouched."""
    config, spec, params, rollout = _rollout("lstm")
    model = make_agent(backend, spec, params, config).model
    obs, state = rollout.obs, rollout.initial_state
    no_starts = np.zeros(rollout.starts.shape, bool)
    marked = no_starts.copy()
    marked[2, 1] = True
    plain, _ = _unroll(model, backend, obs, no_starts, state)
    logits, values = _unroll(model, backend, obs, marked, state)
    zero = tuple(np.zeros_like(part) for part in state)
    fresh_logits, fresh_values = _unroll(model, backend, obs[2:], no_starts[2:], zero)
    np.testing.assert_allclose(logits[2:, 1], fresh_logits[:, 1], atol=1e-5)
    np.testing.assert_allclose(values[2:, 1], fresh_values[:, 1], atol=1e-5)
    np.testing.assert_array_equal(logits[:, [0, 2]], plain[:, [0, 2]])
    np.testing.assert_array_equal(logits[:2], plain[:2])
    assert not np.allclose(logits[2:, 1], plain[2:, 1], atol=1e-5)


def test_torch_and_tf_take_the_same_rmsprop_steps():
    """Three updates from the same weights and rollout leave the same weights: torch runs
    `RMSpropTF`, Keras its own RMSprop. (Adam is not compared element-wise: its first steps are
    about lr * sign(g), so float32 noise in near-zero gradients flips whole steps.)"""
    _, spec, params, rollout = _rollout("gru")
    config = A2CConfig(cell="gru", num_envs=3, n_steps=6, optimizer="rmsprop", lr=1e-3)
    agents = [make_agent(backend, spec, params, config) for backend in ("torch", "tf")]
    for agent in agents:
        for _ in range(3):
            agent.update(rollout, config.lr)
    moved, after_k = agents[0].export_params(), agents[1].export_params()
    for key in params:
        scale = np.max(np.abs(after_k[key] - params[key])) + 1e-12
        assert np.max(np.abs(moved[key] - after_k[key])) <= 1e-3 * scale + 1e-6, key
    assert any(not np.allclose(after_k[k], params[k]) for k in params)


@pytest.mark.parametrize("backend", ["torch", "tf"])
@pytest.mark.parametrize("optimizer", ["rmsprop", "adam"])
def test_the_dense_layer_steps_at_its_own_lr(optimizer, backend):
    """From the same weights and rollout, the first step with dense_lr_scale 0.1 moves the
    dense layer by 0.1 x the step with one lr (each optimizer's first step is proportional to
    its lr) and every other parameter by the same amount."""
    _, spec, params, rollout = _rollout("gru")
    moved = {}
    for scale in (1.0, 0.1):
        config = A2CConfig(cell="gru", num_envs=3, n_steps=6, optimizer=optimizer,
                           dense_lr_scale=scale)  # fmt: skip
        agent = make_agent(backend, spec, params, config)
        agent.update(rollout, config.lr)
        after = agent.export_params()
        moved[scale] = {key: after[key] - params[key] for key in params}
    for key in params:
        expected = moved[1.0][key] * (0.1 if key in DENSE_LR_PARAMS else 1.0)
        # atol: float32 weights round steps far below their largest one
        atol = 1e-3 * np.abs(moved[1.0][key]).max()
        np.testing.assert_allclose(moved[0.1][key], expected, rtol=1e-3, atol=atol, err_msg=key)
    assert np.abs(moved[1.0]["dense_kernel"]).max() > 1e-5


@pytest.mark.parametrize("backend", ["torch", "tf"])
@pytest.mark.parametrize("cell", CELLS)
def test_smoke_run_of_every_cell_and_backend(cell, backend, tmp_path):
    config = profile_config("smoke", cell=cell)
    summary = train_a2c(config, backend, tmp_path, progress_bar=False)
    assert summary["frames"] == config.frames and summary["updates"] == config.updates
    rows = (tmp_path / "metrics.csv").read_text().splitlines()
    assert rows[0].split(",") == ["update", "frames", "episodes", "seconds", "frames_per_second",
                                  "mean_return_100", "policy_loss", "value_loss", "entropy",
                                  "grad_norm", "dead_features"]  # fmt: skip
    assert len(rows) == 1 + config.frames // config.log_every
    assert all(0.0 <= float(row.split(",")[-1]) < 1.0 for row in rows[1:])
    assert (tmp_path / "episodes.csv").exists() and (tmp_path / checkpoint.NAME).exists()
    written = json.loads((tmp_path / "summary.json").read_text())
    assert written["settings"]["episodic_life"] and written["config"]["cell"] == cell
    params, _, meta = checkpoint.load(tmp_path / checkpoint.NAME)
    assert meta["progress"]["frames"] == config.frames
    start = make_agent_spec(cell, 4).init_params(config.seed)
    assert any(not np.allclose(params[k], start[k]) for k in start), "weights never moved"


def test_the_first_rollout_is_the_same_in_torch_and_tf():
    """Same weights, env seed and action seed: the same values and the same actions (drawn in
    numpy); the policy head is scaled up so the logits are far from uniform."""
    config = A2CConfig(cell="cfc", num_envs=2, n_steps=8)
    spec = make_agent_spec("cfc", 4)
    params = spec.init_params(1)
    params["head_kernel"] = params["head_kernel"] * 300
    rollouts = []
    for backend in ("torch", "tf"):
        envs = make_envs(config)
        collector = RolloutCollector(config, envs, state_shapes(spec, 2), 3, 4)
        rollouts.append(collector.collect(make_agent(backend, spec, params, config).act))
        envs.close()
    torch_rollout, tf_rollout = rollouts
    np.testing.assert_array_equal(torch_rollout.actions, tf_rollout.actions)
    np.testing.assert_array_equal(torch_rollout.obs, tf_rollout.obs)
    np.testing.assert_allclose(torch_rollout.values, tf_rollout.values, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(torch_rollout.returns, tf_rollout.returns, rtol=1e-4, atol=1e-5)
    assert len(np.unique(torch_rollout.actions)) > 1


def test_resume_continues_to_the_new_budget(tmp_path):
    from bench.results import FolderBusyError, sole_writer

    config = profile_config("smoke", cell="gru", frames=640)
    train_a2c(config, "torch", tmp_path, progress_bar=False)
    with pytest.raises(ValueError, match="--resume"):
        train_a2c(config, "torch", tmp_path, progress_bar=False)
    with sole_writer(tmp_path, "out"), pytest.raises(FolderBusyError, match="being written"):
        train_a2c(config, "torch", tmp_path, resume=True, progress_bar=False)  # a second job
    from bench.a2c.train import _start

    spec = make_agent_spec("gru", 4)
    identity = {"policy": spec.to_config(), "backend": "torch", "game": "breakout"}
    halfway, _, _ = checkpoint.load(tmp_path / checkpoint.NAME)
    params, optimizer_state, progress = _start(spec, dataclasses.replace(config, frames=1280),
                                               identity, tmp_path, resume=True)  # fmt: skip
    assert progress["updates"] == 2 and optimizer_state.size > 0
    for key, value in halfway.items():  # the resumed run starts from the halfway weights
        np.testing.assert_array_equal(params[key], value)
    with pytest.raises(ValueError, match="n_steps=10 \\(now 5\\)"):
        train_a2c(dataclasses.replace(config, n_steps=5, frames=1280), "torch", tmp_path,
                  resume=True, progress_bar=False)  # fmt: skip
    longer = dataclasses.replace(config, frames=1280)
    summary = train_a2c(longer, "torch", tmp_path, resume=True, progress_bar=False)
    assert summary["updates"] == longer.updates and summary["frames"] == 1280
    frames = [int(row.split(",")[1]) for row in
              (tmp_path / "metrics.csv").read_text().splitlines()[1:]]  # fmt: skip
    assert frames == [320, 640, 960, 1280]


def test_a_run_from_before_dense_lr_scale_resumes_with_its_old_meaning(tmp_path):
    """A checkpoint whose config lacks `dense_lr_scale` was trained with one lr: it resumes at
    scale 1, with its single-group torch optimizer state, and is refused at today's default."""
    config = profile_config("smoke", cell="gru", frames=320, dense_lr_scale=1.0)
    train_a2c(config, "torch", tmp_path, progress_bar=False)
    params, optimizer_state, meta = checkpoint.load(tmp_path / checkpoint.NAME)
    del meta["config"]["dense_lr_scale"]
    checkpoint.save(tmp_path, params, optimizer_state, meta)
    assert A2CConfig.from_dict(meta["config"]).dense_lr_scale == 1.0
    with pytest.raises(ValueError, match="dense_lr_scale=1.0 \\(now 0.03\\)"):
        train_a2c(profile_config("smoke", cell="gru", frames=640), "torch", tmp_path,
                  resume=True, progress_bar=False)  # fmt: skip
    summary = train_a2c(dataclasses.replace(config, frames=640), "torch", tmp_path, resume=True,
                        progress_bar=False)  # fmt: skip
    assert summary["frames"] == 640


def test_a_checkpoint_of_another_cell_is_refused(tmp_path):
    train_a2c(profile_config("smoke", cell="gru", frames=320), "torch", tmp_path,
              progress_bar=False)  # fmt: skip
    with pytest.raises(ValueError, match="policy"):
        train_a2c(profile_config("smoke", cell="lstm", frames=640), "torch", tmp_path,
                  resume=True, progress_bar=False)  # fmt: skip


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"n_steps": 0}, "n_steps"),
        ({"entropy_coef": -0.01}, "entropy_coef"),
        ({"value_coef": float("nan")}, "value_coef"),
        ({"gamma": 1.5}, "gamma"),
        ({"lr": 0.0}, "lr"),
        ({"dense_lr_scale": 0.0}, "dense_lr_scale"),
        ({"dense_lr_scale": float("inf")}, "dense_lr_scale"),
        ({"num_envs": 2.5}, "num_envs"),
        ({"cell": "rnn"}, "cell"),
        ({"optimizer": "sgd"}, "optimizer"),
    ],
)
def test_invalid_hyper_parameters_are_named(changes, named):
    with pytest.raises(ValueError, match=named):
        A2CConfig(**changes)


def test_an_unknown_game_is_named():
    with pytest.raises(ValueError, match="not an ALE game"):
        training_settings("breakin")


def test_the_cli_trains_and_reports_bad_input(tmp_path, capsys):
    from bench.cli import main

    out = tmp_path / "run"
    assert main(["train", "a2c", "--cell", "gru", "--backend", "torch", "--profile", "smoke",
                 "--frames", "320", "--eps", "1e-3", "--dense-lr-scale", "0.5", "--units", "24",
                 "--out", str(out), "--no-progress"]) == 0  # fmt: skip
    summary = json.loads((out / "summary.json").read_text())
    written = summary["config"]
    assert written["eps"] == 1e-3 and written["dense_lr_scale"] == 0.5 and written["units"] == 24
    assert summary["policy"]["cell"]["units"] == 24
    assert "breakout-gru-torch-smoke-seed0-u24: 320 frames" in capsys.readouterr().out
    assert main(["train", "a2c", "--cell", "gru", "--backend", "tf", "--units", "0",
                 "--out", str(tmp_path / "other")]) == 2  # fmt: skip
    assert "units" in capsys.readouterr().err
    assert main(["train", "a2c", "--cell", "gru", "--backend", "torch", "--game", "breakin",
                 "--out", str(tmp_path / "other")]) == 2  # fmt: skip
    assert "breakin" in capsys.readouterr().err
    assert main(["train", "a2c", "--cell", "gru", "--backend", "tf", "--n-steps", "0",
                 "--out", str(tmp_path / "other")]) == 2  # fmt: skip
    assert "n_steps" in capsys.readouterr().err
    assert main(["train", "a2c", "--cell", "gru", "--backend", "tf", "--eps", "0",
                 "--out", str(tmp_path / "other")]) == 2  # fmt: skip
    assert "eps" in capsys.readouterr().err


def test_a2c_suite_smoke_run_records_throughput_and_returns(tmp_path, run_smoke_suite):
    result = run_smoke_suite("a2c", "gru-torch or raw")
    assert "A2C throughput and returns" in result.stdout
    latest = json.loads((tmp_path / "results" / "a2c" / "latest.json").read_text())
    raw, run = sorted(latest["benchmarks"], key=lambda b: "cell" in b["extra_info"])
    assert raw["extra_info"]["frames_per_second"] > 0 and raw["extra_info"]["random_games"] >= 0
    info = run["extra_info"]
    assert info["cell"] == "gru" and info["backend"] == "torch"
    assert info["frames"] == profile_config("smoke").frames
    assert (
        0
        < info["share_of_raw_rate"]
        == pytest.approx(info["frames_per_second"] / info["raw_frames_per_second"])
    )
    raw_rate, model_rate = info["raw_frames_per_second"], info["model_frames_per_second"]
    assert model_rate > 0
    assert info["serial_ceiling"] == pytest.approx(model_rate / (raw_rate + model_rate))
    assert f"raw env: {raw_rate:,.0f} frames/s over random play" in result.stdout  # the shares'
    assert info["config"]["settings"]["sticky"] == 0.25
    run_dir = tmp_path / "results" / "a2c" / "train" / "breakout-gru-torch-smoke-seed0"
    assert (run_dir / "metrics.csv").exists()


def test_initial_weights_are_orthogonal_with_a2c_gains():
    from bench.a2c.spec import GAINS

    spec = make_agent_spec("gru", 4)
    params = spec.init_params(0)
    conv = params["conv0_kernel"].reshape(-1, 32)
    np.testing.assert_allclose(conv.T @ conv, GAINS["relu"] ** 2 * np.eye(32), atol=1e-10)
    head = params["head_kernel"]
    np.testing.assert_allclose(head.T @ head, GAINS["head"] ** 2 * np.eye(4), atol=1e-12)
    assert not params["dense_bias"].any() and not params["head_bias"].any()
    cell = spec.cell.init_params(0)
    for key, value in cell.items():  # the cell keeps its own init
        np.testing.assert_array_equal(params["cell/" + key], value)


@pytest.mark.parametrize("backend", ["torch", "tf"])
def test_the_policy_gradient_follows_the_sign_of_the_advantage(backend):
    """No value or entropy terms: three updates with advantage +1 on every row make the taken
    actions more likely on average (rows with near-identical frames took different actions,
    so not every row can gain); with -1, less likely."""
    config, spec, params, rollout = _rollout("gru")
    # RMSprop's first steps are large (its mean square starts at 0), which gives the margins
    # below; Adam's steps are bounded by lr and move the same rows by +0.036 / -0.049.
    config = dataclasses.replace(
        config, value_coef=0.0, entropy_coef=0.0, lr=1e-3, optimizer="rmsprop"
    )

    def mean_gain(sign):
        agent = make_agent(backend, spec, params, config)
        rollout.advantages = np.full(rollout.advantages.shape, float(sign))
        before = _taken_log_probs(agent.model, backend, rollout)
        for _ in range(3):
            agent.update(rollout, config.lr)
        return (_taken_log_probs(agent.model, backend, rollout) - before)[rollout.valid].mean()

    assert mean_gain(+1) > 0.05
    assert mean_gain(-1) < -0.05


def _taken_log_probs(model, backend, rollout):
    logits, _ = _unroll(model, backend, rollout.obs, rollout.starts, rollout.initial_state)
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    return np.take_along_axis(log_probs, rollout.actions[..., None], -1)[..., 0]


def test_dead_share_counts_features_off_on_every_frame():
    from bench.a2c.features import dead_share

    features = np.zeros((2, 3, 4))  # (T, N, F)
    features[1, 2, 1] = 0.5  # alive on one frame only
    features[:, :, 3] = 1.0  # alive everywhere
    features[0, 0, 2] = -1.0  # never positive
    assert dead_share(features) == 0.5


def test_torch_and_tf_agents_give_the_same_features():
    config = A2CConfig(cell="gru", num_envs=2, n_steps=3)
    spec = make_agent_spec("gru", 4)
    params = spec.init_params(2)
    obs = np.random.default_rng(0).integers(0, 256, (3, 2, 84, 84, 4), dtype=np.uint8)
    torch_features, tf_features = (make_agent(backend, spec, params, config).features(obs)
                                   for backend in ("torch", "tf"))  # fmt: skip
    assert torch_features.shape == (3, 2, 512)
    np.testing.assert_allclose(torch_features, tf_features, rtol=1e-4, atol=1e-5)


def test_metrics_rows_written_before_a_column_existed_leave_it_empty():
    """A run resumed from an older version's checkpoint has history rows without the newer
    columns (dead_features): the CSV keeps every column."""
    from bench.results import csv_text

    assert csv_text([{"a": 1}, {"a": 2, "b": 3}]).splitlines() == ["a,b", "1,", "2,3"]
