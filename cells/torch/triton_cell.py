"""`triton`: CfC and LTC with one Triton kernel launch per time step (inference only).

What torch does once per forward, and what the kernels (`cells.torch.triton_kernels`) do per step:

CfC (unwired, backbone_layers 0 or 1, no mixed memory):
    torch:  xp = x @ W_x + b for every step in one GEMM (B, T, N0), where W_x are the input rows
            [:I] of backbone0_kernel (or of the concatenated heads without a backbone); the
            heads ff1 | ff2 | time_a | time_b concatenated into one (U, 4H) weight ((U, H) for
            "pure").
    kernel: h @ W_h (rows [I:]), the activation, the heads, the time gate with each sample's
            timespan and the mode's update, written into y[:, t] (which is h for step t + 1).
LTC (every wiring and mapping; mixed memory through torch):
    torch:  the input mapping, softplus (implicit_constraints) and the sparsity masks applied
            once; the sensory synapse sums of every step (vectorised, chunked over time so the
            (B, chunk, I, H) activations stay under `SENSORY_ELEMENTS`); the memory LSTM step
            when mixed_memory is set; the output mapping at the end.
    kernel: all `ode_unfolds` sub-steps of one step.

Forward only: there is no backward kernel, so calling the module while autograd would record
(grad enabled and a parameter or input requiring grad) raises. Run it under `torch.no_grad()` /
`torch.inference_mode()`, or after `module.requires_grad_(False)`; train with impl="fused".

Triton needs a CUDA GPU; with TRITON_INTERPRET=1 in the environment before Triton is first
imported, Triton's interpreter runs the kernels on CPU tensors (slowly: for tests). Triton
itself is the optional extra `pip install 'cellbench[gpu]'`; this module imports it only when a
cell is built.
"""

from __future__ import annotations

import os
import sys

import torch

from .. import memory
from ..cfc import CfCSpec
from . import fused_ltc, ops
from .base import CellModule

#: Largest number of elements of the (B, chunk, I, H) sensory activations held at once.
SENSORY_ELEMENTS = 1 << 24
#: Widest CfC backbone: the kernel keeps z (16 rows, U) in registers and (U, 32) head tiles in
#: shared memory.
MAX_BACKBONE_UNITS = 512
_ELSEWHERE = "use impl='eager' or 'fused'"
NEEDS_GPU = "triton needs a CUDA GPU (or TRITON_INTERPRET=1 to run on CPU for testing)"
FORWARD_ONLY = (
    "triton: forward only (inference); call it under torch.no_grad() or after "
    "module.requires_grad_(False), or use impl='fused' to train"
)


def interpreting() -> bool:
    """Whether Triton runs its CPU interpreter (TRITON_INTERPRET=1)."""
    return os.environ.get("TRITON_INTERPRET") == "1"


def device_reason() -> str | None:
    """None when Triton kernels can run here, else why not."""
    if interpreting() or torch.cuda.is_available():
        return None
    return NEEDS_GPU


def spec_reason(spec) -> str | None:
    """None when the kernels compute `spec`, else why not (independent of the machine)."""
    if spec.name not in ("cfc", "ltc"):
        return f"triton: computes CfC and LTC, not {spec.name!r}; {_ELSEWHERE}"
    if isinstance(spec, CfCSpec):
        if spec.is_wired:
            return f"triton: wired CfC is not supported; {_ELSEWHERE}"
        if spec.mixed_memory:
            return f"triton: CfC with mixed_memory is not supported; {_ELSEWHERE}"
        if spec.backbone_layers > 1:
            return (
                f"triton: CfC backbone_layers must be 0 or 1, got {spec.backbone_layers}; "
                f"{_ELSEWHERE}"
            )
        if spec.backbone_layers == 1 and spec.backbone_units > MAX_BACKBONE_UNITS:
            return (
                f"triton: CfC backbone_units must be at most {MAX_BACKBONE_UNITS}, got "
                f"{spec.backbone_units}; {_ELSEWHERE}"
            )
    return None


def limits(spec) -> str | None:
    """The registry's check: what the kernels compute, then whether they can run here."""
    return spec_reason(spec) or device_reason()


def load_kernels():
    """The kernel module; ImportError naming the extra to install when Triton is missing, and
    the fix when it cannot be loaded in this process."""
    if "triton" not in sys.modules and "tensorflow" in sys.modules:
        # Both bundle LLVM; Triton loaded after TensorFlow aborts the whole process.
        raise ImportError(
            "impl='triton': Triton must be imported before TensorFlow (loading it after aborts "
            "the process): import triton right after torch, or call "
            "cells.preload.before_tensorflow() before importing tensorflow"
        )
    try:
        import triton  # noqa: F401
    except ImportError as error:
        raise ImportError(
            "impl='triton' needs Triton, which is not installed: pip install 'cellbench[gpu]'"
        ) from error
    from . import triton_kernels

    return triton_kernels


def _wants_grad(tensors) -> bool:
    return any(isinstance(t, torch.Tensor) and t.requires_grad for t in tensors)


class TritonCell(CellModule):
    """CfC / LTC computed by Triton step kernels; forward only (see the module docstring)."""

    impl = "triton"

    def __init__(self, spec, params=None, dtype=None, device=None, seed: int = 0):
        reason = spec_reason(spec)
        if reason:
            raise NotImplementedError(reason)
        load_kernels()  # fail at build time, not at the first call
        super().__init__(spec, params, dtype=dtype, device=device, seed=seed)

    def forward(self, x, hx=None, timespans=None):
        """x (B, T, I), hx None | h (B, H) | (h, c), timespans None | (B, T) | (B, T, 1)
        -> (y (B, T, out), h_T shaped like hx). Raises RuntimeError when autograd would record.
        """
        states = hx if isinstance(hx, (tuple, list)) else (hx,)
        if torch.is_grad_enabled() and _wants_grad([x, timespans, *states, *self.parameters()]):
            raise RuntimeError(FORWARD_ONLY)
        return super().forward(x, hx, timespans)

    def run(self, x, state, ts):
        kernels = load_kernels()
        if not kernels.INTERPRETED and x.device.type != "cuda":
            raise ValueError(
                f"x: the triton kernels run on a CUDA device, got a tensor on {x.device} "
                "(build with device='cuda', or set TRITON_INTERPRET=1 before importing triton "
                "to test on CPU)"
            )
        batch, steps, _ = x.shape
        if ts is None:
            ts = torch.ones(batch, steps, 1, dtype=x.dtype, device=x.device)
        # (B, T) contiguous: column t is the per-sample timespan of step t.
        ts = ts.reshape(batch, steps).contiguous()
        with torch.no_grad():
            if self.spec.name == "cfc":
                return self._run_cfc(kernels, x, state, ts)
            return self._run_ltc(kernels, x, state, ts)

    # ------------------------------------------------------------------ CfC
    def cfc_operands(self) -> dict[str, torch.Tensor]:
        """The CfC weights as the kernels read them (contiguous; made once per forward).

        first_w (I + H, N0), first_b (N0,): the first projection, backbone layer 0 or, without a
        backbone, the heads; w_rec = first_w[I:]; heads_w (U, NH), heads_b (NH,): ff1 | ff2 |
        time_a | time_b (ff1 alone for "pure"); w_tau, a (H,) ("pure"; heads_b otherwise, unread).
        """
        spec, p = self.spec, self.canonical()
        heads = ("ff1",) if spec.mode == "pure" else ("ff1", "ff2", "time_a", "time_b")
        heads_w = torch.cat([p[f"{head}_kernel"] for head in heads], dim=1).contiguous()
        heads_b = torch.cat([p[f"{head}_bias"] for head in heads]).contiguous()
        if spec.backbone_layers == 1:
            first_w, first_b = p["backbone0_kernel"], p["backbone0_bias"]
        else:
            first_w, first_b = heads_w, heads_b
        pure = spec.mode == "pure"
        return {
            "first_w": first_w,
            "first_b": first_b,
            "w_rec": first_w[spec.input_size :].contiguous(),
            "heads_w": heads_w,
            "heads_b": heads_b,
            "w_tau": p["w_tau"].contiguous() if pure else heads_b,
            "a": p["A"].contiguous() if pure else heads_b,
        }

    def _run_cfc(self, kernels, x, state, ts):
        spec = self.spec
        batch, steps, inputs = x.shape
        w = self.cfc_operands()
        # The input half of the first projection, for every step in one GEMM: (B, T, N0).
        xp = torch.addmm(w["first_b"], x.reshape(batch * steps, inputs), w["first_w"][:inputs])
        xp = xp.reshape(batch, steps, -1)
        y = torch.empty(batch, steps, spec.units, dtype=x.dtype, device=x.device)
        h = state[0].contiguous()
        for t in range(steps):
            kernels.cfc_step(
                xp[:, t],
                h,
                y[:, t],
                ts[:, t],
                w["w_rec"],
                w["heads_w"],
                w["heads_b"],
                w["w_tau"],
                w["a"],
                mode=spec.mode,
                activation=spec.backbone_activation,
                backbone=spec.backbone_layers == 1,
            )
            h = y[:, t]
        return y, (h.clone(),)

    # ------------------------------------------------------------------ LTC
    def _run_ltc(self, kernels, x, state, ts):
        spec, p, k = self.spec, self.canonical(), self.constants()
        batch, steps, _ = x.shape
        positive = ops.softplus if spec.implicit_constraints else (lambda value: value)
        mapped = x
        if spec.input_mapping in ("affine", "linear"):
            mapped = mapped * p["input_w"]
        if spec.input_mapping == "affine":
            mapped = mapped + p["input_b"]
        sensory_num, sensory_den = sensory_sums(
            mapped,
            positive(p["sensory_w"]) * k["sensory_sparsity_mask"],
            p["sensory_sigma"],
            p["sensory_mu"],
            p["sensory_erev"],
        )
        w = (positive(p["w"]) * k["sparsity_mask"]).contiguous()
        cm, gleak = positive(p["cm"]).contiguous(), positive(p["gleak"]).contiguous()
        vleak = p["vleak"].contiguous()
        sigma, mu, erev = (p[name].contiguous() for name in ("sigma", "mu", "erev"))
        potentials = torch.empty(batch, steps, spec.units, dtype=x.dtype, device=x.device)
        v = state[0].contiguous()
        c = state[1] if spec.mixed_memory else None
        for t in range(steps):
            if spec.mixed_memory:
                v, c = memory.step(ops, p, x[:, t], v, c)
                v = v.contiguous()
            kernels.ltc_step(
                v,
                potentials[:, t],
                sensory_num[:, t],
                sensory_den[:, t],
                ts[:, t],
                cm,
                gleak,
                vleak,
                w,
                sigma,
                mu,
                erev,
                unfolds=spec.ode_unfolds,
                epsilon=spec.epsilon,
            )
            v = potentials[:, t]
        y = potentials[:, :, : spec.output_size]
        if spec.output_mapping in ("affine", "linear"):
            y = y * p["output_w"]
        if spec.output_mapping == "affine":
            y = y + p["output_b"]
        v = v.clone()
        return y, ((v, c) if spec.mixed_memory else (v,))


def sensory_sums(x, weight, sigma, mu, erev, max_elements: int = SENSORY_ELEMENTS):
    """Sensory synapse sums of every step: x (B, T, I), weight/sigma/mu/erev (I, H), weight
    already constrained and masked -> (numerator, denominator), each (B, T, H) contiguous.

    The chunked pass of the fused LTC (`fused_ltc.sensory_sums`), over all B*T rows.
    """
    batch, steps, inputs = x.shape
    rows = x.reshape(batch * steps, inputs)
    num, den = fused_ltc.sensory_sums(rows, weight, sigma, mu, erev, max_elements)
    return num.view(batch, steps, -1), den.view(batch, steps, -1)
