"""cells.torch: build any cell as an nn.Module, ``cells.torch.build(spec, params, impl)``.

    module = cells.torch.build(spec, params, impl="eager", dtype=torch.float64)
    y, h_T = module(x, hx=None, timespans=None)   # batch_first, like nn.LSTM
    params = module.export_params()                # the canonical dict back, exact

Implementations (`IMPLEMENTATIONS.names()`): "eager" (every cell, the readable baseline),
"fused" (CfC and LTC restructured for speed, hand BPTT for CfC), "compile" (torch.compile of
one step, every cell), "cpp" (fused's recurrences in C++, CPU), "native" (nn.LSTM/nn.GRU),
"triton" (CfC/LTC step kernels, GPU, forward only). Each declares what it supports; `build`
says why when it cannot run a spec.
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
from .compiled import CompiledCell
from .cpp import CppCell
from .cpp import limits as cpp_limits
from .eager import EagerCell
from .fused import FusedCell
from .fused import limits as fused_limits
from .native import NativeCell
from .triton_cell import TritonCell  # imports Triton only when a cell is built
from .triton_cell import limits as triton_limits

IMPLEMENTATIONS = Registry("torch")
IMPLEMENTATIONS.register(Implementation("eager", CELL_NAMES, EagerCell, "step-by-step PyTorch"))
IMPLEMENTATIONS.register(
    Implementation(
        "fused",
        ("cfc", "ltc"),
        FusedCell,
        "hoisted input GEMMs, merged heads, hand BPTT (CfC); batched sensory synapses (LTC)",
        limits=fused_limits,
    )
)
IMPLEMENTATIONS.register(
    Implementation("compile", CELL_NAMES, CompiledCell, "torch.compile of one step (Inductor)")
)
IMPLEMENTATIONS.register(
    Implementation(
        "cpp",
        ("cfc", "ltc"),
        CppCell,
        "fused with its recurrences in C++: whole-sequence kernels, hand BPTT (CPU)",
        limits=cpp_limits,
    )
)
IMPLEMENTATIONS.register(
    Implementation("native", ("lstm", "gru"), NativeCell, "torch.nn.LSTM / nn.GRU (oneDNN, cuDNN)")
)
IMPLEMENTATIONS.register(
    Implementation(
        "triton",
        ("cfc", "ltc"),
        TritonCell,
        "Triton step kernels (GPU; CPU via TRITON_INTERPRET=1)",
        supports_backward=False,
        limits=triton_limits,
    )
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
