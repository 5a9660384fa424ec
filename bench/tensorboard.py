"""Training metrics (per BC epoch, per A2C log interval) as TensorBoard scalars in
<run>/tensorboard, when TensorBoard is installed.

TF runs write with `tf.summary`, torch runs with `torch.utils.tensorboard`; both need the
`tensorboard` package (in the `dev` extra) and are skipped without it. metrics.csv holds
the same numbers either way.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

Logger = Callable[[dict], None]


def make_logger(
    backend: str, out: Path, step: str = "epoch"
) -> tuple[Logger | None, Callable[[], None]]:
    """(log(row), close()) for the backend, or (None, no-op) when no writer is installed; each
    row's `step` column is the x axis of every other column."""
    if importlib.util.find_spec("tensorboard") is None:
        return None, lambda: None
    directory = str(Path(out) / "tensorboard")
    if backend == "tf":
        import tensorflow as tf

        writer = tf.summary.create_file_writer(directory)

        def log(row: dict) -> None:
            with writer.as_default():
                for key, value in row.items():
                    if key != step:
                        tf.summary.scalar(key, value, step=int(row[step]))
            writer.flush()

        return log, writer.close
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(directory)

    def log(row: dict) -> None:
        for key, value in row.items():
            if key != step:
                writer.add_scalar(key, value, int(row[step]))
        writer.flush()

    return log, writer.close
