"""Training and acting for the Keras/TF BC policy (the interface `bench.bc.train` drives)."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from .. import checkpoint
from ..atari.loaders import tf_dataset
from ..threads import set_tf_threads
from .spec import PolicySpec
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
        self._evaluate = tf.function(lambda obs, actions: self._loss(obs, actions, False),
                                     reduce_retracing=True)  # fmt: skip

    def batches(self, directory, split: str, batch_size: int, seed: int, epoch: int):
        return tf_dataset(directory, split, batch_size, seed, epoch, shuffle=split == "train")

    def _loss(self, obs, actions, training=True):
        logits, _ = self.policy(obs, training=training)
        flat = tf.reshape(logits, (-1, self.policy.spec.num_actions))
        labels = tf.reshape(tf.cast(actions, tf.int64), (-1,))
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, flat))
        correct = tf.reduce_sum(tf.cast(tf.equal(tf.argmax(flat, -1), labels), tf.int64))
        return loss, correct

    def _gradients(self, obs, actions):
        with tf.GradientTape() as tape:
            loss, correct = self._loss(obs, actions)
        return loss, correct, tape.gradient(loss, self.variables)

    def _train_step(self, obs, actions):
        loss, correct, grads = self._gradients(obs, actions)
        self.optimizer.apply_gradients(zip(grads, self.variables))
        return loss, correct

    def set_lr(self, lr: float) -> None:
        self.optimizer.learning_rate = lr  # assigns Keras's lr variable, which the graph reads

    def train_step(self, obs, actions) -> tuple[float, float]:
        """One Adam step on a batch: obs uint8 (B, T, 84, 84, 4), actions (B, T) -> (loss, acc)."""
        loss, correct = self._train(obs, actions)
        return float(loss), float(correct) / np.prod(actions.shape)

    def evaluate_batch(self, obs, actions) -> tuple[float, int, int]:
        loss, correct = self._evaluate(obs, actions)
        count = int(np.prod(actions.shape))
        return float(loss) * count, int(correct), count

    def loss_and_grads(self, obs, actions) -> tuple[float, dict[str, np.ndarray]]:
        loss, _, grads = self._gradients(tf.convert_to_tensor(obs), tf.convert_to_tensor(actions))
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
