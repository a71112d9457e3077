"""Benchmark: the numba CPU kernels against torch's CPU SDPA, and sparse-vs-dense speedups.

For each problem (dense, causal, sliding window, 2-D neighborhood, block-sparse at several
densities; N = 1k..4k tokens; head dim 64 and 128) it times ``numba-flash`` and
``torch-sdpa`` with ``kernels.measure.measure`` (threads pinned, median of repeated
calls) and reports useful GFLOP/s (live pairs only: ``4 * B * H * live_pairs * d``).
For the sparse masks it reports the measured speedup of the numba kernel over the dense
numba kernel at the same size next to the ideal ``1 / density``: the speedup growing
with sparsity is the evidence that dead tiles are skipped. Speedups are given from the
medians and from the fastest calls (``min``), which other processes on a shared
machine disturb least.

    .venv/bin/python benchmarks/bench_kernels.py            # full table (a few minutes)
    .venv/bin/python benchmarks/bench_kernels.py --quick    # N = 1024, 2048; d = 64

Writes ``benchmarks/results/bench_kernels.csv``.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import sys
from pathlib import Path

from attnsim.kernels.cpu import kernel_schedule
from attnsim.kernels.measure import cpu_model, measure
from attnsim.workloads.masks import (
    BlockSparseMask,
    CausalMask,
    FullMask,
    MaskPattern,
    NeighborhoodMask,
    SlidingWindowMask,
)
from attnsim.workloads.spec import AttentionSpec
from attnsim.workloads.synthetic import random_block_layout

RESULTS = Path(__file__).resolve().parent / "results" / "bench_kernels.csv"
DENSITIES = (0.5, 0.25, 0.1, 0.05)


def _grid(n: int) -> tuple[int, int]:
    side = math.isqrt(n)
    while n % side:
        side -= 1
    return side, n // side


def masks(n: int, block: int) -> list[tuple[str, MaskPattern]]:
    """The masks benchmarked at ``n`` tokens (block-sparse blocks of ``block`` tokens)."""
    out: list[tuple[str, MaskPattern]] = [
        ("dense", FullMask()),
        ("causal", CausalMask()),
        (f"window {n // 8}", SlidingWindowMask(left=n // 8 - 1)),
    ]
    grid = _grid(n)
    out.append((f"NA {grid[0]}x{grid[1]} w13", NeighborhoodMask(grid, (13, 13))))
    for dens in DENSITIES:
        layout = random_block_layout(n, n, block, dens, seed=n)
        out.append((f"block-sparse {dens:g}", BlockSparseMask(block, block, layout)))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="N = 1024, 2048 and d = 64 only")
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--block-q", type=int, default=64)
    parser.add_argument("--block-k", type=int, default=64)
    parser.add_argument("--min-time", type=float, default=0.5, help="timed seconds per case")
    parser.add_argument("--no-sdpa", action="store_true", help="skip torch SDPA")
    parser.add_argument("-o", "--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    lengths = (1024, 2048) if args.quick else (1024, 2048, 4096)
    dims = (64,) if args.quick else (64, 128)
    kernels = ("numba-flash",) if args.no_sdpa else ("numba-flash", "torch-sdpa")
    rows: list[dict[str, object]] = []
    print(
        f"CPU: {cpu_model()}, {args.threads} threads; numba tiles {args.block_q}x{args.block_k}; "
        f"load average at start {os.getloadavg()[0]:.2f} (other processes disturb timings)"
    )
    header = (
        f"{'mask':<22}{'N':>6}{'d':>5}{'density':>9}{'kernel':>13}{'ms':>10}{'GFLOP/s':>9}"
        f"{'tiles f/p':>11}{'vs dense':>10}{'(min)':>8}{'ideal':>7}{'numba/sdpa':>11}"
    )
    print(header)
    print("-" * len(header))
    for n in lengths:
        for d in dims:
            dense_ms = dense_min_ms = 0.0
            for label, mask in masks(n, args.block_k):
                spec = AttentionSpec(1, args.heads, args.heads, n, n, d, d, "prefill", mask)
                density = spec.density
                sched = kernel_schedule(mask, n, n, args.block_q, args.block_k)
                times: dict[str, float] = {}
                for kernel in kernels:
                    m = measure(
                        kernel, spec, threads=args.threads, min_time_s=args.min_time,
                        min_repeats=5, warmup=1, block_q=args.block_q, block_k=args.block_k,
                    )  # fmt: skip
                    times[kernel] = m.median_s
                    if label == "dense" and kernel == "numba-flash":
                        dense_ms, dense_min_ms = m.median_s * 1e3, m.min_s * 1e3
                    flash = kernel == "numba-flash"
                    speedup = dense_ms / (m.median_s * 1e3) if flash else float("nan")
                    speedup_min = dense_min_ms / (m.min_s * 1e3) if flash else float("nan")
                    ratio = (
                        times["numba-flash"] / times["torch-sdpa"]
                        if "torch-sdpa" in times
                        else float("nan")
                    )
                    row = {
                        "mask": label, "n": n, "head_dim": d, "heads": args.heads,
                        "density": round(density, 5), "kernel": kernel,
                        "median_ms": round(m.median_s * 1e3, 3), "p25_ms": round(m.p25_s * 1e3, 3),
                        "p75_ms": round(m.p75_s * 1e3, 3), "gflops": round(m.gflops, 2),
                        "tiles_full": sched.full_tiles, "tiles_partial": sched.partial_tiles,
                        "tiles_total": sched.num_q_blocks * sched.num_k_blocks,
                        "min_ms": round(m.min_s * 1e3, 3), "max_ms": round(m.max_s * 1e3, 3),
                        "repeats": m.repeats, "preempted": m.preempted,
                        "unreliable": m.unreliable,
                        "speedup_vs_dense_numba": round(speedup, 3) if kernel == "numba-flash" else "",
                        "speedup_vs_dense_numba_min": (
                            round(speedup_min, 3) if kernel == "numba-flash" else ""
                        ),
                        "ideal_speedup": round(1.0 / density, 3),
                        "numba_over_sdpa_time": round(ratio, 3) if kernel == "torch-sdpa" else "",
                        "threads": m.threads, "block_q": args.block_q, "block_k": args.block_k,
                        "cpu": m.device_name, "date_utc": m.date_utc, "how": m.how,
                    }  # fmt: skip
                    rows.append(row)
                    tiles = (
                        f"{sched.full_tiles}/{sched.partial_tiles}"
                        if kernel == "numba-flash"
                        else ""
                    )
                    print(
                        f"{label:<22}{n:>6}{d:>5}{density:>9.3f}{kernel:>13}{m.median_s * 1e3:>10.2f}"
                        f"{m.gflops:>9.1f}{tiles:>11}"
                        f"{(f'{speedup:.2f}x' if kernel == 'numba-flash' else ''):>10}"
                        f"{(f'{speedup_min:.2f}x' if kernel == 'numba-flash' else ''):>8}"
                        f"{(f'{1 / density:.1f}x' if kernel == 'numba-flash' else ''):>7}"
                        f"{(f'{ratio:.2f}' if kernel == 'torch-sdpa' else ''):>11}"
                        + (f"  unreliable: {m.unreliable}" if m.unreliable else ""),
                        flush=True,
                    )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    with args.output.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
