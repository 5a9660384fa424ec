"""Build and load the `cpp` implementations' C++ kernels (`cells/cpp/csrc/*.cpp`, sharing
`csrc/common.h`).

The kernels are plain C++ behind a C ABI, loaded with ctypes: no torch headers, so a build takes
about a second, not the minute a torch extension takes. TF's `cpp` implementation runs them
inside a TF op (`csrc/tf_ops.cc`, built with TF's headers by `cells.tf.cpp`: about 15 s, once).
They are compiled on first use with the machine's C++ compiler for the machine's own CPU
(-march=native) and cached under `$CELLBENCH_KERNEL_CACHE` (default
~/.cache/cellbench/kernels). The cache key covers the sources, the headers, the flags, the
compiler's version, the CPU's model and flags (so a home folder shared between machines never
loads a library built for another CPU) and, for the TF op, TF's version. A library is
compiled to a temporary name and renamed into place, so processes building at once never load a
half-written file.

`$CXX` picks the compiler (default: c++, then g++, then clang++).
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

SOURCES = Path(__file__).with_name("csrc")
#: -ffp-contract=fast: fused multiply-adds (strict ISO -std=c++20 would turn them off);
#: -fopenmp: `omp simd` loops (vectorised reductions) and threads from libgomp.so.1, which in a
#: torch process is torch's own runtime (the loader matches the soname), so the kernels share
#: torch's thread pool; -fno-math-errno lets math functions vectorise. No -ffast-math: NaN stays
#: NaN.
FLAGS = (
    "-O3",
    "-march=native",
    "-std=c++20",
    "-ffp-contract=fast",
    "-fopenmp",
    "-fno-math-errno",
    "-fPIC",
)
LINK = ("-shared", "-fopenmp")


class BuildError(RuntimeError):
    """The C++ kernels could not be built on this machine (no compiler, or it failed)."""


def compiler() -> str | None:
    """Path of the C++ compiler to use, or None when there is none."""
    chosen = os.environ.get("CXX")
    candidates = [chosen] if chosen else ["c++", "g++", "clang++"]
    for name in candidates:
        path = shutil.which(name)
        if path:
            return path
    return None


def unavailable() -> str | None:
    """Why the kernels cannot be built here, or None (checked without compiling)."""
    if compiler() is None:
        wanted = os.environ.get("CXX") or "c++, g++ or clang++"
        return f"cpp: needs a C++ compiler ({wanted}) on PATH; install one or use impl='fused'"
    return None


def cache_dir() -> Path:
    root = os.environ.get("CELLBENCH_KERNEL_CACHE")
    if root:
        return Path(root)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "cellbench" / "kernels"


def _cpu_identity() -> str:
    """Model name and flags of the first CPU (what -march=native compiles for)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        import platform

        return platform.processor() or platform.machine()
    keep = [
        line
        for line in text.splitlines()
        if line.split(":")[0].strip() in ("model name", "flags", "Features", "CPU part")
    ]
    return "\n".join(dict.fromkeys(keep))


@functools.cache
def _compiler_version(path: str) -> str:
    result = subprocess.run([path, "--version"], capture_output=True, text=True, check=False)
    return result.stdout


def library_path(
    name: str,
    sources: tuple[Path, ...] = (),
    flags: tuple[str, ...] = (),
    link: tuple[str, ...] = (),
    key: str = "",
) -> Path:
    """Where library `name` lives for its sources (default `csrc/<name>.cpp`), headers, flags,
    compiler and CPU; `key`: anything else the build depends on (a framework's version)."""
    cxx = compiler()
    digest = hashlib.sha256()
    for path in [*(sources or _default_sources(name)), *sorted(SOURCES.glob("*.h"))]:
        digest.update(path.read_bytes())
    digest.update(" ".join(FLAGS + flags + LINK + link).encode())
    digest.update(key.encode())
    digest.update(_compiler_version(cxx or "").encode())
    digest.update(_cpu_identity().encode())
    return cache_dir() / f"{name}-{digest.hexdigest()[:16]}.so"


def _default_sources(name: str) -> tuple[Path, ...]:
    return (SOURCES / f"{name}.cpp",)


def build(
    name: str,
    sources: tuple[Path, ...] = (),
    flags: tuple[str, ...] = (),
    link: tuple[str, ...] = (),
    key: str = "",
) -> Path:
    """Compile library `name` from `sources` (default `csrc/<name>.cpp`) with FLAGS + `flags`
    and LINK + `link`, unless this exact build is cached; -> the library's path."""
    reason = unavailable()
    if reason:
        raise BuildError(reason)
    sources = sources or _default_sources(name)
    target = library_path(name, sources, flags, link, key)
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, partial = tempfile.mkstemp(prefix=f".{name}-", suffix=".so", dir=target.parent)
    os.close(handle)
    command = [compiler(), *FLAGS, *flags, *map(str, sources), *LINK, *link, "-o", partial]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        os.unlink(partial)
        names = ", ".join(path.name for path in sources)
        raise BuildError(
            f"cpp: compiling {names} failed (exit {result.returncode}):\n"
            f"{' '.join(command)}\n{result.stderr.strip()}"
        )
    os.replace(partial, target)
    return target


@functools.cache
def load(name: str) -> ctypes.CDLL:
    """The built library of `csrc/<name>.cpp`, compiled on first use (ctypes releases the GIL
    during each call)."""
    return ctypes.CDLL(str(build(name)))


@functools.cache
def function(library: str, symbol: str, argtypes: tuple) -> ctypes._CFuncPtr:
    """The C function `symbol` of `csrc/<library>.cpp`, its argument types declared, no result."""
    entry = getattr(load(library), symbol)
    entry.argtypes, entry.restype = list(argtypes), None
    return entry


#: ctypes argument types of the kernels' C ABI: sizes, pointers and flags / thread counts.
SIZE, POINTER, INT = ctypes.c_int64, ctypes.c_void_p, ctypes.c_int
