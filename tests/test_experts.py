"""Scripted RAM experts (bench/atari/experts.py): beats random play, input checks, determinism,
and `evaluate`'s bookkeeping under gymnasium's NEXT_STEP autoreset (with a fake vector env)."""

import numpy as np
import pytest

pytest.importorskip("ale_py")

from bench.atari import envs as atari_envs  # noqa: E402
from bench.atari import experts  # noqa: E402
from bench.atari.experts import (  # noqa: E402
    FIRE,
    LEFT,
    NOOP,
    RIGHT,
    BreakoutExpert,
    evaluate,
    fold,
    make_expert,
)
from bench.atari.settings import AtariSettings  # noqa: E402

SETTINGS = AtariSettings("breakout", sticky=0.25)


def _ram(num_envs=1, ball=(0, 0), paddle=146):
    """(num_envs, 128) uint8 RAM with the ball at (x, y) and the paddle settled at `paddle`."""
    ram = np.zeros((num_envs, 128), np.uint8)
    ram[:, experts.RAM_BALL_X], ram[:, experts.RAM_BALL_Y] = ball
    ram[:, experts.RAM_PADDLE_X] = paddle
    ram[:, experts.RAM_PADDLE_POT] = int(experts.POT_ZERO) - paddle
    ram[:, experts.RAM_PADDLE_SIZE] = 8
    return ram


def _play(env, seed, steps, policy):
    """Sum of rewards over `steps` steps from reset(seed), restarting finished games.

    policy(info, new_game) -> action; new_game is True on each game's first step."""
    _, info = env.reset(seed=seed)
    total, new_game = 0.0, True
    for _ in range(steps):
        _, reward, terminated, truncated, info = env.step(policy(info, new_game))
        total += reward
        new_game = terminated or truncated
        if new_game:
            _, info = env.reset()
    return total


# ----------------------------------------------------------------------------- playing


def _expert_policy(seed):
    expert = BreakoutExpert(1, seed)

    def policy(info, new_game):
        if new_game:
            expert.reset(0)
        return int(expert.act(info["ram"][None])[0])

    return policy


def _random_policy(seed):
    rng = np.random.default_rng(seed)
    return lambda info, new_game: int(rng.integers(4))


def test_expert_beats_random_play_by_a_wide_margin():
    # 1500 steps (~1.3 s of env time each) from two seeds, sticky actions 0.25. Measured: the
    # expert scores 160..345 by step 1500 from seeds 0..3, random play 12..17 in 2000 steps.
    env = atari_envs.make_env(SETTINGS, with_ram=True)
    expert_scores = [_play(env, seed, 1500, _expert_policy(seed)) for seed in (0, 1)]
    random_scores = [_play(env, seed, 1500, _random_policy(seed)) for seed in (0, 1)]
    env.close()
    assert np.mean(random_scores) < 30, random_scores
    assert min(expert_scores) >= 80, expert_scores
    assert np.mean(expert_scores) >= 5 * max(np.mean(random_scores), 1.0), (
        expert_scores,
        random_scores,
    )


def test_fire_without_a_ball_in_play():
    expert = BreakoutExpert(3)
    assert expert.act(_ram(3)).tolist() == [FIRE] * 3


def test_sent_actions_need_one_per_env():
    with pytest.raises(ValueError, match=r"actions: expected shape \(3,\), got \(2,\)"):
        BreakoutExpert(3).sent(np.array([RIGHT, LEFT]))


@pytest.mark.parametrize(
    "ball_x, paddle, expected",
    [(150, 60, RIGHT), (70, 180, LEFT)],
)
def test_paddle_heads_for_the_falling_ball(ball_x, paddle, expected):
    expert = BreakoutExpert(1)
    step = 4 if expected == RIGHT else -4
    assert expert.act(_ram(ball=(ball_x, 110), paddle=paddle))[0] == NOOP  # no velocity yet
    assert expert.act(_ram(ball=(ball_x + step, 124), paddle=paddle))[0] == expected


def test_paddle_waits_under_the_landing_point():
    # Ball falls straight down at x 150: the paddle already there (x 141, centre 9) stays.
    expert = BreakoutExpert(1)
    expert.act(_ram(ball=(150, 110), paddle=141))
    assert expert.act(_ram(ball=(150, 124), paddle=141))[0] == NOOP


def test_wall_bounce_keeps_the_ball_speed():
    # 190 -> 198 -> (206 reflected at 201) 196: the ball moves left at 8 per step, not -2.
    expert = BreakoutExpert(1)
    for x, y in ((190, 100), (198, 110), (196, 120)):
        expert.act(_ram(ball=(x, y)))
    np.testing.assert_allclose(expert.velocity[0], [-8.0, 10.0])


def test_margin_is_what_the_next_best_first_action_costs_more(monkeypatch):
    # env 0: the paddle far left of a ball falling at x ~150 (RIGHT, by far); env 1: the paddle
    # under it (NOOP). Without a velocity no plan runs and the margin is inf.
    expert = BreakoutExpert(2)
    costs, plan_costs = [], expert._plan_costs

    def recorded(*state, **named):
        costs.append(plan_costs(*state, **named))
        return costs[-1]

    monkeypatch.setattr(expert, "_plan_costs", recorded)
    expert.act(
        np.concatenate([_ram(ball=(150, 110), paddle=60), _ram(ball=(150, 110), paddle=141)])
    )
    assert np.isinf(expert.margin).all() and not costs
    actions = expert.act(
        np.concatenate([_ram(ball=(154, 124), paddle=60), _ram(ball=(150, 124), paddle=141)])
    )
    assert actions.tolist() == [RIGHT, NOOP]
    first = experts.paddle_plans(expert.horizon)[:, 0]
    for env, cost in enumerate(costs[0]):
        chosen = first[np.argmin(cost)]
        other = min(c for c, f in zip(cost, first) if f != chosen)
        assert expert.margin[env] == pytest.approx(other - cost.min())
    assert expert.margin[0] > 1.0 and expert.margin[0] > 10 * expert.margin[1] >= 0


def test_fold_reflects_at_both_walls():
    np.testing.assert_allclose(fold(np.array([50.0, 100.0, 205.0]), 55.0, 201.0), [60, 100, 197])


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "ram",
    [
        np.zeros((1, 128), np.int64),
        np.zeros((128,), np.uint8),
        np.zeros((2, 128), np.uint8),
        np.zeros((1, 64), np.uint8),
        [[0] * 128],
    ],
)
def test_bad_ram_raises(ram):
    with pytest.raises(ValueError, match=r"ram: expected a uint8 array of shape \(1, 128\)"):
        BreakoutExpert(1).act(ram)


def test_unknown_game_raises_naming_it():
    with pytest.raises(ValueError, match=r"'pong'.*\['breakout'\]"):
        make_expert("pong", 1)


def test_make_expert_accepts_any_spelling():
    assert isinstance(make_expert("Breakout", 2, seed=3), BreakoutExpert)


@pytest.mark.parametrize("num_envs", [0, -1, 1.5, True])
def test_bad_num_envs_raises(num_envs):
    with pytest.raises(ValueError, match="num_envs"):
        BreakoutExpert(num_envs)


@pytest.mark.parametrize("index", [2, -1, 0.5, True])
def test_bad_reset_index_raises(index):
    with pytest.raises(ValueError, match="index"):
        BreakoutExpert(2).reset(index)


def test_evaluate_rejects_bad_episodes():
    with pytest.raises(ValueError, match="episodes"):
        evaluate(SETTINGS, 0)


# ----------------------------------------------------------------------------- determinism


def test_same_seed_same_actions():
    env = atari_envs.make_env(SETTINGS, with_ram=True)
    first = BreakoutExpert(1, seed=7)
    _, info = env.reset(seed=0)
    rams, actions = [], []
    for _ in range(400):
        rams.append(info["ram"][None].copy())
        actions.append(first.act(rams[-1]))
        *_, info = env.step(int(actions[-1][0]))
    env.close()
    assert {int(a[0]) for a in actions} >= {FIRE, RIGHT, LEFT}
    second = BreakoutExpert(1, seed=7)
    replay = [second.act(ram) for ram in rams]
    assert all(a.dtype == np.int64 and a.shape == (1,) for a in replay)
    np.testing.assert_array_equal(np.concatenate(replay), np.concatenate(actions))


# ----------------------------------------------------------------------------- evaluate


class _FakeVectorEnv:
    """NEXT_STEP autoreset like gymnasium 1.x: the step after an episode ends ignores the action,
    returns the next episode's first info (ram[:, 0] = episode number) and here a reward of 100
    that must not count. Every other step rewards 1."""

    def __init__(self, lengths):
        self.lengths = lengths  # per env, the episode lengths in turn
        self.num_envs = len(lengths)
        self.episode = np.zeros(self.num_envs, int)
        self.t = np.zeros(self.num_envs, int)
        self.restarting = np.zeros(self.num_envs, bool)

    def _info(self):
        ram = _ram(self.num_envs)
        ram[:, 0] = self.episode
        return {"ram": ram}

    def reset(self, seed=None):
        return np.zeros(self.num_envs), self._info()

    def step(self, actions):
        assert actions.shape == (self.num_envs,)
        reward = np.ones(self.num_envs)
        terminated = np.zeros(self.num_envs, bool)
        for i in range(self.num_envs):
            if self.restarting[i]:
                self.episode[i] += 1
                self.t[i], reward[i], self.restarting[i] = 0, 100.0, False
            else:
                self.t[i] += 1
                length = self.lengths[i][self.episode[i] % len(self.lengths[i])]
                terminated[i] = self.restarting[i] = self.t[i] == length
        truncated = np.zeros(self.num_envs, bool)
        return np.zeros(self.num_envs), reward, terminated, truncated, self._info()

    def close(self):
        pass


class _SpyExpert(BreakoutExpert):
    """Checks that reset(i) comes between the last act on one episode and the first on the next."""

    def __init__(self, num_envs, seed=0):
        super().__init__(num_envs, seed)
        self.seen = np.full(num_envs, -1)  # episode number of env i at the last act
        self.fresh = np.ones(num_envs, bool)  # reset since the last act

    def reset(self, index):
        super().reset(index)
        self.fresh[index] = True

    def act(self, ram):
        episode = ram[:, 0].astype(int)
        for i in np.nonzero(episode != self.seen)[0]:
            assert self.fresh[i], f"env {i}: episode {episode[i]} acted on without reset"
        self.seen, self.fresh[:] = episode, False
        return super().act(ram)


def test_evaluate_handles_next_step_autoreset(monkeypatch):
    lengths = [[3, 2, 5], [4]]
    monkeypatch.setattr(
        atari_envs,
        "make_expert_vector_env",
        lambda settings, n, asynchronous: _FakeVectorEnv(lengths),
    )
    monkeypatch.setitem(experts.EXPERTS, "breakout", _SpyExpert)
    stats = {}
    # 3 episodes over 2 envs: env 0 plays 2 (lengths 3, 2), env 1 plays 1 (length 4).
    assert evaluate(SETTINGS, 3, num_envs=2, stats=stats) == [3.0, 2.0, 4.0]
    assert stats["lengths"] == [3, 2, 4]
