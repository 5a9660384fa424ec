"""Training and acting for the Keras/TF BC policy (the interface `bench.bc.train` drives)."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from .. import checkpoint
from ..atari.loaders import tf_dataset
from ..threads import set_tf_threads
from .spec import Evaluated, PolicySpec
from .tf_policy import TFPolicy


class TFTrainer:
    backend = "tf"

    def __init__(self, spec: PolicySpec, params, lr: float, impl: str = "graph", threads=None):
        if threads:
            set_tf_threads(threads)
        self.policy = TFPolicy(spec, params, impl)
        self.optimizer = keras.optimizers.Adam(learning_rate=lr)
        # Trained variables only: BatchNorm's running statistics are state, updated in the
        # forward pass of a training step.
        state = spec.state_keys()
        self.names = [k for k in self.policy.canonical_variables() if k not in state]
        self.variables = [self.policy.canonical_variables()[k] for k in self.names]
        self.optimizer.build(self.variables)
        self._train = tf.function(self._train_step, reduce_retracing=True)
        self._evaluate = tf.function(
            lambda obs, actions, state: self._loss(obs, actions, state, False),
            reduce_retracing=True,
        )

    def batches(self, directory, split: str, batch_size: int, seed: int, epoch: int,
                carry_state: bool = False, shift: int = 0):  # fmt: skip
        return tf_dataset(directory, split, batch_size, seed, epoch, shuffle=split == "train",
                          carry_state=carry_state, shift=shift)  # fmt: skip

    def _loss(self, obs, actions, state=None, training=True):
        """Mean cross-entropy, correct count, greedy actions (B * T,) and the final state. The
        tape watches variables only, so no gradient flows into the initial state (truncated
        BPTT)."""
        logits, final = self.policy(obs, state, training=training)
        flat = tf.reshape(logits, (-1, self.policy.spec.num_actions))
        labels = tf.reshape(tf.cast(actions, tf.int64), (-1,))
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, flat))
        predicted = tf.argmax(flat, -1)
        correct = tf.reduce_sum(tf.cast(tf.equal(predicted, labels), tf.int64))
        return loss, correct, predicted, final

    def _gradients(self, obs, actions, state=None):
        with tf.GradientTape() as tape:
            loss, correct, _, final = self._loss(obs, actions, state)
        return loss, correct, final, tape.gradient(loss, self.variables)

    def _train_step(self, obs, actions, state):
        loss, correct, final, grads = self._gradients(obs, actions, state)
        self.optimizer.apply_gradients(zip(grads, self.variables))
        return loss, correct, final

    def set_lr(self, lr: float) -> None:
        self.optimizer.learning_rate = lr  # assigns Keras's lr variable, which the graph reads

    def train_step(self, obs, actions, state=None) -> tuple[float, float, object]:
        """One Adam step on a batch: obs uint8 (B, T, 84, 84, 4), actions (B, T), the cell's
        initial state (None: zeros) -> (loss, accuracy, final state)."""
        loss, correct, final = self._train(obs, actions, state)
        return float(loss), float(correct) / np.prod(actions.shape), final

    def evaluate_batch(self, obs, actions, state=None) -> Evaluated:
        loss, correct, predicted, final = self._evaluate(obs, actions, state)
        count = int(np.prod(actions.shape))
        per_action = np.bincount(predicted.numpy(), minlength=self.policy.spec.num_actions)
        return Evaluated(float(loss) * count, int(correct), count, per_action, final)

    def loss_and_grads(self, obs, actions, state=None) -> tuple[float, dict[str, np.ndarray]]:
        obs, actions = tf.convert_to_tensor(obs), tf.convert_to_tensor(actions)
        state = None if state is None else tf.nest.map_structure(_float32, state)
        loss, _, _, grads = self._gradients(obs, actions, state)
        return float(loss), {k: np.asarray(g, dtype=np.float64) for k, g in zip(self.names, grads)}

    def act(self, obs: np.ndarray, state):
        logits, state = self.policy(obs[:, None], state)
        return np.argmax(np.asarray(logits)[:, 0], axis=-1).astype(np.int64), state

    @staticmethod
    def reset_state(state, done: np.ndarray):
        if state is None:
            return None
        keep = tf.constant((~done).astype(np.float32)[:, None])
        if isinstance(state, (tuple, list)):
            return tuple(s * keep for s in state)
        return state * keep

    def export_params(self) -> dict[str, np.ndarray]:
        return self.policy.export_params()

    def optimizer_state(self) -> dict[str, np.ndarray]:
        return checkpoint.keras_optimizer_state(self.optimizer)

    def load_optimizer_state(self, arrays: dict[str, np.ndarray]) -> None:
        checkpoint.load_keras_optimizer_state(self.optimizer, arrays)


def _float32(array):
    return tf.convert_to_tensor(np.asarray(array, dtype=np.float32))
