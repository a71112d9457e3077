"""Benchmark: predicted speedup of every attention variant over the op it replaces.

For each variant of ``attnsim workload --list`` (workloads/variants.py) and each sequence
length, simulates the variant's workload (routing/search ops included) and its baseline
(dense attention of the same sizes — causal for causal variants; the GELU MLP for KAT)
on the H100 and on the ternary edge target ``vitallm-16nm``, and reports
``baseline latency / variant latency``. The edge target runs attention through the
``vitallm-pipeline`` family; a variant that needs an engine the ternary chip lacks (bf16
GEMMs, fp32 vector work) says ``n/a`` there, with the target's reason in the CSV. Prints a table, writes benchmarks/results/bench_variants.csv (one row per
variant, target and length, with both latencies) and, with ``--markdown FILE``, the
table as Markdown for docs/VARIANTS.md.

    .venv/bin/python benchmarks/bench_variants.py [--seqs 4096,16384,65536] [--markdown F]
        [--targets h100-sxm5-80gb,vitallm-16nm@4096]

A target written ``NAME@S1+S2`` is simulated at those lengths only (the edge chip's
120 KB of SRAM makes its long-sequence runs slow to simulate and far from its use).
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import pandas as pd
from attnsim.hwconfigs import load_hardware
from attnsim.sim import simulate
from attnsim.sim.lowering import LoweringError
from attnsim.workloads.variants import list_variants
from rich.console import Console
from rich.table import Table

from attnsim.variant_table import DEFAULT_SEQS, DEFAULT_TARGETS, sizes_at, target_lengths

OUT = Path(__file__).parent / "results" / "bench_variants.csv"


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--seqs", default=",".join(map(str, DEFAULT_SEQS)))
    ap.add_argument("--targets", default=",".join(DEFAULT_TARGETS))
    ap.add_argument("--markdown", type=Path, help="also write the table as Markdown here")
    args = ap.parse_args()
    seqs = [int(s) for s in args.seqs.split(",")]
    seqs_of = target_lengths(args.targets.split(","), seqs)
    targets = list(seqs_of)
    hws = {t: load_hardware(t) for t in targets}
    memo: dict[object, float] = {}

    def latency(target: str, w) -> float:  # noqa: ANN001
        key = (target, tuple(op for _, op in w.flat()))
        if key not in memo:
            memo[key] = simulate(hws[target], w, check_capacity=False).latency_s
        return memo[key]

    rows = []
    t0 = time.perf_counter()
    for v in list_variants():
        for target in targets:
            for seq in seqs_of[target]:
                sizes = sizes_at(v, seq)
                row = {
                    "variant": v.name,
                    "target": target,
                    "seq": seq,
                    "baseline": v.baseline_label,
                }
                try:
                    base = latency(target, v.baseline(**sizes))
                    var = latency(target, v.build(**sizes))
                    row.update(baseline_s=base, variant_s=var, speedup=base / var, not_run="")
                except LoweringError as exc:
                    row.update(baseline_s=None, variant_s=None, speedup=None, not_run=str(exc))
                rows.append(row)
    wall = time.perf_counter() - t0
    df = pd.DataFrame(rows)
    df["host"] = platform.node()
    df.to_csv(OUT, index=False)

    table = Table(title=f"predicted speedup over the baseline ({wall:.0f} s to simulate)")
    table.add_column("variant")
    cols = [(t, s) for t in targets for s in seqs_of[t]]
    for t, s in cols:
        table.add_column(f"{t.split('-')[0]} {s // 1024}k", justify="right")
    md = ["| variant | " + " | ".join(f"{t} {s // 1024}k" for t, s in cols) + " |"]
    md.append("|" + "---|" * (len(cols) + 1))
    for v in list_variants():
        cells = []
        for t, s in cols:
            (r,) = [r for r in rows if (r["variant"], r["target"], r["seq"]) == (v.name, t, s)]
            cells.append("n/a" if r["speedup"] is None else f"{r['speedup']:.2f}x")
        table.add_row(v.name, *cells)
        md.append(f"| {v.name} | " + " | ".join(cells) + " |")
    Console(width=160).print(table)
    not_run = {r["not_run"] for r in rows if r["not_run"]}
    for reason in sorted(not_run):
        print(f"n/a: {reason}")
    print(f"wrote {OUT}")
    if args.markdown:
        args.markdown.write_text("\n".join(md) + "\n")
        print(f"wrote {args.markdown}")


if __name__ == "__main__":
    main()
