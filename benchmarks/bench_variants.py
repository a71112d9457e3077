"""Benchmark: predicted speedup of every attention variant over the op it replaces.

For each variant of ``attnsim workload --list`` (workloads/variants.py) and each sequence
length, simulates the variant's workload (routing/search ops included) and its baseline
(dense attention of the same sizes — causal for causal variants; the GELU MLP for KAT)
on the H100 and on the ternary edge target ``vitallm-16nm`` (the ``vitallm-pipeline``
family), through :func:`attnsim.variant_table.variant_rows` — the same table as
``attnsim workload --list`` — and reports ``baseline latency / variant latency``. A
variant that needs an engine the ternary chip lacks (bf16 GEMMs, fp32 vector work) says
``n/a`` there, with the target's reason in the CSV. Prints a table, writes
benchmarks/results/bench_variants.csv (one row per variant, target and length, with both
latencies) and, with ``--markdown FILE``, the table as Markdown for docs/VARIANTS.md.

    .venv/bin/python benchmarks/bench_variants.py [--seqs 4096,16384,65536] [--markdown F]
        [--targets h100-sxm5-80gb,vitallm-16nm@1024+2304+4096]

A target written ``NAME@S1+S2`` is simulated at those lengths only (the edge chip's
120 KB of SRAM makes its long-sequence runs slow to simulate and far from its use).
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.table import Table

from attnsim.variant_table import DEFAULT_SEQS, DEFAULT_TARGETS, target_lengths, variant_rows

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
    targets = args.targets.split(",")
    lengths = target_lengths(targets, seqs)

    t0 = time.perf_counter()
    table_rows = variant_rows(targets=targets, seqs=seqs)
    wall = time.perf_counter() - t0

    csv = []
    for r in table_rows:
        for t, by in r.speedup.items():
            for s, speedup in by.items():
                base, var = r.seconds[t].get(s, (None, None))
                csv.append(
                    {
                        "variant": r.name,
                        "target": t,
                        "seq": s,
                        "baseline": r.baseline,
                        "baseline_s": base,
                        "variant_s": var,
                        "speedup": speedup,
                        "not_run": "" if speedup is not None else r.not_run.get(t, ""),
                    }
                )
    df = pd.DataFrame(csv)
    df["host"] = platform.node()
    df.to_csv(OUT, index=False)

    cols = [(t, s) for t in lengths for s in lengths[t]]
    table = Table(title=f"predicted speedup over the baseline ({wall:.0f} s to simulate)")
    table.add_column("variant")
    for t, s in cols:
        table.add_column(f"{t.split('-')[0]} {s / 1024:g}k", justify="right")
    md = ["| variant | " + " | ".join(f"{t} {s / 1024:g}k" for t, s in cols) + " |"]
    md.append("|" + "---|" * (len(cols) + 1))
    for r in table_rows:
        cells = ["n/a" if r.speedup[t][s] is None else f"{r.speedup[t][s]:.2f}x" for t, s in cols]
        table.add_row(r.name, *cells)
        md.append(f"| {r.name} | " + " | ".join(cells) + " |")
    Console(width=160).print(table)
    for reason in sorted({why for r in table_rows for why in r.not_run.values()}):
        print(f"n/a: {reason}")
    print(f"wrote {OUT}")
    if args.markdown:
        args.markdown.write_text("\n".join(md) + "\n")
        print(f"wrote {args.markdown}")


if __name__ == "__main__":
    main()
