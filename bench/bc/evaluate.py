"""Closed-loop evaluation: the policy plays full games with its recurrent state carried.

Each of `episodes` envs plays one full game (no episodic life, unclipped score, the dataset's
sticky-action probability), the policy acting greedily on observations normalised exactly as in
training (inside the model). The state is carried from step to step and zeroed when an env
starts a new episode. A game that reaches `max_steps` agent steps is cut there (counted in
"truncated"): a policy that never presses FIRE would otherwise idle for 27,000 steps.

Where the game has a scripted expert, it watches every step of the games (from the RAM) and
"expert_agreement" is the share of the policy's actions it would have chosen too: validation
accuracy measured on the policy's own states rather than the expert's. A gap between the two is
the covariate shift of behavior cloning (Ross et al., 2011): the policy's mistakes take it where
the data never went.

Replay a run's checkpoint (the last finished epoch, so an unfinished run too):

    python -m bench.bc.evaluate results/bc/train/RUN --episodes 6 --max-steps 1500
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np

from ..atari.envs import make_expert_vector_env, make_vector_env
from ..atari.experts import EXPERTS, make_expert
from ..atari.settings import AtariSettings, rom_id


def play(trainer, settings: AtariSettings, episodes: int, seed: int, max_steps: int,
         expert_agreement: bool = True, zero_state_on_life_loss: bool = False,
         progress_bar: bool = False) -> dict:  # fmt: skip
    """-> {"returns": [...], "mean", "std", "truncated", "steps", "expert_agreement"} (the last
    None without an expert for the game or with `expert_agreement=False`, which timing uses so
    that the expert's planning is not timed with the policy). `zero_state_on_life_loss` is a
    diagnostic, not the protocol: it tells whether a policy's failure after a lost life comes
    from the state it carried there. `progress_bar`: games ended so far, and the step reached."""
    from tqdm import tqdm

    settings = dataclasses.replace(settings, episodic_life=False, clip_rewards=False)
    watched = expert_agreement and rom_id(settings.game) in EXPERTS
    # The expert reads the RAM, which only gymnasium's vector env of single envs exposes.
    envs = (make_expert_vector_env(settings, episodes, asynchronous=False) if watched
            else make_vector_env(settings, episodes))  # fmt: skip
    expert = make_expert(settings.game, episodes) if watched else None
    bar = tqdm(total=episodes, desc=f"{settings.game} closed loop", unit="game",
               disable=not progress_bar, leave=False)  # fmt: skip
    try:
        obs, info = envs.reset(seed=seed)
        state, totals = None, np.zeros(episodes)
        finished = np.zeros(episodes, dtype=bool)
        steps, agreed, watched_steps = 0, 0, 0
        while not finished.all() and steps < max_steps:
            actions, state = trainer.act(obs, state)
            if expert is not None:
                wanted = expert.act(info["ram"])
                expert.sent(actions)  # its sticky-action model repeats what the game received
                agreed += int((wanted == actions)[~finished].sum())
                watched_steps += int((~finished).sum())
            lives = info["lives"]
            obs, rewards, terminated, truncated, info = envs.step(actions)
            if zero_state_on_life_loss:
                state = trainer.reset_state(state, info["lives"] < lives)
            totals += np.where(finished, 0.0, rewards)
            ended = finished | terminated | truncated  # the first game of each env is counted
            bar.update(int(ended.sum() - finished.sum()))
            finished = ended
            steps += 1
            if steps % 100 == 0:
                bar.set_postfix_str(f"step {steps}", refresh=False)
    finally:
        bar.close()
        envs.close()
    returns = totals.tolist()
    return {
        "returns": returns,
        "mean": float(np.mean(returns)),
        "std": float(np.std(returns)),
        "truncated": int((~finished).sum()),
        "steps": steps,
        "expert_agreement": agreed / watched_steps if watched_steps else None,
    }


def load_run(run: Path):
    """A run folder -> (its last checkpoint's policy as a trainer, the checkpoint's metadata)."""
    from .. import checkpoint
    from .spec import PolicySpec
    from .train import make_trainer

    params, _, meta = checkpoint.load(Path(run) / checkpoint.NAME)
    spec = PolicySpec.from_config(meta["policy"])
    return make_trainer(meta["backend"], spec, params, 1e-3, meta.get("impl")), meta


def parse_run(parser: argparse.ArgumentParser, argv: list[str] | None):
    """Add the arguments every command on a run's checkpoint takes (the run, sticky actions),
    parse `argv` and load the run -> (args, trainer, checkpoint metadata). A run without a
    readable checkpoint is a usage error naming it, not a traceback."""
    from cells.preload import before_tensorflow

    parser.add_argument("run", type=Path, help="run folder holding checkpoint.npz")
    parser.add_argument("--sticky", type=float, default=0.25, help="sticky actions (0.25)")
    args = parser.parse_args(argv)
    before_tensorflow()
    try:
        return args, *load_run(args.run)
    except ValueError as error:
        parser.error(f"run: {error}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.bc.evaluate",
        description="Closed-loop games of a BC run's checkpoint: returns, and the share of the "
        "policy's steps on which the scripted expert, watching, would have played the same.",
    )
    parser.add_argument("--episodes", type=int, default=6, help="games (default 6)")
    parser.add_argument("--max-steps", type=int, default=27_000, help="step cap (default 27000)")
    parser.add_argument("--seed", type=int, default=1000, help="games' seed (default 1000)")
    parser.add_argument(
        "--zero-state-on-life-loss",
        action="store_true",
        help="diagnostic: zero the policy's state whenever a life is lost",
    )
    args, trainer, meta = parse_run(parser, argv)
    settings = AtariSettings(meta["dataset_game"], sticky=args.sticky)
    played = play(trainer, settings, args.episodes, args.seed, args.max_steps,
                  zero_state_on_life_loss=args.zero_state_on_life_loss,
                  progress_bar=True)  # fmt: skip
    share = played["expert_agreement"]
    print(f"{args.run.name} after {meta['epochs_done']} epochs: returns {played['returns']}, "
          f"mean {played['mean']:.1f} ± {played['std']:.1f}, {played['truncated']} cut at "
          f"{args.max_steps} steps; expert agreement "
          f"{'–' if share is None else f'{share:.1%}'}")  # fmt: skip


if __name__ == "__main__":
    main()
