"""The `fused` CfC: the whole sequence in a few large kernels plus a short loop of small ones,
with a hand-written backward pass through time.

What is fused, and why (B batch, T steps, I inputs, H units, U backbone width):

* The input half of the first projection, x @ W_x + b (W_x the first I rows of
  backbone0_kernel, or of the heads when there is no backbone), is one (B*T, I) x (I, U) GEMM
  for the whole sequence instead of T small ones.
* The heads ff1 | ff2 | time_a | time_b are one (U, 4H) GEMM per step. Without timespans every
  step lasts 1, so time_a * 1 + time_b folds into one head and the GEMM is (U, 3H).
* Every tanh runs as a sigmoid: tanh(u) = 2 sigmoid(2u) - 1, with the factors folded into the
  weights once per call. (On CPU torch's tanh costs several times its sigmoid.) LeCun's
  1.7159 tanh(0.666 a) becomes 3.4318 sigmoid(1.332 a) - 1.7159, whose affine part folds into
  the head weights. So a step is: addmm, sigmoid, addmm, sigmoid, and the gate's lerp.
* Backward (`_Recurrence.backward`) runs BPTT by hand: per step only the two small GEMMs that
  carry the gradient back through h; the gate and activation derivatives are computed for all
  steps at once before the loop, and every weight gradient is one large GEMM after it.

The weight folding is ordinary differentiable torch code outside the autograd Function, so the
gradients that reach the canonical parameters are exact; only the recurrence is hand-written.

Supports: unwired CfC, modes "default" and "no_gate", backbone_layers 0 or 1 (any activation;
ncps never drops out after a single layer, so dropout is moot), no mixed memory; CPU and GPU,
float32 and float64. Everything else is refused by `limits` with the reason.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..cfc import SIGMOID_FORMS, CfCSpec


def limits(spec: CfCSpec) -> str | None:
    """Why the fused CfC cannot run `spec`, or None."""
    if spec.is_wired:
        return "fused: wired CfC is not supported; use impl='eager' (or 'compile')"
    if spec.mixed_memory:
        return "fused: mixed_memory is not supported; use impl='eager' (or 'compile')"
    if spec.mode == "pure":
        return "fused: mode 'pure' is not supported; use impl='eager' (or 'compile')"
    if spec.backbone_layers > 1:
        return (
            f"fused: backbone_layers={spec.backbone_layers} is not supported (0 or 1); "
            "use impl='eager' (or 'compile')"
        )
    return None


def _activation_and_derivative(name: str):
    """For activations without a sigmoid form: act(a) and act'(a), elementwise."""
    if name == "relu":
        return torch.relu, lambda a: (a > 0).to(a.dtype)
    if name == "silu":

        def silu_derivative(a):
            s = torch.sigmoid(a)
            return s * (1 + a * (1 - s))

        return F.silu, silu_derivative
    if name == "gelu":

        def gelu_derivative(a):
            cdf = 0.5 * (1 + torch.erf(a / math.sqrt(2)))
            return cdf + a * torch.exp(-0.5 * a * a) / math.sqrt(2 * math.pi)

        return F.gelu, gelu_derivative
    raise ValueError(f"backbone_activation: no fused form for {name!r}")


def fold_weights(spec: CfCSpec, p: dict, unit_steps: bool):
    """Canonical parameters -> (w_x, b_x, w_h, w_g, b_g), differentiably.

    w_x (I, C), b_x (C,): the hoisted input projection; w_h (H, C): its recurrent half; with a
    backbone C = U and w_g (U, G), b_g (G,) are the merged heads, else C = G and w_g = b_g = None.
    G = 3H (unit steps: ff1, ff2, time) or 4H (ff1, ff2, time_a, time_b). The ff columns are
    doubled for the sigmoid form of tanh; a sigmoid-form activation's scale is folded in.
    """
    inputs = spec.input_size
    kernels = [2 * p["ff1_kernel"], 2 * p["ff2_kernel"]]
    biases = [2 * p["ff1_bias"], 2 * p["ff2_bias"]]
    if unit_steps:
        kernels.append(p["time_a_kernel"] + p["time_b_kernel"])
        biases.append(p["time_a_bias"] + p["time_b_bias"])
    else:
        kernels += [p["time_a_kernel"], p["time_b_kernel"]]
        biases += [p["time_a_bias"], p["time_b_bias"]]
    w_heads, b_heads = torch.cat(kernels, dim=1), torch.cat(biases)
    if spec.backbone_layers == 0:
        return w_heads[:inputs], b_heads, w_heads[inputs:], None, None
    w_backbone, b_backbone = p["backbone0_kernel"], p["backbone0_bias"]
    form = SIGMOID_FORMS.get(spec.backbone_activation)
    if form is not None:
        alpha, beta, gamma = form
        w_backbone, b_backbone = alpha * w_backbone, alpha * b_backbone
        # heads read beta * s + gamma: fold beta into the kernel, gamma into the bias.
        b_heads = b_heads + gamma * w_heads.sum(dim=0)
        w_heads = beta * w_heads
    return w_backbone[:inputs], b_backbone, w_backbone[inputs:], w_heads, b_heads


class _Recurrence(torch.autograd.Function):
    """The CfC recurrence over a precomputed input projection, time-major.

    forward(xw (T, B, C), h0 (B, H), w_h (H, C), w_g (U, G) | None, b_g (G,) | None,
            ts (T, B, 1) | None, mode, activation) -> h (T, B, H), every step's state.
    """

    @staticmethod
    def forward(ctx, xw, h0, w_h, w_g, b_g, ts, mode, activation):
        steps, batch, _ = xw.shape
        units = h0.shape[1]
        sigmoid_form = activation in SIGMOID_FORMS
        has_backbone = w_g is not None
        keep = any(ctx.needs_input_grad[:5])  # save what backward needs only if it will run
        out = xw.new_empty(steps, batch, units)
        z_all = xw.new_empty(xw.shape) if (keep and has_backbone) else None
        a_all = xw.new_empty(xw.shape) if (keep and has_backbone and not sigmoid_form) else None
        gates = xw.new_empty(steps, batch, 3 * units) if keep else None
        act = None if sigmoid_form or not has_backbone else _activation_and_derivative(activation)
        h = h0
        for t in range(steps):
            if has_backbone:
                a = torch.addmm(xw[t], h, w_h)
                if sigmoid_form:
                    z = torch.sigmoid(a, out=z_all[t]) if keep else a.sigmoid_()
                else:
                    z = act[0](a)
                    if keep:
                        a_all[t], z_all[t] = a, z
                g = torch.addmm(b_g, z, w_g)
            else:
                g = torch.addmm(xw[t], h, w_h)
            if ts is not None:  # time gate pre-activation: time_a * ts + time_b
                g[:, 2 * units : 3 * units].mul_(ts[t]).add_(g[:, 3 * units :])
            pre = g[:, : 3 * units]
            s = torch.sigmoid(pre, out=gates[t]) if keep else pre.sigmoid_()
            s1, s2, st = s[:, :units], s[:, units : 2 * units], s[:, 2 * units :]
            h = out[t]
            if mode == "default":  # tanh(f1) (1 - t) + t tanh(f2) = 2 lerp(s1, s2, t) - 1
                torch.lerp(s1, s2, st, out=h)
                h.mul_(2).sub_(1)
            else:  # no_gate: tanh(f1) + t tanh(f2)
                torch.addcmul(torch.mul(s1, 2).sub_(1), st, torch.mul(s2, 2).sub_(1), out=h)
        if keep:
            ctx.save_for_backward(h0, w_h, w_g, out, z_all, a_all, gates, ts)
        ctx.mode, ctx.activation = mode, activation
        return out

    @staticmethod
    def backward(ctx, grad_out):
        h0, w_h, w_g, out, z_all, a_all, gates, ts = ctx.saved_tensors
        steps, batch, units = out.shape
        has_backbone = w_g is not None
        coef = _gate_coefficients(ctx.mode, gates, ts)  # (T, B, blocks, H)
        blocks = coef.shape[2]
        d_g = out.new_empty(steps, batch, blocks * units)
        if has_backbone:
            if ctx.activation in SIGMOID_FORMS:
                d_act = z_all * (1 - z_all)
            else:
                d_act = _activation_and_derivative(ctx.activation)[1](a_all)
            d_a = torch.empty_like(z_all)
        else:
            d_a = d_g
        grad_out = grad_out.contiguous()
        w_h_t = w_h.t().contiguous()  # MKL is slow on transposed views of small operands
        w_g_t = w_g.t().contiguous() if has_backbone else None
        d_h = grad_out[steps - 1]
        for t in range(steps - 1, -1, -1):
            torch.mul(coef[t], d_h[:, None, :], out=d_g[t].view(batch, blocks, units))
            if has_backbone:
                torch.mul(torch.mm(d_g[t], w_g_t), d_act[t], out=d_a[t])
            if t > 0:
                d_h = torch.addmm(grad_out[t - 1], d_a[t], w_h_t)
            else:
                d_h = torch.mm(d_a[t], w_h_t)
        flat = steps * batch
        h_prev = torch.cat([h0[None], out[:-1]]).reshape(flat, units)
        d_a_flat = d_a.reshape(flat, -1)
        d_w_h = h_prev.t() @ d_a_flat
        d_w_g = d_b_g = None
        if has_backbone:
            d_g_flat = d_g.reshape(flat, -1)  # z_all holds the heads' input for every form
            d_w_g = z_all.reshape(flat, -1).t() @ d_g_flat
            d_b_g = d_g_flat.sum(dim=0)
        return d_a, d_h, d_w_h, d_w_g, d_b_g, None, None, None


def _gate_coefficients(mode: str, gates, ts):
    """d(pre-activations)/d(h) per step, for all steps at once -> (T, B, blocks, H).

    gates (T, B, 3H) holds the sigmoids s1, s2 (of the doubled ff pre-activations) and st.
    """
    s1, s2, st = gates.chunk(3, dim=-1)
    slope = gates * (1 - gates)
    d1, d2, dt = slope.chunk(3, dim=-1)
    if mode == "default":  # h = 2 (s1 + st (s2 - s1)) - 1
        c1, c2, ct = 2 * (1 - st) * d1, 2 * st * d2, 2 * (s2 - s1) * dt
    else:  # h = 2 s1 - 1 + st (2 s2 - 1)
        c1, c2, ct = 2 * d1, 2 * st * d2, (2 * s2 - 1) * dt
    parts = [c1, c2, ct] if ts is None else [c1, c2, ct * ts, ct]
    return torch.stack(parts, dim=2)


def run(spec: CfCSpec, p: dict, x, h0, ts, folded=None):
    """x (B, T, I), h0 (B, H), ts (B, T, 1) or None (unit steps) -> (y (B, T, H), h_T (B, H)).

    `folded` is `fold_weights(spec, p, ts is None)` when the caller kept it from an earlier call.
    """
    batch, steps, inputs = x.shape
    if folded is None:
        folded = fold_weights(spec, p, unit_steps=ts is None)
    w_x, b_x, w_h, w_g, b_g = folded
    # One GEMM for the whole sequence; the time-major view lets step t read xw[t] (B, C).
    xw = torch.addmm(b_x, x.reshape(batch * steps, inputs), w_x).view(batch, steps, -1)
    xw = xw.transpose(0, 1)
    ts_tm = None if ts is None else ts.transpose(0, 1).contiguous()
    out = _Recurrence.apply(xw, h0, w_h, w_g, b_g, ts_tm, spec.mode, spec.backbone_activation)
    return out.transpose(0, 1), out[-1]
