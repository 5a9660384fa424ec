"""cells.torch: build any cell as an nn.Module, ``cells.torch.build(spec, params, impl)``.

    module = cells.torch.build(spec, params, impl="eager", dtype=torch.float64)
    y, h_T = module(x, hx=None, timespans=None)   # batch_first, like nn.LSTM
    params = module.export_params()                # the canonical dict back, exact

Implementations (`IMPLEMENTATIONS.names()`): "eager" (every cell), "native" (nn.LSTM/nn.GRU).
"""

from __future__ import annotations

try:
    import torch  # noqa: F401
except ImportError as error:  # pragma: no cover - exercised by the isolation test
    raise ImportError(
        "cells.torch needs PyTorch, which is not installed: pip install 'cellbench[torch]'"
    ) from error

from .. import CELL_NAMES
from ..registry import Implementation, Registry
from .base import CellModule, value_and_grads
from .eager import EagerCell
from .native import NativeCell

IMPLEMENTATIONS = Registry("torch")
IMPLEMENTATIONS.register(
    Implementation("eager", CELL_NAMES, EagerCell, "step-by-step PyTorch")
)
IMPLEMENTATIONS.register(
    Implementation("native", ("lstm", "gru"), NativeCell, "torch.nn.LSTM / nn.GRU (oneDNN, cuDNN)")
)


def disable_tf32() -> None:
    """Compute float32 matmuls and convolutions in true float32 on GPUs (numerics checks)."""
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False


def build(spec, params=None, impl: str = "eager", **options) -> CellModule:
    """An nn.Module computing `spec` with `params` (canonical; None draws init_params).

    Options: dtype, device, seed. Raises ValueError for an unknown impl and
    NotImplementedError when the impl does not support the spec.
    """
    return IMPLEMENTATIONS.build(spec, params, impl, **options)


__all__ = ["IMPLEMENTATIONS", "CellModule", "build", "disable_tf32", "value_and_grads"]
