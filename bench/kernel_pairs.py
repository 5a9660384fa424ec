"""Paired kernel timings: two workloads timed in alternation, for the ratios the kernel issue
sets targets on.

Why pairs. `suites/kernels` times each workload's rounds in one block, then the next
workload's. On a shared 2-core machine the speed drifts between blocks: measured here, the
same two workloads (TF `cpp` CfC forward and torch `cpp` CfC forward) gave a ratio of 2.24x in
one run of the suite and 0.79x in the next, minutes apart. A pair instead runs A and B in
alternating order (A B, B A, A B, ...), so a slow spell falls on both, and its figure is the
median of the per-round ratios A_i / B_i, with their interquartile range beside it.

A pair runs both workloads in one process, as a user who imports both frameworks would;
pairs that touch TF run after every torch-only workload (`suites/kernels/conftest.py`), as the
single workloads do.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from collections.abc import Callable

from . import kernels


@dataclasses.dataclass(frozen=True)
class Member:
    """One side of a pair: a cell in one backend's implementation."""

    cell: str
    backend: str
    impl: str

    @property
    def label(self) -> str:
        return f"{self.backend}/{self.impl} {self.cell}"

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class Pair:
    """Workload A against workload B, for the given kinds; `targets`: (kind, the issue's bound
    on time(A) / time(B)) for the kinds that have one (none: the pair is context)."""

    a: Member
    b: Member
    kinds: tuple[str, ...] = ("forward", "forward+backward")
    targets: tuple[tuple[str, float], ...] = ()

    def target(self, kind: str) -> float | None:
        return dict(self.targets).get(kind)

    @property
    def name(self) -> str:
        """'cfc-tf-cpp-vs-cfc-torch-cpp' (test ids and the ratio table)."""
        return "-vs-".join(f"{m.cell}-{m.backend}-{m.impl}" for m in (self.a, self.b))

    @property
    def backends(self) -> set[str]:
        return {self.a.backend, self.b.backend}


def _pair(
    a: str, b: str, kinds=("forward", "forward+backward"), target=None, backward_target=None
) -> Pair:
    """_pair('cfc torch cpp', 'lstm torch native', target=1.25) -> Pair, `target` for every
    kind but forward+backward's where `backward_target` is given."""
    targets = {} if target is None else dict.fromkeys(kinds, target)
    if backward_target is not None:
        targets["forward+backward"] = backward_target
    return Pair(Member(*a.split()), Member(*b.split()), tuple(kinds), tuple(targets.items()))


#: The kernel issue's targets (time(A) / time(B) <= target) on each framework's best CfC and
#: LTC on a CPU (`cpp`), and the pairs around them (no target: context, such as `fused`, the
#: torch path that also runs on a GPU, and TF's `xla`).
PAIRS = (
    _pair("cfc torch cpp", "lstm torch native", target=1.25, backward_target=1.5),
    _pair("cfc torch fused", "lstm torch native"),
    _pair("cfc torch cpp", "cfc ncps torch", target=1 / 3.5),
    _pair("cfc torch fused", "cfc ncps torch"),
    _pair("ltc torch cpp", "ltc ncps torch", target=1 / 5, backward_target=1 / 8),
    _pair("ltc torch fused", "ltc ncps torch"),
    _pair("cfc tf xla", "lstm tf native", target=1.0),
    _pair("cfc tf cpp", "cfc torch cpp", target=1.5),
    _pair("cfc tf xla", "cfc torch cpp"),
    _pair("ltc tf cpp", "ltc torch cpp", target=1.5),
    # GPU (skipped on a CPU): the Triton step against cuDNN's (the target is at the
    # large shape, B=256 H=256), and Triton's LTC against ncps
    _pair("cfc torch triton", "lstm torch native", kinds=("step",), target=1.2),
    _pair("ltc torch triton", "ltc ncps torch", kinds=("forward",), target=1 / 50),
)


def unsupported(pair: Pair, kind: str, shape: kernels.Shape) -> str | None:
    """Why this pair cannot run here (None when it can), naming the side that cannot."""
    for side, member in (("A", pair.a), ("B", pair.b)):
        reason = kernels.unsupported(member.cell, member.backend, member.impl, kind, shape)
        if reason:
            return f"{side} ({member.label}): {reason}"
    return None


def time_pair(
    call_a: Callable[[], None],
    call_b: Callable[[], None],
    rounds: int,
    start: int = 0,
    clock: Callable[[], float] = time.perf_counter,
) -> tuple[list[float], list[float]]:
    """Run A and B `rounds` times each in alternating order (A B, B A, ...; round `start` is
    the first, even rounds run A first) -> their times in seconds, round by round. Both calls
    must already be warmed up (`kernels.build_call`)."""
    if rounds < 1:
        raise ValueError(f"rounds: expected >= 1, got {rounds}")
    times_a, times_b = [], []
    for index in range(rounds):
        order = ((call_a, times_a), (call_b, times_b))
        for call, times in order if (start + index) % 2 == 0 else order[::-1]:
            began = clock()
            call()
            times.append(clock() - began)
    return times_a, times_b


def summarise(times_a: list[float], times_b: list[float]) -> dict:
    """Per-round times (s) -> a_median_ms, b_median_ms, ratio (median of A_i / B_i), ratio_q1
    and ratio_q3 (its interquartile range)."""
    if len(times_a) != len(times_b) or not times_a:
        raise ValueError(
            f"times: expected two equal, non-empty lists, got {len(times_a)} and {len(times_b)}"
        )
    ratios = [a / b for a, b in zip(times_a, times_b)]
    q1, _, q3 = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else ratios * 3
    return {
        "a_median_ms": statistics.median(times_a) * 1e3,
        "b_median_ms": statistics.median(times_b) * 1e3,
        "ratio": statistics.median(ratios),
        "ratio_q1": q1,
        "ratio_q3": q3,
    }


def pair_rows(document: dict) -> list[dict]:
    """The paired benchmarks of a pytest-benchmark JSON document, one dict each: kind, shape,
    a, b (labels), a_median_ms, b_median_ms, ratio, ratio_q1, ratio_q3, target, met."""
    rows = []
    for bench in document.get("benchmarks", []):
        info = bench.get("extra_info", {})
        if "pair" not in info:
            continue
        target = info.get("target")
        rows.append(
            {
                "kind": info["kind"],
                "shape": info["shape"]["name"],
                "a": Member(**info["a"]).label,
                "b": Member(**info["b"]).label,
                **{
                    key: info[key]
                    for key in ("a_median_ms", "b_median_ms", "ratio", "ratio_q1", "ratio_q3")
                },  # fmt: skip
                "target": target,
                "met": None if target is None else info["ratio"] <= target,
            }
        )
    return rows


def format_pair_rows(rows: list[dict]) -> str:
    """Plain-text table of `pair_rows`."""
    header = (
        f"{'kind':<17} {'shape':<6} {'A':<20} {'B':<22} {'A ms':>9} {'B ms':>9} "
        f"{'A/B':>7} {'IQR of A/B':>13} {'target':>7}  met"
    )
    lines = [header, "-" * len(header)]
    for r in sorted(rows, key=lambda r: (r["shape"], kernels.KINDS.index(r["kind"]), r["a"])):
        target = f"{r['target']:7.3f}" if r["target"] is not None else f"{'-':>7}"
        met = {True: "yes", False: "NO", None: "-"}[r["met"]]
        lines.append(
            f"{r['kind']:<17} {r['shape']:<6} {r['a']:<20} {r['b']:<22} "
            f"{r['a_median_ms']:>9.3f} {r['b_median_ms']:>9.3f} {r['ratio']:>6.3f}x "
            f"{r['ratio_q1']:>6.3f}-{r['ratio_q3']:<6.3f} {target}  {met}"
        )
    return "\n".join(lines)
