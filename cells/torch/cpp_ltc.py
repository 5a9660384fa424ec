"""The `cpp` LTC: the synapses in C++ (`cells/cpp/csrc/ltc_sequence.cpp`), forward and
backward, on CPU: the sensory synapses of every step in one call, and the whole recurrence
(every step, every unfold) in another.

Everything else is `fused_ltc`'s torch code: the input mapping, softplus, masks and the
per-step offsets (`fused_ltc.recurrence_terms`), and the output mapping. The synapses are where
the time goes: a (rows, pre, post) sigmoid per pass, which torch computes as a chain of
operations, each a dispatch and a trip through memory, and which C++ computes in one vectorised
pass with a block of post neurons' sums kept in registers.

The backward passes are hand-written (the C++ file states the formulas), BPTT through every
unfold. The forward pass records the potential entering each unfold and the reciprocal of its
denominator, (B, T, K, H) each; the synapse activations are recomputed in the backward pass.
Gradients reach the canonical parameters through torch's autograd of the surrounding code.

Supports what `fused` supports (every wiring, mapping and unfold count; not mixed memory), on
CPU, in float32 and float64. Threads: torch.get_num_threads(), over blocks of the batch.
"""

from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable

from ..cpp import kernels
from . import fused_ltc

DTYPES = (torch.float32, torch.float64)


def _entry(name: str, dtype: torch.dtype):
    return kernels.entry(name, str(dtype).removeprefix("torch."))


def address(tensor):
    """A tensor's data pointer for ctypes (None: a null pointer)."""
    return None if tensor is None else tensor.data_ptr()


def aligned(tensor):
    """`tensor` contiguous and starting on a `kernels.ALIGNMENT` boundary, copied if it is not
    (a slice can start anywhere); None stays None."""
    if tensor is None:
        return None
    tensor = tensor.contiguous()
    return tensor.clone() if tensor.data_ptr() % kernels.ALIGNMENT else tensor


class _SensorySums(torch.autograd.Function):
    """x (N, I), (sigma, sigma_mu, w_erev, w) (I, H) -> (numerator, denominator) (N, H)."""

    @staticmethod
    def forward(ctx, x, sigma, sigma_mu, w_erev, w):
        rows, inputs = x.shape
        units = w.shape[1]
        num, den = x.new_empty(rows, units), x.new_empty(rows, units)
        operands = (x, sigma, sigma_mu, w_erev, w)
        threads = torch.get_num_threads()
        _entry("synapses_forward", x.dtype)(
            rows, inputs, units, *map(address, (*operands, num, den)), threads
        )
        ctx.save_for_backward(*operands)
        ctx.threads = threads
        return num, den

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_num, grad_den):
        operands = ctx.saved_tensors
        x, w = operands[0], operands[-1]
        grads = [torch.empty_like(t) for t in operands]
        incoming = (aligned(grad_num), aligned(grad_den))  # zeros when unused
        _entry("synapses_backward", x.dtype)(
            x.shape[0],
            x.shape[1],
            w.shape[1],
            *map(address, (*operands, *incoming, *grads)),
            ctx.threads,
        )
        return tuple(grads)


def sensory_sums(x, w, sigma, mu, erev):
    """`fused_ltc.sensory_sums` in one C++ pass: x (N, I), w (I, H) constrained and masked,
    sigma, mu, erev (I, H) -> (numerator, denominator), each (N, H)."""
    operands = (x, sigma, sigma * mu, w * erev, w)
    return _SensorySums.apply(*map(aligned, operands))


class _Sequence(torch.autograd.Function):
    """(cm_t, offset_num, offset_den) (B, T, H), v0 (B, H), (sigma, sigma_mu, w_erev, w) (H, H)
    -> the potential after every step, (B, T, H)."""

    @staticmethod
    def forward(ctx, cm_t, offset_num, offset_den, v0, sigma, sigma_mu, w_erev, w, unfolds):
        batch, steps, units = offset_num.shape
        states = offset_num.new_empty(batch, steps, units)
        keep = any(ctx.needs_input_grad[:8])  # record the trace only if backward will run
        trace = (
            tuple(offset_num.new_empty(batch, steps, unfolds, units) for _ in range(2))
            if keep
            else (None, None)
        )
        inputs = (cm_t, offset_num, offset_den, v0, sigma, sigma_mu, w_erev, w)
        threads = torch.get_num_threads()
        _entry("ltc_forward", states.dtype)(
            batch, steps, units, unfolds, *map(address, (*inputs, states, *trace)), threads
        )
        if keep:
            ctx.save_for_backward(*inputs, states)
            ctx.trace, ctx.unfolds, ctx.threads = trace, unfolds, threads
        return states

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_states):
        inputs = ctx.saved_tensors[:8]
        states = ctx.saved_tensors[8]
        batch, steps, units = states.shape
        grads = [torch.empty_like(t) for t in inputs]
        # A name keeps a contiguous copy alive through the call (autograd may hand in an
        # expanded gradient, whose copy would otherwise be freed before the kernel reads it).
        incoming = aligned(grad_states)
        _entry("ltc_backward", states.dtype)(
            batch,
            steps,
            units,
            ctx.unfolds,
            *map(address, (*inputs, states, *ctx.trace, incoming, *grads)),
            ctx.threads,
        )  # the trace stays with ctx: a graph kept with retain_graph=True runs backward again
        return (*grads, None)


def check_input(x) -> None:
    """The kernels read float32 or float64 CPU memory."""
    if x.device.type != "cpu":
        raise NotImplementedError(
            f"cpp: runs on CPU only, got a tensor on {x.device}; use impl='fused' or 'triton'"
        )
    if x.dtype not in DTYPES:
        raise NotImplementedError(f"cpp: float32 or float64 only, got {x.dtype}")


def run(spec, p: dict, x, v0, ts):
    """x (B, T, I), v0 (B, H), ts (B, T, 1) or None (unit steps) -> (y (B, T, motor), v_T)."""
    check_input(x)
    terms, synapses = fused_ltc.recurrence_terms(spec, p, x, ts, sensory_sums)
    arguments = [aligned(t) for t in (*terms, v0, *synapses)]
    states = _Sequence.apply(*arguments, spec.ode_unfolds)
    return fused_ltc.readout(spec, p, states), states[:, -1]
