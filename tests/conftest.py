"""Shared test set-up: torch loads before TensorFlow (their bundled libraries clash otherwise),
and TF's start-up logging stays quiet."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
try:
    import torch  # noqa: F401
except ImportError:
    pass
