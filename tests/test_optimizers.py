"""torch's `RMSpropTF` and `AdamTF` take Keras's steps: fed the same gradients, the same
parameters come out, step after step (torch's own optimizers place eps elsewhere and do not)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
keras = pytest.importorskip("keras")

from bench.optimizers import AdamTF, RMSpropTF  # noqa: E402

START = np.random.default_rng(0).normal(size=(3, 5))
# Gradients from tiny (where eps placement matters) to large, with sign changes.
GRADS = [np.random.default_rng(k).normal(size=(3, 5)) * 10.0 ** np.linspace(-7, 1, 15).reshape(3, 5)
         for k in range(1, 7)]  # fmt: skip


def _torch_path(optimizer_class, **options) -> np.ndarray:
    param = torch.nn.Parameter(torch.tensor(START, dtype=torch.float64))
    optimizer = optimizer_class([param], **options)
    for grad in GRADS:
        param.grad = torch.tensor(grad, dtype=torch.float64)
        optimizer.step()
    return param.detach().numpy()


def _keras_path(optimizer) -> np.ndarray:
    variable = keras.Variable(START, dtype="float64")
    optimizer.build([variable])
    for grad in GRADS:
        optimizer.apply_gradients([(keras.ops.convert_to_tensor(grad, "float64"), variable)])
    return keras.ops.convert_to_numpy(variable)


@pytest.mark.parametrize("lr", [1e-3, 0.1])
def test_adam_tf_takes_keras_adams_steps(lr):
    ours = _torch_path(AdamTF, lr=lr)
    theirs = _keras_path(keras.optimizers.Adam(learning_rate=lr))
    moved = np.abs(theirs - START).max()
    # Keras computes its step size in float32 (learning rate, powers of beta): steps agree to
    # float32 resolution.
    assert np.abs(ours - theirs).max() <= 2e-5 * moved, (np.abs(ours - theirs).max(), moved)
    # torch's own Adam (eps 1e-8 on the corrected root) ends elsewhere for tiny gradients.
    plain = _torch_path(torch.optim.Adam, lr=lr)
    assert np.abs(plain - theirs).max() > 1e-3 * moved


def test_rmsprop_tf_takes_keras_rmsprops_steps():
    ours = _torch_path(RMSpropTF, lr=1e-3, alpha=0.99, eps=1e-5)
    theirs = _keras_path(keras.optimizers.RMSprop(learning_rate=1e-3, rho=0.99, epsilon=1e-5))
    moved = np.abs(theirs - START).max()
    assert np.abs(ours - theirs).max() <= 2e-5 * moved, (np.abs(ours - theirs).max(), moved)
    plain = _torch_path(torch.optim.RMSprop, lr=1e-3, alpha=0.99, eps=1e-5)
    assert np.abs(plain - theirs).max() > 1e-3 * moved


def test_adam_tf_state_survives_a_state_dict_round_trip():
    param = torch.nn.Parameter(torch.tensor(START))
    first = AdamTF([param], lr=1e-2)
    param.grad = torch.tensor(GRADS[0])
    first.step()
    second = AdamTF([param], lr=1e-2)
    second.load_state_dict(first.state_dict())
    assert second.state[param]["step"] == 1
    torch.testing.assert_close(second.state[param]["exp_avg"], first.state[param]["exp_avg"])
