"""cells.tf: build any cell as a Keras 3 layer, ``cells.tf.build(spec, params, impl)``.

    layer = cells.tf.build(spec, params, impl="graph", dtype="float64")
    y, h_T = layer(x, hx=None, timespans=None)      # batch first
    params = layer.export_params()                   # the canonical dict back, exact

Implementations (`IMPLEMENTATIONS.names()`): "graph" (every cell, tf.function), "native"
(keras LSTM/GRU), "fused" (state-free work hoisted out of the loop; not wired CfC), "xla"
(every cell, compiled by XLA), "cpp" (CfC and LTC in the C++ kernels of `cells.cpp`). Keras
must run on its TensorFlow backend (KERAS_BACKEND=tensorflow).
"""

from __future__ import annotations

import os

# TF's C++ start-up chatter buries real messages; users can still raise the level.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
from ..preload import before_tensorflow

before_tensorflow()  # torch and Triton first: their libraries clash with TF's otherwise

try:
    import keras
    import tensorflow as tf
except ImportError as error:  # pragma: no cover - exercised by the isolation test
    raise ImportError(
        "cells.tf needs TensorFlow and Keras 3, which are not installed: "
        "pip install 'cellbench[tf]'"
    ) from error

if keras.backend.backend() != "tensorflow":
    raise ImportError(
        "cells.tf: expected Keras on its 'tensorflow' backend, got "
        f"{keras.backend.backend()!r}; set KERAS_BACKEND=tensorflow"
    )

for _gpu in tf.config.list_physical_devices("GPU"):
    try:  # grow GPU memory on demand so TF leaves room for torch in the same process
        tf.config.experimental.set_memory_growth(_gpu, True)
    except RuntimeError:
        pass  # already initialised by the caller

from .. import CELL_NAMES  # noqa: E402
from ..cpp.kernels import unsupported as cpp_unsupported  # noqa: E402
from ..registry import Implementation, Registry  # noqa: E402
from .base import CellLayer, value_and_grads  # noqa: E402
from .cpp import CppCell  # noqa: E402
from .fused import FusedCell  # noqa: E402
from .fused import unsupported as fused_unsupported  # noqa: E402
from .graph import GraphCell  # noqa: E402
from .native import NativeCell  # noqa: E402
from .xla import XlaCell  # noqa: E402

IMPLEMENTATIONS = Registry("tf")
IMPLEMENTATIONS.register(
    Implementation("graph", CELL_NAMES, GraphCell, "tf.function + tf.while_loop")
)
IMPLEMENTATIONS.register(
    Implementation("native", ("lstm", "gru"), NativeCell, "keras.layers.LSTM / GRU (cuDNN on GPU)")
)
IMPLEMENTATIONS.register(
    Implementation(
        "fused",
        CELL_NAMES,
        FusedCell,
        "tf.function, state-free work (input projections, LTC sensory synapses) out of the loop",
        limits=fused_unsupported,
    )
)
IMPLEMENTATIONS.register(
    Implementation("xla", CELL_NAMES, XlaCell, "the fused loop (graph's where not) compiled by XLA")
)
IMPLEMENTATIONS.register(
    Implementation(
        "cpp",
        ("cfc", "ltc"),
        CppCell,
        "the C++ whole-sequence kernels (torch's cpp) in a TF custom op; CPU, no XLA",
        limits=cpp_unsupported,
    )
)


def disable_tf32() -> None:
    """Compute float32 matmuls and convolutions in true float32 on GPUs (numerics checks)."""
    tf.config.experimental.enable_tensor_float_32_execution(False)


def build(spec, params=None, impl: str = "graph", **options) -> CellLayer:
    """A Keras 3 layer computing `spec` with `params` (canonical; None draws init_params).

    Options: dtype ("float32", "float64"), seed, name. Raises ValueError for an unknown impl
    and NotImplementedError when the impl does not support the spec.
    """
    return IMPLEMENTATIONS.build(spec, params, impl, **options)


__all__ = ["IMPLEMENTATIONS", "CellLayer", "build", "disable_tf32", "value_and_grads"]
