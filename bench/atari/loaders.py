"""Loaders of a BC dataset directory: a torch `Dataset` + `DataLoader`, and a `tf.data` pipeline.

Both read the same files in the same order for the same (seed, epoch) — `epoch_order` decides
it, once, in numpy — so torch and TF models see identical batches. Observations stay uint8
(B, 32, 84, 84, 4) until the model normalises them; actions are int64 (B, 32).

With `carry_state=True` the order is `lane_order`'s instead: row b of each batch continues row b
of the previous one where the game does (`continues` tells), so a trainer can carry the
recurrent state across batches (truncated BPTT).

With `shift=N` (training data only) every sequence is seen translated by up to N pixels each
way, its border pixels repeated into the gap (random shifts, as DrQ: Kostrikov et al., 2020).
The offset is drawn per shard and epoch from (seed, epoch), apart from the file order, so both
loaders shift alike, a whole sequence (its 32 steps and 4 stacked frames) moves as one, and a
carried state never crosses a jump.

    loader = torch_loader("data/breakout", "train", batch_size=32, seed=0, epoch=e)
    dataset = tf_dataset("data/breakout", "train", batch_size=32, seed=0, epoch=e)
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from .sequences import OBS_SHAPE, SEQUENCE_LENGTH, list_split, load_sequence, read_manifest


def epoch_order(count: int, seed: int, epoch: int, shuffle: bool = True) -> np.ndarray:
    """File order of one epoch: a permutation drawn from (seed, epoch), or 0..count-1."""
    if not shuffle:
        return np.arange(count)
    return np.random.default_rng([seed, epoch]).permutation(count)


def lane_order(count: int, lanes: int, block: int, seed: int, epoch: int,
               shuffle: bool = True) -> np.ndarray:  # fmt: skip
    """File order of one epoch for carried state, batch-major: `lanes` rows per batch.

    Blocks of `block` consecutive files (a dataset's shards: one game played on, so file i+1
    mostly continues file i) are shuffled by (seed, epoch), or kept in order, and joined into
    one stream; the stream is cut into `lanes` contiguous lanes whose lengths differ by at most
    one, the longer first. Batch k holds file k of every lane long enough, so a shorter last
    batch holds the first lanes only and nothing is dropped. As in language-model training
    (Zaremba et al., 2014), a lane is read in order, so its state can be carried.

    Returns file indices (count,) whose consecutive `lanes`-long slices are the batches.
    """
    if lanes < 1 or block < 1:
        raise ValueError(f"lanes, block: expected >= 1, got {lanes}, {block}")
    starts = np.arange(0, count, block)
    if shuffle:
        starts = starts[np.random.default_rng([seed, epoch]).permutation(len(starts))]
    stream = np.concatenate([np.arange(s, min(s + block, count)) for s in starts] or [[]])
    stream = stream.astype(np.int64)
    length, longer = divmod(count, lanes)
    bounds = np.cumsum([0] + [length + (lane < longer) for lane in range(lanes)])
    order = [stream[bounds[lane] + k] for k in range(length + 1) for lane in range(lanes)
             if bounds[lane] + k < bounds[lane + 1]]  # fmt: skip
    return np.asarray(order, dtype=np.int64)


def shift_offsets(count: int, block: int, shift: int, seed: int, epoch: int) -> np.ndarray:
    """Each of `count` files' (dy, dx) in this epoch, integers in [-shift, shift]: one pair per
    block of `block` consecutive files (a dataset's shards). -> int64 (count, 2)"""
    if block < 1 or shift < 0:
        raise ValueError(f"block, shift: expected >= 1 and >= 0, got {block}, {shift}")
    blocks = -(-count // block)
    offsets = np.random.default_rng([seed, epoch, 2]).integers(-shift, shift + 1, (blocks, 2))
    return np.repeat(offsets, block, axis=0)[:count].astype(np.int64)


def shifted(obs: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """obs (T, H, W, C) moved dy pixels down and dx right, the edge rows and columns repeated
    into the gap -> an array of the same shape and dtype (obs itself when both are 0)."""
    if not dy and not dx:  # most draws of a small shift: no pad, no copy
        return obs
    _, height, width, _ = obs.shape
    pad_y, pad_x = abs(int(dy)), abs(int(dx))
    padded = np.pad(obs, ((0, 0), (pad_y, pad_y), (pad_x, pad_x), (0, 0)), mode="edge")
    top, left = pad_y - int(dy), pad_x - int(dx)
    return np.ascontiguousarray(padded[:, top : top + height, left : left + width])


def continues(first: np.ndarray, previous_last: np.ndarray) -> np.ndarray:
    """Whether each sequence continues the one before it in the game: its first frame stack
    (N, 84, 84, 4) holds the previous sequence's last (N, 84, 84, 4) shifted by one frame.
    New episodes and shards start on a fresh stack, so they do not. -> bool (N,)"""
    first, previous_last = np.asarray(first), np.asarray(previous_last)
    return np.all(first[..., :-1] == previous_last[..., 1:], axis=(1, 2, 3))


def batches_per_epoch(directory, split: str, batch_size: int) -> int:
    """How many batches one epoch of `split` yields, in either order: none is dropped, so the
    last may be shorter."""
    return -(-len(list_split(directory, split)) // batch_size)


def _shard_size(directory) -> int:
    manifest = read_manifest(directory)
    return int(manifest.get("shard_size", 64)) if manifest else 64


def _order(directory, count, batch_size, seed, epoch, shuffle, carry_state) -> np.ndarray:
    if not carry_state:
        return epoch_order(count, seed, epoch, shuffle)
    return lane_order(count, batch_size, _shard_size(directory), seed, epoch, shuffle)


def _offsets(directory, count: int, shift: int, seed: int, epoch: int) -> np.ndarray | None:
    """`shift_offsets` of the split's files, or None without a shift."""
    if isinstance(shift, bool) or not isinstance(shift, (int, np.integer)) or shift < 0:
        raise ValueError(f"shift: expected an integer >= 0 (pixels), got {shift!r}")
    if shift == 0:
        return None
    return shift_offsets(count, _shard_size(directory), shift, seed, epoch)


def _num_actions(directory, num_actions: int | None) -> int | None:
    if num_actions is not None:
        return num_actions
    manifest = read_manifest(directory)
    return manifest["num_actions"] if manifest else None


def prefetched(items: Iterable, depth: int = 2) -> Iterator:
    """Yield `items` in order while a background thread reads up to `depth` ahead.

    Reading a batch is mostly zlib inflating 32 `.npz` files, which runs without the GIL, so on
    a thread it overlaps the training step on the previous batch: no worker process (which would
    fork a process that may hold TF's threads) and no copy between processes. An exception in
    the reader is raised here, at the item it failed on; closing the generator early stops it.
    """
    if depth < 1:
        raise ValueError(f"depth: expected >= 1, got {depth}")
    ready: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def put(entry) -> bool:
        while not stop.is_set():
            try:
                ready.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def read():
        try:
            for item in items:
                if not put((item, None)):
                    return
        except BaseException as error:  # noqa: BLE001 - handed to the consumer, raised there
            put((done, error))
            return
        put((done, None))

    reader = threading.Thread(target=read, name="prefetch", daemon=True)
    reader.start()
    try:
        while True:
            item, error = ready.get()
            if item is done:
                if error is not None:
                    raise error
                return
            yield item
    finally:
        stop.set()
        reader.join()


def torch_dataset(
    directory: str | os.PathLike,
    split: str,
    num_actions: int | None = None,
    offsets: np.ndarray | None = None,
):
    """A map-style torch Dataset: item i -> (obs uint8 (32, 84, 84, 4), actions int64 (32,)),
    obs `shifted` by `offsets[i]` when offsets (count, 2) are given."""
    import torch
    from torch.utils.data import Dataset

    files = list_split(directory, split)
    limit = _num_actions(directory, num_actions)

    class SequenceDataset(Dataset):
        def __len__(self):
            return len(files)

        def __getitem__(self, index):
            obs, actions = load_sequence(files[index], limit)
            if offsets is not None:
                obs = shifted(obs, *offsets[index])
            return torch.from_numpy(obs), torch.from_numpy(actions)

    return SequenceDataset()


def torch_loader(
    directory,
    split: str,
    batch_size: int,
    seed: int = 0,
    epoch: int = 0,
    shuffle: bool = True,
    num_workers: int = 0,
    num_actions: int | None = None,
    carry_state: bool = False,
    shift: int = 0,
):
    """A DataLoader over one epoch in `epoch_order` (`lane_order` with `carry_state`), its
    sequences moved by up to `shift` pixels; workers > 0 prefetch in the background."""
    from torch.utils.data import DataLoader

    count = len(list_split(directory, split))
    offsets = _offsets(directory, count, shift, seed, epoch)
    dataset = torch_dataset(directory, split, num_actions, offsets)
    order = _order(directory, count, batch_size, seed, epoch, shuffle, carry_state)
    order = order.tolist()
    extra = {"prefetch_factor": 4, "persistent_workers": False} if num_workers > 0 else {}
    return DataLoader(
        dataset, batch_size=batch_size, sampler=order, num_workers=num_workers, **extra
    )


def tf_dataset(
    directory,
    split: str,
    batch_size: int,
    seed: int = 0,
    epoch: int = 0,
    shuffle: bool = True,
    num_actions: int | None = None,
    carry_state: bool = False,
    shift: int = 0,
):
    """A tf.data.Dataset over one epoch in `epoch_order` (`lane_order` with `carry_state`), its
    sequences moved by up to `shift` pixels, batched and prefetched."""
    import tensorflow as tf

    paths = list_split(directory, split)
    order = _order(directory, len(paths), batch_size, seed, epoch, shuffle, carry_state)
    offsets = _offsets(directory, len(paths), shift, seed, epoch)
    files = [str(paths[i]) for i in order]
    moves = offsets[order] if offsets is not None else np.zeros((len(order), 2), np.int64)
    limit = _num_actions(directory, num_actions)

    def read(path, move):
        obs, actions = load_sequence(Path(path.decode()), limit)
        return shifted(obs, *move), actions

    def load(path, move):
        obs, actions = tf.numpy_function(read, [path, move], [tf.uint8, tf.int64],
                                         stateful=False)  # fmt: skip
        return tf.ensure_shape(obs, OBS_SHAPE), tf.ensure_shape(actions, (SEQUENCE_LENGTH,))

    dataset = tf.data.Dataset.from_tensor_slices((files, moves))
    # deterministic=True keeps the epoch order while files are read in parallel.
    dataset = dataset.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)
