"""`cellbench verify`: same weights -> same numbers in numpy (float64), torch and TF.

For every cell configuration x backend implementation x dtype: draw random weights
(`spec.random_params`), inputs, an initial state and irregular timespans; run the
implementation; differentiate L = sum(g_y * y) + sum(g_h * h_T) with random cotangents; and
compare outputs, final state and the gradients with respect to the inputs, the initial state
and every parameter against the float64 reference (its gradients by complex step, exact to
rounding). The tolerance table is `cells.numerics.TOLERANCES`.

The tests (tests/test_parity.py) run this same code, so what the CLI reports is what CI checks.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import importlib.util
from collections.abc import Iterable
from pathlib import Path

import numpy as np

import cells
from cells import numerics, reference
from cells.wiring import NCP, AutoNCP, Random

from .results import csv_text, machine_info, write_json_atomic, write_text_atomic


@dataclasses.dataclass(frozen=True)
class Case:
    """One cell configuration to verify: `label` names it in tables."""

    label: str
    cell: str
    hparams: tuple[tuple[str, object], ...] = ()

    def spec(self, sizes: Sizes) -> cells.CellSpec:
        return cells.get_spec(self.cell, sizes.inputs, sizes.units, **dict(self.hparams))


@dataclasses.dataclass(frozen=True)
class Sizes:
    """Problem size of a check; small because the reference differentiates by complex step."""

    batch: int = 3
    steps: int = 5
    inputs: int = 4
    units: int = 8


def _case(label, cell, **hparams):
    return Case(label, cell, tuple(sorted(hparams.items())))


#: Every cell and mode, with and without the options that change the math.
CASES: tuple[Case, ...] = (
    _case("lstm", "lstm"),
    _case("gru", "gru"),
    _case("cfc", "cfc", backbone_units=8),
    _case("cfc-no_gate", "cfc", mode="no_gate", backbone_units=8),
    _case("cfc-pure", "cfc", mode="pure", backbone_units=8),
    _case("cfc-mixed", "cfc", mixed_memory=True, backbone_units=8),
    _case("cfc-pure-mixed", "cfc", mode="pure", mixed_memory=True, backbone_units=8),
    _case("cfc-no_backbone", "cfc", backbone_layers=0),
    _case(
        "cfc-2layer-gelu", "cfc", backbone_layers=2, backbone_units=8, backbone_activation="gelu"
    ),
    _case("cfc-relu", "cfc", mode="no_gate", backbone_units=8, backbone_activation="relu"),
    _case("cfc-silu-tanh", "cfc", backbone_layers=2, backbone_units=8, backbone_activation="silu"),
    _case("cfc-wired-autoncp", "cfc", wiring=AutoNCP(8, 2, seed=5)),
    _case("cfc-wired-pure-mixed", "cfc", mode="pure", mixed_memory=True, wiring=AutoNCP(8, 3)),
    _case("cfc-wired-ncp-no_gate", "cfc", mode="no_gate", wiring=NCP(3, 3, 2, 2, 2, 2, 2, seed=3)),
    _case("ltc", "ltc"),
    _case("ltc-autoncp-mixed", "ltc", wiring=AutoNCP(8, 2), mixed_memory=True),
    _case(
        "ltc-random-explicit",
        "ltc",
        wiring=Random(8, 3, sparsity_level=0.5),
        implicit_constraints=False,
    ),
    _case("ltc-linear-none", "ltc", input_mapping="linear", output_mapping="none", ode_unfolds=3),
    _case("ltc-none-linear", "ltc", input_mapping="none", output_mapping="linear", ode_unfolds=1),
)

#: (backend, impl) pairs; each impl declares which cells it supports.
IMPLEMENTATIONS: tuple[tuple[str, str], ...] = (
    ("torch", "eager"),
    ("torch", "fused"),
    ("torch", "compile"),
    ("torch", "cpp"),
    ("torch", "native"),
    ("torch", "triton"),
    ("tf", "graph"),
    ("tf", "native"),
    ("tf", "fused"),
    ("tf", "xla"),
    ("tf", "cpp"),
)
DTYPES = ("float64", "float32")
#: (backend, impl) -> (the optional module it needs, the cellbench extra that installs it).
OPTIONAL_MODULES: dict[tuple[str, str], tuple[str, str]] = {("torch", "triton"): ("triton", "gpu")}


@dataclasses.dataclass(frozen=True)
class Row:
    """One compared quantity (output, final state, or one gradient)."""

    case: str
    cell: str
    backend: str
    impl: str
    dtype: str
    quantity: str
    max_abs_err: float
    rel_err: float
    tolerance: float

    @property
    def passed(self) -> bool:
        return bool(np.isfinite(self.rel_err) and self.rel_err <= self.tolerance)

    def as_dict(self) -> dict:
        return {**dataclasses.asdict(self), "passed": self.passed}


def load_backend(backend: str):
    """The backend package (`cells.torch` or `cells.tf`); ImportError says what to install."""
    if backend not in ("torch", "tf"):
        raise ValueError(f"backend: expected 'torch' or 'tf', got {backend!r}")
    module = importlib.import_module(f"cells.{backend}")
    module.disable_tf32()  # numerics are checked in true float32
    return module


def problem(case: Case, sizes: Sizes, seed: int):
    """Random weights, inputs, state, timespans and cotangents for one case (numpy float64)."""
    spec = case.spec(sizes)
    rng = np.random.default_rng([seed, 101])
    b, t = sizes.batch, sizes.steps
    state = tuple(0.5 * rng.standard_normal((b, spec.state_size)) for _ in range(spec.state_arity))
    return {
        "spec": spec,
        "params": spec.random_params(seed),
        "x": rng.standard_normal((b, t, spec.input_size)),
        "hx": cells.inputs.pack_state(spec, state),
        "timespans": rng.uniform(0.2, 2.0, size=(b, t)),
        "grad_y": rng.standard_normal((b, t, spec.output_size)),
        "grad_h": cells.inputs.pack_state(spec, tuple(rng.standard_normal(s.shape) for s in state)),
    }


@functools.lru_cache(maxsize=64)
def expected(case: Case, sizes: Sizes, seed: int):
    """The reference's outputs, final state and exact gradients for one case (cached)."""
    p = problem(case, sizes, seed)
    y, h_t = reference.run(p["spec"], p["params"], p["x"], p["hx"], p["timespans"])
    grads = reference.gradients(
        p["spec"], p["params"], p["x"], p["hx"], p["timespans"], p["grad_y"], p["grad_h"]
    )
    state = (h_t,) if p["spec"].state_arity == 1 else tuple(h_t)
    return y, state, grads


def missing_module(backend: str, impl: str) -> str | None:
    """Why `impl` cannot be built here for want of an optional module, or of the C++ compiler
    the `cpp` kernels are built with (None when it can)."""
    if impl == "cpp":
        from cells.cpp import build as cpp_build

        return cpp_build.unavailable()
    if (backend, impl) not in OPTIONAL_MODULES:
        return None
    name, extra = OPTIONAL_MODULES[backend, impl]
    if importlib.util.find_spec(name) is None:
        return (
            f"{backend}/{impl} needs {name}, which is not installed: "
            f"pip install 'cellbench[{extra}]'"
        )
    return None


def unsupported(case: Case, backend: str, impl: str, sizes: Sizes = Sizes()) -> str | None:
    """Why `impl` cannot run `case` (None when it can); raises ImportError if the backend is not
    installed, and names the missing module of an impl that needs an optional one."""
    module = load_backend(backend)
    reason = module.IMPLEMENTATIONS.get(impl).unsupported(case.spec(sizes))
    return reason or missing_module(backend, impl)


def check(
    case: Case, backend: str, impl: str, dtype: str, sizes: Sizes = Sizes(), seed: int = 0
) -> list[Row]:
    """Compare one implementation against the reference -> one Row per quantity.

    An implementation without backward (`supports_backward=False`) is run under no_grad and
    compared on its outputs and final state only.
    """
    module = load_backend(backend)
    p = problem(case, sizes, seed)
    y_ref, state_ref, grads_ref = expected(case, sizes, seed)
    built = module.build(p["spec"], p["params"], impl, dtype=_framework_dtype(backend, dtype))
    if module.IMPLEMENTATIONS.get(impl).supports_backward:
        y, state, grads = module.value_and_grads(
            built, p["x"], p["hx"], p["timespans"], p["grad_y"], p["grad_h"]
        )
    else:
        (y, state), grads = _forward_only(backend, built, p), None
    tol = numerics.tolerance(dtype)
    pairs = [("output", y, y_ref)]
    pairs += [(f"state[{i}]", s, r) for i, (s, r) in enumerate(zip(state, state_ref))]
    if grads is not None:
        pairs += [("grad x", grads["x"], grads_ref["x"])]
        pairs += [
            (f"grad h0[{i}]", g, r) for i, (g, r) in enumerate(zip(grads["h0"], grads_ref["h0"]))
        ]
        pairs += [(f"grad {k}", grads[k], grads_ref[k]) for k in p["params"]]
    rows = []
    for quantity, actual, want in pairs:
        abs_err, rel_err = numerics.errors(actual, want)
        rows.append(
            Row(case.label, case.cell, backend, impl, dtype, quantity, abs_err, rel_err, tol)
        )
    return rows


def _forward_only(backend: str, built, p) -> tuple:
    """Outputs and final state parts (numpy) of a forward-only implementation, under no_grad."""
    if backend != "torch":
        raise ValueError(f"backend: forward-only checks exist for 'torch', got {backend!r}")
    import torch

    spec = p["spec"]
    kind = dict(dtype=built.dtype, device=next(built.parameters()).device)
    parts = cells.inputs.state_parts(spec, p["hx"], p["x"].shape[0])
    with torch.no_grad():
        hx = cells.inputs.pack_state(spec, tuple(torch.as_tensor(s, **kind) for s in parts))
        y, h_t = built(torch.as_tensor(p["x"], **kind), hx, torch.as_tensor(p["timespans"], **kind))
    h_parts = (h_t,) if spec.state_arity == 1 else tuple(h_t)
    return y.cpu().numpy(), tuple(h.cpu().numpy() for h in h_parts)


def _framework_dtype(backend: str, dtype: str):
    if backend == "torch":
        import torch

        return getattr(torch, dtype)
    return dtype


def select_cases(names: Iterable[str] | None) -> list[Case]:
    """Cases whose cell or label is in `names` (all when None); unknown names raise."""
    if not names:
        return list(CASES)
    names = list(names)
    known = {c.cell for c in CASES} | {c.label for c in CASES}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"cells: expected names from {sorted(known)}, got unknown {unknown}")
    return [c for c in CASES if c.cell in names or c.label in names]


def summarise(rows: list[Row]) -> list[dict]:
    """One line per (case, backend, impl, dtype): the worst quantity and the verdict."""
    groups: dict[tuple, list[Row]] = {}
    for row in rows:
        groups.setdefault((row.case, row.backend, row.impl, row.dtype), []).append(row)
    lines = []
    for (case, backend, impl, dtype), members in groups.items():
        worst = max(members, key=lambda r: r.rel_err if np.isfinite(r.rel_err) else np.inf)
        lines.append(
            {
                "case": case,
                "backend": backend,
                "impl": impl,
                "dtype": dtype,
                "worst_quantity": worst.quantity,
                "max_rel_err": worst.rel_err,
                "max_abs_err": max(r.max_abs_err for r in members),
                "tolerance": worst.tolerance,
                "checked": len(members),
                "passed": all(r.passed for r in members),
            }
        )
    return lines


def format_table(summary: list[dict]) -> str:
    header = (
        f"{'case':<24} {'backend':<6} {'impl':<7} {'dtype':<8} {'max rel err':>12} {'tol':>7}  "
        f"{'worst':<22} verdict"
    )
    lines = [header, "-" * len(header)]
    for s in summary:
        verdict = "ok" if s["passed"] else "FAIL"
        lines.append(
            f"{s['case']:<24} {s['backend']:<6} {s['impl']:<7} {s['dtype']:<8} "
            f"{s['max_rel_err']:>12.2e} {s['tolerance']:>7.0e}  {s['worst_quantity']:<22} {verdict}"
        )
    return "\n".join(lines)


def run_verify(
    cells_=None,
    dtypes=DTYPES,
    backends=("torch", "tf"),
    seed=0,
    json_path: Path = Path("results/verify/verify.json"),
    sizes: Sizes = Sizes(),
    out=print,
) -> int:
    """Run every selected check, print the table, write JSON + CSV; 0 if all pass, else 1."""
    from tqdm import tqdm

    cases = select_cases(cells_)
    skipped, loaded = [], []
    for backend in backends:
        try:
            load_backend(backend)
            loaded.append(backend)
        except ImportError as error:
            skipped.append({"backend": backend, "reason": str(error)})
            out(f"skipping backend {backend}: {error}")
    if not loaded:
        raise ImportError("no backend to verify: " + "; ".join(s["reason"] for s in skipped))
    jobs = []
    for case in cases:
        for backend, impl in IMPLEMENTATIONS:
            if backend in loaded and unsupported(case, backend, impl, sizes) is None:
                jobs.extend((case, backend, impl, dtype) for dtype in dtypes)
    rows: list[Row] = []
    for case, backend, impl, dtype in tqdm(jobs, desc="verify", unit="check", leave=False):
        rows.extend(check(case, backend, impl, dtype, sizes, seed))
    summary = summarise(rows)
    out(format_table(summary))
    failed = [s for s in summary if not s["passed"]]
    report = {
        "seed": seed,
        "sizes": dataclasses.asdict(sizes),
        "tolerances": numerics.TOLERANCES,
        "machine": machine_info(),
        "skipped_backends": skipped,
        "summary": summary,
        "rows": [r.as_dict() for r in rows],
        "passed": not failed,
    }
    json_path = Path(json_path)
    write_json_atomic(json_path, report)
    write_text_atomic(json_path.with_suffix(".csv"), csv_text([r.as_dict() for r in rows]))
    out(
        f"{len(summary) - len(failed)}/{len(summary)} implementation checks passed "
        f"({len(rows)} quantities); wrote {json_path} and {json_path.with_suffix('.csv')}"
    )
    return 1 if failed else 0
