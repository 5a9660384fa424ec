"""Training and acting for the torch BC policy (the interface `bench.bc.train` drives)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .. import checkpoint
from ..atari.loaders import prefetched, torch_loader
from ..optimizers import AdamTF
from .spec import Evaluated, PolicySpec
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

    def batches(self, directory, split: str, batch_size: int, seed: int, epoch: int,
                carry_state: bool = False, shift: int = 0):  # fmt: skip
        # A reader thread, not DataLoader workers: see `prefetched`.
        loader = torch_loader(directory, split, batch_size, seed, epoch, split == "train",
                              carry_state=carry_state, shift=shift)  # fmt: skip
        return prefetched(loader)

    def _loss(self, obs, actions, state=None):
        """Mean cross-entropy, correct count, greedy actions (B * T,) and the final state
        (detached: truncated BPTT carries it to the next batch without a graph back into this
        one)."""
        logits, final = self.policy(torch.as_tensor(obs), state)
        actions = torch.as_tensor(actions)
        flat = logits.reshape(-1, logits.shape[-1])
        loss = F.cross_entropy(flat, actions.reshape(-1))
        predicted = flat.argmax(-1)
        correct = (predicted == actions.reshape(-1)).sum()
        return loss, correct, predicted, _detached(final)

    def set_lr(self, lr: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def train_step(self, obs, actions, state=None) -> tuple[float, float, object]:
        """One Adam step on a batch: obs uint8 (B, T, 84, 84, 4), actions (B, T), the cell's
        initial state (None: zeros) -> (loss, accuracy, final state)."""
        self.policy.train()
        self.optimizer.zero_grad(set_to_none=True)
        loss, correct, _, final = self._loss(obs, actions, state)
        loss.backward()
        self.optimizer.step()
        return float(loss.detach()), float(correct) / np.prod(actions.shape), final

    @torch.no_grad()
    def evaluate_batch(self, obs, actions, state=None) -> Evaluated:
        self.policy.eval()
        loss, correct, predicted, final = self._loss(obs, actions, state)
        count = int(np.prod(actions.shape))
        per_action = np.bincount(predicted.numpy(), minlength=self.policy.spec.num_actions)
        return Evaluated(float(loss) * count, int(correct), count, per_action, final)

    def loss_and_grads(self, obs, actions, state=None) -> tuple[float, dict[str, np.ndarray]]:
        """Loss and canonical gradients of one batch (no update): the parity check's view, in
        training mode (BatchNorm on batch statistics) as TF's."""
        self.policy.train()
        self.policy.zero_grad(set_to_none=True)
        loss, _, _, _ = self._loss(obs, actions, _as_torch(state))
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


def _detached(state):
    if isinstance(state, (tuple, list)):
        return tuple(s.detach() for s in state)
    return state.detach()


def _as_torch(state):
    """A state given as numpy arrays (a test's), as float32 tensors."""
    if state is None or isinstance(state, torch.Tensor):
        return state
    if isinstance(state, (tuple, list)):
        return tuple(_as_torch(s) for s in state)
    return torch.as_tensor(np.asarray(state), dtype=torch.float32)
