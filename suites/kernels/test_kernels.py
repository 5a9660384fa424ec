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
"""

from __future__ import annotations

import pytest

from bench import kernels

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


def pytest_generate_tests(metafunc):
    """One flat, ordered list for the profile's shapes: pytest keeps this order, so every torch
    workload precedes every TF one."""
    if "shape_name" not in metafunc.fixturenames:
        return
    shapes = PROFILE_SHAPES[metafunc.config.getoption("--profile")]
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


def test_kernel(benchmark, profile, threads, backend, impl, cell, kind, shape_name):
    shape = kernels.SHAPES[shape_name]
    reason = kernels.unsupported(cell, backend, impl, kind, shape)
    if reason:
        pytest.skip(reason)
    device = _device(backend)
    if shape_name == "large" and device == "cpu":
        pytest.skip("the large shape is for GPUs")
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
