"""The `fused` LTC: sensory synapses for the whole sequence at once, then a tight unfold loop.

What is fused (B batch, T steps, I inputs, H neurons, K = ode_unfolds), against ncps.torch:

* The input is constant over a step, so the sensory synapses (a (B, I, H) sigmoid per step) do
  not depend on the state: they are computed for all B*T rows in a few large vectorised passes,
  in chunks of rows so the (rows, I, H) temporary stays bounded.
* softplus, the sparsity masks and the products w * erev, sigma * mu are applied once per call,
  not once per unfold; the leak terms fold into per-step numerator/denominator offsets.
* What remains per unfold is the (B, H, H) recurrent synapse: one broadcast multiply-subtract, one
  sigmoid, two multiply-reduce, and the semi-implicit update.

The sigmoids themselves (B*T*(I*H + K*H*H) of them) are the floor of this cell's cost; no
restructuring removes them. Gradients come from autograd through these ops, so the result is
differentiable exactly like the reference. `compile` runs the same unfold loop through
torch.compile, which fuses each unfold into one pass.

Supports every wiring, mapping and unfold count; not mixed_memory (refused by `limits`).
"""

from __future__ import annotations

import torch

from ..ltc import LTCSpec

#: Rows of the sensory pass per chunk: (rows, I, H) temporaries of at most ~4M elements.
_SENSORY_ELEMENTS = 1 << 22


def limits(spec: LTCSpec) -> str | None:
    if spec.mixed_memory:
        return "fused: mixed_memory is not supported; use impl='eager' (or 'compile')"
    return None


def _positive(spec: LTCSpec, value):
    # the exact log(1 + exp(x)) the other backends use (see cells.torch.ops.softplus)
    return torch.logaddexp(value, torch.zeros_like(value)) if spec.implicit_constraints else value


def _synapse_sums(v, sigma, sigma_mu, w_erev, w):
    """Presynaptic potentials v (N, S) -> (numerator, denominator) (N, H) of the synapse sums."""
    activation = torch.sigmoid(v[:, :, None] * sigma - sigma_mu)  # (N, S, H)
    return (activation * w_erev).sum(dim=1), (activation * w).sum(dim=1)


def sensory_sums(x, w, sigma, mu, erev, max_elements=None):
    """Sensory synapse sums of mapped inputs x (N, I); w (I, H) already constrained and masked
    -> (numerator, denominator), each (N, H). Chunked over rows so the (rows, I, H) activations
    hold at most `max_elements` (default `_SENSORY_ELEMENTS`)."""
    limit = _SENSORY_ELEMENTS if max_elements is None else max_elements
    sigma_mu, w_erev = sigma * mu, w * erev
    rows = max(1, limit // max(1, sigma.numel()))
    parts = [_synapse_sums(chunk, sigma, sigma_mu, w_erev, w) for chunk in x.split(rows)]
    return torch.cat([n for n, _ in parts]), torch.cat([d for _, d in parts])


def sensory(spec: LTCSpec, p: dict, x, sums=sensory_sums):
    """Mapped inputs x (N, I) -> sensory (numerator, denominator), each (N, H), by `sums`
    (`sensory_sums`, or the `cpp` impl's kernel, which takes the same arguments)."""
    w = _positive(spec, p["sensory_w"]) * p["sensory_sparsity_mask"]
    return sums(x, w, p["sensory_sigma"], p["sensory_mu"], p["sensory_erev"])


def unfold(v, cm_t, offset_num, offset_den, sigma, sigma_mu, w_erev, w, unfolds: int):
    """K semi-implicit Euler sub-steps of one cell step; every argument is precomputed.

    v (B, H); cm_t (B, H) = cm / (ts / K); offset_num = gleak * vleak + sensory numerator and
    offset_den = cm_t + gleak + sensory denominator + epsilon, both (B, H).
    """
    for _ in range(unfolds):
        num, den = _synapse_sums(v, sigma, sigma_mu, w_erev, w)
        v = (cm_t * v + offset_num + num) / (offset_den + den)
    return v


def recurrence_terms(spec: LTCSpec, p: dict, x, ts, sensory_sums=sensory_sums):
    """Everything the unfold loop reads, computed once per call.

    x (B, T, I), ts (B, T, 1) or None (unit steps) -> (cm_t, offset_num, offset_den), each
    (B, T, H) (see `unfold`), and the recurrent synapses (sigma, sigma_mu, w_erev, w), each
    (H, H) [pre, post], w constrained and masked.
    """
    batch, steps, inputs = x.shape
    if spec.input_mapping in ("affine", "linear"):
        x = x * p["input_w"]
    if spec.input_mapping == "affine":
        x = x + p["input_b"]
    sens_num, sens_den = sensory(spec, p, x.reshape(batch * steps, inputs), sensory_sums)
    units = sens_num.shape[-1]
    sens_num = sens_num.view(batch, steps, units)
    sens_den = sens_den.view(batch, steps, units)
    gleak = _positive(spec, p["gleak"])
    cm = _positive(spec, p["cm"]) * spec.ode_unfolds
    cm_t = cm.expand(batch, steps, units) if ts is None else cm / ts  # (B, T, H)
    offset_num = gleak * p["vleak"] + sens_num
    offset_den = cm_t + gleak + spec.epsilon + sens_den
    sigma = p["sigma"]
    w = _positive(spec, p["w"]) * p["sparsity_mask"]
    return (cm_t, offset_num, offset_den), (sigma, sigma * p["mu"], w * p["erev"], w)


def readout(spec: LTCSpec, p: dict, states):
    """Potentials after each step (B, T, H) -> outputs (B, T, motor)."""
    y = states[..., : spec.output_size]
    if spec.output_mapping in ("affine", "linear"):
        y = y * p["output_w"]
    if spec.output_mapping == "affine":
        y = y + p["output_b"]
    return y


def run(spec: LTCSpec, p: dict, x, v0, ts, unfold_fn=unfold):
    """x (B, T, I), v0 (B, H), ts (B, T, 1) or None (unit steps) -> (y (B, T, motor), v_T).

    `unfold_fn` is `unfold` or a compiled version of it (the `compile` impl).
    """
    (cm_t, offset_num, offset_den), synapses = recurrence_terms(spec, p, x, ts)
    v, states = v0, []
    for t in range(x.shape[1]):
        v = unfold_fn(
            v, cm_t[:, t], offset_num[:, t], offset_den[:, t], *synapses, spec.ode_unfolds
        )
        states.append(v)
    return readout(spec, p, torch.stack(states, dim=1)), v
