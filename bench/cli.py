"""The `cellbench` command line.

cellbench verify [--cells ...] [--dtype float32 float64] [--backends torch tf] [--json PATH]
cellbench ode [--out DIR] [--seed S] [--backends reference torch tf]
cellbench dataset generate [--game G] [--train N] [--val M] [--out DIR] [--seed S] ...
cellbench dataset check DIR
cellbench dataset score DIR [--episodes 20]
cellbench dataset dagger RUN --dataset DIR [--sequences N] [--beta 0.5] [--out DIR]
cellbench train bc --cell cfc --backend torch|tf [--profile quick] [--resume] ...
cellbench train a2c --cell lstm --backend tf --game breakout --frames 2e6 [--resume] ...
cellbench report [--results DIR] [--out DIR] [--baseline RUN] [--threshold 0.1]
cellbench sweep GRID.toml [--address auto|HOST:PORT|ray://HOST:PORT] [--max-parallel N] ...
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

from .results import DEFAULT_RESULTS, FolderBusyError
from .sweep.cli import add_sweep


def _add_verify(subparsers) -> None:
    from . import verify

    labels = ", ".join(c.label for c in verify.CASES)
    parser = subparsers.add_parser(
        "verify",
        help="check that numpy, torch and TF compute the same numbers",
        description=(
            "For every cell configuration x backend implementation x dtype, run random weights, "
            "inputs, initial state and irregular timespans through the implementation and the "
            "float64 numpy reference, and compare outputs, final state and gradients (inputs, "
            "initial state, every parameter). Tolerances: float64 rel err <= 1e-10, float32 <= "
            "1e-5 (norm-wise). Exit status 1 if anything fails. Writes JSON and CSV."
        ),
        epilog=f"Configurations: {labels}.",
    )
    parser.add_argument(
        "--cells",
        nargs="+",
        metavar="NAME",
        help="cells (lstm gru cfc ltc) or configuration labels; default: all",
    )
    parser.add_argument(
        "--dtype",
        nargs="+",
        choices=verify.DTYPES,
        default=list(verify.DTYPES),
        help="dtypes to check (default: both)",
    )
    parser.add_argument(
        "--backends",
        nargs="+",
        choices=("torch", "tf"),
        default=["torch", "tf"],
        help="backends to check (default: both; a missing one is reported)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of weights and inputs (default 0)"
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=DEFAULT_RESULTS / "verify" / "verify.json",
        help="where to write the JSON (a CSV lands beside it); default %(default)s",
    )
    parser.set_defaults(handler=_run_verify)


def _run_verify(args) -> int:
    from .verify import run_verify

    return run_verify(
        cells_=args.cells,
        dtypes=args.dtype,
        backends=args.backends,
        seed=args.seed,
        json_path=args.json,
    )


def _add_ode(subparsers) -> None:
    parser = subparsers.add_parser(
        "ode",
        help="measure how far LTC and CfC are from the ODEs they discretise",
        description=(
            "Solve the LTC's ODE and the ODE a pure-mode CfC approximates with float64 numba "
            "dopri5 (rtol = atol = 1e-12) and compare: (1) the LTC's fused solver (numpy "
            "reference, torch, TF, float64) for ode_unfolds 1..64, with its fitted order of "
            "convergence (1 expected); (2) one pure CfC step over timespans 0.01..10, from zero "
            "and random states. Writes ltc_unfold_convergence.csv, cfc_pure_error.csv and "
            "ode.json (atomically). About a minute on a laptop."
        ),
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_RESULTS / "ode",
        help="folder for the tables (default %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of weights and inputs")
    parser.add_argument(
        "--backends",
        nargs="+",
        choices=("reference", "torch", "tf"),
        help="LTC implementations to compare (default: all; a missing framework is skipped)",
    )
    parser.set_defaults(handler=_run_ode)


def _run_ode(args) -> int:
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from cells.preload import before_tensorflow

    before_tensorflow()
    from .ode_tables import run_ode_tables

    return run_ode_tables(args.out, seed=args.seed, backends=args.backends)


def _add_dataset(subparsers) -> None:
    from .atari.generate import EXPERT_DRAWS, Perturbations

    noise = Perturbations()
    parser = subparsers.add_parser(
        "dataset",
        help="generate or check an Atari behavior-cloning dataset",
        description="Atari behavior-cloning datasets in ncps's layout, generated offline by a "
        "scripted RAM expert.",
    )
    commands = parser.add_subparsers(
        title="dataset commands", dest="dataset_command", required=True
    )
    generate = commands.add_parser(
        "generate",
        help="play the scripted expert and write the dataset",
        description=(
            "Play the game's scripted expert (full games, DeepMind preprocessing, sticky "
            "actions) in --num-envs envs side by side and write one compressed .npz per 32-step "
            "sequence (obs uint8 (32, 84, 84, 4), actions int64 (32,)): train_*.npz, val_*.npz, "
            "plus manifest.json (game, settings, seed, counts, expert returns, versions). Each "
            "file is written atomically; interrupted, run the same command again and it "
            "completes the rest. Deterministic for a seed, whatever --num-envs. The defaults "
            "take a few minutes on a laptop (the quick profile); --train 30000 is the full one."
        ),
    )
    generate.add_argument("--game", default="breakout", help="ALE game (default breakout)")
    generate.add_argument("--train", type=int, default=1024, help="train sequences (1024)")
    generate.add_argument("--val", type=int, default=128, help="validation sequences (128)")
    generate.add_argument("--out", type=Path, help="dataset folder (default data/<game>)")
    generate.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    generate.add_argument(
        "--sticky", type=float, default=0.25, help="sticky-action probability (default 0.25)"
    )
    generate.add_argument(
        "--num-envs", type=int, default=2, help="envs played side by side (default 2)"
    )
    generate.add_argument(
        "--fire-miss",
        type=float,
        default=noise.fire_miss,
        help=f"probability that a FIRE the expert presses reaches the game as NOOP, recorded as "
        f"FIRE (default {noise.fire_miss}): puts frames of a game waiting for its launch into "
        "the data, for cloned policies that stop launching the ball after losing a life",
    )
    generate.add_argument(
        "--hold",
        type=float,
        default=noise.hold,
        help=f"probability per step that the expert is held off (default {noise.hold}): for "
        "--hold-steps steps on average the game receives one random action without FIRE while "
        "the data records the expert's choice, so it shows how the expert recovers from "
        "states it never visits itself (DART's noise injection)",
    )
    generate.add_argument(
        "--hold-steps",
        type=float,
        default=noise.hold_steps,
        help=f"mean length of a hold in steps (default {noise.hold_steps})",
    )
    generate.add_argument(
        "--expert-draws",
        choices=EXPERT_DRAWS,
        help="whose sticky-action draws the expert plans with: fixed (one set for every shard, "
        "so one expert labels the whole dataset; the default for a new dataset) or per_shard "
        "(each shard's own, as datasets were generated before this was recorded; experts of "
        "different draws disagree on about 15%% of the states). Default: an existing "
        "dataset's, so one grown in place keeps one kind of label",
    )
    generate.set_defaults(handler=_run_dataset_generate)
    check = commands.add_parser(
        "check",
        help="validate every file and the manifest of a dataset",
        description="Open every .npz, check arrays, shapes, dtypes and action range, and the "
        "manifest's counts; list every problem (exit status 1 if there is any).",
    )
    check.add_argument("directory", type=Path, help="dataset folder")
    check.set_defaults(handler=_run_dataset_check)
    score = commands.add_parser(
        "score",
        help="play full games of the dataset's expert and store its score in the manifest",
        description="Play --episodes full games of the expert under the dataset's settings and "
        "store their returns in manifest.json as expert_score, the reference of BC's closed-loop "
        "target and of the report's expert line. (The manifest's expert_returns only holds games "
        "that ended inside a generation shard: short ones, so biased low.)",
    )
    score.add_argument("directory", type=Path, help="dataset folder")
    score.add_argument("--episodes", type=int, default=20, help="full games (default 20)")
    score.add_argument("--seed", type=int, default=0, help="seed of the games (default 0)")
    score.add_argument("--num-envs", type=int, default=2, help="games side by side (default 2)")
    score.set_defaults(handler=_run_dataset_score)
    _add_dataset_dagger(commands)


def _add_dataset_dagger(commands) -> None:
    dagger = commands.add_parser(
        "dagger",
        help="one DAgger round: a BC run's policy plays, the expert labels, the data grows",
        description=(
            "The checkpoint of RUN (its last finished epoch) plays --num-envs games side by "
            "side with its state carried, as in closed-loop evaluation; each step the game "
            "receives the expert's action with probability --beta, else the policy's, and the "
            "data records the frames with the expert's action (the scripted expert reads the "
            "RAM, so it labels any state the policy reaches). Writes --out: the source's files "
            "(hard links) plus --sequences new training sequences, and a manifest listing the "
            "round. Train on it with `cellbench train bc --dataset OUT --continue-from RUN` "
            "(with --carry-state, so training sees the states the policy's play builds). "
            "Interrupted, run the same command again and it completes the rest."
        ),
    )
    dagger.add_argument("run", type=Path, help="BC run folder holding checkpoint.npz")
    dagger.add_argument("--dataset", type=Path, required=True,
                        help="the dataset it trained on (with a manifest)")  # fmt: skip
    dagger.add_argument("--out", type=Path,
                        help="new dataset folder (default <dataset>-dagger<round>)")  # fmt: skip
    dagger.add_argument(
        "--sequences", type=int, help="new training sequences (default: a fifth of the dataset's)"
    )
    dagger.add_argument("--beta", type=float, default=0.5,
                        help="probability that a step executes the expert's action instead of "
                        "the policy's (default 0.5; 0: the policy alone)")  # fmt: skip
    dagger.add_argument(
        "--seed", type=int, help="seed of the games (default: the dataset's seed + the round)"
    )
    dagger.add_argument("--num-envs", type=int, default=8,
                        help="games side by side, one policy batch (default 8)")  # fmt: skip
    dagger.set_defaults(handler=_run_dataset_dagger)


def _run_dataset_dagger(args) -> int:
    from cells.preload import before_tensorflow

    before_tensorflow()
    from .bc.dagger import aggregate

    out, manifest = aggregate(args.run, args.dataset, args.out, args.sequences, args.beta,
                              args.seed, args.num_envs)  # fmt: skip
    done = manifest["dagger"][-1]
    returns = done["returns"]
    ended = f"{len(returns)} games ended" + (
        f" (mean return {sum(returns) / len(returns):.1f})" if returns else ""
    )
    print(
        f"DAgger round {len(manifest['dagger'])}: {done['sequences']} sequences after the "
        f"{done['first']} training sequences of {args.dataset}; the policy chose the expert's "
        f"action on {done['expert_agreement']:.1%} of the steps and played "
        f"{done['policy_executed']:.1%} of them; {ended}; wrote {out}"
    )
    return 0


def _run_dataset_generate(args) -> int:
    from .atari.generate import Perturbations, generate
    from .atari.settings import AtariSettings

    settings = AtariSettings(args.game, sticky=args.sticky)
    out = args.out or Path("data") / settings.game
    noise = Perturbations(args.fire_miss, args.hold, args.hold_steps)
    manifest = generate(out, settings, args.train, args.val, args.seed, args.num_envs,
                        perturbations=noise, expert_draws=args.expert_draws)  # fmt: skip
    returns, run = manifest["expert_returns"], manifest["this_run"]
    if returns["episodes"]:
        print(
            f"expert {manifest['expert']} ({manifest['expert_draws']} draws): full-game return "
            f"{returns['mean']:.1f} ± {returns['std']:.1f} over {returns['episodes']} episodes"
        )
    if run["frames_per_second"]:
        print(f"this run: {run['frames']} frames at {run['frames_per_second']:.0f} frames/s")
    print(f"wrote {out} ({manifest['counts']['train']} train, {manifest['counts']['val']} val)")
    return 0


def _run_dataset_score(args) -> int:
    from .atari.generate import score_expert

    print(f"playing {args.episodes} full games of the expert in {args.directory} ...", flush=True)
    score = score_expert(args.directory, args.episodes, args.seed, args.num_envs)
    print(f"expert full-game return {score['mean']:.1f} ± {score['std']:.1f} over "
          f"{score['episodes']} games; stored in {args.directory / 'manifest.json'}")  # fmt: skip
    return 0


def _run_dataset_check(args) -> int:
    from .atari.sequences import check_directory

    report = check_directory(args.directory)
    counts = ", ".join(f"{n} {split}" for split, n in report["counts"].items())
    manifest = "with manifest" if report["manifest"] else "no manifest (ncps layout)"
    print(f"{report['directory']}: {counts}; {manifest}")
    for problem in report["problems"]:
        print(f"  problem: {problem}")
    print(f"{len(report['problems'])} problem(s)")
    return 1 if report["problems"] else 0


def _add_train(subparsers) -> None:
    from .bc.profiles import PROFILES
    from .bc.spec import EXTRACTORS

    parser = subparsers.add_parser("train", help="train a policy (bc, a2c)")
    suites = parser.add_subparsers(title="what to train", dest="train_command", required=True)
    bc = suites.add_parser(
        "bc",
        help="behavior cloning of the scripted Atari expert",
        description=(
            "Train conv (Nature CNN) -> cell -> linear head on the expert's sequences with "
            "cross-entropy over every step and Adam, from the seed's canonical weights (the same "
            "in torch and TF), on the same batches in either framework. Per epoch: validation "
            "loss and accuracy, metrics.csv and checkpoint.npz (atomic; --resume continues). "
            "Then the policy plays full games closed-loop. Profiles: "
            + "; ".join(
                f"{p.name}: {p.train} sequences, {p.epochs} epochs, {p.eval_episodes} games"
                for p in PROFILES.values()
            )
            + ". The dataset is generated first when it does not exist."
        ),
    )
    bc.add_argument("--cell", required=True, choices=("lstm", "gru", "cfc", "ltc"))
    bc.add_argument("--backend", required=True, choices=("torch", "tf"))
    bc.add_argument("--profile", default="quick", choices=tuple(PROFILES))
    bc.add_argument("--game", default="breakout", help="game of the dataset (default breakout)")
    bc.add_argument("--dataset", type=Path,
                    help="dataset folder (default data/<game>-<profile>, generated or completed "
                    "to the profile's size); a finished one is used whatever its size")  # fmt: skip
    bc.add_argument("--out", type=Path, help="run folder (default results/bc/train/<run name>)")
    bc.add_argument("--seed", type=int, default=0, help="seed of weights and batch order")
    bc.add_argument("--impl", help="cell implementation (default eager for torch, graph for tf)")
    bc.add_argument("--extractor", default="nature", choices=tuple(EXTRACTORS),
                    help="conv feature extractor: nature (DQN's, default) or ncps (the 4-layer "
                    "conv block of ncps's torch tutorial, with BatchNorm)")  # fmt: skip
    bc.add_argument("--units", type=int, metavar="N",
                    help="the cell's unit count (default: LTC 32, the others 64); the conv "
                    "extractor and the head stay as they are; the run name gets -u<N>")  # fmt: skip
    bc.add_argument("--carry-state", action="store_true",
                    help="truncated BPTT: each batch row starts from the state the previous "
                    "sequence of its game ended in (zeros at a new episode), as closed-loop play "
                    "carries it, instead of from zeros every 32 steps; validation likewise; the "
                    "run name gets -carried")  # fmt: skip
    bc.add_argument("--lr", type=float,
                    help="the schedule's peak learning rate (default: the profile's, 1e-3); the "
                    "full profile's cosine decays from it; the run name gets -lr<LR>")  # fmt: skip
    bc.add_argument("--shift", type=int, default=0, metavar="PX",
                    help="augment: each training shard is seen moved by up to PX pixels each way "
                    "(edges repeated), redrawn every epoch, the same in both frameworks; "
                    "validation never is (default 0: off; DrQ uses 4); the run name gets "
                    "-shift<PX>")  # fmt: skip
    bc.add_argument("--epochs", type=int, metavar="N",
                    help="epochs of the schedule (default: the profile's); the full profile's "
                    "cosine decays over N, so a dataset k times the profile's size trains for "
                    "the same number of steps at --epochs <profile's>/k; the run name gets "
                    "-e<N>")  # fmt: skip
    bc.add_argument("--threads", type=int, help="framework threads (default: all cores)")
    bc.add_argument("--resume", action="store_true", help="continue from the checkpoint in --out")
    bc.add_argument("--continue-from", type=Path, metavar="RUN",
                    help="continue RUN's training (weights, optimizer, epochs done) for the rest "
                    "of its schedule on --dataset, into --out (default: the run name + "
                    "-on-<dataset folder>), leaving RUN as it is; for DAgger, whose datasets "
                    "`cellbench dataset dagger RUN` writes")  # fmt: skip
    bc.add_argument("--stop-after", type=int, metavar="EPOCH",
                    help="train only through EPOCH of the profile's schedule (the lr still "
                    "decays over all its epochs) and skip the closed loop: the checkpoint for "
                    "`cellbench dataset dagger`, to --continue-from or --resume after")  # fmt: skip
    bc.add_argument("--dagger", action="store_true",
                    help="the DAgger recipe in one command (bench/bc/dagger_recipe.py): train 60%% "
                    "of the schedule into OUT-epochE, let that checkpoint play two rounds "
                    "labelled by the expert (beta 0.5 for a fifth of the dataset's sequences, "
                    "then beta 0.1 for two fifteenths) into <data>/<run name>-round1, -round2, "
                    "and finish the schedule on the grown data into OUT; --resume continues "
                    "whichever stage stopped; the run name gets -dagger")  # fmt: skip
    bc.set_defaults(handler=_run_train_bc)
    _add_train_a2c(suites)


def _run_train_bc(args) -> int:
    from .bc.dagger_recipe import train_with_dagger
    from .bc.profiles import get_profile, rounds_epoch
    from .bc.spec import check_units
    from .bc.suite import ensure_dataset, run_name
    from .bc.train import check_stop_after, train_bc

    default = get_profile(args.profile)
    # Settings that cannot work are refused before a dataset is generated for nothing.
    profile = dataclasses.replace(default, lr=default.lr if args.lr is None else args.lr,
                                  epochs=default.epochs if args.epochs is None else args.epochs,
                                  shift=args.shift)  # fmt: skip
    check_stop_after(args.stop_after, profile)
    check_units(args.units)
    if args.dagger:
        if args.continue_from or args.stop_after:
            raise ValueError("dagger: it trains, plays the rounds and continues by itself; "
                             "drop --continue-from and --stop-after")  # fmt: skip
        rounds_epoch(profile)
    dataset = ensure_dataset(args.game, profile, args.dataset)
    if args.carry_state:
        profile = dataclasses.replace(profile, carry_state=True)
    other_lr = None if profile.lr == default.lr else profile.lr
    other_epochs = None if profile.epochs == default.epochs else profile.epochs
    name = run_name(args.game, args.cell, args.backend, profile.name, args.seed, args.extractor,
                    profile.carry_state, other_lr, profile.shift, other_epochs,
                    args.units)  # fmt: skip
    if args.continue_from and not args.out:
        name += f"-on-{dataset.name}"
    name += "-dagger" if args.dagger else ""
    out = args.out or DEFAULT_RESULTS / "bc" / "train" / name
    common = {"seed": args.seed, "resume": args.resume, "impl": args.impl,
              "threads": args.threads, "extractor": args.extractor,
              "units": args.units}  # fmt: skip
    if args.dagger:
        summary = train_with_dagger(args.cell, args.backend, dataset, out, profile, **common)
    else:
        summary = train_bc(args.cell, args.backend, dataset, out, profile, **common,
                           continue_from=args.continue_from,
                           stop_after=args.stop_after)  # fmt: skip
    final, played = summary["final"], summary["closed_loop"]
    if played is None:
        print(
            f"{name}: stopped after epoch {final['epoch']}, val accuracy "
            f"{final['val_accuracy']:.3f}, loss {final['val_loss']:.3f}; wrote {out}"
        )
        return 0
    share = played.get("expert_agreement")
    agreement = "" if share is None else f", the expert agreeing on {share:.1%} of its steps"
    rounds = summary["dataset"]["manifest"].get("dagger") or []
    if rounds:
        played_rounds = ", ".join(f"{r['expert_agreement']:.1%} (beta {r['beta']:g})"
                                  for r in rounds)  # fmt: skip
        print(f"{name}: {len(rounds)} DAgger rounds, the policy choosing the expert's action on "
              f"{played_rounds} of their steps")  # fmt: skip
    print(
        f"{name}: val accuracy {final['val_accuracy']:.3f}, loss {final['val_loss']:.3f}, "
        f"{final['samples_per_second']:.0f} samples/s; closed loop {played['mean']:.1f} ± "
        f"{played['std']:.1f} over {len(played['returns'])} games{agreement}; wrote {out}"
    )
    return 0


def _frames(text: str) -> int:
    """'2e6', '2000000' or '2_000_000' -> 2000000."""
    try:
        value = float(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a frame count such as 2e6, got {text!r}"
        ) from None
    if not value.is_integer() or value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole frame count, got {text!r}")
    return int(value)


def _add_train_a2c(suites) -> None:
    from .a2c.config import PROFILES, A2CConfig

    defaults = A2CConfig()
    a2c = suites.add_parser(
        "a2c",
        help="recurrent advantage actor-critic on an Atari game",
        description=(
            "Synchronous A2C: Nature CNN -> cell -> policy and value heads, n-step returns (or "
            "GAE with --gae-lambda < 1), value loss, entropy bonus, gradient-norm clipping, "
            "Adam (default) or RMSprop with Keras's semantics in both frameworks, on ALE's "
            "vector env. The same config, initial weights, env seeds and action draws in torch "
            "and TF. Training "
            "sees life losses as episode ends and clipped rewards; the logged returns are "
            "full-game scores. Writes metrics.csv, episodes.csv, checkpoint.npz (atomic; "
            "--resume continues) and summary.json. Profiles: "
            + "; ".join(f"{name}: {p['frames']:,} frames" for name, p in PROFILES.items())
            + "."
        ),
    )
    a2c.add_argument("--cell", required=True, choices=("lstm", "gru", "cfc", "ltc"))
    a2c.add_argument("--backend", required=True, choices=("torch", "tf"))
    a2c.add_argument("--game", default="breakout", help="ALE game (default breakout)")
    a2c.add_argument("--profile", default="quick", choices=tuple(PROFILES),
                     help="frame budget (default quick)")  # fmt: skip
    a2c.add_argument("--frames", type=_frames, help="frame budget, e.g. 2e6 (overrides profile)")
    a2c.add_argument("--num-envs", type=int, default=defaults.num_envs,
                     help=f"envs stepped together (default {defaults.num_envs})")  # fmt: skip
    a2c.add_argument("--n-steps", type=int, default=defaults.n_steps,
                     help=f"steps per env per update (default {defaults.n_steps})")  # fmt: skip
    a2c.add_argument("--gae-lambda", type=float, default=defaults.gae_lambda,
                     help="1.0: n-step returns (default); < 1: GAE")  # fmt: skip
    a2c.add_argument("--optimizer", default=defaults.optimizer, choices=("rmsprop", "adam"))
    a2c.add_argument("--lr", type=float, default=defaults.lr,
                     help=f"learning rate, decays linearly to 0 ({defaults.lr})")  # fmt: skip
    a2c.add_argument("--eps", type=float, default=defaults.eps,
                     help=f"the optimizer's epsilon (default {defaults.eps})")  # fmt: skip
    a2c.add_argument("--dense-lr-scale", type=float, default=defaults.dense_lr_scale,
                     help="the conv trunk's 3136 -> 512 dense layer learns at lr x this (default "
                          f"{defaults.dense_lr_scale}; 1: one lr; smaller keeps its ReLU "
                          "features from dying early)")  # fmt: skip
    a2c.add_argument("--units", type=int, metavar="N",
                     help="the cell's unit count (default: LTC 32, the others 64); the run name "
                     "gets -u<N>")  # fmt: skip
    a2c.add_argument("--seed", type=int, default=0, help="seed of weights, envs and actions")
    a2c.add_argument("--out", type=Path, help="run folder (default results/a2c/train/<run name>)")
    a2c.add_argument("--impl", help="cell implementation (default eager for torch, graph for tf)")
    a2c.add_argument("--threads", type=int, help="torch threads (default: all cores)")
    a2c.add_argument("--resume", action="store_true", help="continue from the checkpoint in --out")
    a2c.add_argument("--no-progress", action="store_true", help="no progress bar")
    a2c.set_defaults(handler=_run_train_a2c)


def _run_train_a2c(args) -> int:
    from .a2c.config import profile_config, training_settings
    from .a2c.train import train_a2c
    from .bc.suite import run_name

    changes = {"cell": args.cell, "settings": training_settings(args.game),
               "num_envs": args.num_envs, "n_steps": args.n_steps,
               "gae_lambda": args.gae_lambda, "optimizer": args.optimizer, "lr": args.lr,
               "eps": args.eps, "dense_lr_scale": args.dense_lr_scale,
               "seed": args.seed, "units": args.units}  # fmt: skip
    if args.frames is not None:
        changes["frames"] = args.frames
    config = profile_config(args.profile, **changes)
    name = run_name(config.settings.game, args.cell, args.backend, args.profile, args.seed,
                    units=args.units)  # fmt: skip
    out = args.out or DEFAULT_RESULTS / "a2c" / "train" / name
    summary = train_a2c(config, args.backend, out, args.resume, args.impl, args.threads,
                        progress_bar=not args.no_progress)  # fmt: skip
    mean = summary["final_mean_return_100"]
    shown = "no game finished" if mean is None else f"{mean:.2f}"
    print(
        f"{name}: {summary['frames']:,} frames, {summary['games']} games, mean return of the "
        f"last 100 games {shown}, {summary['frames_per_second'] or 0:.0f} frames/s; wrote {out}"
    )
    return 0


def _add_report(subparsers) -> None:
    from .report import DEFAULT_THRESHOLD

    parser = subparsers.add_parser(
        "report",
        help="turn results/ into an HTML and Markdown report",
        description=(
            "Read what the suites, `cellbench verify` and `cellbench ode` wrote (pytest-benchmark "
            "JSON, verify.json, ODE tables, BC and A2C training metrics; nothing is re-run) and "
            "write OUT/index.html (one self-contained file: figures embedded, opens offline), "
            "OUT/report.md with the PNGs beside it, and every table as OUT/tables/*.csv. A "
            "missing result leaves its section saying which command produces it; an unreadable "
            "file is named at the top of the report. With --baseline, exit status 1 when a "
            "median is more than --threshold above the baseline's."
        ),
    )
    parser.add_argument(
        "--results",
        type=Path,
        default=DEFAULT_RESULTS,
        help="results folder to read (default %(default)s)",
    )
    parser.add_argument("--out", type=Path, help="report folder (default RESULTS/report)")
    parser.add_argument(
        "--baseline",
        metavar="RUN",
        help="earlier run to compare timings with: a pytest-benchmark JSON file (e.g. "
        "results/kernels/runs/<time>.json), a results folder, or a run name <time> under "
        "RESULTS/<suite>/runs/",
    )
    parser.add_argument(
        "--threshold",
        type=float,
        default=DEFAULT_THRESHOLD,
        help="regression threshold on the median, as a fraction (default %(default)s = 10%%)",
    )
    parser.set_defaults(handler=_run_report)


def _run_report(args) -> int:
    from .report import build_report

    report = build_report(args.results, args.out, args.baseline, args.threshold)
    for warning in report.warnings:
        print(f"cellbench report: warning: {warning}", file=sys.stderr)
    if report.comparison is not None:
        print(f"{report.regressions} regression(s) beyond {args.threshold:.0%} vs {args.baseline}")
    print(f"wrote {report.html} (report.md, the PNGs and tables/*.csv beside it)")
    return 1 if report.regressions else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cellbench",
        description="Benchmark harness for recurrent cells (CfC, LTC, LSTM, GRU) in PyTorch and "
        "TensorFlow/Keras 3, checked against one float64 numpy reference.",
    )
    subparsers = parser.add_subparsers(title="commands", dest="command", required=True)
    _add_verify(subparsers)
    _add_ode(subparsers)
    _add_dataset(subparsers)
    _add_train(subparsers)
    _add_report(subparsers)
    add_sweep(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        status = args.handler(args)
    except (ValueError, ImportError, FileNotFoundError, FolderBusyError) as error:
        print(f"cellbench {args.command}: error: {error}", file=sys.stderr)
        return 2
    print(f"[{args.command} took {time.perf_counter() - started:.1f} s]", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
