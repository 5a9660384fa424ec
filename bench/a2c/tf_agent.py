"""The Keras/TF actor-critic and its A2C update (the interface `bench.a2c.train` drives)."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from .. import checkpoint
from ..bc.tf_policy import TFPolicy
from ..threads import set_tf_threads
from .config import DENSE_LR_PARAMS, A2CConfig
from .losses import STATS
from .rollout import Rollout, State
from .spec import AgentSpec


class TFActorCritic(TFPolicy):
    """obs uint8 (T, N, 84, 84, 4), starts (T, N) bool, state -> logits (T, N, A), values (T, N),
    final state; the same unroll as the torch model (`torch_agent.TorchActorCritic`)."""

    def __init__(self, spec: AgentSpec, params=None, impl: str = "graph", seed: int = 0,
                 **kwargs):  # fmt: skip
        params = spec.check_params(spec.init_params(seed) if params is None else params)
        super().__init__(spec, params, impl, **kwargs)
        self.value_head = keras.layers.Dense(1, dtype="float32")
        self.value_head.build((None, spec.cell.output_size))
        self.value_head.kernel.assign(params["value_kernel"].astype(np.float32))
        self.value_head.bias.assign(params["value_bias"].astype(np.float32))

    def canonical_variables(self) -> dict:
        variables = super().canonical_variables()
        if hasattr(self, "value_head"):  # the base class assigns weights before it exists
            variables["value_kernel"] = self.value_head.kernel
            variables["value_bias"] = self.value_head.bias
        return variables

    def unroll(self, obs, starts, state, training: bool = False):
        features = self.features(obs)  # (T, N, F)
        keep = tf.cast(tf.logical_not(starts), features.dtype)[..., None]
        outputs = []
        for t in range(obs.shape[0]):  # static T: unrolled when traced
            state = tuple(part * keep[t] for part in state)
            cell_state = state if len(state) == 2 else state[0]
            y, h = self.cell(features[t][:, None], cell_state, training=training)
            state = tuple(h) if isinstance(h, (tuple, list)) else (h,)
            outputs.append(y[:, 0])
        y = tf.stack(outputs)
        return self.head(y), self.value_head(y)[..., 0], state


class _ScaledLR:
    """Keras optimizer mixin: a variable steps at the learning rate x its `lr_scales` entry
    (keyed by the optimizer's `_var_key`; 1 where it has none), as a torch param group with its
    own lr would. Keras 3 has no per-variable learning rate of its own."""

    lr_scales: dict = {}

    def update_step(self, gradient, variable, learning_rate):
        scale = self.lr_scales.get(self._var_key(variable), 1.0)
        return super().update_step(gradient, variable, learning_rate * scale)


class ScaledAdam(_ScaledLR, keras.optimizers.Adam):
    pass


class ScaledRMSprop(_ScaledLR, keras.optimizers.RMSprop):
    pass


class TFAgent:
    backend = "tf"

    def __init__(self, spec: AgentSpec, params, config: A2CConfig, impl: str = "graph",
                 threads: int | None = None):  # fmt: skip
        if threads:
            set_tf_threads(threads)
        self.spec, self.config = spec, config
        self.model = TFActorCritic(spec, params, impl)
        if config.optimizer == "rmsprop":
            self.optimizer = ScaledRMSprop(config.lr, rho=config.alpha, epsilon=config.eps)
        else:
            self.optimizer = ScaledAdam(config.lr, epsilon=config.eps)
        variables = self.model.canonical_variables()
        self.names, self.variables = list(variables), list(variables.values())
        self.optimizer.build(self.variables)
        self.optimizer.lr_scales = {
            self.optimizer._var_key(variables[name]): config.dense_lr_scale
            for name in DENSE_LR_PARAMS
            if name in variables
        }
        # T is fixed in a run, and `unroll` needs it static: no shape relaxation on retrace.
        self._act = tf.function(self._act_step)
        self._gradients = tf.function(self._loss_and_gradients)
        self._apply = tf.function(self._apply_gradients)

    def _act_step(self, obs, starts, state):
        logits, values, state = self.model.unroll(obs[None], starts[None], state)
        return logits[0], values[0], state

    def features(self, obs: np.ndarray) -> np.ndarray:
        """The extractor's output: uint8 obs (T, N, 84, 84, 4) -> (T, N, F)."""
        return self.model.features(obs).numpy()

    def act(self, obs: np.ndarray, starts: np.ndarray, state: State):
        """One step of every env: see `rollout.ActFunction`."""
        logits, values, state = self._act(obs, starts, tuple(state))
        return logits.numpy(), values.numpy(), tuple(s.numpy() for s in state)

    def _loss_and_gradients(self, obs, starts, initial_state, actions, valid, advantages,
                            returns):  # fmt: skip
        with tf.GradientTape() as tape:
            logits, values, _ = self.model.unroll(obs, starts, initial_state, training=True)
            valid = tf.cast(valid, tf.float32)
            weights = valid / tf.maximum(tf.reduce_sum(valid), 1.0)
            log_probs = tf.nn.log_softmax(logits, -1)
            taken = tf.gather(log_probs, actions, batch_dims=2)
            entropy = -tf.reduce_sum(tf.exp(log_probs) * log_probs, -1)
            policy_loss = -tf.reduce_sum(weights * taken * tf.cast(advantages, tf.float32))
            value_loss = tf.reduce_sum(weights * (tf.cast(returns, tf.float32) - values) ** 2)
            entropy = tf.reduce_sum(weights * entropy)
            config = self.config
            loss = policy_loss + config.value_coef * value_loss - config.entropy_coef * entropy
        grads = tape.gradient(loss, self.variables)
        stats = {"loss": loss, "policy_loss": policy_loss, "value_loss": value_loss,
                 "entropy": entropy, "grad_norm": tf.linalg.global_norm(grads)}  # fmt: skip
        return stats, grads

    def _apply_gradients(self, grads):
        if self.config.max_grad_norm > 0:
            grads, _ = tf.clip_by_global_norm(grads, self.config.max_grad_norm)
        self.optimizer.apply_gradients(zip(grads, self.variables))

    def _run(self, rollout: Rollout):
        return self._gradients(
            rollout.obs, rollout.starts, tuple(rollout.initial_state), rollout.actions,
            rollout.valid, rollout.advantages.astype(np.float32),
            rollout.returns.astype(np.float32),
        )  # fmt: skip

    def loss_and_grads(self, rollout: Rollout) -> tuple[dict[str, float], dict[str, np.ndarray]]:
        """Loss parts and canonical gradients (before clipping), no update: the parity view."""
        stats, grads = self._run(rollout)
        grads = {k: np.asarray(g, dtype=np.float64) for k, g in zip(self.names, grads)}
        return {key: float(stats[key]) for key in STATS}, grads

    def update(self, rollout: Rollout, lr: float) -> dict[str, float]:
        """One optimizer step at learning rate `lr` on the rollout; the loss parts."""
        stats, grads = self._run(rollout)
        self.optimizer.learning_rate.assign(lr)
        self._apply(grads)
        return {key: float(stats[key]) for key in STATS}

    def export_params(self) -> dict[str, np.ndarray]:
        return self.model.export_params()

    def optimizer_state(self) -> dict[str, np.ndarray]:
        return checkpoint.keras_optimizer_state(self.optimizer)

    def load_optimizer_state(self, arrays: dict[str, np.ndarray]) -> None:
        checkpoint.load_keras_optimizer_state(self.optimizer, arrays)
