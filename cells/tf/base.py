"""What every Keras 3 implementation shares: canonical weights, input checks, the call
contract, serialisation, export, and gradients in canonical names.

Every implementation's trainable weights *are* the canonical parameters (same names and
layouts), so `export_params()` is exact and a GradientTape gives canonical gradients; an
implementation that needs another layout derives it inside the traced function.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from .. import inputs
from ..spec import CellSpec


class CellLayer(keras.layers.Layer):
    """Base of every Keras cell layer: call it as ``layer(x, hx=None, timespans=None)``.

    The time loop runs inside a `tf.function` (graph mode) whatever the caller does.

    Args:
        spec: the cell (a `CellSpec`, or its `to_config()` dict when deserialising).
        params: canonical parameters; None draws `spec.init_params(seed)`.
        seed: seed for `init_params` when params is None.
        **kwargs: Keras layer arguments (name, dtype, trainable).
    """

    impl = ""
    jit_compile = False
    #: True: `prepare` passes ts=None when the call gave no timespans (every step lasts 1), so an
    #: implementation can use a cheaper unit-step form; False: it gets a tensor of ones.
    unit_timespans_as_none = False

    def __init__(self, spec: CellSpec, params=None, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        if isinstance(spec, dict):
            from .. import spec_from_config

            spec = spec_from_config(spec)
        self.spec = spec
        self.seed = seed
        params = spec.init_params(seed) if params is None else spec.check_params(params)
        self._weight_names = tuple(params)
        for name, value in params.items():
            variable = self.add_weight(name=name, shape=value.shape, initializer="zeros")
            variable.assign(np.asarray(value, dtype=variable.dtype))
        self._constants = spec.constants()
        self._traced = tf.function(self.run, jit_compile=self.jit_compile, reduce_retracing=True)
        self.built = True

    # ---------------------------------------------------------------- helpers
    def canonical(self) -> dict[str, keras.Variable]:
        """Canonical name -> weight, in canonical order."""
        by_name = {v.name.split("/")[-1]: v for v in self.weights}
        return {name: by_name[name] for name in self._weight_names}

    def export_params(self) -> dict[str, np.ndarray]:
        """The canonical parameter dict, as numpy arrays of the layer's dtype."""
        return {k: np.array(v.numpy()) for k, v in self.canonical().items()}

    def get_config(self):
        config = super().get_config()
        config.update(spec=self.spec.to_config(), seed=self.seed)
        return config

    def prepare(self, x, hx, timespans):
        """Check the call's arguments -> (x, state tuple, ts (B, T, 1)) in the compute dtype.

        ts is None instead when no timespans were given and `unit_timespans_as_none` is set.

        Shapes are checked whenever they are static; values (finite, positive timespans) are
        checked eagerly, or by tf.debugging assertions when the caller traces the layer.
        """
        dtype = self.compute_dtype
        x = tf.convert_to_tensor(x, dtype_hint=dtype)
        if x.shape.rank != 3:
            inputs.check_sequence_shape(self.spec, tuple(d or 0 for d in x.shape))
        if x.shape[-1] is not None and x.shape[-1] != self.spec.input_size:
            inputs.check_sequence_shape(self.spec, tuple(d or 0 for d in x.shape))
        x = tf.cast(x, dtype)
        batch, steps = tf.shape(x)[0], tf.shape(x)[1]
        static_batch = x.shape[0]
        if timespans is None:
            ts = None if self.unit_timespans_as_none else tf.ones((batch, steps, 1), dtype)
        else:
            ts = tf.cast(tf.convert_to_tensor(timespans, dtype_hint=dtype), dtype)
            if x.shape.is_fully_defined():
                inputs.check_timespans_shape(ts.shape, x.shape[0], x.shape[1])
            if tf.executing_eagerly():
                inputs.check_timespan_values(ts.numpy())
            else:
                tf.debugging.assert_all_finite(ts, "timespans: expected finite values > 0")
                tf.debugging.assert_positive(ts, "timespans: expected values > 0")
            ts = tf.reshape(ts, (batch, steps, 1))
        if hx is None:
            state = tuple(
                tf.zeros((batch, self.spec.state_size), dtype) for _ in range(self.spec.state_arity)
            )
        else:

            def shape_of(t):
                return tuple(d if d is not None else -1 for d in tf.convert_to_tensor(t).shape)

            parts = inputs.state_parts(
                self.spec, hx, static_batch if static_batch is not None else -1, shape_of
            )
            state = tuple(tf.cast(tf.convert_to_tensor(p, dtype_hint=dtype), dtype) for p in parts)
        return x, state, ts

    def call(self, x, hx=None, timespans=None, training=False):
        """x (B, T, I), hx None | h (B, H) | (h, c), timespans None | (B, T) | (B, T, 1)
        -> (y (B, T, out), h_T shaped like hx)."""
        x, state, ts = self.prepare(x, hx, timespans)
        y, state = self._traced(x, state, ts, bool(training))
        return y, inputs.pack_state(self.spec, state)

    def run(self, x, state, ts, training):
        """The implementation, traced: x, state tuple, ts -> (y, state tuple)."""
        raise NotImplementedError

    def compute_output_spec(self, x, hx=None, timespans=None, training=False):
        batch, steps = x.shape[0], x.shape[1]
        y = keras.KerasTensor((batch, steps, self.spec.output_size), dtype=self.compute_dtype)
        parts = [
            keras.KerasTensor((batch, self.spec.state_size), dtype=self.compute_dtype)
            for _ in range(self.spec.state_arity)
        ]
        return y, inputs.pack_state(self.spec, tuple(parts))


def value_and_grads(layer: CellLayer, x, hx=None, timespans=None, grad_y=None, grad_h=None):
    """Run `layer` and differentiate L = sum(grad_y * y) + sum(grad_h * h_T) with a GradientTape.

    Arrays in and out are numpy; returns (y, h_T parts tuple, grads) with grads keyed "x",
    "h0" (tuple) and every canonical name.
    """
    dtype = layer.compute_dtype
    spec = layer.spec
    x_t = tf.constant(np.asarray(x), dtype=dtype)
    batch = x_t.shape[0]
    parts = inputs.state_parts(spec, hx, batch)
    if parts is None:
        parts = tuple(np.zeros((batch, spec.state_size)) for _ in range(spec.state_arity))
    h0 = tuple(tf.constant(np.asarray(p), dtype=dtype) for p in parts)
    ts = None if timespans is None else tf.constant(np.asarray(timespans), dtype=dtype)
    weights = list(layer.canonical().values())
    with tf.GradientTape() as tape:
        tape.watch([x_t, *h0])
        y, h_t = layer(x_t, inputs.pack_state(spec, h0), ts)
        h_parts = (h_t,) if spec.state_arity == 1 else tuple(h_t)
        cot_y = np.ones(y.shape) if grad_y is None else np.asarray(grad_y)
        loss = tf.reduce_sum(y * tf.constant(cot_y, dtype=dtype))
        if grad_h is not None:
            for g, part in zip(inputs.state_parts(spec, grad_h, batch), h_parts):
                loss = loss + tf.reduce_sum(part * tf.constant(np.asarray(g), dtype=dtype))
    tensors = [x_t, *h0, *weights]
    grads = tape.gradient(loss, tensors, unconnected_gradients=tf.UnconnectedGradients.ZERO)
    as_numpy = [np.asarray(g.numpy()) for g in grads]
    result = {"x": as_numpy[0], "h0": tuple(as_numpy[1 : 1 + len(h0)])}
    result.update(zip(layer.canonical(), as_numpy[1 + len(h0) :]))
    return y.numpy(), tuple(p.numpy() for p in h_parts), result
