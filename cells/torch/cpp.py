"""`cpp`: whole-sequence C++ kernels on CPU, forward and hand-written backward.

`cells.torch.cpp_cfc` and `cells.torch.cpp_ltc` say what moves to C++ and why;
`cells.cpp.build` compiles the kernels on first use (about a second each) and caches them.
Refused, with the reason, where there is no C++ compiler, for specs the kernels do not support,
and (at call time) off the CPU or in a dtype other than float32/float64.
"""

from __future__ import annotations

from ..cpp.kernels import unsupported as limits
from . import cpp_cfc, cpp_ltc
from .fused import FusedCell

__all__ = ["CppCell", "limits"]


class CppCell(FusedCell):
    """`fused` with its recurrences in C++ (the CfC's weight folding and its cache are shared)."""

    impl = "cpp"
    kernels = {"cfc": cpp_cfc, "ltc": cpp_ltc}
