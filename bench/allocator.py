"""glibc malloc set to keep large blocks, for training loops that allocate them every step.

glibc serves a request above its mmap threshold (which adapts, but never past 32 MiB) with a
fresh `mmap` and gives it back with `munmap` on free. A BC training step on a batch of 32 x 32
frames allocates several larger tensors (the float frames alone are 115 MB), so every step
page-faults and zeroes all their pages again. torch's CPU allocator passes these requests straight
to malloc; TF's does not pay the cost. Measured with the BC suite's timed training step (GRU,
quick profile, 2 threads, median of 5): torch 434 ms with glibc's default against TF's 286 ms,
and 245 ms with large blocks kept against TF's 236 ms. So without this the suite would time page
faults, and in torch only. Reproduce: `CELLBENCH_MALLOC=default pytest suites/bc
--benchmark-only --profile quick -k "gru-torch-train_step or gru-tf-train_step"`, then without
the variable.

`keep_large_blocks()` asks glibc (`mallopt`) never to use mmap and not to trim freed memory at
the heap's top, so freed blocks serve the next step. The cost: the process keeps its peak heap
until it exits. It changes nothing where libc is not glibc, and `CELLBENCH_MALLOC=default` turns
it off, for comparing against a process left as users run it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform

# mallopt parameters, from glibc's malloc.h.
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
NEVER_TRIM = 2**31 - 1  # the largest int mallopt takes: trim only above 2 GiB free at the top

_state: str | None = None


def keep_large_blocks() -> str:
    """Apply the setting once per process; returns the malloc policy now in force, as recorded
    in run summaries: "glibc, large blocks kept", "glibc default" or "not glibc"."""
    global _state
    if _state is not None:
        return _state
    if platform.libc_ver()[0] != "glibc":
        _state = "not glibc"
    elif _requested() == "default":
        _state = "glibc default"
    else:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        if not (libc.mallopt(M_MMAP_MAX, 0) and libc.mallopt(M_TRIM_THRESHOLD, NEVER_TRIM)):
            raise RuntimeError("mallopt refused M_MMAP_MAX=0 / M_TRIM_THRESHOLD; glibc changed?")
        _state = "glibc, large blocks kept"
    return _state


def _requested() -> str:
    value = os.environ.get("CELLBENCH_MALLOC", "keep").strip().lower() or "keep"
    if value not in ("keep", "default"):
        raise ValueError(f"CELLBENCH_MALLOC: expected 'keep' or 'default', got {value!r}")
    return value


def policy() -> str:
    """The malloc policy of this process (what `keep_large_blocks` set, or glibc's default)."""
    return _state or "default"
