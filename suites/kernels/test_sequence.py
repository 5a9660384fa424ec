"""Whole-sequence forward and forward+backward of every cell, per backend implementation,
side by side in one run with torch.nn.LSTM as the baseline of each group.

Shape (quick/full): B=32, T=64, input 256, hidden 64, CfC backbone 128 (the kernel issue's
shape). Threads: torch and TF are given the same count, recorded in extra_info.

Known problem, to be fixed with the kernel suite's issue: with torch and TF timed in one
process, some torch timings are unstable (a first quick run on a 2-core CPU gave torch eager
LSTM forward 516 ms but forward+backward 19.5 ms). Do not quote these timings until each
framework is timed in its own process with pinned threads and the spread is checked.
"""

from __future__ import annotations

import numpy as np
import pytest

import cells

torch = pytest.importorskip("torch")

SHAPES = {"smoke": (4, 8, 16, 8), "quick": (32, 64, 256, 64), "full": (32, 64, 256, 64)}
THREADS = 2
CELLS = ("lstm", "gru", "cfc", "ltc")
IMPLS = (
    ("torch", "eager"),
    ("torch", "native"),
    ("tf", "graph"),
    ("tf", "native"),
    ("ncps", "torch"),
)


def _spec(name, inputs, hidden):
    hparams = {"backbone_units": 128} if name == "cfc" else {}
    return cells.get_spec(name, inputs, hidden, **hparams)


def _torch_runner(spec, impl, x, backward):
    import cells.torch as ct

    torch.set_num_threads(THREADS)
    module = ct.build(spec, spec.init_params(0), impl)
    xt = torch.tensor(x, dtype=torch.float32, requires_grad=backward)
    return _torch_call(module, xt, backward)


def _ncps_runner(spec, x, backward):
    interop = pytest.importorskip("cells.interop")
    pytest.importorskip("ncps")
    torch.set_num_threads(THREADS)
    module = interop.to_ncps(spec, spec.init_params(0))
    xt = torch.tensor(x, dtype=torch.float32, requires_grad=backward)
    return _torch_call(module, xt, backward)


def _torch_call(module, xt, backward):
    def call():
        y = module(xt)[0]
        if backward:
            y.sum().backward()
        return y

    return call


def _tf_runner(spec, impl, x, backward):
    ctf = pytest.importorskip("cells.tf")
    import tensorflow as tf

    layer = ctf.build(spec, spec.init_params(0), impl)
    xt = tf.constant(x, dtype=tf.float32)

    def call():
        if not backward:
            return layer(xt)[0].numpy()  # .numpy() waits for the result
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(layer(xt)[0])
        return [g.numpy() for g in tape.gradient(loss, layer.trainable_weights)]

    return call


@pytest.mark.parametrize("direction", ["forward", "forward+backward"])
@pytest.mark.parametrize("backend, impl", IMPLS, ids=[f"{b}-{i}" for b, i in IMPLS])
@pytest.mark.parametrize("name", CELLS)
def test_sequence(benchmark, profile, name, backend, impl, direction):
    batch, steps, inputs, hidden = SHAPES[profile]
    spec = _spec(name, inputs, hidden)
    x = np.random.default_rng(0).standard_normal((batch, steps, inputs)).astype(np.float32)
    backward = direction == "forward+backward"
    if backend == "ncps":
        if name not in ("cfc", "ltc"):
            pytest.skip("ncps has no plain LSTM/GRU")
        call = _ncps_runner(spec, x, backward)
    elif backend == "torch":
        import cells.torch as ct

        if ct.IMPLEMENTATIONS.get(impl).unsupported(spec):
            pytest.skip(ct.IMPLEMENTATIONS.get(impl).unsupported(spec))
        call = _torch_runner(spec, impl, x, backward)
    else:
        ctf = pytest.importorskip("cells.tf")
        if ctf.IMPLEMENTATIONS.get(impl).unsupported(spec):
            pytest.skip(ctf.IMPLEMENTATIONS.get(impl).unsupported(spec))
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(THREADS)
        call = _tf_runner(spec, impl, x, backward)
    call()  # warm-up and tracing outside the timed region
    benchmark.group = f"{direction} B={batch} T={steps} I={inputs} H={hidden}"
    benchmark.extra_info.update(
        cell=name,
        backend=backend,
        impl=impl,
        direction=direction,
        dtype="float32",
        device="cpu",
        shape=dict(batch=batch, steps=steps, inputs=inputs, hidden=hidden),
        threads=THREADS,
        spec=spec.describe(),
    )
    rounds = 3 if profile == "smoke" else 10
    benchmark.pedantic(call, rounds=rounds, warmup_rounds=1)
