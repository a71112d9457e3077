"""Record GPU measurements: every GPU kernel over the validation problems, one CSV.

Run on a machine with an NVIDIA GPU and Triton::

    python -m kernels.gpu.record                      # -> kernels/measurements/gpu-<device>-<date>.csv
    python -m kernels.gpu.record -o out.csv --dtype bf16 --quick

Each (kernel, problem) pair is timed with CUDA events by ``kernels.measure.measure``;
``torch-sdpa`` on CUDA is recorded alongside as the reference. Problems a kernel does
not run (prefill for the decode kernel and the reverse, GEMMs) are skipped; a failure
is reported and the rest continue, so one bad pair never costs the whole recording.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from kernels.measure import (
    MeasureError,
    cuda_available,
    measure,
    measurements_dir,
    write_measurements,
)
from kernels.problems import GemmShape, validation_problems

KERNELS = ("triton-flash", "triton-decode", "torch-sdpa")


def _runs(kernel: str, phase: str) -> bool:
    if kernel == "triton-flash":
        return phase == "prefill"
    if kernel == "triton-decode":
        return phase == "decode"
    return True


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code (2 without a GPU or Triton)."""
    parser = argparse.ArgumentParser(
        prog="python -m kernels.gpu.record", description=__doc__.split("\n")[0]
    )
    parser.add_argument("-o", "--output", type=Path, help="CSV to append to")
    parser.add_argument("--dtype", default="fp16", choices=("fp16", "bf16", "fp32"))
    parser.add_argument("--kernels", default=",".join(KERNELS), help="comma-separated kernel names")
    parser.add_argument(
        "--min-time", type=float, default=0.2, help="seconds of timed calls per pair"
    )
    parser.add_argument("--quick", action="store_true", help="only problems with N <= 4096")
    args = parser.parse_args(argv)
    ok, why = cuda_available()
    if not ok:
        sys.stderr.write(f"record: error: {why}; run this on a machine with an NVIDIA GPU" + "\n")
        return 2
    from kernels.gpu import triton_available

    ok, why = triton_available()
    if not ok:
        sys.stderr.write(f"record: error: {why}" + "\n")
        return 2
    import torch

    name = re.sub(r"[^a-z0-9]+", "-", torch.cuda.get_device_name().lower()).strip("-")
    day = _dt.datetime.now(_dt.UTC).strftime("%Y%m%d")
    out = args.output or measurements_dir() / f"gpu-{name}-{day}.csv"
    failures = 0
    for problem in validation_problems("gpu"):
        if isinstance(problem, GemmShape):
            continue
        if args.quick and problem.kv_len > 4096:
            continue
        for kernel in args.kernels.split(","):
            if not _runs(kernel, problem.phase):
                continue
            label = f"{kernel} {problem.mask.kind} B{problem.batch} H{problem.q_heads}/{problem.kv_heads} q{problem.q_len} kv{problem.kv_len} d{problem.head_dim_qk}"
            try:
                m = measure(
                    kernel, problem, device="cuda", dtype=args.dtype, min_time_s=args.min_time
                )
            except (MeasureError, RuntimeError, ValueError) as exc:
                failures += 1
                sys.stderr.write(f"FAILED {label}: {str(exc).splitlines()[0]}" + "\n")
                continue
            write_measurements(out, [m])
            sys.stdout.write(
                f"{label}: {m.median_s * 1e3:.3f} ms ({m.gflops / 1e3:.1f} TFLOP/s)" + "\n"
            )
    sys.stdout.write(f"wrote {out}; {failures} failures" + "\n")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
