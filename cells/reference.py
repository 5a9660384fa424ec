"""The float64 numpy reference: the oracle every other implementation is checked against.

`run` applies the cell's step (`cells.steps`, through `cells.numpy_ops`) over a sequence;
`gradients` differentiates it by the complex-step method, which gives derivatives exact to
rounding (no subtractive cancellation, unlike finite differences), so the reference needs no
hand-written backward pass that could itself be wrong. Both are written for clarity and never
optimised.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from . import inputs, numpy_ops
from .spec import CellSpec
from .steps import STEPS

_COMPLEX_STEP = 1e-30


def step(spec: CellSpec, params, x, state, ts, constants=None):
    """One reference step: x (B, I), state tuple of (B, H), ts (B, 1) -> (y (B, out), state)."""
    constants = spec.constants() if constants is None else constants
    return STEPS[spec.name](numpy_ops, spec, params, constants, x, state, ts)


def prepare(spec: CellSpec, params, x, h0=None, timespans=None):
    """Validate and convert the arguments of `run` -> (params, x, state tuple, ts (B, T, 1))."""
    params = {k: np.asarray(v, dtype=np.float64) for k, v in spec.check_params(params).items()}
    x = np.asarray(x, dtype=np.float64)
    batch, steps = inputs.check_sequence_shape(spec, x.shape)
    inputs.check_finite(x, "x")
    if timespans is None:
        ts = np.ones((batch, steps, 1))
    else:
        ts = np.asarray(timespans, dtype=np.float64)
        inputs.check_timespans_shape(ts.shape, batch, steps)
        inputs.check_timespan_values(ts)
        ts = ts.reshape(batch, steps, 1)
    parts = inputs.state_parts(spec, h0, batch)
    if parts is None:
        state = tuple(np.zeros((batch, spec.state_size)) for _ in range(spec.state_arity))
    else:
        state = tuple(np.asarray(p, dtype=np.float64) for p in parts)
        for index, part in enumerate(state):
            inputs.check_finite(part, "hx" if len(state) == 1 else f"hx[{index}]")
    return params, x, state, ts


def _unroll(spec: CellSpec, params, x, state, ts):
    """The time loop on already-validated arrays (float64 or complex128)."""
    constants = spec.constants()
    outputs = []
    for t in range(x.shape[1]):
        y, state = step(spec, params, x[:, t], state, ts[:, t], constants)
        outputs.append(y)
    return np.stack(outputs, axis=1), state


def run(spec: CellSpec, params, x, h0=None, timespans=None):
    """Run the cell over a sequence in float64.

    Args:
        spec: the cell.
        params: canonical parameters (`spec.param_shapes()`).
        x: (B, T, I) inputs.
        h0: None (zeros), h (B, H), or (h, c) for cells with a cell state.
        timespans: None (all 1.0), (B, T) or (B, T, 1) elapsed times, finite and > 0.

    Returns:
        y: (B, T, spec.output_size) outputs; h_T: the final state, shaped like h0.
    """
    params, x, state, ts = prepare(spec, params, x, h0, timespans)
    y, state = _unroll(spec, params, x, state, ts)
    return y, inputs.pack_state(spec, state)


def gradients(
    spec: CellSpec,
    params,
    x,
    h0=None,
    timespans=None,
    grad_y=None,
    grad_h: Mapping | tuple | np.ndarray | None = None,
):
    """Exact gradients of L = sum(grad_y * y) + sum(grad_h * h_T), by complex step.

    Args:
        grad_y: (B, T, out) cotangent of the outputs (default ones).
        grad_h: cotangent of the final state, shaped like it (default zeros).

    Returns:
        dict with "x" (B, T, I), "h0" (a tuple of (B, H)) and one entry per parameter name.

    Cost: one complex forward pass per scalar differentiated, so keep the sizes small.
    """
    params, x, state, ts = prepare(spec, params, x, h0, timespans)
    y_shape = (x.shape[0], x.shape[1], spec.output_size)
    grad_y = np.ones(y_shape) if grad_y is None else np.asarray(grad_y, dtype=np.float64)
    if grad_y.shape != y_shape:
        raise ValueError(f"grad_y: expected shape {y_shape}, got {grad_y.shape}")
    if grad_h is None:
        grad_h = tuple(np.zeros_like(s) for s in state)
    else:
        grad_h = inputs.state_parts(spec, grad_h, x.shape[0])

    def loss(p, xx, s):
        y, s_final = _unroll(spec, p, xx, s, ts)
        total = np.sum(grad_y * y)
        for g, part in zip(grad_h, s_final):
            total = total + np.sum(g * part)
        return total

    def derivative(array, evaluate):
        grad = np.zeros(array.shape)
        probe = array.astype(np.complex128)
        for index in np.ndindex(array.shape):
            probe[index] += 1j * _COMPLEX_STEP
            grad[index] = evaluate(probe).imag / _COMPLEX_STEP
            probe[index] = array[index]
        return grad

    grads = {"x": derivative(x, lambda probe: loss(params, probe, state))}
    grads["h0"] = tuple(
        derivative(part, lambda probe, i=i: loss(params, x, state[:i] + (probe,) + state[i + 1 :]))
        for i, part in enumerate(state)
    )
    for key, value in params.items():
        grads[key] = derivative(
            value, lambda probe, key=key: loss({**params, key: probe}, x, state)
        )
    return grads
