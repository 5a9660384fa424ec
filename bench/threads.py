"""Thread counts: torch and TF get the same number in every timed comparison."""

from __future__ import annotations


def set_tf_threads(threads: int) -> None:
    """Give TF the same thread count as torch; TF fixes it at its first op, so check after."""
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:
        pass  # already initialised in this process; the actual value is checked below
    actual = tf.config.threading.get_intra_op_parallelism_threads()
    if actual not in (0, threads):
        raise RuntimeError(
            f"threads: TF was initialised with {actual} intra-op threads before the suite "
            f"could set {threads}; run this in a fresh process"
        )
