"""Feature health: the share of the extractor's features that are dead on a batch of frames.

A2C runs whose conv features die early never learn: their policy sees the same features on
every frame and stays at random play (`config`'s docstring has the figures). `train` logs this
share with every metrics row, so such a run shows itself within its first metrics rows.
"""

from __future__ import annotations

import numpy as np


def dead_share(features) -> float:
    """features (..., F), the extractor's output after its last ReLU -> the share of the F
    features that are not positive on any frame."""
    features = np.asarray(features)
    flat = features.reshape(-1, features.shape[-1])
    return float(np.mean(flat.max(axis=0) <= 0))
