"""The "ncps" conv extractor (the conv block of ncps's torch Atari tutorial): it computes what
the tutorial's module computes, and torch and TF compute the same function, BatchNorm running
statistics included, through training steps and in eval mode."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("ale_py")
torch = pytest.importorskip("torch")
tf = pytest.importorskip("tensorflow")

from torch import nn  # noqa: E402

from bench.a2c.spec import AgentSpec  # noqa: E402
from bench.bc import layouts  # noqa: E402
from bench.bc.profiles import PROFILES  # noqa: E402
from bench.bc.spec import make_policy_spec  # noqa: E402
from bench.bc.torch_policy import TorchPolicy  # noqa: E402
from bench.bc.train import make_trainer, train_bc  # noqa: E402
from cells.numerics import model_gradient_errors  # noqa: E402


class TutorialConvBlock(nn.Module):
    """ncps's docs/examples/atari_torch.rst ConvBlock, restated as the tutorial writes it."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(4, 64, 5, padding=2, stride=2)
        self.conv2 = nn.Conv2d(64, 128, 5, padding=2, stride=2)
        self.conv3 = nn.Conv2d(128, 128, 5, padding=2, stride=2)
        self.conv4 = nn.Conv2d(128, 256, 5, padding=2, stride=2)
        self.norm = nn.BatchNorm1d(256)

    def forward(self, x):
        x = torch.relu(self.conv1(x))
        x = torch.relu(self.conv2(x))
        x = torch.relu(self.conv3(x))
        x = torch.relu(self.conv4(x))
        x = x.mean((-1, -2))  # Global average pooling
        return self.norm(x)


def _frames(seed: int, batch: int = 3, steps: int = 4) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (batch, steps, 84, 84, 4), dtype=np.uint8)


def _batch(seed: int = 0):
    actions = np.random.default_rng(seed + 1).integers(0, 4, (3, 4)).astype(np.int64)
    return _frames(seed), actions


def test_the_spec_is_the_tutorials_shape():
    spec = make_policy_spec("cfc", 4, extractor="ncps")
    shapes = spec.param_shapes()
    assert spec.features == 256 and spec.cell.input_size == 256
    assert spec.conv_output_shape() == (6, 6, 256)  # 84 -> 42 -> 21 -> 11 -> 6
    assert shapes["conv3_kernel"] == (5, 5, 128, 256) and "dense_kernel" not in shapes
    assert spec.state_keys() == ("norm_mean", "norm_var")
    params = spec.init_params(0)
    assert params["norm_gamma"].tolist() == [1.0] * 256 and not params["norm_mean"].any()
    with pytest.raises(ValueError, match="extractor: the A2C agent takes one without BatchNorm"):
        AgentSpec(spec.cell, 4, "ncps")
    with pytest.raises(ValueError, match="extractor: expected one of"):
        make_policy_spec("cfc", 4, extractor="resnet")


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_torch_extractor_computes_the_tutorials_conv_block(mode):
    spec = make_policy_spec("gru", 4, extractor="ncps")
    params = spec.init_params(5)
    rng = np.random.default_rng(9)
    params["norm_mean"], params["norm_var"] = rng.normal(size=256), rng.uniform(0.5, 2, 256)
    params["norm_gamma"], params["norm_beta"] = rng.uniform(0.5, 2, 256), rng.normal(size=256)
    # Float64 throughout; the tutorial's module gets our weights (float32-rounded on load) as
    # the canonical dict lays them out.
    ours, theirs = TorchPolicy(spec, params).double(), TutorialConvBlock().double()
    exported = ours.export_params()
    with torch.no_grad():
        for k, conv in enumerate((theirs.conv1, theirs.conv2, theirs.conv3, theirs.conv4)):
            kernel = layouts.conv_kernel_to_torch(exported[f"conv{k}_kernel"])
            conv.weight.copy_(torch.as_tensor(kernel))
            conv.bias.copy_(torch.as_tensor(exported[f"conv{k}_bias"]))
        norm = theirs.norm
        for tensor, key in (
            (norm.weight, "norm_gamma"),
            (norm.bias, "norm_beta"),
            (norm.running_mean, "norm_mean"),
            (norm.running_var, "norm_var"),
        ):
            tensor.copy_(torch.as_tensor(exported[key]))  # fmt: skip
    ours.train(mode == "train")
    theirs.train(mode == "train")
    obs = _frames(1)
    # The tutorial feeds channels-first float frames scaled by 1/255, time merged into batch.
    frames = torch.as_tensor(obs, dtype=torch.float64).reshape(12, 84, 84, 4) / 255.0
    expected = theirs(frames.permute(0, 3, 1, 2)).reshape(3, 4, 256)
    np.testing.assert_allclose(ours.features(torch.as_tensor(obs)).detach().numpy(),
                               expected.detach().numpy(), rtol=1e-10, atol=1e-12)  # fmt: skip
    if mode == "train":  # and the running statistics moved alike
        np.testing.assert_allclose(ours.norm.running_var.numpy(), norm.running_var.numpy(),
                                   rtol=1e-12)  # fmt: skip


def test_torch_and_tf_give_the_same_loss_and_gradients():
    spec = make_policy_spec("cfc", 4, extractor="ncps")
    params = spec.init_params(3)
    obs, actions = _batch()
    loss_t, grads_t = make_trainer("torch", spec, params, 1e-3).loss_and_grads(obs, actions)
    loss_k, grads_k = make_trainer("tf", spec, params, 1e-3).loss_and_grads(obs, actions)
    assert abs(loss_t - loss_k) <= 1e-4 * abs(loss_k)
    assert set(grads_t) == set(grads_k) == set(spec.param_shapes()) - {"norm_mean", "norm_var"}
    errors = model_gradient_errors(grads_t, grads_k)
    assert max(errors.values()) <= 1e-4, errors


def test_running_statistics_move_alike_in_both_frameworks():
    """Training steps at learning rate 0 (the weights stay, BatchNorm's running statistics
    move): torch and TF end with the same statistics (torch feeds them the unbiased batch
    variance, and so does `TorchBatchNorm`), so their eval-mode policies act alike. (With a
    real learning rate the weights part ways within steps: behind the BatchNorm, many conv
    gradients are float32 noise around zero, and Adam's first steps are lr * sign(g).)"""
    spec = make_policy_spec("gru", 4, extractor="ncps")
    params = spec.init_params(2)
    trainers = [make_trainer(backend, spec, params, 0.0) for backend in ("torch", "tf")]
    for step in range(3):
        obs, actions = _batch(step)
        losses = [trainer.train_step(obs, actions)[0] for trainer in trainers]
        assert losses[0] == pytest.approx(losses[1], rel=1e-5)
    torch_params, tf_params = (trainer.export_params() for trainer in trainers)
    assert np.abs(torch_params["norm_mean"]).max() > 1e-3  # the statistics did move
    for key in ("norm_mean", "norm_var"):
        np.testing.assert_allclose(torch_params[key], tf_params[key], rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(torch_params["conv0_kernel"], tf_params["conv0_kernel"])
    obs = _frames(7)[:, 0]
    (a_t, _), (a_k, _) = (trainer.act(obs, None) for trainer in trainers)
    np.testing.assert_array_equal(a_t, a_k)
    losses = [trainer.evaluate_batch(*_batch(9))[0] for trainer in trainers]
    assert losses[0] == pytest.approx(losses[1], rel=1e-5)


def test_a_run_with_the_ncps_extractor_checkpoints_its_statistics(tmp_path):
    from bench import checkpoint
    from bench.atari.generate import generate
    from bench.atari.settings import AtariSettings

    data = tmp_path / "data"
    generate(data, AtariSettings("breakout"), 8, 4, seed=0, num_envs=1, progress_bar=False)
    summary = train_bc("cfc", "tf", data, tmp_path / "run", PROFILES["smoke"],
                       progress_bar=False, evaluate=False, extractor="ncps")  # fmt: skip
    assert summary["extractor"] == "ncps" and summary["policy"]["extractor"] == "ncps"
    params, _, _ = checkpoint.load(tmp_path / "run" / checkpoint.NAME)
    assert params["norm_var"].shape == (256,) and not np.allclose(params["norm_var"], 1.0)
    # A checkpoint of the other extractor is refused on resume.
    with pytest.raises(ValueError, match="extractor"):
        train_bc("cfc", "tf", data, tmp_path / "run", PROFILES["smoke"], resume=True,
                 progress_bar=False, evaluate=False)  # fmt: skip
