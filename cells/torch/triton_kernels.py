"""Triton step kernels for `impl="triton"` (see `cells.torch.triton_cell`), with their launchers.

Importing this module imports Triton and decorates the kernels; to run them on CPU (Triton's
interpreter, numpy underneath: slow, for tests only) `TRITON_INTERPRET=1` must be in the
environment before Triton itself is first imported, since Triton decorates its own library
(tl.sum, tl.sigmoid) at import.

Every kernel computes one time step for a block of BLOCK_B batch rows and all H units; the
Python loop in `triton_cell` launches one per step. Sizes are padded to powers of two and
masked; masked loads read 0, which every activation maps to 0, so padding never leaks into a
real unit. Matrices are row-major and contiguous, [in, out] as the canonical kernels are.

CfC (two kernels, chosen by backbone_layers; the input projection x @ W_x + b of every step is
one torch GEMM done beforehand, passed as `xp`):
    backbone 1:  z = act(xp + h @ W_h) (B, U);  heads = z @ W_o + b_o (B, NH)
    backbone 0:  heads = xp + h @ W_h (B, NH)
  where NH = 4H for the gated modes (columns ff1 | ff2 | time_a | time_b) and H for "pure"
  (ff1 alone); then the mode's update, written to `out` (B, H).

LTC: the sensory synapse sums of every step are computed by torch beforehand; the kernel runs
all `unfolds` solver sub-steps of one step. The presynaptic axis is walked in chunks of BLOCK_J
neurons, each chunk a (BLOCK_B, BLOCK_J, BLOCK_H) register tile of synapse activations summed
over its middle axis; when BLOCK_J < BLOCK_H the current potentials are re-read from `out`
(written at the end of each sub-step, with barriers), since a register tensor cannot be sliced.

Precision: fp64 always uses "ieee" tl.dot; fp32 uses "tf32" only where the caller allows it
(`torch.backends.cuda.matmul.allow_tf32`, off while a numerics check runs).
"""

from __future__ import annotations

import triton
import triton.language as tl
from triton.runtime.interpreter import InterpretedFunction

from .triton_cell import MAX_BACKBONE_UNITS

# Block sizes are first guesses sized to fit registers and shared memory; none was tuned on a GPU.
#: Rows per CfC program. tl.dot needs every block dimension >= 16.
CFC_BLOCK_B = 16
#: Largest chunk of the reduction (BLOCK_K) and output (BLOCK_N) axes in the CfC kernels.
CFC_CHUNK = 32
#: Bytes of one weight tile (BLOCK_K or BLOCK_N by BLOCK_U) in the backbone kernel: the chunks
#: shrink (to 16) for wide backbones and float64 so the dot operands fit shared memory.
CFC_TILE_BYTES = 32 * 1024
#: Rows per LTC program (at most; fewer for a smaller batch).
LTC_BLOCK_B = 4
#: Elements of the (BLOCK_B, BLOCK_J, BLOCK_H) LTC synapse tile: 4096 is 16 registers per thread
#: per live tile at 8 warps.
LTC_TILE_ELEMENTS = 4096


# ------------------------------------------------------------------ element-wise helpers
@triton.jit
def _tanh(x):
    # From exp: triton.language has no tanh, and libdevice's is not in the interpreter.
    # exp(-2|x|) <= 1 never overflows; the absolute error is an ulp of 1.
    e = tl.exp(-2.0 * tl.abs(x))
    t = (1.0 - e) / (1.0 + e)
    return tl.where(x < 0, -t, t)


@triton.jit
def _activation(x, ACT: tl.constexpr):
    """The backbone activation, as `cells.torch.ops.activation(ACT)`."""
    if ACT == "lecun_tanh":
        y = 1.7159 * _tanh(0.666 * x)
    elif ACT == "tanh":
        y = _tanh(x)
    elif ACT == "relu":
        y = tl.where(x > 0, x, 0.0)
    elif ACT == "silu":
        y = x * tl.sigmoid(x)
    else:  # "gelu", the exact erf form (nn.GELU())
        y = 0.5 * x * (1.0 + tl.erf(x * 0.7071067811865476))
    return y


# ------------------------------------------------------------------ CfC building blocks
@triton.jit
def _add_recurrent(
    acc,
    h_ptr,
    stride_h,
    rows,
    row_mask,
    w_ptr,
    stride_w,
    cols,
    col_mask,
    H,
    BLOCK_K: tl.constexpr,
    PRECISION: tl.constexpr,
):
    """acc (BLOCK_B, N) + h[rows, :H] @ w[:H, cols], over H in chunks of BLOCK_K."""
    for k0 in range(0, H, BLOCK_K):
        ks = k0 + tl.arange(0, BLOCK_K)
        k_mask = ks < H
        h = tl.load(
            h_ptr + rows[:, None] * stride_h + ks[None, :],
            mask=row_mask[:, None] & k_mask[None, :],
            other=0.0,
        )
        w = tl.load(
            w_ptr + ks[:, None] * stride_w + cols[None, :],
            mask=k_mask[:, None] & col_mask[None, :],
            other=0.0,
        )
        acc = tl.dot(h, w, acc, input_precision=PRECISION)
    return acc


@triton.jit
def _load_rows(ptr, stride, rows, row_mask, cols, col_mask):
    """ptr[rows, cols] (BLOCK_B, N), zero where masked."""
    return tl.load(
        ptr + rows[:, None] * stride + cols[None, :],
        mask=row_mask[:, None] & col_mask[None, :],
        other=0.0,
    )


@triton.jit
def _head_from_z(z, w_ptr, b_ptr, stride_w, u_cols, u_mask, cols, col_mask, PRECISION):
    """z (BLOCK_B, BLOCK_U) @ w[:, cols] + b[cols] -> (BLOCK_B, BLOCK_N)."""
    w = tl.load(
        w_ptr + u_cols[:, None] * stride_w + cols[None, :],
        mask=u_mask[:, None] & col_mask[None, :],
        other=0.0,
    )
    b = tl.load(b_ptr + cols, mask=col_mask, other=0.0)
    acc = tl.zeros((z.shape[0], cols.shape[0]), dtype=z.dtype)
    return tl.dot(z, w, acc, input_precision=PRECISION) + b[None, :]


@triton.jit
def _pure_update(ff1, ts, tau_ptr, a_ptr, cols, col_mask):
    """Mode "pure": -A exp(-ts (|w_tau| + |ff1|)) ff1 + A."""
    a = tl.load(a_ptr + cols, mask=col_mask, other=0.0)[None, :]
    tau = tl.load(tau_ptr + cols, mask=col_mask, other=0.0)[None, :]
    return -a * tl.exp(-ts * (tl.abs(tau) + tl.abs(ff1))) * ff1 + a


@triton.jit
def _gated_update(ff1, ff2, time_a, time_b, ts, MODE: tl.constexpr):
    """Modes "default" and "no_gate" from the four head pre-activations."""
    ff1 = _tanh(ff1)
    ff2 = _tanh(ff2)
    t_interp = tl.sigmoid(time_a * ts + time_b)
    if MODE == "no_gate":
        h = ff1 + t_interp * ff2
    else:
        h = ff1 * (1.0 - t_interp) + t_interp * ff2
    return h


# ------------------------------------------------------------------ CfC kernels
@triton.jit
def cfc_backbone_step_kernel(
    xp_ptr,  # (B, U) this step's x @ W_x + b of backbone layer 0
    stride_xp,
    h_ptr,  # (B, H) state in
    stride_h,
    out_ptr,  # (B, H) state out
    stride_out,
    ts_ptr,  # (B,) this step's elapsed times
    stride_ts,
    wh_ptr,  # (H, U) recurrent rows of backbone0_kernel
    wo_ptr,  # (U, NH) heads, (NH,) their biases
    bo_ptr,
    tau_ptr,  # (H,) w_tau and A ("pure" only)
    a_ptr,
    B,
    H,
    U,
    NH,
    MODE: tl.constexpr,
    ACT: tl.constexpr,
    BLOCK_B: tl.constexpr,
    BLOCK_U: tl.constexpr,
    BLOCK_K: tl.constexpr,
    BLOCK_N: tl.constexpr,
    PRECISION: tl.constexpr,
):
    """One CfC step with a one-layer backbone for rows [pid * BLOCK_B, +BLOCK_B)."""
    rows = tl.program_id(0) * BLOCK_B + tl.arange(0, BLOCK_B)
    row_mask = rows < B
    ts = tl.load(ts_ptr + rows * stride_ts, mask=row_mask, other=1.0)[:, None]
    u_cols = tl.arange(0, BLOCK_U)
    u_mask = u_cols < U
    acc = _load_rows(xp_ptr, stride_xp, rows, row_mask, u_cols, u_mask)
    acc = _add_recurrent(
        acc, h_ptr, stride_h, rows, row_mask, wh_ptr, U, u_cols, u_mask, H, BLOCK_K, PRECISION
    )
    z = _activation(acc, ACT)  # (BLOCK_B, BLOCK_U), stays in registers for every head
    for n0 in range(0, H, BLOCK_N):
        cols = n0 + tl.arange(0, BLOCK_N)
        col_mask = cols < H
        ff1 = _head_from_z(z, wo_ptr, bo_ptr, NH, u_cols, u_mask, cols, col_mask, PRECISION)
        if MODE == "pure":
            h_new = _pure_update(ff1, ts, tau_ptr, a_ptr, cols, col_mask)
        else:
            ff2 = _head_from_z(z, wo_ptr, bo_ptr, NH, u_cols, u_mask, H + cols, col_mask, PRECISION)
            time_a = _head_from_z(
                z, wo_ptr, bo_ptr, NH, u_cols, u_mask, 2 * H + cols, col_mask, PRECISION
            )
            time_b = _head_from_z(
                z, wo_ptr, bo_ptr, NH, u_cols, u_mask, 3 * H + cols, col_mask, PRECISION
            )
            h_new = _gated_update(ff1, ff2, time_a, time_b, ts, MODE)
        tl.store(
            out_ptr + rows[:, None] * stride_out + cols[None, :],
            h_new,
            mask=row_mask[:, None] & col_mask[None, :],
        )


@triton.jit
def _direct_head(
    xp_ptr,
    stride_xp,
    h_ptr,
    stride_h,
    wh_ptr,
    NH,
    rows,
    row_mask,
    cols,
    col_mask,
    H,
    BLOCK_K: tl.constexpr,
    PRECISION: tl.constexpr,
):
    """Without a backbone: xp[rows, cols] + h @ W_h[:, cols] (the heads read [x, h])."""
    acc = _load_rows(xp_ptr, stride_xp, rows, row_mask, cols, col_mask)
    return _add_recurrent(
        acc, h_ptr, stride_h, rows, row_mask, wh_ptr, NH, cols, col_mask, H, BLOCK_K, PRECISION
    )


@triton.jit
def cfc_direct_step_kernel(
    xp_ptr,  # (B, NH) this step's x @ W_x + b of the heads
    stride_xp,
    h_ptr,  # (B, H) state in
    stride_h,
    out_ptr,  # (B, H) state out
    stride_out,
    ts_ptr,  # (B,) this step's elapsed times
    stride_ts,
    wh_ptr,  # (H, NH) recurrent rows of the heads
    tau_ptr,  # (H,) w_tau and A ("pure" only)
    a_ptr,
    B,
    H,
    NH,
    MODE: tl.constexpr,
    BLOCK_B: tl.constexpr,
    BLOCK_K: tl.constexpr,
    BLOCK_N: tl.constexpr,
    PRECISION: tl.constexpr,
):
    """One CfC step without a backbone (backbone_layers=0) for rows [pid * BLOCK_B, +BLOCK_B)."""
    rows = tl.program_id(0) * BLOCK_B + tl.arange(0, BLOCK_B)
    row_mask = rows < B
    ts = tl.load(ts_ptr + rows * stride_ts, mask=row_mask, other=1.0)[:, None]
    for n0 in range(0, H, BLOCK_N):
        cols = n0 + tl.arange(0, BLOCK_N)
        col_mask = cols < H
        ff1 = _direct_head(
            xp_ptr,
            stride_xp,
            h_ptr,
            stride_h,
            wh_ptr,
            NH,
            rows,
            row_mask,
            cols,
            col_mask,
            H,
            BLOCK_K,
            PRECISION,
        )
        if MODE == "pure":
            h_new = _pure_update(ff1, ts, tau_ptr, a_ptr, cols, col_mask)
        else:
            ff2 = _direct_head(
                xp_ptr,
                stride_xp,
                h_ptr,
                stride_h,
                wh_ptr,
                NH,
                rows,
                row_mask,
                H + cols,
                col_mask,
                H,
                BLOCK_K,
                PRECISION,
            )
            time_a = _direct_head(
                xp_ptr,
                stride_xp,
                h_ptr,
                stride_h,
                wh_ptr,
                NH,
                rows,
                row_mask,
                2 * H + cols,
                col_mask,
                H,
                BLOCK_K,
                PRECISION,
            )
            time_b = _direct_head(
                xp_ptr,
                stride_xp,
                h_ptr,
                stride_h,
                wh_ptr,
                NH,
                rows,
                row_mask,
                3 * H + cols,
                col_mask,
                H,
                BLOCK_K,
                PRECISION,
            )
            h_new = _gated_update(ff1, ff2, time_a, time_b, ts, MODE)
        tl.store(
            out_ptr + rows[:, None] * stride_out + cols[None, :],
            h_new,
            mask=row_mask[:, None] & col_mask[None, :],
        )


# ------------------------------------------------------------------ LTC kernel
@triton.jit
def ltc_step_kernel(
    v_in_ptr,  # (B, H) potentials before the step
    stride_v_in,
    out_ptr,  # (B, H) potentials after it (also the scratch between sub-steps)
    stride_out,
    snum_ptr,  # (B, H) this step's sensory numerator and denominator
    sden_ptr,
    stride_s,
    ts_ptr,  # (B,) this step's elapsed times
    stride_ts,
    cm_ptr,  # (H,); cm and gleak already constrained
    gleak_ptr,
    vleak_ptr,
    w_ptr,  # (H, H) [source, target]; w constrained and masked
    sigma_ptr,
    mu_ptr,
    erev_ptr,
    B,
    H,
    UNFOLDS,
    EPSILON: tl.constexpr,  # constexpr: a float argument would be rounded to fp32
    BLOCK_B: tl.constexpr,
    BLOCK_H: tl.constexpr,
    BLOCK_J: tl.constexpr,
):
    """One LTC step (all UNFOLDS fused Euler sub-steps) for rows [pid * BLOCK_B, +BLOCK_B)."""
    rows = tl.program_id(0) * BLOCK_B + tl.arange(0, BLOCK_B)
    row_mask = rows < B
    cols = tl.arange(0, BLOCK_H)
    col_mask = cols < H
    mask = row_mask[:, None] & col_mask[None, :]
    v = _load_rows(v_in_ptr, stride_v_in, rows, row_mask, cols, col_mask)
    if BLOCK_J < BLOCK_H:  # the chunks re-read v from `out`
        tl.store(out_ptr + rows[:, None] * stride_out + cols[None, :], v, mask=mask)
        tl.debug_barrier()
    ts = tl.load(ts_ptr + rows * stride_ts, mask=row_mask, other=1.0)
    cm_t = tl.load(cm_ptr + cols, mask=col_mask, other=0.0)[None, :] / (ts / UNFOLDS)[:, None]
    # gleak is read as 1 in padded lanes so that their denominator is never 0.
    gleak = tl.load(gleak_ptr + cols, mask=col_mask, other=1.0)[None, :]
    leak = gleak * tl.load(vleak_ptr + cols, mask=col_mask, other=0.0)[None, :]
    sensory_num = _load_rows(snum_ptr, stride_s, rows, row_mask, cols, col_mask)
    sensory_den = _load_rows(sden_ptr, stride_s, rows, row_mask, cols, col_mask)
    for _ in range(UNFOLDS):
        num = tl.zeros((BLOCK_B, BLOCK_H), dtype=v.dtype)
        den = tl.zeros((BLOCK_B, BLOCK_H), dtype=v.dtype)
        for j0 in range(0, H, BLOCK_J):
            js = j0 + tl.arange(0, BLOCK_J)
            j_mask = js < H
            if BLOCK_J < BLOCK_H:
                v_pre = _load_rows(out_ptr, stride_out, rows, row_mask, js, j_mask)
            else:
                v_pre = v  # one chunk holds every presynaptic neuron: no memory round trip
            offsets = js[:, None] * H + cols[None, :]
            p_mask = j_mask[:, None] & col_mask[None, :]
            w = tl.load(w_ptr + offsets, mask=p_mask, other=0.0)
            sigma = tl.load(sigma_ptr + offsets, mask=p_mask, other=0.0)
            mu = tl.load(mu_ptr + offsets, mask=p_mask, other=0.0)
            erev = tl.load(erev_ptr + offsets, mask=p_mask, other=0.0)
            # (BLOCK_B, BLOCK_J, BLOCK_H): presynaptic j drives postsynaptic i.
            drive = sigma[None, :, :] * (v_pre[:, :, None] - mu[None, :, :])
            act = w[None, :, :] * tl.sigmoid(drive)
            num += tl.sum(act * erev[None, :, :], axis=1)
            den += tl.sum(act, axis=1)
        numerator = cm_t * v + leak + num + sensory_num
        v = numerator / (cm_t + gleak + den + sensory_den + EPSILON)
        if BLOCK_J < BLOCK_H:
            tl.debug_barrier()  # every thread has read the old v before it is overwritten
        tl.store(out_ptr + rows[:, None] * stride_out + cols[None, :], v, mask=mask)
        if BLOCK_J < BLOCK_H:
            tl.debug_barrier()  # and the new v is visible before the next sub-step reads it


#: Whether these kernels run in Triton's CPU interpreter (TRITON_INTERPRET=1 when decorated).
INTERPRETED = isinstance(ltc_step_kernel, InterpretedFunction)
if INTERPRETED and not isinstance(tl.sum, InterpretedFunction):
    # Triton decorated its own library (tl.sum, tl.sigmoid) for the GPU when it was imported;
    # the interpreter cannot call those, and would fail at the first launch.
    raise ImportError(
        "TRITON_INTERPRET=1 was set after triton was imported: set it in the environment before "
        "anything imports triton (e.g. TRITON_INTERPRET=1 python ...)"
    )


# ------------------------------------------------------------------ launchers
def _pow2(n: int, minimum: int = 1) -> int:
    return max(minimum, triton.next_power_of_2(int(n)))


def _precision(tensor) -> str:
    import torch

    if tensor.dtype == torch.float32 and tensor.is_cuda and torch.backends.cuda.matmul.allow_tf32:
        return "tf32"
    return "ieee"


def cfc_step(xp, h, out, ts, w_rec, heads_w, heads_b, w_tau, a, *, mode, activation, backbone):
    """Launch one CfC step.

    Args:
        xp: (B, N0) this step's input projection, row-strided (a view of (B, T, N0) is fine).
        h: (B, H) state in; out: (B, H) state out (row-strided views).
        ts: (B,) elapsed times (strided view).
        w_rec: (H, N0) contiguous recurrent rows of the first projection.
        heads_w, heads_b: (U, NH), (NH,) contiguous heads after the backbone (ignored when
            backbone is False: then N0 = NH and w_rec holds the heads' recurrent rows).
        w_tau, a: (H,) for mode "pure" (any tensor otherwise).
        mode, activation: the spec's; backbone: whether backbone_layers == 1.
    """
    batch, units = out.shape
    width = w_rec.shape[1]
    chunk = min(CFC_CHUNK, _pow2(units, 16))
    grid = (triton.cdiv(batch, CFC_BLOCK_B),)
    common = dict(BLOCK_B=CFC_BLOCK_B, PRECISION=_precision(xp))
    if backbone:
        if width > MAX_BACKBONE_UNITS:
            raise ValueError(
                f"w_rec: expected at most {MAX_BACKBONE_UNITS} backbone units, got {width}"
            )
        block_u = _pow2(width, 16)
        tile = CFC_TILE_BYTES // (xp.element_size() * block_u)
        chunk = max(16, min(chunk, tile))  # powers of two all: tile is one (or 0)
        # num_stages=1: pipelining would keep several copies of the four head tiles in shared
        # memory, more than a GPU has at U = 256.
        cfc_backbone_step_kernel[grid](
            xp,
            xp.stride(0),
            h,
            h.stride(0),
            out,
            out.stride(0),
            ts,
            ts.stride(0),
            w_rec,
            heads_w,
            heads_b,
            w_tau,
            a,
            batch,
            units,
            width,
            heads_w.shape[1],
            MODE=mode,
            ACT=activation,
            BLOCK_U=block_u,
            BLOCK_K=chunk,
            BLOCK_N=chunk,
            num_stages=1,
            **common,
        )
    else:
        cfc_direct_step_kernel[grid](
            xp,
            xp.stride(0),
            h,
            h.stride(0),
            out,
            out.stride(0),
            ts,
            ts.stride(0),
            w_rec,
            w_tau,
            a,
            batch,
            units,
            width,
            MODE=mode,
            BLOCK_K=chunk,
            BLOCK_N=chunk,
            **common,
        )


def ltc_block_sizes(batch: int, units: int) -> tuple[int, int, int]:
    """(BLOCK_B, BLOCK_H, BLOCK_J) for the LTC kernel: the tile holds LTC_TILE_ELEMENTS."""
    block_b = min(LTC_BLOCK_B, _pow2(batch))
    block_h = _pow2(units, 2)
    block_j = max(2, min(block_h, LTC_TILE_ELEMENTS // (block_b * block_h)))
    return block_b, block_h, block_j


def ltc_step(
    v_in,
    out,
    sensory_num,
    sensory_den,
    ts,
    cm,
    gleak,
    vleak,
    w,
    sigma,
    mu,
    erev,
    *,
    unfolds: int,
    epsilon: float,
):
    """Launch one LTC step.

    Args:
        v_in, out: (B, H) potentials before and after (row-strided views).
        sensory_num, sensory_den: (B, H) this step's sensory sums, with the same row stride.
        ts: (B,) elapsed times (strided view).
        cm, gleak, vleak: (H,) contiguous (cm and gleak constrained).
        w, sigma, mu, erev: (H, H) contiguous (w constrained and masked).
    """
    if sensory_num.stride() != sensory_den.stride():
        raise ValueError(
            f"sensory_den: expected the strides of sensory_num {sensory_num.stride()}, "
            f"got {sensory_den.stride()}"
        )
    batch, units = out.shape
    block_b, block_h, block_j = ltc_block_sizes(batch, units)
    ltc_step_kernel[(triton.cdiv(batch, block_b),)](
        v_in,
        v_in.stride(0),
        out,
        out.stride(0),
        sensory_num,
        sensory_den,
        sensory_num.stride(0),
        ts,
        ts.stride(0),
        cm,
        gleak,
        vleak,
        w,
        sigma,
        mu,
        erev,
        batch,
        units,
        int(unfolds),
        EPSILON=float(epsilon),
        BLOCK_B=block_b,
        BLOCK_H=block_h,
        BLOCK_J=block_j,
        num_warps=8 if block_b * block_j * block_h >= LTC_TILE_ELEMENTS else 4,
    )
