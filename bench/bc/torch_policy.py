"""The BC policy in torch, built from the canonical parameters of a `PolicySpec`."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

import cells.torch as cells_torch

from . import layouts
from .spec import CELL_PREFIX, NORM_EPS, NORM_KEYS, NORM_MOMENTUM, PolicySpec


class TorchPolicy(nn.Module):
    """obs uint8 (B, T, 84, 84, 4), hx -> (logits (B, T, actions), h_T).

    Args:
        spec: the policy; params: its canonical parameters (default `spec.init_params(seed)`).
        impl: the cell implementation (`cells.torch.IMPLEMENTATIONS`).
    """

    def __init__(self, spec: PolicySpec, params=None, impl: str = "eager", seed: int = 0):
        super().__init__()
        self.spec = spec
        params = spec.check_params(spec.init_params(seed) if params is None else params)
        self.convs = nn.ModuleList()
        channels = 4
        for k, (filters, kernel, stride) in enumerate(spec.convs):
            conv = nn.Conv2d(channels, filters, kernel, stride, padding=spec.padding)
            _assign(conv.weight, layouts.conv_kernel_to_torch(params[f"conv{k}_kernel"]))
            _assign(conv.bias, params[f"conv{k}_bias"])
            self.convs.append(conv)
            channels = filters
        self.dense = _linear(params["dense_kernel"], params["dense_bias"]) if spec.dense else None
        self.norm = None
        if spec.norm:
            self.norm = nn.BatchNorm1d(spec.features, eps=NORM_EPS, momentum=NORM_MOMENTUM)
            for tensor, key in zip(_norm_tensors(self.norm), NORM_KEYS):
                _assign(tensor, params[key])
        self.cell = cells_torch.build(
            spec.cell, spec.cell_params(params), impl, dtype=torch.float32
        )
        self.head = _linear(params["head_kernel"], params["head_bias"])

    def features(self, obs: torch.Tensor) -> torch.Tensor:
        """uint8 (B, T, 84, 84, 4) -> (B, T, features), normalised by 1/255 here only. The
        BatchNorm ("ncps" extractor) uses batch statistics in train mode, running ones in eval."""
        batch, steps = obs.shape[:2]
        x = obs.reshape(batch * steps, *obs.shape[2:]).permute(0, 3, 1, 2)
        x = x.to(self.head.weight.dtype) / 255.0
        for conv in self.convs:
            x = torch.relu(conv(x))
        if self.dense is not None:
            x = x.permute(0, 2, 3, 1).reshape(batch * steps, -1)  # flatten channels-last
            x = torch.relu(self.dense(x))
        else:
            x = x.mean((2, 3))  # global average pooling
        if self.norm is not None:
            x = self.norm(x)
        return x.reshape(batch, steps, -1)

    def forward(self, obs, hx=None):
        y, h_t = self.cell(self.features(obs), hx)
        return self.head(y), h_t

    def canonical_tensors(self) -> dict[str, tuple[torch.Tensor, str]]:
        """Canonical name -> (the torch parameter, how its layout relates: conv/dense/same)."""
        out = {}
        for k, conv in enumerate(self.convs):
            out[f"conv{k}_kernel"] = (conv.weight, "conv")
            out[f"conv{k}_bias"] = (conv.bias, "same")
        if self.dense is not None:
            out["dense_kernel"] = (self.dense.weight, "dense")
            out["dense_bias"] = (self.dense.bias, "same")
        if self.norm is not None:
            for tensor, key in zip(_norm_tensors(self.norm), NORM_KEYS):
                out[key] = (tensor, "same")
        for key, tensor in self.cell.canonical().items():
            out[CELL_PREFIX + key] = (tensor, "same")
        out["head_kernel"], out["head_bias"] = (self.head.weight, "dense"), (self.head.bias, "same")
        return out

    def export_params(self, grads: bool = False) -> dict[str, np.ndarray]:
        """Canonical parameters as float64 numpy arrays, or the gradients of the trained ones
        (state such as BatchNorm's running statistics has none)."""
        convert = {
            "conv": layouts.conv_kernel_from_torch,
            "dense": layouts.dense_kernel_from_torch,
            "same": lambda a: a,
        }
        out = {}
        for key, (tensor, kind) in self.canonical_tensors().items():
            if grads and key in self.spec.state_keys():
                continue
            value = tensor.grad if grads else tensor
            array = np.zeros(tuple(tensor.shape)) if value is None else value.detach().cpu().numpy()
            out[key] = convert[kind](array.astype(np.float64))
        return out


def _norm_tensors(norm: nn.BatchNorm1d) -> tuple[torch.Tensor, ...]:
    """In NORM_KEYS order: gamma, beta (parameters), running mean and variance (buffers)."""
    return norm.weight, norm.bias, norm.running_mean, norm.running_var


def _assign(parameter: torch.Tensor, value: np.ndarray) -> None:
    with torch.no_grad():
        parameter.copy_(torch.as_tensor(value, dtype=parameter.dtype))


def _linear(kernel: np.ndarray, bias: np.ndarray) -> nn.Linear:
    layer = nn.Linear(*kernel.shape)
    _assign(layer.weight, layouts.dense_kernel_to_torch(kernel))
    _assign(layer.bias, bias)
    return layer
