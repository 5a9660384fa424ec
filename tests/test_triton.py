"""impl="triton" beyond the parity table (tests/test_parity.py): non-power-of-two sizes that
exercise the kernels' masks and chunk loops, per-sample timespans, and the errors and limits.

Without a CUDA GPU the kernels run in Triton's CPU interpreter (tests/conftest.py sets
TRITON_INTERPRET=1), which is slow: shapes stay tiny.
"""

import sys

import numpy as np
import pytest

import cells
from cells import numerics
from cells.wiring import AutoNCP

torch = pytest.importorskip("torch")
pytest.importorskip("triton")

import cells.torch as ct  # noqa: E402
from cells.torch import triton_cell  # noqa: E402

TRITON = ct.IMPLEMENTATIONS.get("triton")
# Odd sizes: 33 units pad to 64 (two 32-wide chunks in the CfC kernels, four presynaptic
# chunks in the LTC kernel), a 40-unit backbone pads to 64, 5 rows pad to 16 (CfC) or 8 (LTC).
B, T, I, H = 5, 3, 20, 33


def _inputs(spec, seed=0, batch=B, steps=T):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, steps, spec.input_size))
    ts = rng.uniform(0.2, 2.0, size=(batch, steps))
    h0 = tuple(0.5 * rng.standard_normal((batch, spec.units)) for _ in range(spec.state_arity))
    return x, ts, h0


def _run(spec, params, x, ts, h0, impl, dtype=torch.float32):
    """Forward under no_grad -> (y, state parts) as float64 numpy."""
    module = ct.build(spec, params, impl, dtype=dtype)
    with torch.no_grad():
        hx = cells.inputs.pack_state(spec, tuple(torch.tensor(h, dtype=dtype) for h in h0))
        ts_t = None if ts is None else torch.tensor(ts, dtype=dtype)
        y, h_t = module(torch.tensor(x, dtype=dtype), hx, ts_t)
    parts = (h_t,) if spec.state_arity == 1 else tuple(h_t)
    return y.double().numpy(), tuple(p.double().numpy() for p in parts)


def _assert_matches_eager(spec, ts_given=True):
    params = spec.random_params(3)
    x, ts, h0 = _inputs(spec)
    ts = ts if ts_given else None
    y, state = _run(spec, params, x, ts, h0, "triton")
    y_ref, state_ref = _run(spec, params, x, ts, h0, "eager")
    tol = numerics.tolerance("float32")
    for name, got, want in [("y", y, y_ref)] + [
        (f"state[{i}]", s, r) for i, (s, r) in enumerate(zip(state, state_ref))
    ]:
        _, rel = numerics.errors(got, want)
        assert rel <= tol, f"{spec.describe()} {name}: rel err {rel:.2e} > {tol:.0e}"


@pytest.mark.parametrize(
    "mode, activation, layers",
    [
        ("default", "lecun_tanh", 1),
        ("no_gate", "gelu", 1),
        ("pure", "silu", 1),
        ("default", "relu", 1),
        ("default", "tanh", 0),
        ("pure", "lecun_tanh", 0),
    ],
)
def test_cfc_odd_sizes_match_eager(mode, activation, layers):
    spec = cells.get_spec(
        "cfc",
        I,
        H,
        mode=mode,
        backbone_units=40,
        backbone_layers=layers,
        backbone_activation=activation,
    )
    _assert_matches_eager(spec)


@pytest.mark.parametrize(
    "hparams",
    [
        {},
        {"wiring": AutoNCP(H, 4, seed=2), "input_mapping": "linear", "ode_unfolds": 3},
        {"mixed_memory": True, "implicit_constraints": False, "output_mapping": "none"},
    ],
    ids=["fully-connected", "autoncp", "mixed-explicit"],
)
def test_ltc_odd_sizes_match_eager(hparams):
    from cells.torch import triton_kernels

    block_b, block_h, block_j = triton_kernels.ltc_block_sizes(B, H)
    assert block_j < block_h, "the shape must exercise the chunked presynaptic loop"
    _assert_matches_eager(cells.get_spec("ltc", I, H, **hparams))


def test_ltc_single_tile_and_chunked_agree(monkeypatch):
    """The one-tile path (v kept in registers) and the chunked path (v re-read from memory)."""
    from cells.torch import triton_kernels

    spec = cells.get_spec("ltc", 3, 8)
    params = spec.random_params(1)
    x, ts, h0 = _inputs(spec, batch=2)
    one_tile = _run(spec, params, x, ts, h0, "triton", torch.float64)
    monkeypatch.setattr(triton_kernels, "LTC_TILE_ELEMENTS", 8)  # BLOCK_J = 2 of BLOCK_H = 8
    assert triton_kernels.ltc_block_sizes(2, 8) == (2, 8, 2)
    chunked = _run(spec, params, x, ts, h0, "triton", torch.float64)
    np.testing.assert_allclose(chunked[0], one_tile[0], rtol=0, atol=1e-13)


@pytest.mark.parametrize("cell", ["cfc", "ltc"])
def test_timespans_are_per_sample(cell):
    hparams = {"backbone_units": 16} if cell == "cfc" else {}
    spec = cells.get_spec(cell, 3, 6, **hparams)
    params = spec.random_params(0)
    x, ts, h0 = _inputs(spec, batch=3, steps=2)
    y, _ = _run(spec, params, x, ts, h0, "triton")
    y3, _ = _run(spec, params, x, ts[..., None], h0, "triton")  # (B, T, 1) reads the same
    np.testing.assert_array_equal(y3, y)
    changed = ts.copy()
    changed[1] *= 3.0
    y_changed, _ = _run(spec, params, x, changed, h0, "triton")
    np.testing.assert_array_equal(y_changed[[0, 2]], y[[0, 2]])
    assert np.max(np.abs(y_changed[1] - y[1])) > 1e-3
    y_ref, _ = _run(spec, params, x, changed, h0, "eager")
    assert numerics.errors(y_changed, y_ref)[1] <= numerics.tolerance("float32")


def test_default_timespans_are_ones():
    _assert_matches_eager(cells.get_spec("cfc", 3, 6, backbone_units=16), ts_given=False)


def test_forward_only():
    assert TRITON.supports_backward is False
    spec = cells.get_spec("cfc", 3, 4, backbone_units=8)
    module = ct.build(spec, impl="triton")
    x = torch.zeros(2, 1, 3)
    with pytest.raises(RuntimeError, match=r"forward only .*no_grad.*impl='fused'"):
        module(x)
    with torch.no_grad():
        module(x.requires_grad_())  # no_grad: nothing is recorded
    module.requires_grad_(False)
    y, _ = module(torch.zeros(2, 1, 3))
    assert y.shape == (2, 1, 4)
    with pytest.raises(RuntimeError, match="forward only"):
        module(torch.zeros(2, 1, 3, requires_grad=True))


@pytest.mark.parametrize(
    "hparams, expected",
    [
        ({"wiring": AutoNCP(8, 2)}, "triton: wired CfC is not supported; use impl='eager'"),
        ({"mixed_memory": True}, "triton: CfC with mixed_memory is not supported"),
        ({"backbone_layers": 2}, "triton: CfC backbone_layers must be 0 or 1, got 2"),
        ({"backbone_units": 1024}, "triton: CfC backbone_units must be at most 512, got 1024"),
    ],
)
def test_cfc_limits(hparams, expected):
    spec = cells.get_spec("cfc", 4, 8, **hparams)
    assert TRITON.unsupported(spec).startswith(expected)
    with pytest.raises(NotImplementedError, match="use impl='eager' or 'fused'"):
        ct.build(spec, impl="triton")
    with pytest.raises(NotImplementedError, match="triton: "):
        triton_cell.TritonCell(spec)  # built directly, past the registry


def test_supported_specs():
    for spec in (
        cells.get_spec("cfc", 4, 8, backbone_layers=0, mode="pure"),
        cells.get_spec("ltc", 4, 8, wiring=AutoNCP(8, 2), mixed_memory=True),
    ):
        assert TRITON.unsupported(spec) is None
    assert "not 'lstm'" in TRITON.unsupported(cells.get_spec("lstm", 4, 8))


def test_needs_a_gpu_without_the_interpreter(monkeypatch):
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    spec = cells.get_spec("ltc", 4, 8)
    assert TRITON.unsupported(spec) == triton_cell.NEEDS_GPU
    assert "TRITON_INTERPRET=1" in triton_cell.NEEDS_GPU
    with pytest.raises(NotImplementedError, match="triton needs a CUDA GPU"):
        ct.build(spec, impl="triton")
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    assert TRITON.unsupported(spec) is None


def test_cpu_tensors_need_the_interpreter(monkeypatch):
    from cells.torch import triton_kernels

    module = ct.build(cells.get_spec("cfc", 3, 4, backbone_units=8), impl="triton")
    monkeypatch.setattr(triton_kernels, "INTERPRETED", False)  # as compiled for a GPU
    with torch.no_grad(), pytest.raises(ValueError, match="x: the triton kernels run on a CUDA"):
        module(torch.zeros(2, 1, 3))


def test_missing_triton_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "triton", None)  # `import triton` raises ImportError
    with pytest.raises(ImportError, match=r"pip install 'cellbench\[gpu\]'"):
        triton_cell.load_kernels()
    with pytest.raises(ImportError, match="cellbench"):
        ct.build(cells.get_spec("ltc", 4, 8), impl="triton")


def test_triton_after_tensorflow_is_refused(monkeypatch):
    monkeypatch.delitem(sys.modules, "triton")
    monkeypatch.setitem(sys.modules, "tensorflow", sys.modules.get("tensorflow", object()))
    with pytest.raises(ImportError, match="before TensorFlow"):
        triton_cell.load_kernels()


def test_sensory_sums_chunking_is_exact():
    rng = np.random.default_rng(0)
    x = torch.tensor(rng.standard_normal((2, 7, 3)))
    weight, sigma, mu, erev = (torch.tensor(rng.standard_normal((3, 5))) for _ in range(4))
    whole = triton_cell.sensory_sums(x, weight, sigma, mu, erev)
    chunked = triton_cell.sensory_sums(x, weight, sigma, mu, erev, max_elements=2 * 3 * 5 * 2)
    for a, b in zip(whole, chunked):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    window = weight * torch.sigmoid(sigma * (x[..., None] - mu))
    torch.testing.assert_close(whole[0], (window * erev).sum(-2))
    torch.testing.assert_close(whole[1], window.sum(-2))
