"""Kernel workloads: what `suites/kernels` times, as a library the GPU scripts reuse.

A workload is (cell, backend, impl, kind, shape): `build_call` returns a zero-argument function
that runs it once, synchronised (CUDA synchronised, TF results read back), after warming it up
(tracing, compiling, first-call allocations) outside any timed region. Kinds:

* "step": one cell step on a given state, as an agent calls a cell in a rollout (a length-1
  sequence through the module or layer, so per-call overheads are included);
* "forward": a whole sequence, inference (torch.no_grad / training=False);
* "forward+backward": a whole sequence and the gradients of sum(y) w.r.t. every weight.

Backends: "torch" (cells.torch impls), "ncps" (ncps.torch's CfC / LTC, built with the same
canonical weights by `cells.interop.to_ncps`), "tf" (cells.tf impls, called inside a
tf.function). float32 throughout.

FLOPs (`flops`) are estimates with a stated convention, for GFLOP/s columns only: 2 per
multiply-add of every matmul in the cell's math, plus a per-element count for the elementwise
work that dominates where there is little matmul (the LTC's synapses: 8 per synapse
evaluation); forward+backward counts 3x forward.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

import cells

from .threads import set_tf_threads

KINDS = ("step", "forward", "forward+backward")


@dataclasses.dataclass(frozen=True)
class Shape:
    """Problem size: batch, steps, inputs, hidden units, CfC backbone width."""

    name: str
    batch: int
    steps: int
    inputs: int
    hidden: int
    backbone: int

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


SHAPES = {
    # seconds on a laptop, for CI
    "smoke": Shape("smoke", batch=4, steps=8, inputs=16, hidden=8, backbone=16),
    # the kernel issue's CPU shape
    "cpu": Shape("cpu", batch=32, steps=64, inputs=256, hidden=64, backbone=128),
    # a GPU-sized problem (too slow for the eager LTC on a CPU)
    "large": Shape("large", batch=256, steps=128, inputs=256, hidden=256, backbone=256),
}


def default_threads() -> int:
    """Cores this process may use: the thread count given to both torch and TF."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def make_spec(cell: str, shape: Shape) -> cells.CellSpec:
    hparams = {"backbone_units": shape.backbone} if cell == "cfc" else {}
    return cells.get_spec(cell, shape.inputs, shape.hidden, **hparams)


def flops(spec: cells.CellSpec, batch: int, steps: int, kind: str) -> float:
    """Estimated floating-point operations of one call (see the module docstring)."""
    inputs, hidden = spec.input_size, spec.units
    rows = batch * (1 if kind == "step" else steps)
    if spec.name in ("lstm", "gru"):
        gates = 4 if spec.name == "lstm" else 3
        per_row = 2 * (inputs + hidden) * gates * hidden + 10 * hidden
    elif spec.name == "cfc":
        per_row = 0
        width = inputs + hidden
        for _ in range(spec.backbone_layers):
            per_row += 2 * width * spec.backbone_units + 4 * spec.backbone_units
            width = spec.backbone_units
        heads = 1 if spec.mode == "pure" else 4
        per_row += 2 * width * heads * hidden + 12 * hidden
    elif spec.name == "ltc":
        per_row = 8 * (inputs * hidden + spec.ode_unfolds * hidden * hidden)
    else:  # pragma: no cover - every cell is listed above
        raise ValueError(f"cell: no FLOPs estimate for {spec.name!r}")
    total = float(rows * per_row)
    return 3 * total if kind == "forward+backward" else total


def unsupported(cell: str, backend: str, impl: str, kind: str, shape: Shape) -> str | None:
    """Why this workload cannot run here (None when it can); never raises for a missing
    backend, it says so instead."""
    spec = make_spec(cell, shape)
    if backend == "ncps":
        if cell not in ("cfc", "ltc"):
            return "ncps has no plain LSTM/GRU cell"
        try:
            import ncps.torch  # noqa: F401
        except ImportError:
            return "ncps is not installed (pip install 'cellbench[compare]')"
        return None
    try:
        module = _backend(backend)
    except ImportError as error:
        return str(error)
    if impl not in module.IMPLEMENTATIONS.names():
        return f"{backend} has no impl {impl!r}"
    implementation = module.IMPLEMENTATIONS.get(impl)
    if kind == "forward+backward" and not implementation.supports_backward:
        return f"{backend}/{impl} is forward-only"
    return implementation.unsupported(spec)


def _backend(backend: str):
    import importlib

    return importlib.import_module(f"cells.{backend}")


def inputs_for(spec: cells.CellSpec, shape: Shape, kind: str, seed: int = 0):
    """x (B, T or 1, I) and h0 (B, H) as float32 numpy arrays."""
    rng = np.random.default_rng(seed)
    steps = 1 if kind == "step" else shape.steps
    x = rng.standard_normal((shape.batch, steps, spec.input_size)).astype(np.float32)
    state = tuple(
        (0.1 * rng.standard_normal((shape.batch, spec.state_size))).astype(np.float32)
        for _ in range(spec.state_arity)
    )
    return x, cells.inputs.pack_state(spec, state)


def build_call(cell, backend, impl, kind, shape, threads, device="cpu", warmup=2):
    """A synchronised zero-argument callable running the workload once, already warmed up."""
    spec = make_spec(cell, shape)
    x, hx = inputs_for(spec, shape, kind)
    if backend == "tf":
        call = _tf_call(spec, impl, kind, x, hx, threads)
    else:
        call = _torch_call(spec, backend, impl, kind, x, hx, threads, device)
    for _ in range(warmup):
        call()
    return call


def _torch_call(spec, backend, impl, kind, x, hx, threads, device):
    import torch

    torch.set_num_threads(threads)
    params = spec.init_params(0)
    if backend == "ncps":
        from cells import interop

        module = interop.to_ncps(spec, params).to(device)
    else:
        module = _backend("torch").build(spec, params, impl, device=device)
    xt = torch.tensor(x, device=device)
    state = None
    if kind == "step":
        state = tuple(
            torch.tensor(h, device=device) for h in cells.inputs.state_parts(spec, hx, x.shape[0])
        )
        state = state[0] if len(state) == 1 else state
    sync = torch.cuda.synchronize if torch.device(device).type == "cuda" else (lambda: None)
    weights = [p for p in module.parameters() if p.requires_grad]

    if kind == "forward+backward":

        def call():
            y = module(xt, state)[0]
            torch.autograd.grad(y.sum(), weights)
            sync()

    else:

        def call():
            with torch.no_grad():
                module(xt, state)
            sync()

    return call


def _tf_call(spec, impl, kind, x, hx, threads):
    import tensorflow as tf

    set_tf_threads(threads)
    layer = _backend("tf").build(spec, spec.init_params(0), impl)
    xt = tf.constant(x)
    state = None
    if kind == "step":
        parts = tuple(tf.constant(h) for h in cells.inputs.state_parts(spec, hx, x.shape[0]))
        state = parts[0] if len(parts) == 1 else parts

    if kind == "forward+backward":

        @tf.function
        def run(xt):
            with tf.GradientTape() as tape:
                y = layer(xt, state, training=False)[0]
                loss = tf.reduce_sum(y)
            return tape.gradient(loss, layer.trainable_weights)

        def call():
            [g.numpy() for g in run(xt)]  # reading the results waits for them

    else:

        @tf.function
        def run(xt):
            return layer(xt, state, training=False)[0]

        def call():
            run(xt).numpy()

    return call


def ratio_table(document: dict) -> list[dict]:
    """pytest-benchmark JSON -> one row per workload with its median time and the ratios the
    kernel issue asks for, all from the same run: vs torch.nn.LSTM (torch/native lstm) and vs
    keras LSTM (tf/native lstm) of the same kind and shape, and vs ncps.torch for the same cell
    (> 1 means slower than the baseline)."""
    rows = []
    for bench in document.get("benchmarks", []):
        info = bench.get("extra_info", {})
        if "cell" not in info:
            continue
        rows.append(
            {
                "kind": info["kind"],
                "shape": info["shape"]["name"],
                "cell": info["cell"],
                "backend": info["backend"],
                "impl": info["impl"],
                "median_ms": bench["stats"]["median"] * 1e3,
                "gflops": info.get("gflops"),
            }
        )
    by_key = {(r["kind"], r["shape"], r["cell"], r["backend"], r["impl"]): r for r in rows}
    for row in rows:
        where = (row["kind"], row["shape"])
        baselines = {
            "vs_torch_lstm": by_key.get((*where, "lstm", "torch", "native")),
            "vs_keras_lstm": by_key.get((*where, "lstm", "tf", "native")),
            "vs_ncps": by_key.get((*where, row["cell"], "ncps", "torch")),
        }
        for name, base in baselines.items():
            row[name] = row["median_ms"] / base["median_ms"] if base else None
    return rows


def format_ratio_table(rows: list[dict]) -> str:
    """Plain-text table of `ratio_table` rows, grouped by kind and shape."""

    def ratio(value):
        return f"{value:8.2f}x" if value is not None else f"{'-':>9}"

    header = (
        f"{'kind':<17} {'shape':<6} {'cell':<5} {'backend/impl':<14} {'median ms':>10} "
        f"{'vs nn.LSTM':>10} {'vs keras':>9} {'vs ncps':>9}"
    )
    lines = [header, "-" * len(header)]
    for r in sorted(rows, key=lambda r: (r["shape"], KINDS.index(r["kind"]), r["cell"])):
        lines.append(
            f"{r['kind']:<17} {r['shape']:<6} {r['cell']:<5} {r['backend'] + '/' + r['impl']:<14} "
            f"{r['median_ms']:>10.3f} {ratio(r['vs_torch_lstm']):>10} "
            f"{ratio(r['vs_keras_lstm']):>9} {ratio(r['vs_ncps']):>9}"
        )
    return "\n".join(lines)
