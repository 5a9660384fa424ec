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


def _tf_registry():
    try:
        import cells.tf as ctf
    except ImportError:
        return None
    return ctf.IMPLEMENTATIONS


def tf_cases(specs):
    """pytest params (spec, impl) for every TF impl that computes the spec; one skip without TF."""
    registry = _tf_registry()
    if registry is None:
        mark = pytest.mark.skip(reason="tensorflow is not installed")
        return [pytest.param(None, None, marks=mark, id="tf")]
    return [
        pytest.param(spec, impl, id=f"{spec.describe()}-{impl}")
        for spec in specs
        for impl in registry.names()
        if registry.get(impl).unsupported(spec) is None
    ]


# Dropout acts after backbone layers 1.. only, so it takes two.
DEEP_DROPOUT = cells.get_spec(
    "cfc", 3, 5, backbone_layers=2, backbone_units=16, backbone_dropout=0.5
)


def test_every_tf_impl_is_covered_by_the_contract_tests():
    registry = _tf_registry()
    if registry is None:
        pytest.skip("tensorflow is not installed")
    assert {p.values[1] for p in tf_cases(SPECS)} == set(registry.names())


@pytest.mark.parametrize("spec, impl", tf_cases(SPECS + [DEEP_DROPOUT]))
def test_tf_export_and_keras_serialisation_round_trip(spec, impl, tmp_path):
    import keras

    import cells.tf as ctf

    params = spec.random_params(4)
    x, ts = inputs(spec)
    layer = ctf.build(spec, params, impl, dtype="float64")
    exported = layer.export_params()
    assert list(exported) == list(params)
    assert all(np.array_equal(exported[k], params[k]) for k in params)
    assert len(layer.weights) == len(layer.trainable_weights) == len(params)
    y, _ = layer(x, timespans=ts)
    # get_config/from_config, then the weights: same function.
    clone = type(layer).from_config(layer.get_config())
    assert clone.impl == impl
    clone.set_weights(layer.get_weights())
    np.testing.assert_array_equal(clone(x, timespans=ts)[0].numpy(), y.numpy())
    # A whole .keras file written and loaded back.
    inp = keras.Input((x.shape[1], spec.input_size), dtype="float64")
    model = keras.Model(inp, layer(inp)[0])
    path = tmp_path / f"{impl}.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(loaded(x).numpy(), layer(x)[0].numpy(), rtol=1e-12)


@pytest.mark.parametrize("spec, impl", tf_cases([cells.get_spec("ltc", 3, 6)]))
def test_tf_layer_traces_inside_a_users_tf_function(spec, impl):
    import tensorflow as tf

    import cells.tf as ctf

    layer = ctf.build(spec, spec.random_params(0), impl, dtype="float64")
    x, ts = inputs(spec)
    eager = layer(x, timespans=ts)[0].numpy()
    traced = tf.function(lambda a, b: layer(a, timespans=b)[0])(tf.constant(x), tf.constant(ts))
    np.testing.assert_allclose(traced.numpy(), eager, rtol=1e-13)
    with pytest.raises(tf.errors.InvalidArgumentError, match="timespans"):
        tf.function(lambda a, b: layer(a, timespans=b)[0])(tf.constant(x), tf.constant(-ts))


@pytest.mark.parametrize("spec, impl", tf_cases([DEEP_DROPOUT]))
def test_tf_dropout_acts_only_in_training_and_only_after_backbone_layer_one(spec, impl):
    import cells.tf as ctf

    x, _ = inputs(spec)
    layer = ctf.build(spec, impl=impl, dtype="float64")
    inference = layer(x)[0].numpy()
    np.testing.assert_array_equal(layer(x, training=False)[0].numpy(), inference)
    first, second = (layer(x, training=True)[0].numpy() for _ in range(2))
    assert not np.allclose(first, inference)
    assert not np.allclose(first, second)  # fresh masks on every call
    shallow = cells.get_spec("cfc", 3, 5, backbone_layers=1, backbone_dropout=0.5)
    layer = ctf.build(shallow, impl=impl, dtype="float64")  # ncps: no dropout after layer 0
    np.testing.assert_array_equal(layer(x, training=True)[0].numpy(), layer(x)[0].numpy())


def test_xla_training_gradients_use_the_forward_dropout_masks():
    """The xla backward recomputes the forward, so it must draw the forward's masks. A fresh
    layer with the same seed replays them: central differences of training losses check it."""
    tf = pytest.importorskip("tensorflow")
    import cells.tf as ctf

    spec, rng = DEEP_DROPOUT, np.random.default_rng(1)
    params = spec.random_params(2)
    x, ts = inputs(spec)
    cotangent = rng.standard_normal((x.shape[0], x.shape[1], spec.output_size))

    def training_loss(params):
        layer = ctf.build(spec, params, "xla", dtype="float64")
        return layer, tf.reduce_sum(layer(x, timespans=ts, training=True)[0] * cotangent)

    with tf.GradientTape() as tape:
        layer, loss = training_loss(params)
    grads = tape.gradient(loss, list(layer.canonical().values()))
    assert training_loss(params)[1].numpy() == loss.numpy()  # same seed, same masks
    direction = {k: rng.standard_normal(v.shape) for k, v in params.items()}
    h = 1e-6
    plus, minus = (
        training_loss({k: params[k] + s * direction[k] for k in params})[1].numpy() for s in (h, -h)
    )
    analytic = sum(np.sum(g.numpy() * direction[k]) for g, k in zip(grads, params))
    assert (plus - minus) / (2 * h) == pytest.approx(analytic, rel=1e-6)


def test_xla_layer_differentiates_inside_a_jit_compiled_step():
    """Keras's jit_compile training puts the layer's own XLA programs inside an outer one."""
    tf = pytest.importorskip("tensorflow")
    import cells.tf as ctf

    spec = cells.get_spec("cfc", 3, 5, backbone_units=8)
    layer = ctf.build(spec, spec.random_params(0), "xla", dtype="float64")
    x, ts = (tf.constant(a) for a in inputs(spec))

    def grads(x, ts):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(layer(x, timespans=ts)[0] ** 2)
        return tape.gradient(loss, layer.trainable_weights)

    compiled = tf.function(grads, jit_compile=True)(x, ts)
    for a, b in zip(compiled, grads(x, ts)):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-10, atol=1e-13)


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
