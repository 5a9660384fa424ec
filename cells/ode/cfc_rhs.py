"""The ODE that CfC's `pure` mode approximates, as a numba right-hand side and in numpy.

The CfC paper (Hasani et al., 2022, eq. 1) starts from the liquid time-constant ODE

    dx/dt = -(w_tau + f(x, I)) x + f(x, I) A

and replaces its solution by the closed form that ncps's pure mode computes,
x(t) = -A exp(-t (|w_tau| + |f|)) f + A. Here f is the cell's ff1 head applied to its backbone
on [I, x], re-evaluated as x moves, with the input I held constant over the step. In the
paper f is a non-negative (conductance-like) function and the cell enforces that where it
matters for stability, taking |w_tau| and |ff1| in the exponent; the ODE takes the same
magnitudes (with a signed f it would settle at -A wherever ff1 < 0, while both the paper's
closed form and the cell's tend to A), so the ODE solved is

    dx/dt = -(|w_tau| + |f(x, I)|) x + |f(x, I)| A.

Its solution for constant f is x0 e^{-rt} + (|f| A / r)(1 - e^{-rt}) with r = |w_tau| + |f|;
ncps's closed form, -A e^{-rt} ff1 + A, ignores x0 and reaches A only when w_tau = 0. How far
apart the two are over timespans is what `cells.ode.tables.cfc_pure_error` measures.

Only unwired CfCs have this form (a wired CfC chains one such head per layer).
"""

from __future__ import annotations

import math

import numba
import numpy as np

from .. import numpy_ops
from .integrate import Problem, rhs_function

# Activation codes shared with the numba right-hand side.
ACTIVATIONS = ("lecun_tanh", "tanh", "relu", "silu", "gelu")


@numba.njit(inline="always", cache=True)
def _activate(code, z):
    if code == 0:
        return 1.7159 * math.tanh(0.666 * z)
    if code == 1:
        return math.tanh(z)
    if code == 2:
        return max(z, 0.0)
    if code == 3:
        return z / (1.0 + math.exp(-z))
    return 0.5 * z * (1.0 + math.erf(z / math.sqrt(2.0)))


@numba.njit(inline="always", cache=True)
def _dense(z, kernel, bias, out):
    """out = z @ kernel + bias; kernel (fan_in, fan_out) row-major, so rows stream."""
    for j in range(out.shape[0]):
        out[j] = bias[j]
    for i in range(z.shape[0]):
        z_i = z[i]
        for j in range(out.shape[0]):
            out[j] += z_i * kernel[i, j]


@rhs_function
def _cfc_pure_rhs(t, x, shared, sample, meta, work, out):
    inputs, units, width, layers, code = meta[0], meta[1], meta[2], meta[3], meta[4]
    fan_in = inputs + units
    z = work[:fan_in]
    z[:inputs] = sample
    z[inputs:] = x
    offset = 0
    buffer = fan_in
    for _layer in range(layers):
        kernel = shared[offset : offset + fan_in * width].reshape((fan_in, width))
        bias = shared[offset + fan_in * width : offset + (fan_in + 1) * width]
        offset += (fan_in + 1) * width
        hidden = work[buffer : buffer + width]
        _dense(z, kernel, bias, hidden)
        for j in range(width):
            hidden[j] = _activate(code, hidden[j])
        # Alternate the two halves of the scratch space between layers.
        buffer = fan_in if buffer != fan_in else fan_in + width
        z = hidden
        fan_in = width
    kernel = shared[offset : offset + fan_in * units].reshape((fan_in, units))
    bias = shared[offset + fan_in * units : offset + (fan_in + 1) * units]
    offset += (fan_in + 1) * units
    w_tau = shared[offset : offset + units]
    a = shared[offset + units : offset + 2 * units]
    _dense(z, kernel, bias, out)  # out holds f until the last loop
    for j in range(units):
        f = abs(out[j])
        out[j] = -(abs(w_tau[j]) + f) * x[j] + f * a[j]


def check_spec(spec) -> None:
    """Refuse CfCs this ODE does not describe."""
    if spec.name != "cfc" or spec.mode != "pure":
        raise ValueError(
            f"spec: expected a CfC with mode='pure' (the mode that is a closed form of an ODE), "
            f"got {spec.describe()}"
        )
    if spec.is_wired:
        raise NotImplementedError(
            "spec: the CfC ODE is defined for unwired cells only; a wired CfC chains one "
            "head per wiring layer"
        )


def cfc_pure_problem(spec, params, x) -> Problem:
    """The pure-mode CfC ODE for one cell step with input x (B, I) held constant."""
    check_spec(spec)
    parts = []
    for layer in range(spec.backbone_layers):
        parts += [params[f"backbone{layer}_kernel"], params[f"backbone{layer}_bias"]]
    parts += [params["ff1_kernel"], params["ff1_bias"], params["w_tau"], params["A"]]
    shared = np.concatenate([np.ravel(p) for p in parts])
    width = spec.backbone_units if spec.backbone_layers else 0
    meta = [
        spec.input_size,
        spec.units,
        width,
        spec.backbone_layers,
        ACTIVATIONS.index(spec.backbone_activation),
    ]
    return Problem(
        rhs=_cfc_pure_rhs,
        shared=shared,
        samples=np.ascontiguousarray(x, dtype=np.float64),
        meta=np.array(meta, dtype=np.int64),
        work_size=spec.input_size + spec.units + 2 * width,
    )


def numpy_rhs(spec, params, x_sample):
    """f(t, x) of one sample in plain numpy (the cell's own ops), for scipy and checks."""
    check_spec(spec)
    activation = numpy_ops.activation(spec.backbone_activation)

    def rhs(t, state):
        z = np.concatenate([x_sample, state])
        for layer in range(spec.backbone_layers):
            z = activation(z @ params[f"backbone{layer}_kernel"] + params[f"backbone{layer}_bias"])
        f = np.abs(z @ params["ff1_kernel"] + params["ff1_bias"])
        return -(np.abs(params["w_tau"]) + f) * state + f * params["A"]

    return rhs
