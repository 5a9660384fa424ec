"""The A2C run configuration: one frozen dataclass both frameworks read, plus the suite profiles.

Defaults follow A2C on Atari (Mnih et al., 2016; OpenAI baselines) except for the optimizer:
lr 7e-4 decaying linearly to 0, gamma 0.99, value coefficient 0.5, entropy 0.01, gradient-norm
clip 0.5, n-step returns (`gae_lambda` 1.0), 8 envs (2 cores) x 10 steps = 80 samples per update,
baselines' 16 x 5.

The optimizer is Adam (Keras's semantics in both frameworks: `bench.optimizers.AdamTF` in torch),
not baselines' RMSprop, because RMSprop barely learnt here. Measured on Breakout, torch LSTM,
seed 0, 2M frames (mean full-game return of the last 100 games; random play 1.32): RMSprop
(alpha 0.99, eps 1e-5 inside the root as in baselines and Keras) 2.27, and 1.95 with 8 x 5 steps,
its policy still near uniform (entropy 1.36 of 1.386); Adam lr 2.5e-4 4.07; Adam lr 7e-4 14.05.
The gradients here are small (global norm about 0.06, never clipped), so RMSprop's eps,
inside the root, dominates the running mean square and its steps shrink to about lr * g /
sqrt(eps), while Adam's stay near lr.

With Adam, over 16 runs (seeds 0-3 for the LSTM, 0-1 for GRU and CfC, both frameworks), 10
learnt (returns 14-20 at 2M frames) and 5 stayed at random play (1.15-1.43, entropy at its
maximum): the LSTM on 2 of 4 seeds in torch and 2 of 4 in TF, GRU on 1 of 2 in torch, CfC on
none; one TF LSTM run (2.09) had just begun to learn. Which runs stay is decided early, by
chance, and the stuck ones share a cause: 68-81 % of their 512 conv features are dead (ReLU off
on all of 240 random-play frames) and the rest nearly constant across frames, against 3-10 %
in the other runs, so the policy sees no state. `train` logs the share of dead features
(`dead_features` in metrics.csv, over the last rollout's 80 frames), and it tells the two
apart within 100k frames (LSTM, torch): 0.76-0.77 at 100k in the two runs that stay (seeds 1,
3), 0.43-0.49 in the two that learn (seeds 0, 2); seeds 4 and 5, not run further, gave 0.72
and 0.51. A larger Adam eps keeps the features alive but does not help: with eps 1e-3 all six
seeds were at 0.30-0.51 dead at 100k, but seeds 1 and 3 were still at random play at 600k
frames (entropy 1.383-1.386, against 1.33-1.34 and returns 2.7-3.4 in the seed 0 and 2 runs
with eps 1e-5): the trunk's steps are now too small. eps 1e-4 is in between: no run stalled
(seeds 0-5 at 0.38-0.61 dead at 100k, 2-8 % at 2M), but all learnt more slowly, 7.52, 6.98,
6.33 and 2.89 at 2M for seeds 0-3 (2.1-2.6 at 1M against 5.5 for the seed 0 and 2 runs with
eps 1e-5), so 2 of 4 reached 5x random play, as with eps 1e-5. Neither did lr 3.5e-4 (seed
1: 0.71 dead at 60k), a value head at gain 0.01 (0.65-0.74 dead at 60-100k, seeds 0-4) or a
linear warm-up of the lr over 300 updates (0.56-0.72 dead as it ended) help. What did: Adam's
lr x 0.03 for the 3136 -> 512 dense layer alone (its inputs are all >= 0, so Adam's per-weight
steps of about lr add up, for each unit, to a pre-activation shift of about lr * sum(x) per
update). Seeds 1, 3 and 4 stayed at 0.28-0.41 dead at 100k, and at 2M seeds 0-3 reached 9.07,
8.28, 7.54 and 7.76: all four above 5x random play, against two of four with one lr, though
below the 14-15 of the runs that learn with it.

That is now the default, `dense_lr_scale` 0.03, in both frameworks (torch: a param group;
Keras: `tf_agent.ScaledAdam`). A config or checkpoint written before the setting existed reads
as scale 1 (`LEGACY_DEFAULTS`), which is how it was trained. With it, all 18 full runs (2M
frames, `cellbench train a2c --profile full --seed N --threads 1`) passed 5x random play
(6.6), features 0-1 % dead at the end:

    cell   torch, seeds 0-3           TF, seeds 0-1    one lr (torch; TF), seeds 0-1
    lstm   9.07  8.28  7.54  7.76     9.01  8.24       14.05  1.43; 1.32  1.28
    gru    8.69  7.88  7.53  7.01     8.86  8.26       18.12  1.15; 17.87 16.86
    cfc    13.40 10.21 12.81 10.02    12.89 12.53      20.26 16.53; 17.28 16.73

The torch LSTM runs repeat the screening patch's returns to the digit. The price is speed:
runs that learn with one lr end higher (14-20). Every TF run lies within torch's four seeds'
range but one, a GRU at 8.86, 0.17 above torch's best.

`optimizer="rmsprop"` (with `alpha`) is still offered; torch then runs
`bench.optimizers.RMSpropTF`, eps inside the root as in Keras, so both frameworks take the same
step.

Training-only Atari transforms (`settings.episodic_life`, `settings.clip_rewards`) are applied by
the rollout, not by the env: the env plays full games with raw scores, so every logged return is
a full-game score, while the learner sees a life loss as an episode end (no bootstrap, hidden
state reset) and rewards clipped to their sign.

"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from ..atari.settings import AtariSettings

OPTIMIZERS = ("rmsprop", "adam")
CELLS = ("lstm", "gru", "cfc", "ltc")
#: Canonical parameters that `A2CConfig.dense_lr_scale` applies to.
DENSE_LR_PARAMS = ("dense_kernel", "dense_bias")
#: What settings added after runs were stored meant before they existed: a config dict (a
#: checkpoint's or a summary's) without them is read with these values, not today's defaults.
LEGACY_DEFAULTS = {"dense_lr_scale": 1.0}


def stored_config(data: dict[str, Any]) -> dict[str, Any]:
    """A stored config dict as it was trained: settings it predates at `LEGACY_DEFAULTS`."""
    return {**LEGACY_DEFAULTS, **data}


def training_settings(game: str = "breakout") -> AtariSettings:
    """Machado et al.'s sticky actions, with DQN's life-loss episodes and clipped rewards."""
    return AtariSettings(game, sticky=0.25, episodic_life=True, clip_rewards=True)


@dataclasses.dataclass(frozen=True)
class A2CConfig:
    """Everything that decides an A2C run (recorded in its summary and checkpoint).

    Attributes:
        cell: recurrent core (lstm, gru, cfc, ltc); units: its width (None: 64, LTC 32).
        settings: Atari settings; episodic_life and clip_rewards act on the learner only.
        frames: budget in emulator frames (agent steps x frame_skip, all envs together).
        num_envs: envs stepped together; n_steps: steps per env per update (the BPTT length).
        gamma: discount; gae_lambda: 1.0 gives n-step returns, < 1 generalised advantages.
        value_coef, entropy_coef: loss weights; max_grad_norm: global-norm clip (0: none).
        optimizer: "adam" or "rmsprop" (Keras's semantics in both frameworks); lr, alpha
            (RMSprop decay), eps (> 0): its settings; lr_decay: linear decay of lr to 0 over
            `frames` (a resumed run with a larger budget decays over the new one).
        dense_lr_scale (> 0): the 3136 -> 512 dense layer (`DENSE_LR_PARAMS`) learns at
            lr x dense_lr_scale, everything else at lr (see the module docstring).
        seed: weights, action sampling and env seeds.
        log_every: frames between metrics rows; checkpoint_every: frames between checkpoints.
    """

    cell: str = "lstm"
    units: int | None = None
    settings: AtariSettings = dataclasses.field(default_factory=training_settings)
    frames: int = 2_000_000
    num_envs: int = 8
    n_steps: int = 10
    gamma: float = 0.99
    gae_lambda: float = 1.0
    value_coef: float = 0.5
    entropy_coef: float = 0.01
    max_grad_norm: float = 0.5
    optimizer: str = "adam"
    lr: float = 7e-4
    alpha: float = 0.99
    eps: float = 1e-5
    lr_decay: bool = True
    dense_lr_scale: float = 0.03
    seed: int = 0
    log_every: int = 20_000
    checkpoint_every: int = 200_000

    def __post_init__(self) -> None:
        if self.cell not in CELLS:
            raise ValueError(f"cell: expected one of {list(CELLS)}, got {self.cell!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(
                f"optimizer: expected one of {list(OPTIMIZERS)}, got {self.optimizer!r}"
            )
        if not isinstance(self.settings, AtariSettings):
            raise ValueError(
                f"settings: expected AtariSettings, got {type(self.settings).__name__}"
            )
        for name in ("frames", "num_envs", "n_steps", "log_every", "checkpoint_every"):
            _check_int(name, getattr(self, name), minimum=1)
        if self.units is not None:
            _check_int("units", self.units, minimum=1)
        _check_int("seed", self.seed, minimum=0)
        for name in ("gamma", "gae_lambda", "alpha"):
            _check_real(name, getattr(self, name), 0.0, 1.0)
        for name in ("value_coef", "entropy_coef", "max_grad_norm"):
            _check_real(name, getattr(self, name), 0.0, math.inf)
        # > 0: eps 0 would divide 0 by 0 where a gradient is 0
        for name in ("lr", "eps", "dense_lr_scale"):
            _check_real(name, getattr(self, name), 0.0, math.inf, open_low=True)

    @property
    def frames_per_update(self) -> int:
        return self.num_envs * self.n_steps * self.settings.frame_skip

    @property
    def updates(self) -> int:
        """Updates needed to reach `frames` (the last one may pass it)."""
        return -(-self.frames // self.frames_per_update)

    def as_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["settings"] = self.settings.as_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> A2CConfig:
        data = dict(data)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"config: unknown A2C settings {unknown}; expected {sorted(known)}")
        data = stored_config(data)
        if isinstance(data.get("settings"), dict):
            data["settings"] = AtariSettings.from_dict(data["settings"])
        return cls(**data)

    def replace(self, **changes: Any) -> A2CConfig:
        return dataclasses.replace(self, **changes)


def _check_int(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {value!r}")


def _check_real(name, value, low, high, open_low: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (value > low if open_low else value >= low) and value <= high
    if not ok:
        bounds = f"{'(' if open_low else '['}{low}, {high}]"
        raise ValueError(f"{name}: expected a finite number in {bounds}, got {value!r}")


#: Frame budgets of the A2C suite (and `cellbench train a2c --profile`).
PROFILES = {
    "smoke": {"frames": 4 * 8 * 10 * 4, "log_every": 320, "checkpoint_every": 640},
    "quick": {"frames": 200_000},
    "full": {"frames": 2_000_000},
}


def profile_config(profile: str, **changes: Any) -> A2CConfig:
    """The config of a profile with `changes` applied (cell, seed, game settings...)."""
    if profile not in PROFILES:
        raise ValueError(f"profile: expected one of {list(PROFILES)}, got {profile!r}")
    return A2CConfig(**{**PROFILES[profile], **changes})
