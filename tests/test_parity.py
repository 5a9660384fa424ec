"""Torch and TF against the float64 reference: outputs, final state and every gradient
(inputs, initial state, each parameter) for every cell and mode, in float64 and float32.

Runs the same checks as `cellbench verify` (bench/verify.py), so the CLI and CI agree.
"""

import pytest

from bench import verify


def _installed(backend):
    try:
        verify.load_backend(backend)
        return True
    except ImportError:
        return False


def _params():
    """Every (case, impl, dtype) the impl supports; a missing backend shows as one skip."""
    params = []
    for backend, impl in verify.IMPLEMENTATIONS:
        missing = (
            f"backend {backend} is not installed"
            if not _installed(backend)
            else verify.missing_module(backend, impl)
        )
        if missing:
            mark = pytest.mark.skip(reason=missing)
            params.append(
                pytest.param(None, backend, impl, None, marks=mark, id=f"{backend}-{impl}")
            )
            continue
        for case in verify.CASES:
            if verify.unsupported(case, backend, impl) is None:
                params += [
                    pytest.param(
                        case, backend, impl, dtype, id=f"{case.label}-{backend}-{impl}-{dtype}"
                    )
                    for dtype in verify.DTYPES
                ]
    return params


PARAMS = _params()


@pytest.mark.parametrize("case, backend, impl, dtype", PARAMS)
def test_matches_reference(case, backend, impl, dtype):
    rows = verify.check(case, backend, impl, dtype)
    worst = max(rows, key=lambda r: r.rel_err)
    print(
        f"{case.label} {backend}/{impl} {dtype}: worst {worst.quantity} rel err {worst.rel_err:.2e}"
    )
    failing = [f"{r.quantity}: {r.rel_err:.2e}" for r in rows if not r.passed]
    assert not failing, f"over tolerance {rows[0].tolerance:.0e}: {failing}"
    # Every parameter's gradient was compared, not just the outputs (forward-only impls have
    # no gradients; verify compares their outputs and final state).
    if verify.load_backend(backend).IMPLEMENTATIONS.get(impl).supports_backward:
        spec = case.spec(verify.Sizes())
        compared = {r.quantity for r in rows}
        assert {f"grad {k}" for k in spec.param_shapes()} <= compared


def test_every_impl_is_exercised():
    """Each registered implementation runs at least one case (guards against silent skips)."""
    ran = {
        (b, i)
        for c in verify.CASES
        for b, i in verify.IMPLEMENTATIONS
        if _installed(b) and verify.unsupported(c, b, i) is None
    }
    expected = {
        (b, i)
        for b, i in verify.IMPLEMENTATIONS
        if _installed(b) and verify.missing_module(b, i) is None
    }
    assert ran == expected
