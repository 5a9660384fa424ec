"""Load order for processes that use TensorFlow beside torch.

torch and Triton must be imported before TensorFlow: their bundled libraries clash with TF's
otherwise (torch: shared C++ runtime symbols; Triton: TF's XLA registers the same LLVM
command-line options and the second to load aborts the process with "LLVM ERROR:
inconsistency in registered CommandLine options"). Call `before_tensorflow()` before the first
`import tensorflow` / `import keras`; it imports whichever of the two is installed.
"""

from __future__ import annotations

import importlib.util


def before_tensorflow() -> None:
    """Import torch and Triton if they are installed (cheap when they already are)."""
    for name in ("torch", "triton"):
        try:
            if importlib.util.find_spec(name) is None:
                continue
            importlib.import_module(name)
        except ImportError:  # present but unusable (or blocked): TF alone is fine
            continue
