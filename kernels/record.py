"""Record measurements of the bundled kernels over the validation problems into one CSV.

    python -m attnsim.kernels.record --device cpu             # numba kernels + torch SDPA on this CPU
    python -m attnsim.kernels.gpu.record                      # Triton kernels + torch SDPA on the GPU

Output defaults to ``kernels/measurements/<device>-<name>-<date>.csv``. Each (kernel,
problem) pair is timed by ``kernels.measure.measure``; kernels skip problems they do not
run (prefill kernels skip decode problems and the reverse; GEMM kernels run GEMMs). A
failing pair is reported and the rest go on, so one bad pair never costs the recording.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from attnsim.kernels.measure import (
    MeasureError,
    cpu_model,
    cuda_available,
    get_kernel,
    measure,
    measurements_dir,
    write_measurements,
)
from attnsim.kernels.problems import GemmShape, Problem, validation_problems

__all__ = ["DEFAULT_KERNELS", "record", "main"]

DEFAULT_KERNELS = {
    "cpu": ("numba-flash", "numba-decode", "numba-gemm", "torch-sdpa"),
    "cuda": ("triton-flash", "triton-decode", "torch-sdpa"),
}
_PREFILL_ONLY = ("numba-flash", "triton-flash")
_DECODE_ONLY = ("numba-decode", "triton-decode")


def runs(kernel: str, problem: Problem) -> bool:
    """Whether ``record`` times ``kernel`` on ``problem``."""
    ops = get_kernel(kernel).ops
    if isinstance(problem, GemmShape):
        return "gemm" in ops
    if "attention" not in ops:
        return False
    if kernel in _PREFILL_ONLY:
        return problem.phase == "prefill"
    if kernel in _DECODE_ONLY:
        return problem.phase == "decode"
    return True


def _label(kernel: str, p: Problem) -> str:
    if isinstance(p, GemmShape):
        return f"{kernel} gemm {p.m}x{p.n}x{p.k}"
    return (
        f"{kernel} {p.phase} {p.mask.kind} B{p.batch} H{p.q_heads}/{p.kv_heads} "
        f"q{p.q_len} kv{p.kv_len} d{p.head_dim_qk}"
    )


def record(
    device: str,
    out: Path,
    *,
    kernels: Sequence[str] | None = None,
    dtype: str | None = None,
    min_time_s: float = 0.2,
    max_len: int | None = None,
    threads: int | None = None,
    problems: Sequence[Problem] | None = None,
    log: object = sys.stdout,
) -> int:
    """Time every kernel on every validation problem of ``device`` (or on ``problems``);
    append one row per pair to ``out``.

    Returns the number of failed pairs. ``max_len`` drops problems with longer sequences.
    """
    names = tuple(kernels or DEFAULT_KERNELS[device])
    dt = dtype or ("fp16" if device == "cuda" else "fp32")
    failures = 0
    if problems is None:
        problems = validation_problems("gpu" if device == "cuda" else "cpu")
    for problem in problems:
        if max_len is not None and not isinstance(problem, GemmShape) and problem.kv_len > max_len:
            continue
        for kernel in names:
            if not runs(kernel, problem):
                continue
            label = _label(kernel, problem)
            try:
                m = measure(
                    kernel, problem, device=device, dtype=dt, min_time_s=min_time_s,
                    threads=threads if device == "cpu" else None,
                )  # fmt: skip
            except (MeasureError, RuntimeError, ValueError) as exc:
                failures += 1
                log.write(f"FAILED {label}: {str(exc).splitlines()[0]}\n")  # type: ignore[attr-defined]
                continue
            write_measurements(out, [m])
            flag = f"; unreliable: {m.unreliable}" if m.unreliable else ""
            log.write(  # type: ignore[attr-defined]
                f"{label}: {m.median_s * 1e3:.4g} ms ({m.gflops:.4g} GFLOP/s){flag}\n"
            )
    return failures


def default_output(device: str) -> Path:
    """``kernels/measurements/<device>-<device name>-<UTC date>.csv``."""
    if device == "cuda":
        import torch

        name = torch.cuda.get_device_name()
    else:
        name = cpu_model()
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    day = _dt.datetime.now(_dt.UTC).strftime("%Y%m%d")
    return measurements_dir() / f"{device}-{slug}-{day}.csv"


def main(argv: Sequence[str] | None = None, *, device: str | None = None) -> int:
    """Command line; exit 2 when the device cannot run its kernels, 1 on failed pairs."""
    parser = argparse.ArgumentParser(
        prog="python -m attnsim.kernels.record", description=(__doc__ or "").split("\n")[0]
    )
    if device is None:
        parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("-o", "--output", type=Path, help="CSV to append to")
    parser.add_argument("--dtype", choices=("fp32", "fp16", "bf16"))
    parser.add_argument("--kernels", help="comma-separated kernel names (default: the device's)")
    parser.add_argument("--min-time", type=float, default=0.2, help="timed seconds per pair")
    parser.add_argument("--threads", type=int, help="CPU threads (default all)")
    parser.add_argument("--quick", action="store_true", help="only sequences up to 4096 tokens")
    args = parser.parse_args(argv)
    dev = device or args.device
    if dev == "cuda":
        ok, why = cuda_available()
        if ok:
            from attnsim.kernels.gpu import triton_available

            ok, why = triton_available()
        if not ok:
            sys.stderr.write(f"record: error: {why}; run this on a machine with an NVIDIA GPU\n")
            return 2
    out = args.output or default_output(dev)
    kernels = args.kernels.split(",") if args.kernels else None
    failures = record(
        dev, out, kernels=kernels, dtype=args.dtype, min_time_s=args.min_time,
        max_len=4096 if args.quick else None, threads=args.threads,
    )  # fmt: skip
    sys.stdout.write(f"wrote {out}; {failures} failed pairs\n")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
