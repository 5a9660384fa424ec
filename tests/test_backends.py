"""Backend contracts beyond the numbers: export round trips, Keras serialisation, tracing,
training-mode dropout, the implementation registry, and state handling."""

import numpy as np
import pytest

import cells
from cells.wiring import AutoNCP

torch = pytest.importorskip("torch")

SPECS = [
    cells.get_spec("lstm", 3, 5),
    cells.get_spec("gru", 3, 5),
    cells.get_spec("cfc", 3, 5, mode="pure", mixed_memory=True, backbone_units=8),
    cells.get_spec("cfc", 3, AutoNCP(8, 2)),
    cells.get_spec("ltc", 3, AutoNCP(8, 2)),
]
IDS = [s.describe() for s in SPECS]


def inputs(spec, batch=2, steps=4):
    rng = np.random.default_rng(0)
    return rng.standard_normal((batch, steps, spec.input_size)), rng.uniform(
        0.5, 1.5, (batch, steps)
    )


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_torch_export_round_trip_is_exact(spec):
    import cells.torch as ct

    params = spec.random_params(4)
    for impl in ct.IMPLEMENTATIONS.names():
        if ct.IMPLEMENTATIONS.get(impl).unsupported(spec):
            continue
        exported = ct.build(spec, params, impl, dtype=torch.float64).export_params()
        assert list(exported) == list(params)
        for key in params:
            np.testing.assert_array_equal(exported[key], params[key])
        assert len(list(ct.build(spec, params, impl).parameters())) == len(params)


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_tf_export_and_keras_serialisation_round_trip(spec, tmp_path):
    pytest.importorskip("tensorflow")
    import keras

    import cells.tf as ctf

    params = spec.random_params(4)
    x, ts = inputs(spec)
    for impl in ctf.IMPLEMENTATIONS.names():
        if ctf.IMPLEMENTATIONS.get(impl).unsupported(spec):
            continue
        layer = ctf.build(spec, params, impl, dtype="float64")
        exported = layer.export_params()
        assert list(exported) == list(params)
        assert all(np.array_equal(exported[k], params[k]) for k in params)
        assert len(layer.trainable_weights) == len(params)
        y, _ = layer(x, timespans=ts)
        # get_config/from_config, then the weights: same function.
        clone = type(layer).from_config(layer.get_config())
        clone.set_weights(layer.get_weights())
        np.testing.assert_array_equal(clone(x, timespans=ts)[0].numpy(), y.numpy())
        # A whole .keras file written and loaded back.
        inp = keras.Input((x.shape[1], spec.input_size), dtype="float64")
        model = keras.Model(inp, layer(inp)[0])
        path = tmp_path / f"{impl}.keras"
        model.save(path)
        loaded = keras.models.load_model(path)
        np.testing.assert_allclose(loaded(x).numpy(), layer(x)[0].numpy(), rtol=1e-12)


def test_tf_layer_traces_inside_a_users_tf_function():
    tf = pytest.importorskip("tensorflow")
    import cells.tf as ctf

    spec = cells.get_spec("ltc", 3, 6)
    layer = ctf.build(spec, spec.random_params(0), dtype="float64")
    x, ts = inputs(spec)
    eager = layer(x, timespans=ts)[0].numpy()
    traced = tf.function(lambda a, b: layer(a, timespans=b)[0])(tf.constant(x), tf.constant(ts))
    np.testing.assert_allclose(traced.numpy(), eager, rtol=1e-13)
    with pytest.raises(tf.errors.InvalidArgumentError, match="timespans"):
        tf.function(lambda a, b: layer(a, timespans=b)[0])(tf.constant(x), tf.constant(-ts))


def test_dropout_acts_only_in_training_and_only_after_backbone_layer_one():
    import cells.torch as ct

    x, _ = inputs(cells.get_spec("cfc", 3, 5))
    x = torch.tensor(x, dtype=torch.float64)
    deep = cells.get_spec("cfc", 3, 5, backbone_layers=2, backbone_units=16, backbone_dropout=0.5)
    module = ct.build(deep, dtype=torch.float64)
    module.eval()
    assert torch.equal(module(x)[0], module(x)[0])
    module.train()
    torch.manual_seed(0)
    assert not torch.equal(module(x)[0], module(x)[0])
    shallow = cells.get_spec("cfc", 3, 5, backbone_layers=1, backbone_dropout=0.5)
    module = ct.build(shallow, dtype=torch.float64).train()  # ncps: no dropout after layer 0
    assert torch.equal(module(x)[0], module(x)[0])


def test_registry_reports_what_each_impl_supports():
    import cells.torch as ct

    cfc = cells.get_spec("cfc", 3, 5)
    with pytest.raises(NotImplementedError, match="native.*lstm.*gru.*cfc"):
        ct.build(cfc, impl="native")
    with pytest.raises(ValueError, match="impl: expected one of .*eager.*got 'fast'"):
        ct.build(cfc, impl="fast")
    assert ct.IMPLEMENTATIONS.get("eager").unsupported(cfc) is None


def test_torch_module_moves_and_trains():
    """A cell is an ordinary nn.Module: an optimiser step changes canonical parameters."""
    import cells.torch as ct

    spec = cells.get_spec("cfc", 3, 5, backbone_units=8)
    module = ct.build(spec, spec.init_params(0))
    optimiser = torch.optim.SGD(module.parameters(), lr=0.1)
    x = torch.randn(2, 4, 3)
    before = module.export_params()
    module(x)[0].pow(2).sum().backward()
    optimiser.step()
    after = module.export_params()
    assert all(not np.array_equal(before[k], after[k]) for k in before)
    assert not any(k.startswith("layer") for k, _ in module.named_buffers())  # unwired: no masks


def test_nn_lstm_state_layout_is_hidden_from_callers():
    """native and eager take and return (h, c) as (B, H), whatever nn.LSTM wants inside."""
    import cells.torch as ct

    spec = cells.get_spec("lstm", 3, 5)
    params = spec.random_params(0)
    x = torch.randn(2, 4, 3, dtype=torch.float64)
    h0 = (torch.randn(2, 5, dtype=torch.float64), torch.randn(2, 5, dtype=torch.float64))
    y_e, (h_e, c_e) = ct.build(spec, params, "eager", dtype=torch.float64)(x, h0)
    y_n, (h_n, c_n) = ct.build(spec, params, "native", dtype=torch.float64)(x, h0)
    assert h_n.shape == (2, 5)
    torch.testing.assert_close(y_n, y_e)
    torch.testing.assert_close(c_n, c_e)
