"""Budgets of the BC suite: dataset size, epochs, batch and evaluation per profile."""

from __future__ import annotations

import dataclasses


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

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


PROFILES = {
    "smoke": BCProfile("smoke", 8, 4, 1, 4, 1e-3, 2, 200),
    "quick": BCProfile("quick", 1024, 128, 10, 32, 1e-3, 5, 4500),
    "full": BCProfile("full", 30000, 3000, 20, 32, 1e-3, 20, 27000),
}


def get_profile(name: str) -> BCProfile:
    if name not in PROFILES:
        raise ValueError(f"profile: expected one of {list(PROFILES)}, got {name!r}")
    return PROFILES[name]
