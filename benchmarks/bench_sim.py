"""Benchmark: how fast attnsim simulates (not how fast the hardware is).

Measures, on this machine, the wall time of `sim.simulate` (tracing excluded) for
  * Llama-3-8B prefill at 32k tokens on h100-sxm5-80gb (target: under 1 s),
  * Llama-3-70B prefill at 128k tokens on b200 (its 141 GB of bf16 weights do not fit
    an 80 GB H100; the simulator refuses that with a one-line error),
and how wall time grows with sequence length for one causal attention op (it should
follow the number of distinct tiles and simulated jobs, not N^2), and, as a stress
case for the fluid pool, the 128k op with the K/V lockstep mechanism off (every tile
streams its K/V from HBM, which stays saturated: every event re-divides the HBM
bandwidth among the running tiles). Prints a table and writes
benchmarks/results/bench_sim.csv. Each figure is the median of --repeats runs.

    .venv/bin/python benchmarks/bench_sim.py [--repeats 3] [--quick]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

import pandas as pd
from attnsim.hwconfigs import load_hardware
from attnsim.sim import LoweringOptions, simulate
from attnsim.workloads import AttentionOp, AttentionSpec, Block, CausalMask, Workload
from rich.console import Console
from rich.table import Table

OUT = Path(__file__).parent / "results" / "bench_sim.csv"


def timed(fn, repeats: int) -> tuple[float, object]:
    walls, result = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        walls.append(time.perf_counter() - t0)
    return statistics.median(walls), result


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="skip the 70B model")
    args = ap.parse_args()
    from attnsim.workloads.zoo import build_workload

    hw = load_hardware("h100-sxm5-80gb")
    rows = []
    models = [("llama3-8b", 32768, hw)] + (
        [] if args.quick else [("llama3-70b", 131072, load_hardware("b200"))]
    )
    for model, seq, target in models:
        t0 = time.perf_counter()
        w = build_workload(model, batch=1, seq=seq, phase="prefill", dtype="bf16")
        trace_s = time.perf_counter() - t0
        wall, r = timed(lambda w=w, target=target: simulate(target, w), args.repeats)
        rows.append(
            {
                "case": f"{model} prefill {seq // 1024}k",
                "target": target.name,
                "wall_s": wall,
                "trace_s": trace_s,
                "predicted_s": r.latency_s,
                "ops": r.stats["ops"],
                "distinct_ops": r.stats["distinct_ops"],
                "tiles": r.stats["tiles"],
                "distinct_tiles": r.stats["distinct_tiles"],
                "jobs": r.stats["jobs"],
                "tiles_per_s": r.stats["tiles"] / wall,
            }
        )
    cases = [(seq, ()) for seq in (4096, 8192, 16384, 32768, 65536, 131072)]
    cases.append((131072, ("kv_lockstep",)))
    for seq, off in cases:
        spec = AttentionSpec(1, 32, 8, seq, seq, 128, 128, "prefill", CausalMask())
        w = Workload("causal", (Block("b", (AttentionOp("attn", "bf16", spec),), 1),), tokens=seq)
        options = LoweringOptions(disable=frozenset(off))
        wall, r = timed(lambda w=w, o=options: simulate(hw, w, options=o), args.repeats)
        rows.append(
            {
                "case": f"causal attention 32q/8kv heads, {seq // 1024}k"
                + (" (HBM saturated: kv_lockstep off)" if off else ""),
                "target": hw.name,
                "wall_s": wall,
                "trace_s": 0.0,
                "predicted_s": r.latency_s,
                "ops": 1,
                "distinct_ops": 1,
                "tiles": r.stats["tiles"],
                "distinct_tiles": r.stats["distinct_tiles"],
                "jobs": r.stats["jobs"],
                "tiles_per_s": r.stats["tiles"] / wall,
            }
        )
    frame = pd.DataFrame(rows)
    frame["machine"] = f"{platform.processor() or platform.machine()}, {platform.python_version()}"
    OUT.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(OUT, index=False)
    table = Table(title=f"attnsim simulation speed (median of {args.repeats})")
    for col in (
        "case",
        "target",
        "wall_s",
        "trace_s",
        "predicted_s",
        "tiles",
        "distinct_tiles",
        "jobs",
        "tiles_per_s",
    ):
        table.add_column(col, justify="left" if col == "case" else "right")
    for row in rows:
        table.add_row(
            row["case"],
            row["target"],
            f"{row['wall_s']:.3f}",
            f"{row['trace_s']:.1f}",
            f"{row['predicted_s'] * 1e3:.2f} ms",
            f"{row['tiles']:,}",
            f"{row['distinct_tiles']:,}",
            f"{row['jobs']:,}",
            f"{row['tiles_per_s']:,.0f}",
        )
    Console(width=160).print(table)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
