"""The `cellbench` command line.

cellbench verify [--cells ...] [--dtype float32 float64] [--backends torch tf] [--json PATH]
cellbench ode [--out DIR] [--seed S] [--backends reference torch tf]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .results import DEFAULT_RESULTS


def _add_verify(subparsers) -> None:
    from . import verify

    labels = ", ".join(c.label for c in verify.CASES)
    parser = subparsers.add_parser(
        "verify",
        help="check that numpy, torch and TF compute the same numbers",
        description=(
            "For every cell configuration x backend implementation x dtype, run random weights, "
            "inputs, initial state and irregular timespans through the implementation and the "
            "float64 numpy reference, and compare outputs, final state and gradients (inputs, "
            "initial state, every parameter). Tolerances: float64 rel err <= 1e-10, float32 <= "
            "1e-5 (norm-wise). Exit status 1 if anything fails. Writes JSON and CSV."
        ),
        epilog=f"Configurations: {labels}.",
    )
    parser.add_argument(
        "--cells",
        nargs="+",
        metavar="NAME",
        help="cells (lstm gru cfc ltc) or configuration labels; default: all",
    )
    parser.add_argument(
        "--dtype",
        nargs="+",
        choices=verify.DTYPES,
        default=list(verify.DTYPES),
        help="dtypes to check (default: both)",
    )
    parser.add_argument(
        "--backends",
        nargs="+",
        choices=("torch", "tf"),
        default=["torch", "tf"],
        help="backends to check (default: both; a missing one is reported)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of weights and inputs (default 0)"
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=DEFAULT_RESULTS / "verify" / "verify.json",
        help="where to write the JSON (a CSV lands beside it); default %(default)s",
    )
    parser.set_defaults(handler=_run_verify)


def _run_verify(args) -> int:
    from .verify import run_verify

    return run_verify(
        cells_=args.cells,
        dtypes=args.dtype,
        backends=args.backends,
        seed=args.seed,
        json_path=args.json,
    )


def _add_ode(subparsers) -> None:
    parser = subparsers.add_parser(
        "ode",
        help="measure how far LTC and CfC are from the ODEs they discretise",
        description=(
            "Solve the LTC's ODE and the ODE a pure-mode CfC approximates with float64 numba "
            "dopri5 (rtol = atol = 1e-12) and compare: (1) the LTC's fused solver (numpy "
            "reference, torch, TF, float64) for ode_unfolds 1..64, with its fitted order of "
            "convergence (1 expected); (2) one pure CfC step over timespans 0.01..10, from zero "
            "and random states. Writes ltc_unfold_convergence.csv, cfc_pure_error.csv and "
            "ode.json (atomically). About a minute on a laptop."
        ),
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_RESULTS / "ode",
        help="folder for the tables (default %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of weights and inputs")
    parser.add_argument(
        "--backends",
        nargs="+",
        choices=("reference", "torch", "tf"),
        help="LTC implementations to compare (default: all; a missing framework is skipped)",
    )
    parser.set_defaults(handler=_run_ode)


def _run_ode(args) -> int:
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from cells.preload import before_tensorflow

    before_tensorflow()
    from .ode_tables import run_ode_tables

    return run_ode_tables(args.out, seed=args.seed, backends=args.backends)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cellbench",
        description="Benchmark harness for recurrent cells (CfC, LTC, LSTM, GRU) in PyTorch and "
        "TensorFlow/Keras 3, checked against one float64 numpy reference.",
    )
    subparsers = parser.add_subparsers(title="commands", dest="command", required=True)
    _add_verify(subparsers)
    _add_ode(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        status = args.handler(args)
    except (ValueError, ImportError) as error:
        print(f"cellbench {args.command}: error: {error}", file=sys.stderr)
        return 2
    print(f"[{args.command} took {time.perf_counter() - started:.1f} s]", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
