"""Scripted experts that play Atari games from the emulator RAM, batched over envs.

    expert = make_expert("breakout", num_envs=4, seed=0)
    actions = expert.act(info["ram"])     # (4, 128) uint8 -> (4,) int64, minimal action set
    expert.reset(i)                       # env i started a new episode

An expert keeps per-env memory (the previous RAM reading, the previous action), so it needs
`reset(i)` whenever env i starts a new episode; `evaluate` shows the bookkeeping with gymnasium's
NEXT_STEP autoreset. Reproduce the reported Breakout score with

    python -m bench.atari.experts --episodes 20 --sticky 0.25
"""

from __future__ import annotations

import argparse
import functools
import itertools
import time
from collections.abc import Sequence

import numpy as np

from .settings import AtariSettings, rom_id

# Breakout's minimal action set.
NOOP, FIRE, RIGHT, LEFT = 0, 1, 2, 3

# RAM indices. Ball and paddle positions from AtariARI (Anand et al., 2019, "Unsupervised State
# Representation Learning in Atari", atariari/benchmark/ram_annotations.py: breakout ball_x=99,
# ball_y=101, player_x=72); the others found by printing the RAM while playing (see the docstring).
RAM_BALL_X = 99
RAM_BALL_Y = 101  # 0 while no ball is in play (game start, after a lost life): FIRE launches one
RAM_PADDLE_X = 72
RAM_PADDLE_POT = 70  # paddle controller reading; the paddle settles at POT_ZERO - ram[70]
RAM_PADDLE_SIZE = 108  # 8: full-width paddle, 6: shrunk (after the ball reached the top wall)
SMALL_PADDLE = 6

# Geometry, in RAM units, measured.
WALL_LEFT, WALL_RIGHT = 55.0, 201.0  # the ball's x reflects at these
PADDLE_MIN, PADDLE_MAX = 55.0, 191.0  # range of ram[72]
POT_ZERO = 234.0  # ram[72] settles at clip(234 - ram[70], 55, 191)
POT_MIN, POT_MAX = 50.0, 234.0  # 234 - ram[70] for ram[70] in [0, 184]
POT_SPEED = 5.67  # change of 234 - ram[70] per frame while RIGHT/LEFT is held
PADDLE_Y = 178.0  # ball y where the paddle returns it (bounces seen at 177..183)
# ball_x - paddle_x at that height for which the paddle always returned the ball: [1, 17] for
# the full paddle, [1, 13] for the shrunk one. Aim at the centre, tolerate `half` either side.
CENTRE, HALF = 9.0, 5.0
CENTRE_SMALL, HALF_SMALL = 7.0, 3.0


@functools.lru_cache(maxsize=8)
def paddle_plans(horizon: int) -> np.ndarray:
    """(3**horizon, horizon) directions, +1 RIGHT, 0 NOOP, -1 LEFT; NOOP-first plans come first,
    so ties favour waiting."""
    plans = np.array(list(itertools.product((0, 1, -1), repeat=horizon)), float)
    plans.flags.writeable = False
    return plans


def fold(x: np.ndarray, low: float, high: float) -> np.ndarray:
    """Position after mirror reflections at `low` and `high` of a point that moved to x."""
    span = high - low
    y = np.mod(x - low, 2 * span)
    return low + np.where(y > span, 2 * span - y, y)


class BreakoutExpert:
    """Breakout from the RAM: predict where the ball meets the paddle, plan the paddle there.

    RAM (128 uint8 bytes, indices as in the module constants):

    - 99 ball x, 101 ball y, 72 paddle x: AtariARI's annotation (Anand et al., 2019), checked by
      playing: above the paddle the ball x stays in [55, 203] and reflects at 55 and ~201; its y
      grows downwards (21 at the top wall) and the paddle returns it at y 177..183; the paddle
      x spans [55, 191] and is the paddle's left edge (hits need ball_x - paddle_x in 1..17).
    - 101 == 0 means no ball in play (at game start and after each lost life, when `lives`
      drops): the expert presses FIRE. Measured: 101 is 0 before FIRE, 116 right after it, and
      back to 0 the step the life counter decrements.
    - 70: the paddle controller reading. Held RIGHT/LEFT moves 234 - ram[70] by ~5.67 per frame
      within [50, 234]; ram[72] follows it with a lag, halving the gap to
      clip(234 - ram[70], 55, 191) each frame (predicted to < 1 px over 12 frames). Past the
      walls the reading keeps moving while the paddle does not, which is why it is tracked.
    - 108: 8 with the full paddle, 6 after the ball reaches the top wall and the paddle shrinks
      (back to 8 on a new life). The paddle returned every ball with ball_x - paddle_x in
      [1, 17] at y 178, in [1, 13] when shrunk.

    Strategy, per env and agent step (4 frames, sticky actions):

    1. Ball velocity from the previous reading; a wall reflection inside the step is undone
       (same speed, mirrored) when it explains the new position, so the speed is not lost.
    2. Landing x: where the ball reaches the paddle's height, with wall reflections; while it
       rises, assume it turns back at y `turn_y` (the bricks are above).
    3. Model-predictive control: every sequence of RIGHT/NOOP/LEFT over `horizon` steps is
       simulated frame by frame (controller reading, paddle lag, sticky repeats sampled
       `samples` times: one fixed set of draws from `seed`, reused every step); when the ball
       meets the paddle within the horizon the cost is how far it lands outside the paddle's
       centre zone, otherwise how far the paddle ends from the landing x beyond what the
       remaining steps can cover. Small terms reward getting there early and moving less. The
       first action of the cheapest sequence is played: a paddle step (~22 px) is coarser than
       the paddle, so which frame the paddle moves in matters, and the plan picks it.

    Measured (`python -m bench.atari.experts`): full-game return 600 +- 176 over 20 episodes
    at sticky 0.25, seed 0 (random play ~1.5); min 398, max 856 (864 clears both walls).
    """

    game = "breakout"
    horizon = 4  # agent steps planned: 3**horizon sequences
    samples = 16  # sticky-action draws per sequence
    sticky = 0.25  # repeat-action probability the plan assumes
    turn_y = 90.0  # assumed y where a rising ball turns back down
    track_weight = 0.05  # per px of mean distance to the landing x over the plan
    move_weight = 0.01  # per RIGHT/LEFT step in the plan
    reflect_tolerance = 3.0  # px: a continued, reflected path explains the new ball x

    def __init__(self, num_envs: int, seed: int | Sequence[int] = 0):
        """`seed`: of the sticky-action draws, one for every env, or one per env (a sequence of
        `num_envs`), so that one batched expert can stand for experts of other draws."""
        if isinstance(num_envs, bool) or not isinstance(num_envs, int) or num_envs < 1:
            raise ValueError(f"num_envs: expected a positive integer, got {num_envs!r}")
        self.num_envs = num_envs
        # One fixed set of sticky-action draws, reused at every step: the plan (and so the
        # action) is then a function of the state, which a policy cloning the expert can learn,
        # rather than of fresh random draws. (num_envs, samples, frames) bool.
        self.repeats = self._draws(seed)
        self.prev_ball = np.zeros((num_envs, 2))  # (x, y) at the previous step
        self.has_prev = np.zeros(num_envs, bool)  # prev_ball is a ball in play of this episode
        self.velocity = np.zeros((num_envs, 2))  # estimated (vx, vy) per agent step
        self.has_velocity = np.zeros(num_envs, bool)
        self.prev_direction = np.zeros(num_envs)  # last paddle direction played (sticky model)
        # Per env, after `act`: how much cheaper the chosen first action's best plan was than
        # the best plan starting otherwise (inf where no plan ran). Near 0, the choice is a
        # near tie that small differences in the readings decide (`bench.bc.mistakes`).
        self.margin = np.full(num_envs, np.inf)

    def _draw_set(self, seed: int) -> np.ndarray:
        """(samples, frames) bool: the sticky repeats of one seed."""
        frames = 4 * self.horizon
        return np.random.default_rng(seed).random((self.samples, frames)) < self.sticky

    def _draws(self, seed) -> np.ndarray:
        if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
            draws = self._draw_set(seed)
            return np.broadcast_to(draws, (self.num_envs, *draws.shape))
        seeds = list(seed) if isinstance(seed, Sequence) else None
        if (
            seeds is None
            or len(seeds) != self.num_envs
            or not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) for s in seeds)
        ):
            raise ValueError(
                f"seed: expected an integer or {self.num_envs} integers (one per env), got {seed!r}"
            )
        return np.stack([self._draw_set(int(s)) for s in seeds])

    def reset(self, index: int) -> None:
        """Forget env `index`'s memory: call it when that env starts a new episode."""
        valid = isinstance(index, (int, np.integer)) and not isinstance(index, bool)
        if not valid or not 0 <= index < self.num_envs:
            raise ValueError(f"index: expected 0 <= index < {self.num_envs}, got {index!r}")
        self.has_prev[index] = False
        self.has_velocity[index] = False
        self.prev_direction[index] = 0.0

    def act(self, ram: np.ndarray) -> np.ndarray:
        """ram (num_envs, 128) uint8 -> actions (num_envs,) int64 in the minimal action set."""
        self._check_ram(ram)
        ram = ram.astype(np.float64)
        ball_x, ball_y = ram[:, RAM_BALL_X], ram[:, RAM_BALL_Y]
        in_play = ball_y > 0
        vx, vy = self._estimate_velocity(ball_x, ball_y)
        direction, margin = np.zeros(self.num_envs), np.full(self.num_envs, np.inf)
        moving = in_play & self.has_prev  # a velocity needs two readings
        if moving.any():
            small = ram[moving, RAM_PADDLE_SIZE] == SMALL_PADDLE
            direction[moving], margin[moving] = self._plan(
                self.repeats[moving],
                ball_x[moving],
                ball_y[moving],
                vx[moving],
                vy[moving],
                pot=POT_ZERO - ram[moving, RAM_PADDLE_POT],
                paddle=ram[moving, RAM_PADDLE_X],
                prev_direction=self.prev_direction[moving],
                centre=np.where(small, CENTRE_SMALL, CENTRE),
                half=np.where(small, HALF_SMALL, HALF),
            )
        actions = np.select([~in_play, direction > 0, direction < 0], [FIRE, RIGHT, LEFT], NOOP)
        self.velocity = np.stack([vx, vy], 1)
        self.has_velocity = moving
        self.prev_ball = np.stack([ball_x, ball_y], 1)
        self.has_prev = in_play
        self.prev_direction = direction
        self.margin = margin
        return actions.astype(np.int64)

    def sent(self, actions: np.ndarray) -> None:
        """Tell the expert what the envs received this step when it was not what `act` chose
        (a perturbed dataset, see `generate.Perturbations`): sticky actions repeat what the env
        received, so the plan's model of the next repeat must start from it."""
        actions = np.asarray(actions)
        if actions.shape != (self.num_envs,):
            raise ValueError(f"actions: expected shape ({self.num_envs},), got {actions.shape}")
        self.prev_direction = np.select([actions == RIGHT, actions == LEFT], [1.0, -1.0], 0.0)

    def _check_ram(self, ram) -> None:
        expected = (self.num_envs, 128)
        if not isinstance(ram, np.ndarray) or ram.dtype != np.uint8 or ram.shape != expected:
            got = (
                f"{ram.dtype} array of shape {ram.shape}"
                if isinstance(ram, np.ndarray)
                else type(ram).__name__
            )
            raise ValueError(f"ram: expected a uint8 array of shape {expected}, got {got}")

    def _estimate_velocity(self, ball_x, ball_y):
        """(N,) positions -> (N,) vx, vy per agent step; 0 without a previous reading."""
        prev_x, prev_y = self.prev_ball[:, 0], self.prev_ball[:, 1]
        raw_x, raw_y = ball_x - prev_x, ball_y - prev_y
        # A wall bounce inside the step makes raw_x short or even 0; if continuing the previous
        # velocity through the reflection explains the reading, keep the speed, mirrored.
        old_vx = self.velocity[:, 0]
        unfolded = prev_x + old_vx
        reflected = (unfolded > WALL_RIGHT) | (unfolded < WALL_LEFT)
        explained = np.abs(fold(unfolded, WALL_LEFT, WALL_RIGHT) - ball_x) <= self.reflect_tolerance
        keep = self.has_velocity & (old_vx != 0) & explained
        vx = np.where(keep, np.where(reflected, -old_vx, old_vx), raw_x)
        return np.where(self.has_prev, vx, 0.0), np.where(self.has_prev, raw_y, 0.0)

    def _landing_x(self, ball_x, ball_y, vx, vy):
        """(N,) -> (N,) x where the ball reaches PADDLE_Y (via y `turn_y` when it rises)."""
        falling_steps = (PADDLE_Y - ball_y) / np.maximum(vy, 1e-9)
        rising_steps = (ball_y - self.turn_y + PADDLE_Y - self.turn_y) / np.maximum(-vy, 1e-9)
        steps = np.select([vy > 0, vy < 0], [falling_steps, rising_steps], 0.0)
        return fold(ball_x + vx * steps, WALL_LEFT, WALL_RIGHT)

    def _simulate_paddle(self, repeats, plans, pot, paddle, prev_direction, hit_frame, target):
        """Roll every plan out frame by frame under sampled sticky repeats.

        repeats (N, M, frames): each env's M = `samples` sticky draws, the same for every plan
        and step; plans (S, horizon); pot, paddle, prev_direction, hit_frame, target: (N,) ->
        paddle x at frame `hit_frame`, controller reading at the end, and mean distance of the
        reading to `target` over the frames, each (N, S, M).
        """
        frames = 4 * self.horizon
        planned = np.repeat(plans, 4, axis=1)  # (S, frames)
        shape = (len(pot), len(plans), self.samples)
        pot = np.broadcast_to(pot[:, None, None], shape).copy()
        paddle = np.broadcast_to(paddle[:, None, None], shape).copy()
        played = np.broadcast_to(prev_direction[:, None, None], shape).copy()
        at_hit = paddle.copy()
        distance = np.zeros(shape)
        for f in range(frames):
            played = np.where(repeats[:, None, :, f], played, planned[None, :, f, None])
            # the paddle halves its gap to the reading of the frame before
            paddle += (np.clip(pot, PADDLE_MIN, PADDLE_MAX) - paddle) / 2
            pot = np.clip(pot + POT_SPEED * played, POT_MIN, POT_MAX)
            at_hit = np.where((hit_frame == f + 1)[:, None, None], paddle, at_hit)
            distance += np.abs(target[:, None, None] - np.clip(pot, PADDLE_MIN, PADDLE_MAX))
        return at_hit, pot, distance / frames

    def _plan(self, repeats, *state, **named):
        """(N, M, frames) draws and (N,) state (as `_plan_costs`) -> (N,) paddle direction (+1
        RIGHT, 0 NOOP, -1 LEFT) to play now, and (N,) its margin: the cost of the best plan
        that starts otherwise minus the best's."""
        cost = self._plan_costs(repeats, *state, **named)
        best = cost.argmin(1)
        first = paddle_plans(self.horizon)[:, 0]
        otherwise = np.where(first[None, :] == first[best][:, None], np.inf, cost).min(1)
        return first[best], otherwise - cost.min(1)

    def _plan_costs(self, repeats, ball_x, ball_y, vx, vy, pot, paddle, prev_direction, centre,
                    half):  # fmt: skip
        """(N, M, frames) draws and (N,) state -> (N, 3**horizon) cost of each plan of
        `paddle_plans`."""
        frames = 4 * self.horizon
        # frame (1-based) in which the ball reaches PADDLE_Y; 0 when not within the horizon
        steps_to_hit = np.where(vy > 0, (PADDLE_Y - ball_y) / np.maximum(vy, 1e-9), np.inf)
        hit_frame = np.ceil(4 * steps_to_hit)
        near = (ball_y < PADDLE_Y) & (hit_frame <= frames)
        hit_frame = np.where(near, hit_frame, 0).astype(int)
        # ball x at that frame; far away, the landing x
        hit_x = fold(ball_x + vx * hit_frame / 4, WALL_LEFT, WALL_RIGHT)
        target = np.where(near, hit_x, self._landing_x(ball_x, ball_y, vx, vy)) - centre
        plans = paddle_plans(self.horizon)
        at_hit, pot_end, track = self._simulate_paddle(
            repeats, plans, pot, paddle, prev_direction, hit_frame, target
        )

        error = np.abs(target[:, None, None] - at_hit)  # (N, S, M)
        miss = (np.maximum(error - half[:, None, None], 0) ** 2 + 0.1 * error).mean(2)
        # Far: only the distance the remaining steps cannot cover counts.
        reach = 4 * POT_SPEED * np.maximum(np.where(vy > 0, steps_to_hit, 99) - self.horizon, 0)
        end = np.abs(target[:, None] - np.clip(pot_end, PADDLE_MIN, PADDLE_MAX).mean(2))
        late = np.maximum(end - reach[:, None], 0) ** 2 + 0.1 * end
        return (
            np.where(near[:, None], miss, late)
            + self.track_weight * track.mean(2)
            + self.move_weight * np.abs(plans).sum(1)
        )


EXPERTS = {"breakout": BreakoutExpert}


def make_expert(game: str, num_envs: int, seed: int | Sequence[int] = 0):
    """The scripted expert for `game` (any spelling: "Breakout", "breakout"); `seed`: of its
    sticky-action draws, one for all envs or one per env."""
    expert = EXPERTS.get(rom_id(game))
    if expert is None:
        raise ValueError(
            f"game: no scripted expert for {game!r}; experts exist for {sorted(EXPERTS)}"
        )
    return expert(num_envs, seed)


def evaluate(
    settings: AtariSettings,
    episodes: int,
    seed: int = 0,
    num_envs: int = 1,
    asynchronous: bool = False,
    stats: dict | None = None,
    draws_seed: int | None = None,
) -> list[float]:
    """Full-game returns of the expert for `settings.game`, `episodes` of them, planning with
    the sticky-action draws of `draws_seed` (None: `seed`).

    Env i runs episodes // num_envs (+1 for the first episodes % num_envs envs) episodes from
    seed + i, so short episodes are not favoured; returns are listed env by env. gymnasium's
    NEXT_STEP autoreset: the step after an env's episode ends ignores its action and returns the
    first observation of the next episode; the expert's memory of that env is reset there.
    `stats`, when given, receives "steps" (env steps taken, all envs), "seconds" and "lengths"
    (agent steps of each returned episode, same order).
    """
    from .envs import make_expert_vector_env

    for name, value in (("episodes", episodes), ("num_envs", num_envs)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name}: expected a positive integer, got {value!r}")
    num_envs = min(num_envs, episodes)
    quota = [episodes // num_envs + (i < episodes % num_envs) for i in range(num_envs)]
    returns: list[list[float]] = [[] for _ in range(num_envs)]
    lengths: list[list[int]] = [[] for _ in range(num_envs)]
    start, steps = time.perf_counter(), 0
    envs = make_expert_vector_env(settings, num_envs, asynchronous=asynchronous)
    try:
        expert = make_expert(settings.game, num_envs, seed if draws_seed is None else draws_seed)
        _, info = envs.reset(seed=seed)
        totals, counts = np.zeros(num_envs), np.zeros(num_envs, int)
        restarting = np.zeros(num_envs, bool)  # this step is an autoreset step
        while any(len(r) < q for r, q in zip(returns, quota)):
            _, reward, terminated, truncated, info = envs.step(expert.act(info["ram"]))
            steps += num_envs
            totals += np.where(restarting, 0.0, reward)
            counts += ~restarting
            for i in np.nonzero(restarting)[0]:
                expert.reset(i)  # info["ram"][i] is now the new episode's first reading
            ended = (terminated | truncated) & ~restarting
            for i in np.nonzero(ended)[0]:
                returns[i].append(float(totals[i]))
                lengths[i].append(int(counts[i]))
                totals[i], counts[i] = 0.0, 0
            restarting = ended
    finally:
        envs.close()
    if stats is not None:
        stats.update(steps=steps, seconds=time.perf_counter() - start)
        stats["lengths"] = [n for per_env, q in zip(lengths, quota) for n in per_env[:q]]
    return [ret for per_env, q in zip(returns, quota) for ret in per_env[:q]]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Score a scripted expert over full games.")
    parser.add_argument("--game", default="breakout")
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num-envs", type=int, default=1)
    parser.add_argument("--sticky", type=float, default=0.25)
    args = parser.parse_args(argv)
    settings = AtariSettings(args.game, sticky=args.sticky)
    stats: dict = {}
    returns = evaluate(settings, args.episodes, args.seed, args.num_envs, stats=stats)
    print(f"{settings.game} sticky={settings.sticky} episodes={len(returns)} seed={args.seed}")
    print(
        f"return {np.mean(returns):.1f} +- {np.std(returns):.1f} (min {min(returns):.0f}, "
        f"max {max(returns):.0f})"
    )
    print(
        f"{stats['steps']} steps in {stats['seconds']:.0f} s: "
        f"{stats['steps'] / stats['seconds']:.0f} steps/s (env and expert)"
    )
    print("returns", [round(r) for r in returns])
    print("lengths", stats["lengths"])


if __name__ == "__main__":
    main()
