"""Shared test set-up: torch and Triton load before TensorFlow (their bundled libraries clash
otherwise), TF's start-up logging stays quiet, and without a CUDA GPU Triton's kernels run in its
CPU interpreter.

TRITON_INTERPRET must be in the environment before `import triton`: Triton decorates its own
library functions (tl.sum, tl.sigmoid) at import, for the GPU or for the interpreter. So: torch,
the variable, then `before_tensorflow()` (cells.preload) imports Triton if it is installed; test
modules import TensorFlow later.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
try:
    import torch
except ImportError:
    torch = None

if torch is not None and not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

from cells.preload import before_tensorflow  # noqa: E402

before_tensorflow()  # Triton too: loaded after TF, its LLVM aborts the process


import pytest  # noqa: E402


@pytest.fixture
def run_smoke_suite(tmp_path):
    """run(suite, select, **env) -> the finished `pytest suites/<suite> --benchmark-only
    --profile smoke` subprocess (1 thread, results under tmp_path/results, `-k select`),
    asserted to have passed."""
    import subprocess
    import sys
    from pathlib import Path

    def run(suite: str, select: str, **env: str) -> subprocess.CompletedProcess:
        command = [
            sys.executable, "-m", "pytest", f"suites/{suite}", "--benchmark-only", "--profile",
            "smoke", "--threads", "1", "--results", str(tmp_path / "results"), "-q", "-p",
            "no:cacheprovider", "-k", select,
        ]  # fmt: skip
        result = subprocess.run(command, cwd=Path(__file__).resolve().parents[1],
                                env={**os.environ, **env}, capture_output=True, text=True,
                                timeout=600)  # fmt: skip
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        return result

    return run
