"""torch optimizers that take the steps Keras's take, so that torch and TF trained from the same
weights on the same batches stay together step after step.

torch and Keras agree on the moments but place eps differently: torch's RMSprop divides by
sqrt(v) + eps where Keras divides by sqrt(v + eps), and torch's Adam adds eps to the
bias-corrected sqrt(v) where Keras adds it to the uncorrected one (Kingma & Ba's "efficient"
form, Algorithm 1's last paragraph). The difference is largest in the first steps, while v is
small, which is where a run's course is set.
"""

from __future__ import annotations

import math

import torch


class RMSpropTF(torch.optim.Optimizer):
    """RMSprop as Keras and TF compute it:
    v <- alpha v + (1 - alpha) g^2;  p <- p - lr g / sqrt(v + eps)."""

    def __init__(self, params, lr: float, alpha: float = 0.99, eps: float = 1e-5):
        super().__init__(params, {"lr": lr, "alpha": alpha, "eps": eps})

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is None:
                    continue
                state = self.state[param]
                if not state:
                    state["square_avg"] = torch.zeros_like(param)
                square_avg = state["square_avg"]
                square_avg.mul_(group["alpha"]).addcmul_(param.grad, param.grad,
                                                         value=1 - group["alpha"])  # fmt: skip
                param.addcdiv_(param.grad, (square_avg + group["eps"]).sqrt(), value=-group["lr"])


class AdamTF(torch.optim.Optimizer):
    """Adam as Keras 3 computes it (keras.optimizers.Adam, eps 1e-7 by default):
    m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2;
    p <- p - lr sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)."""

    def __init__(self, params, lr: float, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-7):  # fmt: skip
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps})

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for param in group["params"]:
                if param.grad is None:
                    continue
                state = self.state[param]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(param)
                    state["exp_avg_sq"] = torch.zeros_like(param)
                state["step"] = step = int(state["step"]) + 1
                exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
                exp_avg.lerp_(param.grad, 1 - beta1)
                exp_avg_sq.mul_(beta2).addcmul_(param.grad, param.grad, value=1 - beta2)
                alpha = group["lr"] * math.sqrt(1 - beta2**step) / (1 - beta1**step)
                param.addcdiv_(exp_avg, exp_avg_sq.sqrt().add_(group["eps"]), value=-alpha)
