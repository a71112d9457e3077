"""Benchmark: how fast attnsim sweeps a design space (not how fast the designs are).

Runs the 1,000-point H100 grid of examples/sweep-h100-grid.yaml (SM count x HBM
bandwidth x L2 size x SM clock, Llama-3-8B prefill at 8192 tokens) and measures, in one
interleaved session on this machine:

  * local   -- the process pool (--workers, default 2) into a fresh results folder:
               points/s (goal: the whole grid in under 120 s on 2 workers);
  * dask    -- the same sweep on a Dask LocalCluster with the same workers: its
               overhead against local (ratio of wall times);
  * resume  -- the local command again on the finished folder: the cost of resuming
               (goal: seconds).

The sweep's own wall time (``elapsed``) excludes building the workloads (tracing the
model, ~4 s, once per sweep); ``total`` is the whole API call. ``sim CPU`` is the CPU time
the workers spent simulating (thread CPU time, insensitive to other tenants), and the
idle-core projection is sim CPU / workers + the parent's CPU: what the run would take on
idle cores. Prints a table with the
load average (the machine is shared: compare ratios from one run) and writes
benchmarks/results/bench_sweep.csv.

    .venv/bin/python benchmarks/bench_sweep.py [--workers 2] [--skip-dask]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.table import Table

from attnsim.sweep import load_spec, run_sweep

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "examples" / "sweep-h100-grid.yaml"
OUT = Path(__file__).parent / "results" / "bench_sweep.csv"


def _run(label: str, spec, folder: Path, workers: int, executor: str = "local") -> dict:
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    run = run_sweep(spec, folder, executor=executor, workers=workers)
    total = time.perf_counter() - t0
    s = run.summary
    return {
        "case": label,
        "executor": executor,
        "workers": workers,
        "points": s["points"],
        "simulated_runs": s["simulated_runs"],
        "reused_runs": s["reused_runs"],
        "ok_points": s["points_by_status"].get("ok", 0),
        "pruned_points": s["points_by_status"].get("pruned", 0),
        "elapsed_s": s["elapsed_s"],
        "total_s": total,
        "points_per_s": s["points"] / s["elapsed_s"],
        "sim_cpu_s": s["sim_cpu_s"],
        "parent_cpu_s": s["parent_cpu_s"],
        # what the same CPU work would take on `workers` idle cores
        "projected_idle_s": s["sim_cpu_s"] / workers + s["parent_cpu_s"],
        "loadavg_1min_start": load,
        "loadavg_1min_end": os.getloadavg()[0],
    }


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--skip-dask", action="store_true")
    args = ap.parse_args()
    spec = load_spec(SPEC)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as tmp:
        base = Path(tmp)
        rows.append(_run("grid, fresh", spec, base / "local", args.workers))
        if not args.skip_dask:
            rows.append(_run("grid, fresh", spec, base / "dask", args.workers, executor="dask"))
        rows.append(_run("grid, resume (finished)", spec, base / "local", args.workers))
    df = pd.DataFrame(rows)
    df.insert(0, "machine", f"{platform.processor() or platform.machine()} x{os.cpu_count()}")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(OUT, index=False)
    table = Table(
        title=f"sweep speed: {SPEC.name} ({spec.grid_size} points, Llama-3-8B prefill 8k)"
    )
    cols = ("case", "executor", "workers", "points", "simulated", "elapsed (s)", "points/s",
            "sim CPU (s)", "idle-core projection (s)", "load avg")  # fmt: skip
    for col in cols:
        table.add_column(col, justify="left" if col in ("case", "executor") else "right")
    for r in rows:
        table.add_row(
            r["case"],
            r["executor"],
            str(r["workers"]),
            str(r["points"]),
            str(r["simulated_runs"]),
            f"{r['elapsed_s']:.1f}",
            f"{r['points_per_s']:.1f}",
            f"{r['sim_cpu_s']:.1f}",
            f"{r['projected_idle_s']:.1f}",
            f"{r['loadavg_1min_start']:.1f} -> {r['loadavg_1min_end']:.1f}",
        )
    console = Console(width=160)
    console.print(table)
    local = df[(df["executor"] == "local") & (df["case"] == "grid, fresh")]
    dask = df[(df["executor"] == "dask")]
    if len(local) and len(dask):
        console.print(
            f"Dask / local wall time: {dask['elapsed_s'].iloc[0] / local['elapsed_s'].iloc[0]:.2f}x"
        )
    console.print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
