"""The `cpp` CfC: `fused`'s CfC with its two per-step loops (forward, and the sequential part of
BPTT) in C++ (`cells/cpp/csrc/cfc_sequence.cpp`), on CPU.

`fused` already does in large torch kernels what can be batched over the sequence: the weight
folding (tanh in sigmoid form, merged heads), the gate derivatives of every step at once, and
each weight gradient as one GEMM (`cells.torch.fused_cfc`, reused here unchanged). What is left
is a loop of small GEMMs and a few element-wise passes per step, where torch spends its time in
per-operation dispatch and in waking its threads for GEMMs of 32 rows. The C++ loop splits the
batch between threads once for the whole sequence and runs each step's GEMMs on rows four at a
time, register-blocked, with the weights in cache; the input projection is one of them, which
measured faster than one large MKL GEMM before the loop (`csrc/cfc_sequence.cpp`).

Supports unwired CfC, modes "default" and "no_gate", one backbone layer with a sigmoid-form
activation (lecun_tanh, tanh), no mixed memory; CPU, float32 and float64.
"""

from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable

from ..cpp import kernels
from . import fused_cfc
from .cpp_ltc import address, aligned, check_input


def _entry(kind: str, dtype: torch.dtype):
    return kernels.entry(f"cfc_{kind}", str(dtype).removeprefix("torch."))


class _Recurrence(torch.autograd.Function):
    """x (B, T, I), w_x (I, U), b_x (U,), h0 (B, H), w_h (H, U), w_g (U, G), b_g (G,),
    ts (B, T, 1) | None, mode -> h (B, T, H), every step's state (batch-major; see
    fused_cfc._Recurrence)."""

    @staticmethod
    def forward(ctx, x, w_x, b_x, h0, w_h, w_g, b_g, ts, mode):
        batch, steps, inputs = x.shape
        units, width, heads = h0.shape[1], w_x.shape[1], w_g.shape[1]
        keep = any(ctx.needs_input_grad[:7])  # save what backward needs only if it will run
        out = x.new_empty(batch, steps, units)
        z_all = x.new_empty(batch, steps, width) if keep else None
        gates = x.new_empty(batch, steps, 3 * units) if keep else None
        threads = torch.get_num_threads()
        operands = (x, w_x, b_x, h0, w_h, w_g, b_g, ts)
        _entry("forward", x.dtype)(
            batch, steps, units, width, heads, inputs, *map(address, operands),
            kernels.MODES[mode], *map(address, (out, z_all, gates)), threads,
        )  # fmt: skip
        if keep:
            ctx.save_for_backward(x, w_x, h0, w_h, w_g, out, z_all, gates, ts)
        ctx.mode, ctx.threads = mode, threads
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        x, w_x, h0, w_h, w_g, out, z_all, gates, ts = ctx.saved_tensors
        batch, steps, units = out.shape
        width, heads = z_all.shape[2], w_g.shape[1]
        coef = fused_cfc._gate_coefficients(ctx.mode, gates, ts)  # (B, T, G / H, H)
        coef = coef.reshape(batch, steps, heads).contiguous()
        d_act = z_all * (1 - z_all)
        d_g = out.new_empty(batch, steps, heads)
        d_a = out.new_empty(batch, steps, width)
        d_h0 = out.new_empty(batch, units)
        # the transposes are copied once so the kernel reads rows
        operands = tuple(map(aligned, (coef, d_act, grad_out, w_g.t(), w_h.t())))
        _entry("backward", out.dtype)(
            batch, steps, units, width, heads, *map(address, (*operands, d_g, d_a, d_h0)),
            ctx.threads,
        )  # fmt: skip
        flat = batch * steps
        h_prev = torch.cat([h0[:, None], out[:, :-1]], dim=1).reshape(flat, units)
        d_a_flat, d_g_flat = d_a.reshape(flat, width), d_g.reshape(flat, heads)
        d_x = (d_a_flat @ w_x.t()).view(x.shape) if ctx.needs_input_grad[0] else None
        d_w_x = x.reshape(flat, -1).t() @ d_a_flat
        d_w_h = h_prev.t() @ d_a_flat
        d_w_g = z_all.reshape(flat, width).t() @ d_g_flat
        return (d_x, d_w_x, d_a_flat.sum(dim=0), d_h0, d_w_h, d_w_g, d_g_flat.sum(dim=0), None,
                None)  # fmt: skip


def run(spec, p: dict, x, h0, ts, folded=None):
    """x (B, T, I), h0 (B, H), ts (B, T, 1) or None (unit steps) -> (y (B, T, H), h_T (B, H)).

    `folded` is `fused_cfc.fold_weights(spec, p, ts is None)` when the caller kept it.
    """
    check_input(x)
    if folded is None:
        folded = fused_cfc.fold_weights(spec, p, unit_steps=ts is None)
    tensors = (x, *folded[:2], h0, *folded[2:], ts)  # x, w_x, b_x, h0, w_h, w_g, b_g, ts
    out = _Recurrence.apply(*map(aligned, tensors), spec.mode)
    return out, out[:, -1]
