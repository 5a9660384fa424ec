"""`cellbench train bc`: train a BC policy in torch or TF, evaluate it, write metrics.

The same policy spec, the same canonical initial weights (from the seed) and the same batches
(`bench.atari.loaders`, one order for both) in either framework; only the trainer differs
(`torch_trainer`, `tf_trainer`). A profile with `carry_state` trains with truncated BPTT
(`CarriedState`). Per epoch: train, validate, write metrics.csv and the
checkpoint (atomically); `resume=True` continues from the last finished epoch. At the end the
policy plays closed-loop games (`evaluate.play`). Everything lands in `out`:

    metrics.csv     epoch, train_loss, train_accuracy, val_loss, val_accuracy, seconds,
                    samples_per_second, lr (the profile's schedule, `BCProfile.lr_at`)
    checkpoint.npz  see `checkpoint`
    summary.json    settings, dataset manifest, final metrics, closed-loop returns, machine
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from .. import checkpoint
from ..allocator import keep_large_blocks
from ..atari.loaders import batches_per_epoch, continues
from ..atari.sequences import read_manifest
from ..atari.settings import AtariSettings
from ..backends import DEFAULT_IMPL, backend_class
from ..results import csv_text, machine_info, sole_writer, write_json_atomic, write_text_atomic
from ..tensorboard import make_logger
from .profiles import BCProfile
from .spec import PolicySpec, make_policy_spec


def make_trainer(backend: str, spec: PolicySpec, params, lr: float, impl: str | None = None,
                 threads: int | None = None):  # fmt: skip
    keep_large_blocks()  # both backends alike: see `bench.allocator`
    trainer = backend_class(backend, "bench.bc.torch_trainer:TorchTrainer",
                            "bench.bc.tf_trainer:TFTrainer")  # fmt: skip
    return trainer(spec, params, lr, impl or DEFAULT_IMPL[backend], threads)


def dataset_manifest(directory: Path) -> dict:
    """The dataset's manifest; a missing dataset or manifest is a clear error."""
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(
            f"dataset: {directory} does not exist; create it with `cellbench dataset generate "
            f"--out {directory}` (the BC suite does this itself)"
        )
    manifest = read_manifest(directory)
    if manifest is None:
        raise ValueError(
            f"dataset: {directory} has no manifest.json, so its game and action count are "
            "unknown; generate it with `cellbench dataset generate`"
        )
    return manifest


def check_actions(manifest: dict, settings: AtariSettings, directory: Path) -> int:
    """The game's action count, checked against the dataset's."""
    from ..atari.envs import make_env

    env = make_env(settings)
    try:
        actions = int(env.action_space.n)
    finally:
        env.close()
    if manifest["num_actions"] != actions:
        raise ValueError(
            f"dataset: {directory} has {manifest['num_actions']} actions, but "
            f"{settings.game} has {actions}: a dataset of another game?"
        )
    return actions


def train_bc(
    cell: str,
    backend: str,
    dataset: Path,
    out: Path,
    profile: BCProfile,
    seed: int = 0,
    resume: bool = False,
    impl: str | None = None,
    threads: int | None = None,
    progress_bar: bool = True,
    evaluate: bool = True,
    extractor: str = "nature",
    continue_from: Path | None = None,
    stop_after: int | None = None,
    units: int | None = None,
) -> dict:
    """Train, validate, checkpoint, evaluate; returns the summary it writes. `extractor`: the
    conv feature extractor (`bench.bc.spec.EXTRACTORS`: "nature" or ncps's "ncps"). `units`:
    the cell's unit count (None: the cell's default, `bench.bc.spec.default_units`).
    `continue_from`: a run folder whose training this run continues as a resume of it would
    (weights, optimizer state, epochs done, the rest of the schedule), but on `dataset` and
    into `out`, leaving the run as it is: DAgger's retraining (`bench.bc.dagger`). Recorded as
    "continue_from" and kept when this run resumes. `stop_after`: train only through that
    epoch of the schedule (whose lr still decays over all `profile.epochs`) and skip the
    closed loop, so that DAgger can play the checkpoint and a run continue it; the summary
    says "stopped_after". Only one process writes `out` at a time; another is refused at
    once."""
    with sole_writer(out, "out"):
        return _train_bc(cell, backend, dataset, out, profile, seed, resume, impl, threads,
                         progress_bar, evaluate, extractor, continue_from, stop_after,
                         units)  # fmt: skip


def _train_bc(cell, backend, dataset, out, profile, seed, resume, impl, threads, progress_bar,
              evaluate, extractor, continue_from, stop_after, units) -> dict:  # fmt: skip
    """`train_bc` with `out` locked."""
    from .evaluate import play

    check_stop_after(stop_after, profile)
    manifest = dataset_manifest(dataset)
    settings = AtariSettings.from_dict(manifest["settings"])
    num_actions = check_actions(manifest, settings, Path(dataset))
    warning = mixed_labels_warning(manifest, dataset)
    if warning is not None:
        print(f"cellbench train: warning: {warning}", file=sys.stderr)
    spec = make_policy_spec(cell, num_actions, units, extractor=extractor)
    out = Path(out)
    identity = {"policy": spec.to_config(), "backend": backend, "dataset_game": settings.game}
    params, optimizer_state, history, start = spec.init_params(seed), None, [], 0
    ckpt, origin = out / checkpoint.NAME, None
    if ckpt.exists() and not resume:
        raise ValueError(
            f"out: {out} already holds a checkpoint; pass --resume to continue it or choose "
            "another --out"
        )
    if ckpt.exists() or continue_from is not None:
        start_from = ckpt if ckpt.exists() else _continued_checkpoint(Path(continue_from))
        params, optimizer_state, meta = checkpoint.load(start_from)
        checkpoint.check_compatible(meta, identity, start_from)
        _check_same_profile(meta, profile, start_from)
        params = spec.check_params(params, f"checkpoint {start_from}")
        history, start = meta["history"], meta["epochs_done"]
        origin = meta.get("continue_from")
        if start_from != ckpt:
            origin = {"run": str(continue_from), "epochs_done": start}
            if start >= profile.epochs:
                raise ValueError(
                    f"continue_from: {continue_from} finished all {start} epochs of its "
                    f"{profile.lr_schedule} schedule, so there is nothing left to continue; "
                    "continue a checkpoint from before its last epoch, or train a new run"
                )
    trainer = make_trainer(backend, spec, params, profile.lr, impl, threads)
    if optimizer_state is not None:
        trainer.load_optimizer_state(optimizer_state)
    impl = impl or DEFAULT_IMPL[backend]
    log, close_log = make_logger(backend, out)
    try:
        recorded = {**identity, "impl": impl, **({"continue_from": origin} if origin else {})}
        _train_epochs(trainer, cell, backend, dataset, out, profile, seed, start, history,
                      recorded, log, progress_bar, stop_after or profile.epochs)  # fmt: skip
    finally:
        close_log()
    closed_loop = None
    if evaluate and stop_after is None:
        closed_loop = play(trainer, settings, profile.eval_episodes, seed + 1000,
                           profile.eval_max_steps, progress_bar=progress_bar)  # fmt: skip
    summary = {
        **identity,
        "cell": cell,
        "extractor": extractor,
        "impl": impl,
        "seed": seed,
        "profile": profile.as_dict(),
        "dataset": {"path": str(dataset), "manifest": manifest},
        "continue_from": origin,
        "stopped_after": stop_after,
        "final": history[-1] if history else None,
        "history": history,
        "closed_loop": closed_loop,
        "machine": machine_info(),
    }
    write_json_atomic(out / "summary.json", summary)
    return summary


def check_stop_after(stop_after: int | None, profile: BCProfile) -> None:
    """An early stop is an epoch before the schedule's last (None: no early stop)."""
    if stop_after is not None and not 1 <= stop_after < profile.epochs:
        before_last = f"from 1 to {profile.epochs - 1}" if profile.epochs > 1 else "(it has none)"
        raise ValueError(
            f"stop_after: expected an epoch before the last of the {profile.epochs}-epoch "
            f"schedule, {before_last}, got {stop_after}"
        )


def _train_epochs(trainer, cell, backend, dataset, out, profile, seed, start, history, identity,
                  log, progress_bar, last) -> None:  # fmt: skip
    """Epochs start+1 .. last (of profile.epochs): train, validate, append to `history`, then write
    metrics.csv, the TensorBoard scalars and the checkpoint after each."""
    from tqdm import tqdm

    per_epoch = batches_per_epoch(dataset, "train", profile.batch_size)
    for epoch in range(start, last):
        lr = profile.lr_at(epoch)
        trainer.set_lr(lr)
        started = time.perf_counter()
        losses, accuracies, samples = [], [], 0
        carried = CarriedState(trainer, profile.carry_state)
        batches = trainer.batches(dataset, "train", profile.batch_size, seed, epoch,
                                  profile.carry_state, profile.shift)  # fmt: skip
        for obs, actions in tqdm(batches, desc=f"{cell}/{backend} epoch {epoch + 1}",
                                 total=per_epoch, unit="batch", disable=not progress_bar,
                                 leave=False):  # fmt: skip
            loss, accuracy, final = trainer.train_step(obs, actions, carried.initial(obs))
            carried.keep(obs, final)
            losses.append(loss)
            accuracies.append(accuracy)
            samples += int(np.prod(actions.shape[:2]))
        seconds = time.perf_counter() - started
        val_loss, val_accuracy, predicted = _validate(trainer, dataset, profile, seed)
        warning = collapse_warning(epoch + 1, predicted, profile.lr)
        if warning is not None:
            tqdm.write(f"cellbench train: warning: {warning}", file=sys.stderr)
        row = {
            "epoch": epoch + 1,
            "train_loss": float(np.mean(losses)),
            "train_accuracy": float(np.mean(accuracies)),
            "val_loss": val_loss,
            "val_accuracy": val_accuracy,
            "seconds": seconds,
            "samples_per_second": samples / seconds,
            "lr": lr,
        }
        if not np.isfinite(row["train_loss"]):
            raise FloatingPointError(f"training diverged at epoch {epoch + 1}: loss is not finite")
        history.append(row)
        write_text_atomic(out / "metrics.csv", csv_text(history))
        if log is not None:
            log(row)
        meta = {**identity, "epochs_done": epoch + 1, "history": history, "seed": seed,
                "profile": profile.as_dict()}  # fmt: skip
        checkpoint.save(out, trainer.export_params(), trainer.optimizer_state(), meta)


def _continued_checkpoint(run: Path) -> Path:
    """The checkpoint `continue_from` names, checked to exist. (It cannot be `out`'s own: a
    checkpoint there is resumed, or refused without `resume`.)"""
    path = run / checkpoint.NAME
    if not path.exists():
        raise FileNotFoundError(f"continue_from: {run} holds no {checkpoint.NAME} to continue")
    return path


def _check_same_profile(meta: dict, profile: BCProfile, ckpt: Path) -> None:
    """A run resumes with the batch size, lr schedule and carried state it started with. More
    epochs at a constant lr just train longer; under a decaying schedule they would change its
    course."""
    stored = BCProfile.stored(meta["profile"])
    fields = ["batch_size", "lr", "lr_schedule", "carry_state", "shift"]
    if profile.lr_schedule != "constant":
        fields.append("epochs")
    changed = [f for f in fields if stored[f] != getattr(profile, f)]
    if changed:
        said = ", ".join(f"{f}={stored[f]!r} (now {getattr(profile, f)!r})" for f in changed)
        raise ValueError(
            f"profile: checkpoint {ckpt} was trained with {said}; resume it with the profile "
            "it started with, or train into another --out"
        )


def _validate(trainer, dataset, profile: BCProfile, seed) -> tuple[float, float, np.ndarray]:
    """Validation loss, accuracy and predictions per action (num_actions,), with the state
    carried as in training when it is."""
    total_loss, correct, count, predicted = 0.0, 0, 0, 0
    carried = CarriedState(trainer, profile.carry_state)
    for obs, actions in trainer.batches(dataset, "val", profile.batch_size, seed, 0,
                                        profile.carry_state):  # fmt: skip
        batch = trainer.evaluate_batch(obs, actions, carried.initial(obs))
        carried.keep(obs, batch.final)
        total_loss, correct = total_loss + batch.loss, correct + batch.correct
        count, predicted = count + batch.count, predicted + batch.predicted
    return total_loss / count, correct / count, np.asarray(predicted)


def mixed_labels_warning(manifest: dict, dataset: Path) -> str | None:
    """The warning for a dataset labelled by experts of per-shard sticky-action draws (all
    generated before the draws were recorded), None for one labelled by one expert."""
    from ..atari.generate import dataset_draws

    if "expert" not in manifest or dataset_draws(manifest) != "per_shard":
        return None
    return (
        f"dataset: {dataset} was labelled by experts of different sticky-action draws, one "
        "per shard, which a policy cannot tell apart from the frames: two of them agree on "
        "85% of the states, and the best label blind to the draws is theirs on 90%, so "
        "validation accuracy stays below about 90%; `cellbench dataset generate` into a new "
        "folder labels with one expert"
    )


# A policy that plays one action on this share of the validation steps has collapsed: the
# expert's commonest action (NOOP on Breakout) is 58.4% of them, and the full-profile GRU
# (84.4% accurate) predicts it on 60.7%.
COLLAPSED_SHARE = 0.99


def collapse_warning(epoch: int, predicted: np.ndarray, lr: float) -> str | None:
    """The warning for an epoch whose policy predicts one action on nearly every validation
    step (`predicted`: steps per action), as runs whose peak lr was too high did (GRU on
    Breakout at 6e-3, and at 3e-3 with --shift 4: NOOP everywhere, still after their second
    epoch). None otherwise."""
    predicted = np.asarray(predicted)
    action = int(np.argmax(predicted))
    share = predicted[action] / predicted.sum()
    if share < COLLAPSED_SHARE:
        return None
    return (
        f"epoch {epoch}: the policy predicts action {action} on {share:.2%} of the validation "
        f"steps: training has collapsed (or not yet begun to learn); try a lower --lr than "
        f"this run's peak {lr:g}"
    )


class CarriedState:
    """The recurrent state carried from batch to batch (truncated BPTT), on batches in
    `lane_order`: row b continues row b of the previous batch where `continues` says the game
    does, and starts from zeros where a new episode or shard begins. Disabled, every batch
    starts from zeros (None), as without it.

        carried = CarriedState(trainer, enabled=True)
        for obs, actions in batches:
            *_, final = trainer.train_step(obs, actions, carried.initial(obs))
            carried.keep(obs, final)
    """

    def __init__(self, trainer, enabled: bool):
        self.trainer, self.enabled = trainer, enabled
        self.state, self.last_frames = None, None

    def initial(self, obs):
        """The initial state for a batch obs (B, T, 84, 84, 4); B may shrink at the end."""
        if not self.enabled or self.state is None:
            return None
        rows = len(obs)
        state = _first_rows(self.state, rows)
        fresh = ~continues(np.asarray(obs[:, 0]), self.last_frames[:rows])
        return self.trainer.reset_state(state, fresh)

    def keep(self, obs, final) -> None:
        if self.enabled:
            self.state, self.last_frames = final, np.asarray(obs[:, -1])


def _first_rows(state, rows: int):
    if isinstance(state, (tuple, list)):
        return tuple(s[:rows] for s in state)
    return state[:rows]
