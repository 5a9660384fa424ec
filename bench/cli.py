"""The `cellbench` command line.

cellbench verify [--cells ...] [--dtype float32 float64] [--backends torch tf] [--json PATH]
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cellbench",
        description="Benchmark harness for recurrent cells (CfC, LTC, LSTM, GRU) in PyTorch and "
        "TensorFlow/Keras 3, checked against one float64 numpy reference.",
    )
    subparsers = parser.add_subparsers(title="commands", dest="command", required=True)
    _add_verify(subparsers)
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
