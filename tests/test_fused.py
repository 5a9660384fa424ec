"""The torch `fused` kernels beyond the shared parity cases: the unit-timespan fast path (no
timespans given, the time heads folded into one), every backbone activation with the hand-written
BPTT, the chunked LTC sensory pass, and the configurations `fused` refuses."""

import numpy as np
import pytest

import cells
from cells import numerics, reference
from cells.wiring import AutoNCP

torch = pytest.importorskip("torch")
ct = pytest.importorskip("cells.torch")
from cells.torch import fused_ltc  # noqa: E402


def _compare(spec, timespans, dtype=torch.float64, batch=3, steps=6, seed=0):
    """Fused vs the float64 reference: outputs, final state and every gradient -> worst error."""
    rng = np.random.default_rng(seed)
    params = spec.random_params(seed)
    x = rng.standard_normal((batch, steps, spec.input_size))
    h0 = 0.5 * rng.standard_normal((batch, spec.state_size))
    ts = None if timespans is None else rng.uniform(0.2, 2.0, (batch, steps))
    grad_y = rng.standard_normal((batch, steps, spec.output_size))
    grad_h = rng.standard_normal((batch, spec.state_size))
    module = ct.build(spec, params, "fused", dtype=dtype)
    y, (h_t,), grads = ct.value_and_grads(module, x, h0, ts, grad_y, grad_h)
    y_ref, h_ref = reference.run(spec, params, x, h0, ts)
    grads_ref = reference.gradients(spec, params, x, h0, ts, grad_y, grad_h)
    pairs = {"y": (y, y_ref), "h_T": (h_t, h_ref), "grad x": (grads["x"], grads_ref["x"])}
    pairs["grad h0"] = (grads["h0"][0], grads_ref["h0"][0])
    pairs.update({f"grad {k}": (grads[k], grads_ref[k]) for k in params})
    errors = {name: numerics.errors(a, b)[1] for name, (a, b) in pairs.items()}
    worst = max(errors, key=errors.get)
    print(f"{spec.describe()} ts={timespans}: worst {worst} {errors[worst]:.2e}")
    return errors


@pytest.mark.parametrize("timespans", [None, "irregular"])
@pytest.mark.parametrize("mode", ["default", "no_gate"])
@pytest.mark.parametrize("activation", ["lecun_tanh", "tanh", "relu", "silu", "gelu"])
def test_cfc_matches_reference(activation, mode, timespans):
    spec = cells.get_spec("cfc", 5, 4, backbone_units=7, backbone_activation=activation, mode=mode)
    errors = _compare(spec, timespans)
    tol = numerics.tolerance("float64")
    assert all(e <= tol for e in errors.values()), errors


@pytest.mark.parametrize("timespans", [None, "irregular"])
@pytest.mark.parametrize("mode", ["default", "no_gate"])
def test_cfc_without_backbone_matches_reference(mode, timespans):
    spec = cells.get_spec("cfc", 5, 4, backbone_layers=0, mode=mode)
    errors = _compare(spec, timespans)
    assert all(e <= numerics.tolerance("float64") for e in errors.values()), errors


@pytest.mark.parametrize("timespans", [None, "irregular"])
def test_cfc_float32_matches_reference(timespans):
    spec = cells.get_spec("cfc", 6, 5, backbone_units=9)
    errors = _compare(spec, timespans, dtype=torch.float32)
    assert all(e <= numerics.tolerance("float32") for e in errors.values()), errors


@pytest.mark.parametrize("timespans", [None, "irregular"])
def test_ltc_matches_reference(timespans, monkeypatch):
    # A tiny chunk size forces the sensory pass through several chunks.
    monkeypatch.setattr(fused_ltc, "_SENSORY_ELEMENTS", 40)
    spec = cells.get_spec("ltc", 5, 4, ode_unfolds=3)
    errors = _compare(spec, timespans)
    assert all(e <= numerics.tolerance("float64") for e in errors.values()), errors


def test_no_grad_forward_matches_grad_forward():
    """The forward without autograd (no activations saved) computes the same numbers."""
    spec = cells.get_spec("cfc", 8, 6, backbone_units=10)
    module = ct.build(spec, spec.random_params(1), "fused", dtype=torch.float64)
    x = torch.randn(4, 5, 8, dtype=torch.float64)
    with torch.no_grad():
        y_plain, h_plain = module(x)
    y_grad, h_grad = module(x)
    assert y_grad.requires_grad
    torch.testing.assert_close(y_plain, y_grad.detach(), rtol=0, atol=0)
    torch.testing.assert_close(h_plain, h_grad.detach(), rtol=0, atol=0)


@pytest.mark.parametrize(
    "hparams, reason",
    [
        ({"mode": "pure"}, "mode 'pure'"),
        ({"mixed_memory": True}, "mixed_memory"),
        ({"backbone_layers": 2}, "backbone_layers=2"),
        ({"wiring": AutoNCP(8, 2)}, "wired"),
    ],
)
def test_cfc_refuses_what_it_does_not_fuse(hparams, reason):
    units = 8 if "wiring" in hparams else 4
    spec = cells.get_spec("cfc", 3, units, **hparams)
    with pytest.raises(NotImplementedError, match=reason):
        ct.build(spec, impl="fused")


def test_refuses_lstm():
    with pytest.raises(NotImplementedError, match="fused"):
        ct.build(cells.get_spec("lstm", 3, 4), impl="fused")


def test_folded_weights_follow_parameter_updates():
    """Without autograd the folded CfC weights are reused between calls; an in-place update
    (what an optimiser does) must invalidate them."""
    spec = cells.get_spec("cfc", 4, 3, backbone_units=5)
    module = ct.build(spec, spec.random_params(0), "fused", dtype=torch.float64)
    eager = ct.build(spec, spec.random_params(0), "eager", dtype=torch.float64)
    x = torch.randn(2, 3, 4, dtype=torch.float64)
    with torch.no_grad():
        module(x)
        for fused_p, eager_p in zip(module.parameters(), eager.parameters()):
            fused_p.add_(0.1)
            eager_p.add_(0.1)
        torch.testing.assert_close(module(x)[0], eager(x)[0])
