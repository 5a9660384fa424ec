"""`cpp`: whole-sequence C++ kernels on CPU, forward and hand-written backward.

`cells.torch.cpp_ltc` says what moves to C++ and why; `cells.torch.cpp_build` compiles the
kernels on first use (about a second) and caches them. Refused, with the reason, where there is
no C++ compiler, for specs `fused` does not support, and (at call time) off the CPU.
"""

from __future__ import annotations

from . import cpp_build, cpp_ltc, fused_ltc
from .base import CellModule


def limits(spec) -> str | None:
    reason = cpp_build.unavailable()
    if reason is None and spec.name == "ltc":
        reason = fused_ltc.limits(spec, impl="cpp")
    return reason


class CppCell(CellModule):
    impl = "cpp"
    unit_timespans_as_none = True  # no timespans -> one cm_t for every step

    def run(self, x, state, ts):
        y, v = cpp_ltc.run(self.spec, self.canonical() | self.constants(), x, state[0], ts)
        return y, (v,)
