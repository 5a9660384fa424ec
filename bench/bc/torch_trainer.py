"""Training and acting for the torch BC policy (the interface `bench.bc.train` drives)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .. import checkpoint
from ..atari.loaders import prefetched, torch_loader
from ..optimizers import AdamTF
from .spec import PolicySpec
from .torch_policy import TorchPolicy


class TorchTrainer:
    backend = "torch"

    def __init__(self, spec: PolicySpec, params, lr: float, impl: str = "eager", threads=None):
        if threads:
            torch.set_num_threads(threads)
        self.policy = TorchPolicy(spec, params, impl)
        # Keras's Adam (eps 1e-7, added to the uncorrected root), so both frameworks take the
        # same steps from the same weights and batches.
        self.optimizer = AdamTF(self.policy.parameters(), lr=lr)

    def batches(self, directory, split: str, batch_size: int, seed: int, epoch: int):
        # A reader thread, not DataLoader workers: see `prefetched`.
        shuffle = split == "train"
        return prefetched(torch_loader(directory, split, batch_size, seed, epoch, shuffle))

    def _loss(self, obs, actions):
        logits, _ = self.policy(torch.as_tensor(obs))
        actions = torch.as_tensor(actions)
        flat = logits.reshape(-1, logits.shape[-1])
        loss = F.cross_entropy(flat, actions.reshape(-1))
        correct = (flat.argmax(-1) == actions.reshape(-1)).sum()
        return loss, correct

    def set_lr(self, lr: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def train_step(self, obs, actions) -> tuple[float, float]:
        """One Adam step on a batch: obs uint8 (B, T, 84, 84, 4), actions (B, T) -> (loss, acc)."""
        self.policy.train()
        self.optimizer.zero_grad(set_to_none=True)
        loss, correct = self._loss(obs, actions)
        loss.backward()
        self.optimizer.step()
        return float(loss.detach()), float(correct) / np.prod(actions.shape)

    @torch.no_grad()
    def evaluate_batch(self, obs, actions) -> tuple[float, int, int]:
        """(summed loss, correct, count) of a batch."""
        self.policy.eval()
        loss, correct = self._loss(obs, actions)
        count = int(np.prod(actions.shape))
        return float(loss) * count, int(correct), count

    def loss_and_grads(self, obs, actions) -> tuple[float, dict[str, np.ndarray]]:
        """Loss and canonical gradients of one batch (no update): the parity check's view, in
        training mode (BatchNorm on batch statistics) as TF's."""
        self.policy.train()
        self.policy.zero_grad(set_to_none=True)
        loss, _ = self._loss(obs, actions)
        loss.backward()
        return float(loss.detach()), self.policy.export_params(grads=True)

    @torch.no_grad()
    def act(self, obs: np.ndarray, state):
        """Greedy actions for one step: obs uint8 (N, 84, 84, 4), state None or the cell state
        -> (actions (N,) int64, new state)."""
        self.policy.eval()
        logits, state = self.policy(torch.as_tensor(obs)[:, None], state)
        return logits[:, 0].argmax(-1).numpy().astype(np.int64), state

    @staticmethod
    def reset_state(state, done: np.ndarray):
        """Zero the state rows of envs whose episode starts anew."""
        if state is None:
            return None
        keep = torch.as_tensor(~done, dtype=torch.float32)[:, None]
        if isinstance(state, tuple):
            return tuple(s * keep for s in state)
        return state * keep

    def export_params(self) -> dict[str, np.ndarray]:
        return self.policy.export_params()

    def optimizer_state(self) -> np.ndarray:
        return checkpoint.torch_optimizer_state(self.optimizer)

    def load_optimizer_state(self, blob: np.ndarray) -> None:
        checkpoint.load_torch_optimizer_state(self.optimizer, blob)
