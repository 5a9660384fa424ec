"""The float64 reference itself: its gradients, its handling of time, and its specs."""

import numpy as np
import pytest

import cells
from cells import reference
from cells.wiring import AutoNCP


def small(name, **hparams):
    spec = cells.get_spec(name, 3, 5, **hparams)
    rng = np.random.default_rng(3)
    return (
        spec,
        spec.random_params(1),
        rng.standard_normal((2, 4, 3)),
        rng.uniform(0.3, 2.0, (2, 4)),
    )


@pytest.mark.parametrize(
    "name, hparams",
    [
        ("lstm", {}),
        ("gru", {}),
        ("cfc", {"backbone_units": 6, "mode": "pure"}),
        ("cfc", {"backbone_units": 6, "backbone_activation": "gelu", "mixed_memory": True}),
        ("ltc", {}),
    ],
)
def test_complex_step_gradients_agree_with_finite_differences(name, hparams):
    """The complex-step oracle checked by an independent method (central differences)."""
    spec, params, x, ts = small(name, **hparams)
    grads = reference.gradients(spec, params, x, timespans=ts)
    rng = np.random.default_rng(0)
    for key in ["x", *list(params)[:4]]:
        base = x if key == "x" else params[key]
        direction = rng.standard_normal(base.shape)
        eps = 1e-6

        def loss(delta, key=key):
            if key == "x":
                return reference.run(spec, params, x + delta, timespans=ts)[0].sum()
            return reference.run(spec, {**params, key: params[key] + delta}, x, timespans=ts)[
                0
            ].sum()

        numeric = (loss(eps * direction) - loss(-eps * direction)) / (2 * eps)
        analytic = np.sum(grads[key] * direction)
        print(name, key, analytic, numeric)
        assert abs(analytic - numeric) <= 1e-6 * max(1.0, abs(numeric))


@pytest.mark.parametrize("name", ["cfc", "ltc"])
def test_per_sample_timespans_apply_to_their_own_sample(name):
    """Batched timespans (ncps mis-broadcasts them) equal running each sample alone."""
    spec, params, x, ts = small(name)
    y, _ = reference.run(spec, params, x, timespans=ts)
    for b in range(x.shape[0]):
        y_b, _ = reference.run(spec, params, x[b : b + 1], timespans=ts[b : b + 1])
        np.testing.assert_allclose(y[b : b + 1], y_b, rtol=1e-13, atol=1e-15)
    y_3d, _ = reference.run(spec, params, x, timespans=ts[..., None])
    np.testing.assert_array_equal(y, y_3d)


@pytest.mark.parametrize(
    "name, uses_time", [("lstm", False), ("gru", False), ("cfc", True), ("ltc", True)]
)
def test_timespans_matter_exactly_for_continuous_time_cells(name, uses_time):
    spec, params, x, ts = small(name)
    y_ts, _ = reference.run(spec, params, x, timespans=ts)
    y_one, _ = reference.run(spec, params, x)
    assert spec.uses_time == uses_time
    assert (not np.allclose(y_ts, y_one)) == uses_time


def test_state_is_carried_between_calls():
    """Running T steps at once equals two calls that pass the state along."""
    spec, params, x, ts = small("cfc", mixed_memory=True, backbone_units=4)
    y, h = reference.run(spec, params, x, timespans=ts)
    y1, h1 = reference.run(spec, params, x[:, :2], timespans=ts[:, :2])
    y2, h2 = reference.run(spec, params, x[:, 2:], h1, timespans=ts[:, 2:])
    np.testing.assert_allclose(np.concatenate([y1, y2], 1), y, rtol=1e-14)
    np.testing.assert_allclose(h2[1], h[1], rtol=1e-14)


def test_ltc_output_is_the_mapped_motor_neurons():
    spec = cells.get_spec("ltc", 3, AutoNCP(10, 3))
    params = spec.random_params(0)
    x = np.random.default_rng(0).standard_normal((2, 3, 3))
    y, v = reference.run(spec, params, x)
    assert y.shape == (2, 3, 3) and v.shape == (2, 10)
    np.testing.assert_allclose(y[:, -1], v[:, :3] * params["output_w"] + params["output_b"])


def test_init_params_follow_ncps_ranges_and_are_seeded():
    spec = cells.get_spec("ltc", 4, 6)
    a, b, c = spec.init_params(1), spec.init_params(1), spec.init_params(2)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["w"], c["w"])
    assert a["cm"].min() >= 0.4 and a["cm"].max() <= 0.6
    assert a["sigma"].min() >= 3 and a["sigma"].max() <= 8
    np.testing.assert_array_equal(a["erev"], spec.built_wiring.adjacency_matrix)
    pure = cells.get_spec("cfc", 4, 6, mode="pure").init_params(0)
    assert np.all(pure["w_tau"] == 0) and np.all(pure["A"] == 1)


def test_random_params_keep_constrained_ltc_parameters_positive():
    spec = cells.get_spec("ltc", 4, 6, implicit_constraints=False)
    params = spec.random_params(0, scale=0.5)
    for key in ("w", "sensory_w", "cm", "gleak"):
        assert params[key].min() > 0, key
    assert not np.array_equal(params["vleak"], spec.init_params(0)["vleak"])


@pytest.mark.parametrize(
    "spec",
    [
        cells.get_spec("cfc", 3, 8, mode="no_gate", backbone_layers=2, backbone_units=16),
        cells.get_spec("cfc", 3, AutoNCP(8, 2), mixed_memory=True),
        cells.get_spec("ltc", 3, AutoNCP(8, 2), ode_unfolds=3, input_mapping="none"),
        cells.get_spec("gru", 3, 8),
    ],
)
def test_spec_config_round_trip(spec):
    import json

    config = json.loads(json.dumps(spec.to_config()))
    again = cells.spec_from_config(config)
    assert again == spec and again.param_shapes() == spec.param_shapes()


def test_wired_cfc_masks_zero_the_gradient_of_absent_synapses():
    spec = cells.get_spec("cfc", 3, AutoNCP(8, 2, sparsity_level=0.8))
    params = spec.random_params(0)
    x = np.random.default_rng(0).standard_normal((1, 2, 3))
    grads = reference.gradients(spec, params, x)
    mask = spec.constants()["layer0_mask"]
    assert np.all(grads["layer0_ff1_kernel"][mask == 0] == 0)
    assert np.any(grads["layer0_time_a_kernel"][mask == 0] != 0)  # time heads are not masked
