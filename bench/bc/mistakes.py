"""Where a cloned policy disagrees with the expert: on the steps whose label a 1-px reading
decides, or on the others.

The policy watches the expert's own games (the expert plays, as when the dataset was made, with
the draws every shard of a dataset now plans with; the policy's state is carried and zeroed at
each new game) and predicts each action. Every step
where the ball is in play is split by `bench.atari.ambiguity`: "ambiguous" when the expert's
action would have been another with the ball or the paddle 1 px off or the controller read as
the screen shows it, "clear" otherwise. If the policy's mistakes sit on the ambiguous steps,
validation accuracy is held back by what the 84x84 frames cannot show; if they sit on the clear
ones, by the model or its training.

    python -m bench.bc.mistakes results/bc/train/RUN --steps 1000 --envs 8
"""

from __future__ import annotations

import argparse

import numpy as np
from tqdm import tqdm


def _mean(values: np.ndarray) -> float | None:
    """The mean of a boolean array; None for an empty one (no such step was watched)."""
    return float(values.mean()) if values.size else None


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def split_accuracy(
    trainer,
    steps: int,
    seed: int = 0,
    num_envs: int = 8,
    sticky: float = 0.25,
    bins: int = 5,
    progress_bar: bool = False,
) -> dict:
    """Watch `steps` agent steps of `num_envs` Breakout expert games; returns a dict of

    steps, accuracy: every step watched, and the policy's share of them right;
    in_play: {"steps", "accuracy"} over the steps with the ball in play and moving;
    clear, ambiguous, flips {perturbation: ...}: {"share" of in_play, "accuracy"};
    margins: `bins` equal parts of in_play by the expert's margin, smallest first, each
        {"share", "accuracy", "low", "high"};
    confusion: (4, 4) counts, rows the expert's action, columns the policy's."""
    from ..atari.ambiguity import expert_games
    from ..atari.generate import FIXED_DRAWS_SEED

    watched: dict[str, list] = {"expert": [], "policy": [], "in_play": [], "margin": []}
    flips: dict[str, list] = {}
    state = None
    games = expert_games(steps, seed, sticky, num_envs, draws_seed=FIXED_DRAWS_SEED)
    for step in tqdm(games, total=steps, desc="watching the expert", unit="step",
                     disable=not progress_bar, leave=False):  # fmt: skip
        state = trainer.reset_state(state, step["new_episode"])
        predicted, state = trainer.act(step["obs"], state)
        for key, value in (("expert", step["actions"]), ("policy", predicted),
                           ("in_play", step["counted"]), ("margin", step["margin"])):  # fmt: skip
            watched[key].append(value)
        for name, flipped in step["flips"].items():
            flips.setdefault(name, []).append(flipped)
    expert, policy, in_play, margin = (np.concatenate(watched[k]) for k in watched)
    correct = expert == policy
    flips = {name: np.concatenate(f)[in_play] for name, f in flips.items()}
    right, margin = correct[in_play], margin[in_play]

    def part(where: np.ndarray) -> dict:
        return {"share": _mean(where), "accuracy": _mean(right[where])}

    ambiguous = np.logical_or.reduce(list(flips.values()))
    order = np.argsort(margin, kind="stable")
    margins = []
    for chunk in (c for c in np.array_split(order, bins) if len(c)):
        where = np.zeros(len(margin), bool)
        where[chunk] = True
        margins.append({**part(where), "low": float(margin[chunk].min()),
                        "high": float(margin[chunk].max())})  # fmt: skip
    confusion = np.zeros((4, 4), np.int64)  # Breakout's minimal action set
    np.add.at(confusion, (expert, policy), 1)
    return {
        "steps": len(correct),
        "accuracy": float(correct.mean()),
        "in_play": {"steps": int(in_play.sum()), "accuracy": _mean(right)},
        "clear": part(~ambiguous),
        "ambiguous": part(ambiguous),
        "flips": {name: part(f) for name, f in flips.items()},
        "margins": margins,
        "confusion": confusion.tolist(),
    }


def main(argv: list[str] | None = None) -> None:
    from .evaluate import parse_run

    parser = argparse.ArgumentParser(
        prog="python -m bench.bc.mistakes",
        description="A BC run's policy watches the Breakout expert's games and predicts its "
        "actions; its accuracy on the steps a 1-px reading decides against the others.",
    )
    parser.add_argument("--steps", type=int, default=1000, help="agent steps per env (1000)")
    parser.add_argument("--envs", type=int, default=8, help="games watched at once (8)")
    parser.add_argument("--seed", type=int, default=2000, help="games' seed (2000)")
    args, trainer, meta = parse_run(parser, argv)
    if meta["dataset_game"] != "breakout":
        parser.error(f"run: the ambiguity of labels is measured for breakout, the run learned "
                     f"{meta['dataset_game']!r}")  # fmt: skip
    found = split_accuracy(
        trainer, args.steps, args.seed, args.envs, args.sticky, progress_bar=True
    )
    in_play = found["in_play"]
    print(f"{args.run.name} after {meta['epochs_done']} epochs, {found['steps']} steps of the "
          f"expert's games: accuracy {found['accuracy']:.1%}; ball in play "
          f"{in_play['steps']} steps, {_percent(in_play['accuracy'])}")  # fmt: skip
    for name in ("clear", "ambiguous", *found["flips"]):
        part = found.get(name) or found["flips"][name]
        print(f"  {name:>20}: {_percent(part['share']):>6} of them, "
              f"accuracy {_percent(part['accuracy'])}")  # fmt: skip
    print("by the expert's margin over its next best first action (cost units):")
    for part in found["margins"]:
        print(
            f"  {part['low']:9.4f} to {part['high']:9.4f}: {_percent(part['share']):>6} of "
            f"them, accuracy {_percent(part['accuracy'])}"
        )
    print("confusion (rows: expert NOOP FIRE RIGHT LEFT; columns: policy):")
    for row in found["confusion"]:
        print("  " + " ".join(f"{n:7d}" for n in row))


if __name__ == "__main__":
    main()
