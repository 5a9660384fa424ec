"""The numba kernels behind `cells.ode.integrate` (see its docstring for the contract).

Kernels take the right-hand side as a first-class function value of type `RHS_TYPE`, so each
compiles once with an explicit signature and is cached on disk, whatever the problem.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import prange, types

f8, i8 = types.float64, types.int64
RHS_SIGNATURE = types.void(f8, f8[::1], f8[::1], f8[::1], i8[::1], f8[::1], f8[::1])
RHS_TYPE = types.FunctionType(RHS_SIGNATURE)

# Per-sample outcome codes written by the adaptive kernel.
OK, MAX_STEPS, STEP_TOO_SMALL, NON_FINITE = 0, 1, 2, 3
STATS = ("rhs_evaluations", "accepted_steps", "rejected_steps", "status")

_SAFETY, _MIN_FACTOR, _MAX_FACTOR = 0.9, 0.2, 10.0  # scipy's step-size factors

_ARGUMENT_TYPES = {
    "rhs": RHS_TYPE,
    "a": f8[:, ::1],
    "b": f8[::1],
    "c": f8[::1],
    "e": f8[::1],
    "e3": f8[::1],
    "error_order": i8,
    "rtol": f8,
    "atol": f8,
    "max_steps": i8,
    "n_steps": i8,
    "y0": f8[:, ::1],
    "t_end": f8[::1],
    "shared": f8[::1],
    "samples": f8[:, ::1],
    "meta": i8[::1],
    "work_size": i8,
}


def _signature(result, names: str):
    return result(*(_ARGUMENT_TYPES[name] for name in names.split()))


@numba.njit(cache=True)
def _norm(values, n):
    """scipy's RMS norm over the first n entries."""
    total = 0.0
    for j in range(n):
        total += values[j] * values[j]
    return math.sqrt(total / n)


@numba.njit(cache=True)
def _stages(rhs, a, c, t, y, h, k, first, ytmp, shared, sample, meta, work):
    """k[s] = f(t + c[s] h, y + h sum_q a[s, q] k[q]) for s >= first (k[0] given when 1)."""
    n = y.shape[0]
    for s in range(first, a.shape[0]):
        for j in range(n):
            acc = 0.0
            for q in range(s):
                acc += a[s, q] * k[q, j]
            ytmp[j] = y[j] + h * acc
        rhs(t + c[s] * h, ytmp, shared, sample, meta, work, k[s])


@numba.njit(cache=True)
def _combine(y, h, weights, k, out):
    """out = y + h sum_s weights[s] k[s]."""
    for j in range(y.shape[0]):
        acc = 0.0
        for s in range(weights.shape[0]):
            acc += weights[s] * k[s, j]
        out[j] = y[j] + h * acc


_FIXED_SIGNATURE = _signature(
    types.Tuple((f8[:, ::1], i8[::1])),
    "rhs a b c y0 t_end n_steps shared samples meta work_size",
)


@numba.njit(_FIXED_SIGNATURE, parallel=True, cache=True)
def fixed_kernel(rhs, a, b, c, y0, t_end, n_steps, shared, samples, meta, work_size):
    batch, n = y0.shape
    stages = b.shape[0]
    y_out = np.empty_like(y0)
    evaluations = np.zeros(batch, dtype=np.int64)
    for i in prange(batch):
        y = y0[i].copy()
        y_next = np.empty(n)
        ytmp = np.empty(n)
        k = np.empty((stages, n))
        work = np.empty(max(work_size, 1))
        h = t_end[i] / n_steps
        for step in range(n_steps):
            _stages(rhs, a, c, step * h, y, h, k, 0, ytmp, shared, samples[i], meta, work)
            _combine(y, h, b, k, y_next)
            y, y_next = y_next, y
        y_out[i] = y
        evaluations[i] = n_steps * stages
    return y_out, evaluations


@numba.njit(cache=True)
def _initial_step(
    rhs, y, f, t_bound, order, rtol, atol, ytmp, scale, shared, sample, meta, work, f1
):
    """Hairer's starting step, exactly as scipy's `select_initial_step` (one rhs call)."""
    n = y.shape[0]
    for j in range(n):
        scale[j] = atol + abs(y[j]) * rtol
    d0 = 0.0
    d1 = 0.0
    for j in range(n):
        d0 += (y[j] / scale[j]) ** 2
        d1 += (f[j] / scale[j]) ** 2
    d0 = math.sqrt(d0 / n)
    d1 = math.sqrt(d1 / n)
    h0 = 1e-6 if d0 < 1e-5 or d1 < 1e-5 else 0.01 * d0 / d1
    h0 = min(h0, t_bound)
    for j in range(n):
        ytmp[j] = y[j] + h0 * f[j]
    rhs(h0, ytmp, shared, sample, meta, work, f1)
    d2 = 0.0
    for j in range(n):
        d2 += ((f1[j] - f[j]) / scale[j]) ** 2
    d2 = math.sqrt(d2 / n) / h0
    if d1 <= 1e-15 and d2 <= 1e-15:
        h1 = max(1e-6, h0 * 1e-3)
    else:
        h1 = (0.01 / max(d1, d2)) ** (1.0 / (order + 1))
    return min(100 * h0, h1, t_bound)


@numba.njit(cache=True)
def _scaled_estimate(weights, k, scale, out):
    """out = (sum_s weights[s] k[s]) / scale: an error estimate in units of the tolerance."""
    for j in range(scale.shape[0]):
        acc = 0.0
        for s in range(weights.shape[0]):
            acc += weights[s] * k[s, j]
        out[j] = acc / scale[j]


@numba.njit(cache=True)
def _error_norm(k, h, e, e3, scale, err, err3):
    """scipy's error norm: RMS of h e.k / scale, or DOP853's blend of its two estimates."""
    n = scale.shape[0]
    _scaled_estimate(e, k, scale, err)
    if e3.shape[0] == 0:
        return abs(h) * _norm(err, n)
    _scaled_estimate(e3, k, scale, err3)
    err5_2 = _norm(err, n) ** 2 * n
    err3_2 = _norm(err3, n) ** 2 * n
    if err5_2 == 0.0 and err3_2 == 0.0:
        return 0.0
    return abs(h) * err5_2 / math.sqrt((err5_2 + 0.01 * err3_2) * n)


@numba.njit(cache=True)
def _adaptive_one(
    rhs,
    a,
    b,
    c,
    e,
    e3,
    error_order,
    rtol,
    atol,
    max_steps,
    y0,
    t_bound,
    shared,
    sample,
    meta,
    work_size,
    y_out,
    stats,
):
    """Integrate one sample from 0 to t_bound; write y_out and stats; return t reached."""
    n = y0.shape[0]
    stages = b.shape[0]
    y = y0.copy()
    y_new = np.empty(n)
    ytmp = np.empty(n)
    scale = np.empty(n)
    err = np.empty(n)
    err3 = np.empty(n)
    k = np.empty((stages + 1, n))
    work = np.empty(max(work_size, 1))
    exponent = -1.0 / (error_order + 1)
    rhs(0.0, y, shared, sample, meta, work, k[0])
    h_abs = _initial_step(
        rhs,
        y,
        k[0],
        t_bound,
        error_order,
        rtol,
        atol,
        ytmp,
        scale,
        shared,
        sample,
        meta,
        work,
        k[1],
    )
    evaluations, accepted, rejected = 2, 0, 0
    status = OK
    t = 0.0
    while t < t_bound and status == OK:
        min_step = 10.0 * abs(np.nextafter(t, np.inf) - t)
        h_abs = max(h_abs, min_step)
        step_accepted = False
        step_rejected = False
        while not step_accepted:
            if h_abs < min_step:
                status = STEP_TOO_SMALL
                break
            if accepted + rejected >= max_steps:
                status = MAX_STEPS
                break
            t_new = min(t + h_abs, t_bound)
            h = t_new - t
            h_abs = abs(h)
            _stages(rhs, a, c, t, y, h, k, 1, ytmp, shared, sample, meta, work)
            _combine(y, h, b, k, y_new)
            rhs(t + h, y_new, shared, sample, meta, work, k[stages])
            evaluations += stages
            for j in range(n):
                scale[j] = atol + max(abs(y[j]), abs(y_new[j])) * rtol
            error = _error_norm(k, h, e, e3, scale, err, err3)
            if error < 1.0:
                factor = (
                    _MAX_FACTOR if error == 0.0 else min(_MAX_FACTOR, _SAFETY * error**exponent)
                )
                if step_rejected:
                    factor = min(1.0, factor)
                h_abs *= factor
                step_accepted = True
                accepted += 1
            elif not math.isfinite(error):
                status = NON_FINITE
                break
            else:
                h_abs *= max(_MIN_FACTOR, _SAFETY * error**exponent)
                step_rejected = True
                rejected += 1
        if step_accepted:
            t = t_new
            y, y_new = y_new, y
            k[0, :] = k[stages, :]  # first same as last: f(t, y) for the next step
    y_out[:] = y
    stats[0], stats[1], stats[2], stats[3] = evaluations, accepted, rejected, status
    return t


_ADAPTIVE_SIGNATURE = _signature(
    types.Tuple((f8[:, ::1], i8[:, ::1], f8[::1])),
    "rhs a b c e e3 error_order rtol atol max_steps y0 t_end shared samples meta work_size",
)


@numba.njit(_ADAPTIVE_SIGNATURE, parallel=True, cache=True)
def adaptive_kernel(
    rhs,
    a,
    b,
    c,
    e,
    e3,
    error_order,
    rtol,
    atol,
    max_steps,
    y0,
    t_end,
    shared,
    samples,
    meta,
    work_size,
):
    batch, n = y0.shape
    y_out = np.empty_like(y0)
    stats = np.zeros((batch, len(STATS)), dtype=np.int64)
    t_reached = np.empty(batch)
    for i in prange(batch):
        t_reached[i] = _adaptive_one(
            rhs,
            a,
            b,
            c,
            e,
            e3,
            error_order,
            rtol,
            atol,
            max_steps,
            y0[i],
            t_end[i],
            shared,
            samples[i],
            meta,
            work_size,
            y_out[i],
            stats[i],
        )
    return y_out, stats, t_reached
