"""Canonical (Keras) layouts <-> torch layouts for the BC policy's non-cell layers: one place."""

from __future__ import annotations

import numpy as np


def conv_kernel_to_torch(kernel: np.ndarray) -> np.ndarray:
    """(kh, kw, in, out) -> torch Conv2d weight (out, in, kh, kw)."""
    return np.ascontiguousarray(np.transpose(kernel, (3, 2, 0, 1)))


def conv_kernel_from_torch(weight: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.transpose(weight, (2, 3, 1, 0)))


def dense_kernel_to_torch(kernel: np.ndarray) -> np.ndarray:
    """(in, out) -> torch Linear weight (out, in)."""
    return np.ascontiguousarray(kernel.T)


def dense_kernel_from_torch(weight: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(weight.T)
