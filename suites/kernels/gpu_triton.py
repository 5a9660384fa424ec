"""Time the Triton kernels (impl="triton") on a CUDA GPU against cuDNN and ncps.

    python suites/kernels/gpu_triton.py [--repeats 50] [--warmup 10] [--tf32]

Two comparisons, float32, inference (torch.no_grad), default sizes from the kernel issue:

1. One CfC step against one cuDNN nn.LSTM step, B=256, input 256, hidden 256, backbone 256:
   - "triton_cfc_step_module": the whole module call with T=1 (input GEMM, weight concatenation,
     argument checks, one kernel launch);
   - "triton_cfc_step_kernel": the step kernel alone, given this step's input projection (what
     each step of a long sequence costs);
   - "cudnn_lstm_step": torch.nn.LSTM (cuDNN) on a length-1 sequence.
2. A whole LTC sequence, B=256, T=128, input 256, hidden 256 (fully connected, 6 unfolds):
   "triton_ltc_sequence" against "ncps_ltc_sequence" (ncps.torch.LTC with the same weights,
   skipped with the reason when ncps is not installed).

Each timing is torch.cuda.Event around one call, after `--warmup` untimed calls (Triton compiles
on the first), `--repeats` times; the JSON keeps median, min and max in milliseconds. Ratios are
medians, other / triton (> 1: Triton is faster). Before timing, the Triton outputs are compared
with impl="eager" (CfC) and ncps (LTC) on the same inputs, and the errors are recorded, so a
timing of a wrong kernel does not go unnoticed.

TF32 is off for matmuls and cuDNN unless `--tf32` (then on for both, and the Triton fp32 dots
use tf32 too): the comparison is like for like either way. Writes
results/kernels/gpu_triton.json atomically. Exits with status 2 and a message when there is no
CUDA GPU, or when TRITON_INTERPRET=1 would time the CPU interpreter instead of the kernels.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run as a plain script from anywhere
    sys.path.insert(0, str(ROOT))

DEFAULT_OUT = ROOT / "results" / "kernels" / "gpu_triton.json"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Time Triton CfC/LTC kernels against cuDNN nn.LSTM and ncps.torch LTC "
        "on a CUDA GPU; write JSON.",
    )
    parser.add_argument("--batch", type=int, default=256, help="batch size B (default 256)")
    parser.add_argument("--inputs", type=int, default=256, help="input features I (default 256)")
    parser.add_argument("--hidden", type=int, default=256, help="hidden units H (default 256)")
    parser.add_argument(
        "--backbone", type=int, default=256, help="CfC backbone units U (default 256)"
    )
    parser.add_argument(
        "--steps", type=int, default=128, help="LTC sequence length T (default 128)"
    )
    parser.add_argument("--warmup", type=int, default=10, help="untimed calls first (default 10)")
    parser.add_argument("--repeats", type=int, default=50, help="timed calls (default 50)")
    parser.add_argument(
        "--tf32", action="store_true", help="allow TF32 in matmuls, cuDNN and Triton dots"
    )
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"JSON output (default {DEFAULT_OUT})"
    )
    args = parser.parse_args(argv)
    for name in ("batch", "inputs", "hidden", "backbone", "steps", "repeats"):
        if getattr(args, name) < 1:
            parser.error(f"--{name}: expected an integer >= 1, got {getattr(args, name)}")
    if args.warmup < 1:
        parser.error(f"--warmup: expected >= 1 (the first call compiles), got {args.warmup}")
    return args


def cuda_time(torch, fn, warmup: int, repeats: int) -> dict:
    """Median/min/max milliseconds of `fn()` by CUDA events, after `warmup` untimed calls."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return {
        "median_ms": statistics.median(times),
        "min_ms": min(times),
        "max_ms": max(times),
        "repeats": repeats,
        "warmup": warmup,
    }


def _rel_err(torch, actual, expected) -> float:
    """Norm-wise relative error, as cells.numerics measures it."""
    from cells import numerics

    return numerics.errors(actual.double().cpu().numpy(), expected.double().cpu().numpy())[1]


def time_cfc_step(torch, args) -> dict:
    """One CfC step (Triton, module and kernel alone) against one cuDNN nn.LSTM step."""
    import cells
    import cells.torch as ct
    from cells.torch import triton_cell

    device = torch.device("cuda")
    b, i, h, u = args.batch, args.inputs, args.hidden, args.backbone
    spec = cells.get_spec("cfc", i, h, backbone_units=u)
    params = spec.init_params(0)
    module = ct.build(spec, params, "triton", dtype=torch.float32, device=device)
    eager = ct.build(spec, params, "eager", dtype=torch.float32, device=device)
    generator = torch.Generator(device="cpu").manual_seed(0)
    x = torch.randn(b, 1, i, generator=generator).to(device)
    h0 = (0.5 * torch.randn(b, h, generator=generator)).to(device)

    kernels = triton_cell.load_kernels()
    w = module.cfc_operands()
    xp = torch.addmm(w["first_b"], x[:, 0], w["first_w"][:i])  # this step's input projection
    ts = torch.ones(b, device=device)
    out = torch.empty(b, h, device=device)

    def kernel_step():
        kernels.cfc_step(
            xp, h0, out, ts, w["w_rec"], w["heads_w"], w["heads_b"], w["w_tau"], w["a"],
            mode=spec.mode, activation=spec.backbone_activation, backbone=True,
        )  # fmt: skip

    lstm = torch.nn.LSTM(i, h, batch_first=True).to(device)
    state = (h0[None].contiguous(), torch.zeros(1, b, h, device=device))
    results = {"shape": {"batch": b, "inputs": i, "hidden": h, "backbone": u}}
    with torch.no_grad():
        y_triton, _ = module(x, h0)
        y_eager, _ = eager(x, h0)
        kernel_step()
        results["max_rel_err_vs_eager"] = {
            "module": _rel_err(torch, y_triton, y_eager),
            "kernel": _rel_err(torch, out, y_eager[:, 0]),
        }
        results["triton_cfc_step_module"] = cuda_time(
            torch, lambda: module(x, h0), args.warmup, args.repeats
        )
        results["triton_cfc_step_kernel"] = cuda_time(torch, kernel_step, args.warmup, args.repeats)
        results["cudnn_lstm_step"] = cuda_time(
            torch, lambda: lstm(x, state), args.warmup, args.repeats
        )
    lstm_ms = results["cudnn_lstm_step"]["median_ms"]
    results["ratios"] = {
        "cudnn_lstm / triton_cfc_module": lstm_ms / results["triton_cfc_step_module"]["median_ms"],
        "cudnn_lstm / triton_cfc_kernel": lstm_ms / results["triton_cfc_step_kernel"]["median_ms"],
    }
    return results


def time_ltc_sequence(torch, args) -> dict:
    """A whole LTC sequence: Triton against ncps.torch.LTC with the same weights."""
    import cells
    import cells.torch as ct

    device = torch.device("cuda")
    b, t, i, h = args.batch, args.steps, args.inputs, args.hidden
    spec = cells.get_spec("ltc", i, h)
    params = spec.init_params(0)
    module = ct.build(spec, params, "triton", dtype=torch.float32, device=device)
    generator = torch.Generator(device="cpu").manual_seed(1)
    x = torch.randn(b, t, i, generator=generator).to(device)
    results = {"shape": {"batch": b, "steps": t, "inputs": i, "hidden": h}}
    with torch.no_grad():
        y_triton, _ = module(x)
        results["triton_ltc_sequence"] = cuda_time(
            torch, lambda: module(x), args.warmup, args.repeats
        )
        try:
            from cells import interop

            ncps_module = interop.to_ncps(spec, params, dtype="float32").to(device)
        except ImportError as error:
            results["ncps_ltc_sequence"] = {"skipped": str(error)}
            return results
        y_ncps, _ = ncps_module(x)
        results["max_rel_err_vs_ncps"] = _rel_err(torch, y_triton, y_ncps)
        results["ncps_ltc_sequence"] = cuda_time(
            torch, lambda: ncps_module(x), args.warmup, args.repeats
        )
    results["ratios"] = {
        "ncps_ltc / triton_ltc": results["ncps_ltc_sequence"]["median_ms"]
        / results["triton_ltc_sequence"]["median_ms"]
    }
    return results


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        import torch
    except ImportError:
        print("gpu_triton: needs PyTorch: pip install 'cellbench[torch,gpu]'", file=sys.stderr)
        return 2
    if not torch.cuda.is_available():
        print(
            "gpu_triton: needs a CUDA GPU, and torch.cuda.is_available() is False on this "
            "machine; nothing was timed",
            file=sys.stderr,
        )
        return 2
    if os.environ.get("TRITON_INTERPRET") == "1":
        print(
            "gpu_triton: TRITON_INTERPRET=1 would time Triton's CPU interpreter; unset it",
            file=sys.stderr,
        )
        return 2
    try:
        import triton
    except ImportError:
        print("gpu_triton: needs Triton: pip install 'cellbench[gpu]'", file=sys.stderr)
        return 2

    from bench.results import machine_info, write_json_atomic

    torch.backends.cuda.matmul.allow_tf32 = args.tf32
    torch.backends.cudnn.allow_tf32 = args.tf32
    torch.backends.cudnn.benchmark = True
    report = {
        "suite": "kernels/gpu_triton",
        "dtype": "float32",
        "tf32": args.tf32,
        "device": torch.cuda.get_device_name(0),
        "triton": triton.__version__,
        "cfc_step": time_cfc_step(torch, args),
        "ltc_sequence": time_ltc_sequence(torch, args),
        "machine": machine_info(),
    }
    write_json_atomic(args.out, report)
    for name in ("cfc_step", "ltc_sequence"):
        part = report[name]
        timings = {
            k: v["median_ms"] for k, v in part.items() if isinstance(v, dict) and "median_ms" in v
        }
        print(f"{name} {part['shape']}")
        for key, ms in timings.items():
            print(f"  {key:<26} {ms:9.3f} ms (median of {args.repeats})")
        for key, ratio in part.get("ratios", {}).items():
            print(f"  {key:<34} {ratio:6.2f}x")
        for key in ("max_rel_err_vs_eager", "max_rel_err_vs_ncps"):
            if key in part:
                print(f"  {key}: {part[key]}")
        if "skipped" in part.get("ncps_ltc_sequence", {}):
            print(f"  ncps skipped: {part['ncps_ltc_sequence']['skipped']}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
