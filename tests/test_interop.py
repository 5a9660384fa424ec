"""Tests for cells.interop: our cells reproduce ncps.torch, torch.nn and Keras modules after
conversion, conversions round-trip, and every refusal names its argument.

Errors are norm-wise relative (`cells.numerics.errors`); float32 results must be within 1e-5 of
the float64 reference, float64 results within 1e-10.

ncps quirk: ncps.torch's CfC and LTC take the step's timespans as ``timespans[:, t].squeeze()``,
which is (B,) for a batch, and (B,) broadcasts against (B, H) along H, not along the batch; it
fails unless B == H, and is silently wrong when B == H (`test_ncps_batched_timespans_quirk`).
No input shape survives that squeeze as (B, 1), and (B, T, H) timespans only work for unwired
cells (a wired CfC's layers are narrower than H). So the parity tests feed ncps one sample at
a time (B = 1 per call, where the squeeze leaves a scalar) and stack the results; our
implementations run the whole batch at once.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import numpy as np
import pytest

import cells
from cells import interop, reference
from cells.numerics import errors
from cells.wiring import NCP, AutoNCP, FullyConnected, Random, Wiring

F32, F64 = cells.TOLERANCES["float32"], cells.TOLERANCES["float64"]
BATCH, STEPS, INPUTS = 3, 5, 3
LTC_POSITIVE = {"gleak", "cm", "w", "sensory_w"}


# --------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def torch():
    torch = pytest.importorskip("torch")
    # The tensors here are tiny: intra-op threads only add start-up latency (on a CPU-quota
    # container, 2 threads made each (3, 11) @ (11, 128) matmul take ~10 ms).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield torch
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def ncps(torch):
    pytest.importorskip("ncps")
    import ncps.torch
    import ncps.wirings

    return ncps


@pytest.fixture(scope="module")
def keras():
    if importlib.util.find_spec("torch") is not None:
        import torch  # noqa: F401  - torch must load before TensorFlow
    pytest.importorskip("tensorflow")
    return pytest.importorskip("keras")


@pytest.fixture(scope="module")
def cells_tf(keras):
    import cells.tf

    return cells.tf


@pytest.fixture(scope="module")
def cells_torch(torch):
    import cells.torch

    return cells.torch


def check(label: str, actual, expected, tol: float) -> float:
    """Print the norm-wise relative error, then assert it is within `tol`."""
    err = errors(actual, expected)[1]
    print(f"{label}: {err:.3e}")
    assert err <= tol, f"{label}: relative error {err:.3e} > {tol:.0e}"
    return err


def as_parts(state):
    return tuple(state) if isinstance(state, (tuple, list)) else (state,)


def sample_inputs(spec, seed: int):
    rng = np.random.default_rng([seed, 31])
    x = rng.standard_normal((BATCH, STEPS, spec.input_size))
    ts = rng.uniform(0.3, 2.0, (BATCH, STEPS))  # irregular, a different row per sample
    h0 = tuple(0.5 * rng.standard_normal((BATCH, spec.state_size)) for _ in range(spec.state_arity))
    return x, ts, h0


# ----------------------------------------------------------------------- ncps helpers
def jitter_(torch, module, seed: int) -> None:
    """Move every trainable parameter off its initial value (w_tau = 0, A = 1, erev = +-1 hide
    sign and layout bugs); the four LTC parameters that must stay positive are only scaled."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if not p.requires_grad:  # ncps's sparsity masks
                continue
            p.mul_(torch.exp(0.2 * torch.randn(p.shape, generator=gen)))
            if name.split(".")[-1] not in LTC_POSITIVE:
                p.add_(0.1 * torch.randn(p.shape, generator=gen))


def run_ncps(torch, module, x, h0, ts):
    """ncps one sample at a time (see the module docstring) -> (y, state parts), numpy."""
    dtype = next(module.parameters()).dtype
    ys, states = [], []
    for b in range(x.shape[0]):
        hx = tuple(torch.tensor(h[b : b + 1], dtype=dtype) for h in h0)
        with torch.no_grad():
            y, h = module(
                torch.tensor(x[b : b + 1], dtype=dtype),
                hx if len(hx) == 2 else hx[0],
                torch.tensor(ts[b : b + 1], dtype=dtype),
            )
        ys.append(y.numpy())
        states.append([part.numpy() for part in as_parts(h)])
    return np.concatenate(ys), tuple(np.concatenate(parts) for parts in zip(*states))


def ncps_wiring(ncps, kind: str):
    """A fresh (unbuilt) ncps wiring; ncps builds wirings in place, so never share one."""
    w = ncps.wirings
    return {
        "autoncp": lambda: w.AutoNCP(10, 3),
        "ncp": lambda: w.NCP(4, 3, 2, 2, 2, 2, 2),
        "fully_connected": lambda: w.FullyConnected(6, output_dim=2),
        "random": lambda: w.Random(6, output_dim=2, sparsity_level=0.4),
    }[kind]()


BACKBONES = {
    "default": {},
    "layers0": {"backbone_layers": 0},
    "silu2": {"backbone_layers": 2, "activation": "silu", "backbone_units": 24},
    "relu2": {
        "backbone_layers": 2,
        "activation": "relu",
        "backbone_units": 24,
        "backbone_dropout": 0.2,
    },
    "gelu2": {"backbone_layers": 2, "activation": "gelu", "backbone_units": 24},
    "tanh2": {"backbone_layers": 2, "activation": "tanh", "backbone_units": 24},
}
MODES = ("default", "no_gate", "pure")

NCPS_CASES = {}
for _mode in MODES:
    for _mixed in (False, True):
        for _name, _kwargs in BACKBONES.items():
            NCPS_CASES[f"cfc-{_mode}-{_name}-mm{int(_mixed)}"] = (
                "CfC",
                8,
                dict(mode=_mode, mixed_memory=_mixed, **_kwargs),
            )
    for _kind in ("autoncp", "ncp", "fully_connected", "random"):
        NCPS_CASES[f"cfc-{_mode}-wired-{_kind}"] = (
            "CfC",
            _kind,
            dict(mode=_mode, mixed_memory=_kind in ("ncp", "random")),
        )
for _case_id, _units, _kwargs in [
    ("fc-default", 6, {}),
    ("fc-unconstrained-unfolds1", 6, dict(implicit_param_constraints=False, ode_unfolds=1)),
    ("fc-mm-none-affine", 6, dict(mixed_memory=True, input_mapping="none")),
    ("random-linear-linear", "random", dict(input_mapping="linear", output_mapping="linear")),
    (
        "random-mm-unconstrained",
        "random",
        dict(mixed_memory=True, implicit_param_constraints=False),
    ),
    ("ncp-affine-none-unfolds1", "ncp", dict(output_mapping="none", ode_unfolds=1)),
    ("ncp-mm-eps", "ncp", dict(mixed_memory=True, epsilon=1e-3)),
    ("autoncp-default", "autoncp", {}),
    (
        "autoncp-none-none-unconstrained",
        "autoncp",
        dict(input_mapping="none", output_mapping="none", implicit_param_constraints=False),
    ),
    ("autoncp-mm-unfolds1", "autoncp", dict(mixed_memory=True, ode_unfolds=1)),
    ("fully_connected-linear-affine", "fully_connected", dict(input_mapping="linear")),
]:
    NCPS_CASES[f"ltc-{_case_id}"] = ("LTC", _units, _kwargs)


def make_ncps(torch, ncps, case_id: str, seed: int = 0):
    cls_name, units, kwargs = NCPS_CASES[case_id]
    torch.manual_seed(seed)
    units = ncps_wiring(ncps, units) if isinstance(units, str) else units
    module = getattr(ncps.torch, cls_name)(INPUTS, units, **kwargs)
    jitter_(torch, module, seed)
    return module.eval()


# ----------------------------------------------------------------- 1. parity with ncps.torch
@pytest.mark.parametrize("case_id", list(NCPS_CASES))
def test_cells_reproduce_ncps(torch, ncps, cells_torch, cells_tf, case_id):
    module = make_ncps(torch, ncps, case_id, seed=len(case_id))
    spec, params = interop.from_ncps(module)
    _, _, kwargs = NCPS_CASES[case_id]
    assert spec.mixed_memory == kwargs.get("mixed_memory", False)
    x, ts, h0 = sample_inputs(spec, seed=len(case_id))

    y_ncps, h_ncps = run_ncps(torch, module, x, h0, ts)
    y_ref, h_ref = reference.run(spec, params, x, h0 if len(h0) == 2 else h0[0], ts)
    assert y_ncps.shape == y_ref.shape == (BATCH, STEPS, spec.output_size)
    check("ncps y vs reference", y_ncps, y_ref, F32)
    for i, (a, b) in enumerate(zip(h_ncps, as_parts(h_ref))):
        check(f"ncps h_T[{i}] vs reference", a, b, F32)

    eager = cells_torch.build(spec, params, "eager", dtype=torch.float32).eval()
    with torch.no_grad():
        y_t, h_t = eager(
            torch.tensor(x, dtype=torch.float32),
            cells.inputs.pack_state(spec, tuple(torch.tensor(h, dtype=torch.float32) for h in h0)),
            torch.tensor(ts, dtype=torch.float32),
        )
    check("torch eager y vs ncps", y_t.numpy(), y_ncps, F32)
    for i, (a, b) in enumerate(zip(as_parts(h_t), h_ncps)):
        check(f"torch eager h_T[{i}] vs ncps", a.numpy(), b, F32)

    graph = cells_tf.build(spec, params, "graph", dtype="float32")
    y_g, h_g = graph(
        x.astype(np.float32),
        cells.inputs.pack_state(spec, tuple(h.astype(np.float32) for h in h0)),
        ts.astype(np.float32),
    )
    check("tf graph y vs ncps", y_g.numpy(), y_ncps, F32)
    for i, (a, b) in enumerate(zip(as_parts(h_g), h_ncps)):
        check(f"tf graph h_T[{i}] vs ncps", a.numpy(), b, F32)


def test_from_ncps_reads_hyper_parameters(torch, ncps):
    module = make_ncps(torch, ncps, "cfc-pure-relu2-mm1")
    spec, params = interop.from_ncps(module)
    assert (spec.mode, spec.backbone_layers, spec.backbone_units) == ("pure", 2, 24)
    assert (spec.backbone_activation, spec.backbone_dropout, spec.mixed_memory) == (
        "relu",
        0.2,
        True,
    )
    np.testing.assert_array_equal(params["w_tau"], module.rnn_cell.w_tau.detach().numpy()[0])
    np.testing.assert_array_equal(
        params["backbone1_kernel"], module.rnn_cell.backbone[2].weight.detach().numpy().T
    )
    np.testing.assert_array_equal(
        params["mm_recurrent_kernel"], module.lstm.recurrent_map.weight.detach().numpy().T
    )
    assert all(v.dtype == np.float64 for v in params.values())
    assert list(params) == list(spec.param_shapes())

    ltc = make_ncps(torch, ncps, "ltc-ncp-mm-eps")
    spec, _ = interop.from_ncps(ltc)
    assert (spec.epsilon, spec.ode_unfolds, spec.implicit_constraints) == (1e-3, 6, True)
    ncp = ncps.wirings.NCP(4, 3, 2, 2, 2, 2, 2)
    ncp.build(INPUTS)
    assert spec.built_wiring == NCP(4, 3, 2, 2, 2, 2, 2).build(INPUTS)
    assert spec.built_wiring.layers == tuple(tuple(ncp.get_neurons_of_layer(i)) for i in range(3))
    # An integer-unit ncps LTC keeps the spec's default (unwired) form.
    spec, _ = interop.from_ncps(make_ncps(torch, ncps, "ltc-fc-default"))
    assert spec == cells.get_spec("ltc", INPUTS, 6)


def test_from_ncps_reads_edited_wirings(torch, ncps):
    """Wirings convert from their matrices, not from a config, so edited ones convert as they
    are: a hand-built ncps `Wiring`, and an AutoNCP built before it was passed to ncps (ncps's
    build() is not idempotent: the module's second build() adds more synapses)."""
    rng = np.random.default_rng(4)
    hand = ncps.wirings.Wiring(6)
    for src, dest in zip(rng.integers(0, 6, 12), rng.integers(0, 6, 12)):
        hand.add_synapse(int(src), int(dest), int(rng.choice([-1, 1])))
    hand.build(INPUTS)
    for src, dest in [(0, 1), (1, 1), (2, 5), (2, 0)]:
        hand.add_sensory_synapse(src, dest, 1 if dest else -1)
    hand.set_output_dim(2)
    prebuilt = ncps.wirings.AutoNCP(10, 3)
    prebuilt.build(INPUTS)
    for wiring in (hand, prebuilt):
        torch.manual_seed(1)
        module = ncps.torch.LTC(INPUTS, wiring, mixed_memory=True).eval()
        jitter_(torch, module, 1)
        spec, params = interop.from_ncps(module)
        built = spec.built_wiring
        np.testing.assert_array_equal(built.adjacency_matrix, wiring.adjacency_matrix)
        np.testing.assert_array_equal(
            built.sensory_adjacency_matrix, wiring.sensory_adjacency_matrix
        )
        assert built.output_dim == wiring.output_dim
        x, ts, h0 = sample_inputs(spec, 1)
        y_ncps, _ = run_ncps(torch, module, x, h0, ts)
        check(
            f"{type(wiring).__name__} LTC y vs reference",
            y_ncps,
            reference.run(spec, params, x, h0, ts)[0],
            F32,
        )
    assert built.synapse_count > AutoNCP(10, 3).build(INPUTS).synapse_count  # built twice
    assert hand.num_layers == 1 and interop.from_ncps(ncps.torch.CfC(INPUTS, hand))[
        0
    ].built_wiring.layers == (tuple(range(6)),)


def test_bare_ncps_cells(torch, ncps):
    """CfCCell, WiredCfCCell and LTCCell convert; one step matches the reference."""
    nt = ncps.torch
    torch.manual_seed(3)
    wired = ncps_wiring(ncps, "ncp")
    cells_to_test = [
        nt.CfCCell(
            INPUTS,
            5,
            mode="no_gate",
            backbone_layers=2,
            backbone_units=7,
            backbone_activation="gelu",
        ),
        nt.WiredCfCCell(INPUTS, wired, mode="pure"),
        nt.LTCCell(ncps_wiring(ncps, "random"), INPUTS, ode_unfolds=2),
    ]
    for index, cell in enumerate(cells_to_test):
        jitter_(torch, cell, index)
        spec, params = interop.from_ncps(cell)
        rng = np.random.default_rng(index)
        x = rng.standard_normal((BATCH, INPUTS))
        h = 0.5 * rng.standard_normal((BATCH, spec.state_size))
        with torch.no_grad():
            y, h_new = cell(
                torch.tensor(x, dtype=torch.float32), torch.tensor(h, dtype=torch.float32), 0.7
            )
        y_ref, (h_ref,) = reference.step(spec, params, x, (h,), np.full((BATCH, 1), 0.7))
        check(f"{type(cell).__name__} y", y.numpy(), y_ref, F32)
        check(f"{type(cell).__name__} h", h_new.numpy(), h_ref, F32)
    assert interop.from_ncps(cells_to_test[2])[0].implicit_constraints is False  # cell default


def test_ncps_batched_timespans_quirk(torch, ncps):
    """Why the parity tests call ncps one sample at a time (see the module docstring)."""
    torch.manual_seed(0)
    module = ncps.torch.CfC(INPUTS, 8).eval()
    x = torch.randn(BATCH, STEPS, INPUTS)
    with pytest.raises(RuntimeError):
        module(x, timespans=torch.ones(BATCH, STEPS))  # (3,) against (3, 8)
    square = ncps.torch.CfC(INPUTS, BATCH).eval()  # B == H: runs, but wrongly
    ts = torch.tensor([[0.5] * STEPS, [1.0] * STEPS, [2.0] * STEPS])
    spec, params = interop.from_ncps(square)
    with torch.no_grad():
        y_batched, _ = square(x, timespans=ts)
    y_ref, _ = reference.run(spec, params, x.numpy(), timespans=ts.numpy())
    assert errors(y_batched.numpy(), y_ref)[1] > 1e-3
    y_one, _ = run_ncps(torch, square, x.numpy(), (np.zeros((BATCH, BATCH)),), ts.numpy())
    check("per-sample ncps vs reference", y_one, y_ref, F32)


# --------------------------------------------------------------------- 4. ncps round trips
def normalised(spec):
    """from_ncps returns wirings as explicit `Wiring`s (an unwired LTC stays unwired)."""
    return spec if spec.wiring is None else spec.replace(wiring=spec.built_wiring)


ROUND_TRIP_SPECS = {
    "cfc-default": ("cfc", 8, {}),
    "cfc-pure-mm": ("cfc", 8, dict(mode="pure", mixed_memory=True)),
    "cfc-layers0": ("cfc", 8, dict(mode="no_gate", backbone_layers=0)),
    "cfc-gelu3-dropout": (
        "cfc",
        8,
        dict(
            backbone_layers=3, backbone_units=16, backbone_activation="gelu", backbone_dropout=0.25
        ),
    ),
    "cfc-autoncp": ("cfc", AutoNCP(10, 3), dict(mixed_memory=True)),
    "cfc-explicit": (
        "cfc",
        Wiring.from_matrices(
            [[1, 0, 0, -1], [1, 1, 0, 0], [0, 1, -1, 0], [0, 0, 1, 1]],
            [[1, 0, -1, 0], [0, 1, 0, 0], [0, 0, 1, 1]],
            output_dim=1,
            layers=[(2, 3), (1,), (0,)],
        ),
        dict(mode="pure"),
    ),
    "ltc-default": ("ltc", 6, {}),
    "ltc-random-mm": (
        "ltc",
        6,
        dict(
            wiring=Random(6, 2, 0.5),
            mixed_memory=True,
            input_mapping="linear",
            output_mapping="none",
        ),
    ),
    "ltc-ncp": (
        "ltc",
        9,
        dict(
            wiring=NCP(4, 3, 2, 2, 2, 2, 2), ode_unfolds=3, implicit_constraints=False, epsilon=1e-6
        ),
    ),
    "ltc-fc-config": ("ltc", 5, dict(wiring=FullyConnected(5, 2, self_connections=False))),
}


@pytest.mark.parametrize("key", list(ROUND_TRIP_SPECS))
def test_ncps_round_trip(torch, ncps, key):
    name, units, hparams = ROUND_TRIP_SPECS[key]
    spec = cells.get_spec(name, INPUTS, units, **hparams)
    params = spec.random_params(seed=5)
    module = interop.to_ncps(spec, params, dtype="float64")
    back_spec, back = interop.from_ncps(module)
    assert back_spec == normalised(spec)
    assert list(back) == list(params)
    for k in params:
        np.testing.assert_array_equal(back[k], params[k], err_msg=k)
    # The exported module computes the spec's function (float64, so to 1e-10).
    x, ts, h0 = sample_inputs(spec, 2)
    y, h = run_ncps(torch, module, x, h0, ts)
    y_ref, h_ref = reference.run(spec, params, x, h0 if len(h0) == 2 else h0[0], ts)
    check(f"to_ncps float64 y ({key})", y, y_ref, F64)
    for a, b in zip(h, as_parts(h_ref)):
        check(f"to_ncps float64 h_T ({key})", a, b, F64)


def test_to_ncps_float32_and_rng(torch, ncps):
    spec = cells.get_spec("cfc", INPUTS, AutoNCP(10, 3))
    params = spec.random_params(1)
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    module = interop.to_ncps(spec, params)
    assert torch.equal(torch.rand(3), expected_next)  # ncps's init ran on a forked stream
    assert next(module.parameters()).dtype == torch.float32
    assert isinstance(module.rnn_cell._wiring, ncps.wirings.Wiring)
    assert isinstance(module.rnn_cell._wiring, interop.NcpsWiring)
    _, back = interop.from_ncps(module)
    for k in params:
        np.testing.assert_array_equal(back[k], params[k].astype(np.float32), err_msg=k)


def test_to_ncps_module_pickles(torch, ncps):
    """The exported wiring class resolves as cells.interop.NcpsWiring, so torch.save works."""
    import pickle

    spec = cells.get_spec("ltc", INPUTS, NCP(4, 3, 2, 2, 2, 2, 2))
    params = spec.random_params(0)
    clone = pickle.loads(pickle.dumps(interop.to_ncps(spec, params, dtype="float64")))
    back_spec, back = interop.from_ncps(clone)
    assert back_spec == normalised(spec)
    for k in params:
        np.testing.assert_array_equal(back[k], params[k], err_msg=k)


def test_from_ncps_accepts_calling_conventions(torch, ncps):
    """return_sequences=False and batch_first=False change the call, not the parameters."""
    torch.manual_seed(9)
    plain = ncps.torch.CfC(INPUTS, 8, mixed_memory=True)
    torch.manual_seed(9)
    other = ncps.torch.CfC(INPUTS, 8, mixed_memory=True, return_sequences=False, batch_first=False)
    (spec_a, params_a), (spec_b, params_b) = interop.from_ncps(plain), interop.from_ncps(other)
    assert spec_a == spec_b
    for k in params_a:
        np.testing.assert_array_equal(params_a[k], params_b[k], err_msg=k)
    x = torch.randn(STEPS, 1, INPUTS)  # time-major, one sample
    with torch.no_grad():
        last, _ = other(x)
    y_ref, _ = reference.run(spec_a, params_a, x.transpose(0, 1).numpy())
    check("return_sequences=False output vs reference's last step", last.numpy(), y_ref[:, -1], F32)


# ------------------------------------------------------------------------- 2. torch.nn
@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_from_torch_reproduces_module(torch, kind, batch_first):
    torch.manual_seed(7)
    module = getattr(torch.nn, kind)(INPUTS, 6, batch_first=batch_first)
    spec, params = interop.from_torch(module)
    assert spec.name == kind.lower() and (spec.input_size, spec.units) == (INPUTS, 6)
    x, _, h0 = sample_inputs(spec, 4)
    y_ref, h_ref = reference.run(spec, params, x, h0 if len(h0) == 2 else h0[0])

    def run(m, dtype):
        xt = torch.tensor(x, dtype=dtype)
        xt = xt if m.batch_first else xt.transpose(0, 1)
        hx = tuple(torch.tensor(h[None], dtype=dtype) for h in h0)
        with torch.no_grad():
            y, h = m(xt, hx if kind == "LSTM" else hx[0])
        y = y if m.batch_first else y.transpose(0, 1)
        return y.numpy(), tuple(part[0].numpy() for part in as_parts(h))

    for dtype, tol in [(torch.float32, F32), (torch.float64, F64)]:
        m = module if dtype == torch.float32 else module.double()
        y, h = run(m, dtype)
        check(f"nn.{kind} {dtype} y vs reference", y, y_ref, tol)
        for a, b in zip(h, as_parts(h_ref)):
            check(f"nn.{kind} {dtype} h_T vs reference", a, b, tol)
        exported = interop.to_torch(*interop.from_torch(m), dtype=dtype)
        assert exported.batch_first and next(exported.parameters()).dtype == dtype
        y2, h2 = run(exported, dtype)
        check(f"to_torch(from_torch(nn.{kind})) y", y2, y, tol)
        for a, b in zip(h2, h):
            check(f"to_torch(from_torch(nn.{kind})) h_T", a, b, tol)


@pytest.mark.parametrize("name", ["lstm", "gru"])
def test_torch_param_round_trip(torch, name):
    spec = cells.get_spec(name, INPUTS, 5)
    params = spec.random_params(2)
    module = interop.to_torch(spec, params, dtype="float64")
    back_spec, back = interop.from_torch(module)
    assert back_spec == spec
    for k in params:
        np.testing.assert_array_equal(back[k], params[k], err_msg=k)
    if name == "lstm":
        np.testing.assert_array_equal(module.bias_hh_l0.detach().numpy(), 0.0)


def test_torch_layout_matches_native_backend(torch):
    """interop's numpy layout and cells.torch.native's tensor layout are the same rules."""
    from cells.torch.native import torch_layout

    for name in ("lstm", "gru"):
        spec = cells.get_spec(name, INPUTS, 4)
        params = spec.random_params(0)
        tensors = torch_layout(spec, {k: torch.tensor(v) for k, v in params.items()})
        ours = interop.torch_weights(spec, params)
        assert set(tensors) == set(ours)
        for k in ours:
            np.testing.assert_array_equal(tensors[k].numpy(), ours[k], err_msg=k)


# ------------------------------------------------------------------------------ 3. Keras
@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_from_keras_reproduces_layer(keras, kind):
    keras.utils.set_random_seed(11)
    for dtype, tol in [("float32", F32), ("float64", F64)]:
        options = dict(
            return_sequences=True, return_state=True, dtype=dtype, bias_initializer="random_normal"
        )
        layer = getattr(keras.layers, kind)(6, **options)
        layer.build((None, None, INPUTS))
        spec, params = interop.from_keras(layer)
        assert spec.name == kind.lower() and (spec.input_size, spec.units) == (INPUTS, 6)
        x, _, h0 = sample_inputs(spec, 5)
        y_ref, h_ref = reference.run(spec, params, x, h0 if len(h0) == 2 else h0[0])
        y, *h = layer(x.astype(dtype), initial_state=[s.astype(dtype) for s in h0])
        check(f"keras {kind} {dtype} y vs reference", np.asarray(y), y_ref, tol)
        for a, b in zip(h, as_parts(h_ref)):
            check(f"keras {kind} {dtype} h_T vs reference", np.asarray(a), b, tol)
        exported = interop.to_keras(spec, params, dtype=dtype)
        y2, *h2 = exported(x.astype(dtype), initial_state=[s.astype(dtype) for s in h0])
        check(f"to_keras(from_keras({kind})) y", np.asarray(y2), np.asarray(y), tol)
        for a, b in zip(h2, h):
            check(f"to_keras(from_keras({kind})) h_T", np.asarray(a), np.asarray(b), tol)


@pytest.mark.parametrize("name", ["lstm", "gru"])
def test_keras_param_round_trip(keras, name):
    spec = cells.get_spec(name, INPUTS, 5)
    params = spec.random_params(3)
    layer = interop.to_keras(spec, params, dtype="float64")
    assert layer.built and layer.return_sequences and layer.return_state
    back_spec, back = interop.from_keras(layer)
    assert back_spec == spec
    for k in params:
        np.testing.assert_array_equal(back[k], params[k], err_msg=k)
    if name == "gru":  # the layout really is permuted: Keras's first block is z
        h = spec.units
        np.testing.assert_array_equal(
            layer.cell.kernel.numpy()[:, :h], params["input_kernel"][:, h : 2 * h]
        )
        np.testing.assert_array_equal(
            layer.cell.bias.numpy()[1, :h], params["recurrent_bias"][h : 2 * h]
        )


def test_keras_layout_matches_native_backend(cells_tf):
    """interop's numpy layout and cells.tf.native's tensor layout are the same rules."""
    import tensorflow as tf

    from cells.tf.native import keras_layout

    for name in ("lstm", "gru"):
        spec = cells.get_spec(name, INPUTS, 4)
        params = spec.random_params(0)
        tensors = keras_layout(spec, {k: tf.constant(v) for k, v in params.items()})
        for a, b in zip(tensors, interop.keras_weights(spec, params), strict=True):
            np.testing.assert_array_equal(a.numpy(), b)


def test_reorder_gates():
    blocks = np.concatenate([np.full((2, 3), v) for v in (1.0, 2.0, 3.0)], axis=-1)  # z r n
    out = interop.reorder_gates(blocks, "zrn", "rzn")
    np.testing.assert_array_equal(out[0], [2, 2, 2, 1, 1, 1, 3, 3, 3])
    np.testing.assert_array_equal(interop.reorder_gates(out, "rzn", "zrn"), blocks)
    np.testing.assert_array_equal(
        interop.reorder_gates(np.arange(8), "abcd", "dcba"), [6, 7, 4, 5, 2, 3, 0, 1]
    )
    with pytest.raises(ValueError, match="target"):
        interop.reorder_gates(blocks, "zrn", "rzz")
    with pytest.raises(ValueError, match="array"):
        interop.reorder_gates(np.zeros(7), "zrn", "rzn")


# --------------------------------------------------------------------------- 5. refusals
def test_from_ncps_refusals(torch, ncps):
    nt = ncps.torch
    with pytest.raises(ValueError, match=r"module: expected an ncps\.torch CfC.*got builtins"):
        interop.from_ncps(object())
    with pytest.raises(ValueError, match=r"module: .*got torch\.nn\.modules\.rnn\.LSTM"):
        interop.from_ncps(torch.nn.LSTM(INPUTS, 4))
    with pytest.raises(ValueError, match=r"proj_size.*expected None, got 2.*no output projection"):
        interop.from_ncps(nt.CfC(INPUTS, 8, proj_size=2))
    masked = nt.CfCCell(INPUTS, 4, backbone_layers=0, sparsity_mask=np.eye(INPUTS + 4, 4))
    with pytest.raises(ValueError, match=r"module\.sparsity_mask: a CfCCell with a sparse mask"):
        interop.from_ncps(masked)
    ltc = nt.LTC(INPUTS, ncps_wiring(ncps, "ncp"))
    with torch.no_grad():
        ltc.rnn_cell.sparsity_mask[0, 0] = 1 - ltc.rnn_cell.sparsity_mask[0, 0]
    with pytest.raises(ValueError, match=r"module\.rnn_cell\.sparsity_mask: expected the mask"):
        interop.from_ncps(ltc)
    wired = nt.CfC(INPUTS, ncps_wiring(ncps, "autoncp"))
    wired.rnn_cell._wiring.adjacency_matrix[:] = 0  # edited after the module was built
    with pytest.raises(ValueError, match=r"layer_1\.sparsity_mask: expected the mask"):
        interop.from_ncps(wired)
    odd = nt.CfC(INPUTS, 8)
    odd.rnn_cell.backbone[1] = torch.nn.Sigmoid()
    with pytest.raises(ValueError, match=r"module\.rnn_cell\.backbone: expected an ncps backbone"):
        interop.from_ncps(odd)


def test_to_ncps_refusals(ncps):
    with pytest.raises(ValueError, match=r"spec: expected a CfC or LTC spec.*'lstm'"):
        interop.to_ncps(cells.get_spec("lstm", INPUTS, 4), {})
    spec = cells.get_spec("cfc", INPUTS, 4)
    params = spec.random_params(0)
    params.pop("ff1_bias")
    with pytest.raises(ValueError, match=r"params: .*missing \['ff1_bias'\]"):
        interop.to_ncps(spec, params)
    with pytest.raises(ValueError, match=r"dtype: expected float32 or float64"):
        interop.to_ncps(spec, spec.init_params(0), dtype="float16")


@pytest.mark.parametrize(
    "kind, kwargs, attribute, expected",
    [
        ("LSTM", dict(num_layers=2), "num_layers", "1"),
        ("GRU", dict(bidirectional=True), "bidirectional", "False"),
        ("GRU", dict(bias=False), "bias", "True"),
        ("LSTM", dict(proj_size=2), "proj_size", "0"),
    ],
)
def test_from_torch_refusals(torch, kind, kwargs, attribute, expected):
    module = getattr(torch.nn, kind)(INPUTS, 4, **kwargs)
    actual = repr(getattr(module, attribute))
    with pytest.raises(ValueError, match=rf"module\.{attribute}: expected {expected}.*{actual}"):
        interop.from_torch(module)


def test_from_torch_and_to_torch_type_refusals(torch):
    with pytest.raises(ValueError, match=r"module: expected a torch\.nn\.LSTM.*torch\.nn\..*RNN"):
        interop.from_torch(torch.nn.RNN(INPUTS, 4))
    with pytest.raises(ValueError, match=r"spec: expected an LSTM or GRU spec.*'cfc'"):
        interop.to_torch(cells.get_spec("cfc", INPUTS, 4), {})
    spec = cells.get_spec("gru", INPUTS, 4)
    with pytest.raises(ValueError, match=r"params\['input_bias'\]: expected shape \(12,\)"):
        interop.to_torch(spec, {**spec.init_params(0), "input_bias": np.zeros(3)})


@pytest.mark.parametrize(
    "kind, kwargs, pattern",
    [
        ("GRU", dict(reset_after=False), r"layer\.reset_after: expected True.*reset-after form"),
        ("LSTM", dict(activation="relu"), r"layer\.activation: expected 'tanh'.*'relu'"),
        (
            "GRU",
            dict(recurrent_activation="hard_sigmoid"),
            r"layer\.recurrent_activation: expected 'sigmoid'.*'hard_sigmoid'",
        ),
        ("LSTM", dict(use_bias=False), r"layer\.use_bias: expected True.*False"),
        ("GRU", dict(go_backwards=True), r"layer\.go_backwards: expected False.*True"),
        ("LSTM", dict(dropout=0.1), r"layer\.dropout: expected 0\.0.*0\.1"),
    ],
)
def test_from_keras_refusals(keras, kind, kwargs, pattern):
    layer = getattr(keras.layers, kind)(4, **kwargs)
    layer.build((None, None, INPUTS))
    with pytest.raises(ValueError, match=pattern):
        interop.from_keras(layer)


def test_keras_type_refusals(keras):
    with pytest.raises(ValueError, match=r"layer: expected a keras\.layers\.LSTM.*SimpleRNN"):
        interop.from_keras(keras.layers.SimpleRNN(4))
    with pytest.raises(ValueError, match=r"layer\.built: expected a built layer"):
        interop.from_keras(keras.layers.LSTM(4))
    with pytest.raises(ValueError, match=r"spec: expected an LSTM or GRU spec.*'ltc'"):
        interop.to_keras(cells.get_spec("ltc", INPUTS, 4), {})
    with pytest.raises(ValueError, match=r"dtype: expected 'float32' or 'float64'"):
        interop.to_keras(
            cells.get_spec("gru", INPUTS, 4),
            cells.get_spec("gru", INPUTS, 4).init_params(0),
            dtype="int32",
        )


@pytest.mark.parametrize(
    "blocked, call, extra",
    [
        (("ncps", "ncps.torch", "ncps.wirings"), "from_ncps", r"cellbench\[compare\]"),
        (("torch",), "from_torch", r"cellbench\[torch\]"),
        (("keras",), "from_keras", r"cellbench\[tf\]"),
    ],
)
def test_missing_framework_errors(monkeypatch, blocked, call, extra):
    for name in blocked:
        monkeypatch.setitem(sys.modules, name, None)  # makes `import name` fail
    with pytest.raises(ImportError, match=rf"pip install '{extra}'"):
        getattr(interop, call)(object())


def test_interop_imports_without_frameworks():
    code = (
        "import sys\n"
        "for name in ('torch', 'tensorflow', 'keras', 'ncps'):\n"
        "    sys.modules[name] = None\n"
        "import cells.interop as i\n"
        "import numpy as np\n"
        "spec = __import__('cells').get_spec('gru', 2, 3)\n"
        "p = i.params_from_keras_weights(spec, i.keras_weights(spec, spec.init_params(0)))\n"
        "print(sorted(p))\n"
        "try:\n"
        "    i.to_torch(spec, p)\n"
        "except ImportError as e:\n"
        "    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "input_bias" in out.stdout and "cellbench[torch]" in out.stdout
