"""Budgets of the BC suite: dataset size, epochs, batch and evaluation per profile."""

from __future__ import annotations

import dataclasses
import math

SCHEDULES = ("constant", "cosine")


@dataclasses.dataclass(frozen=True)
class BCProfile:
    name: str
    train: int  # dataset sequences
    val: int
    epochs: int
    batch_size: int
    lr: float
    eval_episodes: int
    eval_max_steps: int  # agent steps per evaluation episode (a policy that never FIREs idles)
    # "cosine": epoch e of E trains at lr * (1 + cos(pi * e / E)) / 2, so the last epochs refine
    # at a small lr; the same per-epoch value in both frameworks, and resumable from the epoch.
    lr_schedule: str = "constant"
    # True: truncated BPTT. Batches come in `lane_order` and each row starts from the state its
    # lane's previous sequence ended in (zeros at a new episode), as closed-loop play carries
    # it; validation likewise. False: every 32-step sequence starts from zeros.
    carry_state: bool = False
    # N > 0: each training shard is seen moved by up to N pixels each way, redrawn per epoch
    # (`bench.atari.loaders.shift_offsets`); validation never is.
    shift: int = 0

    def __post_init__(self):
        if isinstance(self.epochs, bool) or not isinstance(self.epochs, int) or self.epochs < 1:
            raise ValueError(f"epochs: expected a positive integer, got {self.epochs!r}")
        if not self.lr > 0:  # also refuses nan
            raise ValueError(f"lr: expected a learning rate > 0, got {self.lr}")
        if isinstance(self.shift, bool) or not isinstance(self.shift, int) or self.shift < 0:
            raise ValueError(f"shift: expected an integer >= 0 (pixels), got {self.shift!r}")
        if self.lr_schedule not in SCHEDULES:
            raise ValueError(f"lr_schedule: expected one of {SCHEDULES}, got {self.lr_schedule!r}")

    def lr_at(self, epoch: int) -> float:
        """The learning rate of epoch `epoch` (0-based)."""
        if self.lr_schedule == "constant":
            return self.lr
        return self.lr * (1 + math.cos(math.pi * epoch / self.epochs)) / 2

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)

    @staticmethod
    def stored(profile: dict) -> dict:
        """A profile dict as stored in a checkpoint, read with today's fields: one from before
        `lr_schedule` existed trained at a constant lr, one from before `carry_state` from
        zeros, one from before `shift` on unmoved frames."""
        return {"lr_schedule": "constant", "carry_state": False, "shift": 0, **profile}


PROFILES = {
    "smoke": BCProfile("smoke", 8, 4, 1, 4, 1e-3, 2, 200),
    "quick": BCProfile("quick", 1024, 128, 10, 32, 1e-3, 5, 4500),
    # Cosine: epochs near the end refine at a small lr instead of stopping on a full-lr step.
    # 10 epochs: a 20-epoch GRU run in TF (Breakout) was at 84.6% val accuracy after epoch 10
    # and 84.4% after 20 (train 91.6%), so the second half bought nothing for 1.6 h per run.
    "full": BCProfile("full", 30000, 3000, 10, 32, 1e-3, 20, 27000, "cosine"),
}


def rounds_epoch(profile: BCProfile) -> int:
    """The epoch after which the DAgger recipe's rounds play (`bench.bc.dagger_recipe`): 60% of
    the schedule, at least 1, before the last."""
    if profile.epochs < 2:
        raise ValueError(
            f"profile: {profile.name!r} trains {profile.epochs} epoch; DAgger needs 2 or more "
            "(epochs before the rounds and after them)"
        )
    return min(max(1, round(0.6 * profile.epochs)), profile.epochs - 1)


def get_profile(name: str) -> BCProfile:
    if name not in PROFILES:
        raise ValueError(f"profile: expected one of {list(PROFILES)}, got {name!r}")
    return PROFILES[name]
