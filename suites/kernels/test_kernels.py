"""Every cell x backend x impl x kind ("step", "forward", "forward+backward") x shape, side by
side in one run, with torch.nn.LSTM / GRU (oneDNN, cuDNN), keras LSTM / GRU and ncps.torch as the
baselines of each group (`bench.kernels` builds the workloads).

Timing rules: warm-up, tracing and compilation happen in `build_call`, outside the timed region;
each timed call synchronises (CUDA) or reads its result back (TF); torch and TF get the same
thread count (`--threads`, default: every core this process may use), recorded in extra_info.
Every torch workload runs before the first TF one: TF's thread pools, once started, compete
with torch's OpenMP threads and distort torch timings on a small machine.

Groups: one per kind and shape, e.g. "forward cpu B=32 T=64 I=256 H=64", so pytest-benchmark's
table puts every cell's implementations beside the LSTM of the same shape.

Pairs (`test_pair`, `bench.kernel_pairs`): the ratios the kernel issue sets targets on, timed a
second way, A and B in alternation, so that a slow spell of the machine falls on both sides.
Their benchmark times one round of the pair (A and B); `extra_info` holds each side's median
and the median per-round ratio A/B with its interquartile range. Group "pairs <kind> <shape>".
"""

from __future__ import annotations

import itertools

import pytest

from bench import kernel_pairs, kernels

#: (backend, impl), every torch path (ncps included) before every TF one.
IMPLS = (
    ("torch", "native"),
    ("torch", "eager"),
    ("torch", "fused"),
    ("torch", "compile"),
    ("torch", "cpp"),
    ("torch", "triton"),
    ("ncps", "torch"),
    ("tf", "native"),
    ("tf", "graph"),
    ("tf", "fused"),
    ("tf", "xla"),
    ("tf", "cpp"),
)
CELLS = ("lstm", "gru", "cfc", "ltc")
PROFILE_SHAPES = {"smoke": ("smoke",), "quick": ("cpu",), "full": ("cpu", "large")}
ROUNDS = {"smoke": 3, "quick": 10, "full": 30}
#: rounds of a pair (each round runs both sides): more than a single workload's, since the
#: figure is a ratio of two noisy times
PAIR_ROUNDS = {"smoke": 3, "quick": 20, "full": 40}


def pytest_generate_tests(metafunc):
    """One flat, ordered list for the profile's shapes: pytest keeps this order, so every torch
    workload precedes every TF one (conftest.py then moves the torch-only pairs before the
    first TF workload)."""
    shapes = PROFILE_SHAPES[metafunc.config.getoption("--profile")]
    if "pair" in metafunc.fixturenames:
        params = [
            pytest.param(pair, kind, shape, id=f"{shape}-{kind}-{pair.name}")
            for pair in kernel_pairs.PAIRS
            for shape in shapes
            for kind in pair.kinds
        ]
        metafunc.parametrize("pair, kind, shape_name", params)
        return
    if "shape_name" not in metafunc.fixturenames:
        return
    params = [
        pytest.param(backend, impl, cell, kind, shape, id=f"{shape}-{kind}-{cell}-{backend}-{impl}")
        for backend, impl in IMPLS
        for shape in shapes
        for kind in kernels.KINDS
        for cell in CELLS
    ]
    metafunc.parametrize("backend, impl, cell, kind, shape_name", params)


def _device(backend):
    if backend == "tf":
        return "gpu" if _tf_has_gpu() else "cpu"
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _tf_has_gpu():
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def _skip_large_on_cpu(shape_name, device):
    if shape_name == "large" and device == "cpu":
        pytest.skip("the large shape is for GPUs")


def test_kernel(benchmark, profile, threads, backend, impl, cell, kind, shape_name):
    shape = kernels.SHAPES[shape_name]
    reason = kernels.unsupported(cell, backend, impl, kind, shape)
    if reason:
        pytest.skip(reason)
    device = _device(backend)
    _skip_large_on_cpu(shape_name, device)
    call = kernels.build_call(cell, backend, impl, kind, shape, threads, device=device)
    spec = kernels.make_spec(cell, shape)
    benchmark.group = (
        f"{kind} {shape.name} B={shape.batch} T={shape.steps} I={shape.inputs} H={shape.hidden}"
    )
    flops = kernels.flops(spec, shape.batch, shape.steps, kind)
    benchmark.extra_info.update(
        cell=cell,
        backend=backend,
        impl=impl,
        kind=kind,
        device=device,
        dtype="float32",
        shape=shape.as_dict(),
        threads=threads,
        spec=spec.describe(),
        flops=flops,
    )
    benchmark.pedantic(call, rounds=ROUNDS[profile], iterations=1, warmup_rounds=1)
    benchmark.extra_info["gflops"] = flops / benchmark.stats.stats.median / 1e9


def test_pair(benchmark, profile, threads, pair, kind, shape_name):
    shape = kernels.SHAPES[shape_name]
    reason = kernel_pairs.unsupported(pair, kind, shape)
    if reason:
        pytest.skip(reason)
    devices = {member: _device(member.backend) for member in (pair.a, pair.b)}
    _skip_large_on_cpu(shape_name, devices[pair.a])
    if {"cpu"} < set(devices.values()):
        pytest.skip(f"the two sides run on different devices: {devices}")
    call_a, call_b = (
        kernels.build_call(m.cell, m.backend, m.impl, kind, shape, threads, device=devices[m])
        for m in (pair.a, pair.b)
    )
    benchmark.group = f"pairs {kind} {shape.name}"
    times_a, times_b = [], []
    rounds_done = itertools.count()

    def one_round():  # warm-up was build_call's; the order alternates from round to round
        a, b = kernel_pairs.time_pair(call_a, call_b, rounds=1, start=next(rounds_done))
        times_a.extend(a)
        times_b.extend(b)

    benchmark.pedantic(one_round, rounds=PAIR_ROUNDS[profile], iterations=1, warmup_rounds=0)
    benchmark.extra_info.update(
        pair=pair.name,
        a=pair.a.as_dict(),
        b=pair.b.as_dict(),
        kind=kind,
        device=devices[pair.a],
        dtype="float32",
        shape=shape.as_dict(),
        threads=threads,
        target=pair.target(kind),
        **kernel_pairs.summarise(times_a, times_b),
    )
