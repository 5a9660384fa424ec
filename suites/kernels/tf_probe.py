"""Time TF CfC / LTC implementations against keras.layers.LSTM, alone in one process.

    .venv/bin/python suites/kernels/tf_probe.py                       # the kernel issue's shape
    .venv/bin/python suites/kernels/tf_probe.py --cells cfc --impls graph xla --repeats 50

Defaults are the kernel issue's shape: B=32, T=64, input 256, hidden 64, CfC backbone 128,
float32, CPU, 2 intra-op threads (set before any TF op, as the probe must run alone: timings
taken beside torch in one process were unstable). Every callable is a tf.function around the
layer call, so all candidates run as graphs, keras LSTM included:

    forward           y = layer(x, training=False); y.numpy()
    forward+backward  GradientTape over the layer's trainable weights, loss = sum(y);
                      every gradient read with .numpy()

The first call (tracing, XLA compilation) and --warmup more are outside the timed region and
the first is reported as "first ms". Per cell, the candidates (keras LSTM included) are then
timed round-robin, --repeats rounds, so that the machine's slow spells fall on all of them
alike (--order blocked times each candidate's calls in a row instead, as a training loop
would run them); the figure is the median, with the spread (interquartile range) beside
it. Ratios are of medians, against keras LSTM in the same direction. --json writes every
number with the machine description.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

DIRECTIONS = ("forward", "forward+backward")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--cells", nargs="+", default=["cfc", "ltc"], choices=["cfc", "ltc"])
    parser.add_argument(
        "--impls",
        nargs="+",
        default=None,
        help="cells.tf implementations to time (default: every registered one that runs the "
        "cell); keras LSTM is always timed as the baseline",
    )
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=64)
    parser.add_argument("--inputs", type=int, default=256)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--backbone", type=int, default=128, help="CfC backbone_units")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--threads", type=int, default=2, help="TF intra-op threads")
    parser.add_argument("--inter-op", type=int, default=1, help="TF inter-op threads")
    parser.add_argument("--repeats", type=int, default=30, help="timed calls (median of)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed calls after the first")
    parser.add_argument(
        "--directions", nargs="+", default=list(DIRECTIONS), choices=list(DIRECTIONS)
    )
    parser.add_argument(
        "--order",
        default="interleaved",
        choices=["interleaved", "blocked"],
        help="interleaved: one call of each candidate per round (slow spells of the machine "
        "fall on all alike); blocked: all of one candidate's calls in a row (as in a "
        "training loop: its caches stay warm)",
    )
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats: expected >= 1")
    return args


def _import_torch() -> None:
    try:
        import torch  # noqa: F401
    except ImportError:
        pass


def configure_tensorflow(threads: int, inter_op: int):
    """Import TF with pinned thread pools; must run before any TF op creates the context."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # torch and Triton before TF: their bundled libraries clash with TF's otherwise.
    try:
        from cells.preload import before_tensorflow
    except ImportError:  # a checkout without cells.preload: torch is the one that matters
        before_tensorflow = _import_torch
    before_tensorflow()
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(inter_op)
    # One tf.function per candidate from the same closure reads to TF as "retracing"; it is not.
    tf.get_logger().setLevel("ERROR")
    return tf


def summary(times_s: list[float], first_s: float) -> dict:
    """Median, minimum and interquartile range (ms) of timed calls, and the first call's time."""
    ms = sorted(t * 1e3 for t in times_s)
    quartiles = statistics.quantiles(ms, n=4) if len(ms) > 1 else [ms[0]] * 3
    return {
        "median_ms": statistics.median(ms),
        "min_ms": ms[0],
        "iqr_ms": quartiles[2] - quartiles[0],
        "first_ms": first_s * 1e3,
        "repeats": len(ms),
    }


def timed(calls: dict, repeats: int, warmup: int, interleaved: bool = True) -> dict:
    """Time every call of `calls` (key -> callable) -> key -> `summary`.

    interleaved: round-robin, in an order rotated every round, so that a slow spell of the
    machine falls on every candidate alike instead of on whichever was running at the time;
    else each candidate's calls in a row.
    """
    first = {}
    for key, call in calls.items():
        start = time.perf_counter()
        call()  # tracing and XLA compilation
        first[key] = time.perf_counter() - start
    for _ in range(warmup):
        for call in calls.values():
            call()
    keys = list(calls)
    if interleaved:
        order = [keys[r % len(keys) :] + keys[: r % len(keys)] for r in range(repeats)]
    else:
        order = [[key] * repeats for key in keys]
    times = {key: [] for key in keys}
    for key in (key for batch in order for key in batch):
        start = time.perf_counter()
        calls[key]()
        times[key].append(time.perf_counter() - start)
    return {key: summary(times[key], first[key]) for key in keys}


def make_calls(tf, layer, x, call_layer):
    """(forward, forward+backward) callables for `layer`, both tf.functions."""

    @tf.function
    def forward(x):
        return call_layer(layer, x, False)

    @tf.function
    def forward_backward(x):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(call_layer(layer, x, True))
        return tape.gradient(loss, layer.trainable_weights)

    return {
        "forward": lambda: forward(x).numpy(),
        "forward+backward": lambda: [g.numpy() for g in forward_backward(x)],
    }


def candidates(args, tf, cell: str, x):
    """(label, calls) for keras LSTM and every selected cells.tf implementation of `cell`."""
    import keras

    import cells
    import cells.tf as ctf

    lstm = keras.layers.LSTM(args.hidden, return_sequences=True, dtype=args.dtype)
    lstm.build((None, args.steps, args.inputs))
    yield "keras LSTM", make_calls(tf, lstm, x, lambda l, x, training: l(x, training=training))

    hparams = {"backbone_units": args.backbone} if cell == "cfc" else {}
    spec = cells.get_spec(cell, args.inputs, args.hidden, **hparams)
    impls = args.impls or ctf.IMPLEMENTATIONS.names()
    for impl in impls:
        reason = ctf.IMPLEMENTATIONS.get(impl).unsupported(spec)
        if reason:
            if args.impls:
                print(f"skipping {cell} {impl}: {reason}", file=sys.stderr)
            continue
        layer = ctf.build(spec, spec.init_params(0), impl, dtype=args.dtype)
        yield (
            f"{cell} {impl}",
            make_calls(tf, layer, x, lambda l, x, training: l(x, training=training)[0]),
        )


def main(argv=None) -> int:
    args = parse_args(argv)
    tf = configure_tensorflow(args.threads, args.inter_op)
    import numpy as np

    rng = np.random.default_rng(0)
    x = tf.constant(rng.standard_normal((args.batch, args.steps, args.inputs)).astype(args.dtype))
    shape = f"B={args.batch} T={args.steps} I={args.inputs} H={args.hidden}"
    print(
        f"{shape} CfC backbone={args.backbone} {args.dtype}, threads intra={args.threads} "
        f"inter={args.inter_op}, median of {args.repeats}, {args.order}"
    )
    results = []
    for cell in args.cells:
        calls = {
            (label, direction): made[direction]
            for label, made in candidates(args, tf, cell, x)
            for direction in args.directions
        }
        timings = timed(calls, args.repeats, args.warmup, args.order == "interleaved")
        for (label, direction), timing in timings.items():
            results.append({"cell": cell, "label": label, "direction": direction, **timing})
    baseline = {
        (r["cell"], r["direction"]): r["median_ms"] for r in results if r["label"] == "keras LSTM"
    }
    header = f"{'candidate':<16} {'direction':<17} {'median ms':>10} {'iqr ms':>8} "
    header += f"{'min ms':>8} {'first ms':>9} {'x LSTM':>7}"
    print(header)
    print("-" * len(header))
    for r in results:
        r["ratio_to_keras_lstm"] = r["median_ms"] / baseline[r["cell"], r["direction"]]
        print(
            f"{r['label']:<16} {r['direction']:<17} {r['median_ms']:>10.2f} {r['iqr_ms']:>8.2f} "
            f"{r['min_ms']:>8.2f} {r['first_ms']:>9.0f} {r['ratio_to_keras_lstm']:>7.2f}"
        )
    if args.json:
        from bench.results import machine_info, write_json_atomic

        config = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
        write_json_atomic(
            args.json, {"config": config, "machine": machine_info(), "results": results}
        )
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
