"""The LTC's continuous-time ODE, as a numba right-hand side and as plain numpy.

For neuron potentials v (H,) and the mapped input x held constant over the interval:

    cm dv/dt = gleak (vleak - v) + sum_i W_ij s_ij(v_i) (erev_ij - v_j) + (Ns_j - Ds_j v_j)
    s_ij(v_i) = sigmoid(sigma_ij (v_i - mu_ij)),   W = softplus(w) * sparsity_mask

where Ns, Ds are the sensory numerator and denominator sums of the step (`cells.ltc.
sensory_drive`) and softplus applies to w, sensory_w, cm, gleak only when the spec's
`implicit_constraints` is on: the same constraints and masks as the cell. One cell step with
`ode_unfolds` = n is n semi-implicit Euler steps of this ODE (plus `epsilon` in the
denominator, which is an extra leak of 1e-8 and is left out here).
"""

from __future__ import annotations

import numpy as np
from scipy import special

from .. import ltc, numpy_ops
from .fastmath import sigmoid
from .integrate import Problem, rhs_function


@rhs_function
def _ltc_rhs(t, v, shared, sample, meta, work, out):
    n = meta[0]
    size = n * n
    weight = shared[0:size].reshape((n, n))
    sigma = shared[size : 2 * size].reshape((n, n))
    mu = shared[2 * size : 3 * size].reshape((n, n))
    weight_erev = shared[3 * size : 4 * size].reshape((n, n))
    gleak = shared[4 * size : 4 * size + n]
    gleak_vleak = shared[4 * size + n : 4 * size + 2 * n]
    cm = shared[4 * size + 2 * n : 4 * size + 3 * n]
    numerator = work[:n]
    for j in range(n):
        numerator[j] = sample[j] + gleak_vleak[j]
        out[j] = sample[n + j] + gleak[j]
    # Source-major order: the inner loop runs over contiguous targets and vectorises.
    for i in range(n):
        v_i = v[i]
        for j in range(n):
            s = sigmoid(sigma[i, j] * (v_i - mu[i, j]))
            numerator[j] += weight_erev[i, j] * s
            out[j] += weight[i, j] * s
    for j in range(n):
        out[j] = (numerator[j] - out[j] * v[j]) / cm[j]


def _constrained(spec, params):
    positive = ltc.positive(numpy_ops, spec)
    constants = spec.constants()
    weight = positive(params["w"]) * constants["sparsity_mask"]
    return weight, positive(params["gleak"]), positive(params["cm"])


def ltc_problem(spec, params, x) -> Problem:
    """The LTC ODE for one cell step with input x (B, I) (already through the memory LSTM).

    params must be checked canonical float64 parameters; the mapped input's sensory sums are
    computed here once, in numpy, exactly as the cell computes them.
    """
    weight, gleak, cm = _constrained(spec, params)
    mapped = ltc.map_input(numpy_ops, spec, params, x)
    sensory_num, sensory_den = ltc.sensory_drive(numpy_ops, spec, params, spec.constants(), mapped)
    shared = np.concatenate(
        [
            weight.ravel(),
            params["sigma"].ravel(),
            params["mu"].ravel(),
            (weight * params["erev"]).ravel(),
            gleak,
            gleak * params["vleak"],
            cm,
        ]
    )
    n = spec.units
    return Problem(
        rhs=_ltc_rhs,
        shared=shared,
        samples=np.concatenate([sensory_num, sensory_den], axis=1),
        meta=np.array([n], dtype=np.int64),
        work_size=n,
        synapses=n * n,
    )


def numpy_rhs(spec, params, x_sample):
    """f(t, v) of one sample in plain numpy (scipy's expit), for scipy's solvers and checks.

    Written from the formula independently of `_ltc_rhs`, so agreement is evidence.
    """
    weight, gleak, cm = _constrained(spec, params)
    mapped = ltc.map_input(numpy_ops, spec, params, x_sample[None, :])
    sensory_num, sensory_den = (
        part[0] for part in ltc.sensory_drive(numpy_ops, spec, params, spec.constants(), mapped)
    )
    sigma, mu, erev, vleak = params["sigma"], params["mu"], params["erev"], params["vleak"]

    def rhs(t, v):
        active = weight * special.expit(sigma * (v[:, None] - mu))  # (source, target)
        synaptic = np.sum(active * (erev - v[None, :]), axis=0)
        return (gleak * (vleak - v) + synaptic + sensory_num - sensory_den * v) / cm

    return rhs
