"""The torch actor-critic and its A2C update (the interface `bench.a2c.train` drives)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .. import checkpoint
from ..bc.torch_policy import TorchPolicy, _linear
from ..optimizers import AdamTF, RMSpropTF
from .config import DENSE_LR_PARAMS, A2CConfig
from .losses import STATS
from .rollout import Rollout, State
from .spec import AgentSpec


class TorchActorCritic(TorchPolicy):
    """obs uint8 (T, N, 84, 84, 4), starts (T, N) bool, state -> logits (T, N, A), values (T, N),
    final state. Time-major, stepping the cell one step at a time so that the state can be
    zeroed where an episode starts inside the sequence."""

    def __init__(self, spec: AgentSpec, params=None, impl: str = "eager", seed: int = 0):
        params = spec.check_params(spec.init_params(seed) if params is None else params)
        super().__init__(spec, params, impl)
        self.value_head = _linear(params["value_kernel"], params["value_bias"])

    def canonical_tensors(self):
        tensors = super().canonical_tensors()
        tensors["value_kernel"] = (self.value_head.weight, "dense")
        tensors["value_bias"] = (self.value_head.bias, "same")
        return tensors

    def unroll(self, obs, starts, state: tuple[torch.Tensor, ...]):
        features = self.features(obs)  # (T, N, F): the extractor is per frame, any leading dims
        keep = (~starts).to(features.dtype)[..., None]
        outputs = []
        for t in range(features.shape[0]):
            state = tuple(part * keep[t] for part in state)
            y, h = self.cell(features[t][:, None], state if len(state) == 2 else state[0])
            state = h if isinstance(h, tuple) else (h,)
            outputs.append(y[:, 0])
        y = torch.stack(outputs)
        return self.head(y), self.value_head(y)[..., 0], state


class TorchAgent:
    backend = "torch"

    def __init__(self, spec: AgentSpec, params, config: A2CConfig, impl: str = "eager",
                 threads: int | None = None):  # fmt: skip
        if threads:
            torch.set_num_threads(threads)
        self.spec, self.config = spec, config
        self.model = TorchActorCritic(spec, params, impl)
        groups, self.lr_scales = _lr_groups(self.model, config.dense_lr_scale)
        if config.optimizer == "rmsprop":
            self.optimizer = RMSpropTF(groups, config.lr, config.alpha, config.eps)
        else:
            self.optimizer = AdamTF(groups, config.lr, eps=config.eps)

    @torch.no_grad()
    def act(self, obs: np.ndarray, starts: np.ndarray, state: State):
        """One step of every env: see `rollout.ActFunction`."""
        logits, values, state = self.model.unroll(
            torch.as_tensor(obs)[None], torch.as_tensor(starts)[None], _tensors(state)
        )
        return logits[0].numpy(), values[0].numpy(), tuple(s.numpy() for s in state)

    @torch.no_grad()
    def features(self, obs: np.ndarray) -> np.ndarray:
        """The extractor's output: uint8 obs (T, N, 84, 84, 4) -> (T, N, F)."""
        return self.model.features(torch.as_tensor(obs)).numpy()

    def _loss(self, rollout: Rollout):
        logits, values, _ = self.model.unroll(
            torch.as_tensor(rollout.obs), torch.as_tensor(rollout.starts),
            _tensors(rollout.initial_state),
        )  # fmt: skip
        valid = torch.as_tensor(rollout.valid, dtype=torch.float32)
        weights = valid / valid.sum().clamp(min=1.0)
        log_probs = F.log_softmax(logits, -1)
        taken = log_probs.gather(-1, torch.as_tensor(rollout.actions)[..., None])[..., 0]
        entropy = -(log_probs.exp() * log_probs).sum(-1)
        advantages = torch.as_tensor(rollout.advantages, dtype=torch.float32)
        returns = torch.as_tensor(rollout.returns, dtype=torch.float32)
        policy_loss = -(weights * taken * advantages).sum()
        value_loss = (weights * (returns - values) ** 2).sum()
        entropy = (weights * entropy).sum()
        config = self.config
        loss = policy_loss + config.value_coef * value_loss - config.entropy_coef * entropy
        return loss, {"policy_loss": policy_loss, "value_loss": value_loss, "entropy": entropy}

    def _backward(self, rollout: Rollout) -> dict[str, float]:
        self.optimizer.zero_grad(set_to_none=True)
        loss, parts = self._loss(rollout)
        loss.backward()
        grads = [p.grad for p in self.model.parameters() if p.grad is not None]
        norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
        stats = {"loss": loss, **parts, "grad_norm": norm}
        return {key: float(stats[key].detach()) for key in STATS}

    def loss_and_grads(self, rollout: Rollout) -> tuple[dict[str, float], dict[str, np.ndarray]]:
        """Loss parts and canonical gradients (before clipping), no update: the parity view."""
        stats = self._backward(rollout)
        return stats, self.model.export_params(grads=True)

    def update(self, rollout: Rollout, lr: float) -> dict[str, float]:
        """One optimizer step at learning rate `lr` on the rollout; the loss parts."""
        stats = self._backward(rollout)
        if self.config.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.max_grad_norm)
        for group, scale in zip(self.optimizer.param_groups, self.lr_scales):
            group["lr"] = lr * scale
        self.optimizer.step()
        return stats

    def export_params(self) -> dict[str, np.ndarray]:
        return self.model.export_params()

    def optimizer_state(self) -> np.ndarray:
        return checkpoint.torch_optimizer_state(self.optimizer)

    def load_optimizer_state(self, blob: np.ndarray) -> None:
        checkpoint.load_torch_optimizer_state(self.optimizer, blob)


def _lr_groups(model: TorchActorCritic, dense_lr_scale: float):
    """(param groups, their lr scales): one group at scale 1, and the dense layer in a second
    at `dense_lr_scale` unless that is 1 (so runs from before the setting keep their optimizer
    state's layout)."""
    tensors = model.canonical_tensors()
    dense = [tensors[name][0] for name in DENSE_LR_PARAMS if name in tensors]
    if dense_lr_scale == 1.0 or not dense:
        return [{"params": list(model.parameters())}], [1.0]
    rest = [p for p in model.parameters() if not any(p is q for q in dense)]
    return [{"params": rest}, {"params": dense}], [1.0, dense_lr_scale]


def _tensors(state: State) -> tuple[torch.Tensor, ...]:
    return tuple(torch.as_tensor(part) for part in state)
