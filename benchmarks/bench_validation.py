"""Benchmark: prediction accuracy on this machine, and how it varies run to run.

Runs the CPU validation suite (46 attention problems, 512 to 8192 tokens, `attnsim.validation.suite("cpu")`)
live, --runs times in each of two modes, and reports per run the median and 90th
percentile of |relative error| of absolute times and of speedups over dense:

  * ``calibrated-yaml`` — predictions on the bundled host-cpu target as `attnsim
    calibrate` last wrote it (the YAML in the repository);
  * ``per-case-rates`` — `attnsim validate --calibrate`: the kernel's building blocks
    (sgemm pair, online softmax, sgemm call cost) timed at each case's block shape just
    before the case, the memory hierarchy from the YAML.

Prints a table and writes benchmarks/results/bench_validation.csv (one row per run) and
benchmarks/results/validation_cases.csv (every case of the last per-case run).

    .venv/bin/python benchmarks/bench_validation.py [--runs 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
from pathlib import Path

import pandas as pd
from attnsim.kernels.measure import cpu_model
from rich.console import Console
from rich.table import Table

from attnsim.validation import validate_live

OUT = Path(__file__).parent / "results"


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    rows = []
    last = None
    for run in range(1, args.runs + 1):
        for mode in ("calibrated-yaml", "per-case-rates"):
            report, _ = validate_live("cpu", per_case_rates=(mode == "per-case-rates"))
            s = report.summary()
            rows.append(
                {
                    "run": run,
                    "mode": mode,
                    "cases": s["cases"],
                    "median_abs_rel_error": s["median_abs_rel_error"],
                    "p90_abs_rel_error": s["p90_abs_rel_error"],
                    "speedups": len(s["speedups"]),
                    "speedups_median_abs_rel_error": s["speedups_median_abs_rel_error"],
                    "speedups_p90_abs_rel_error": s["speedups_p90_abs_rel_error"],
                    "load_average": os.getloadavg()[0],
                    "cpu": cpu_model(),
                    "date_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                }
            )
            if mode == "per-case-rates":
                last = report
            print(
                f"run {run} {mode}: median {s['median_abs_rel_error']:.1%}, speedups {s['speedups_median_abs_rel_error']:.1%}"
            )
    OUT.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame(rows)
    frame.to_csv(OUT / "bench_validation.csv", index=False)
    if last is not None:
        pd.DataFrame(last.to_dict()["cases"]).to_csv(OUT / "validation_cases.csv", index=False)
    table = Table(title=f"prediction accuracy on this CPU ({rows[0]['cases']} attention problems)")
    for col in (
        "run",
        "mode",
        "median |err|",
        "p90 |err|",
        "speedups median |err|",
        "speedups p90 |err|",
    ):
        table.add_column(col, justify="left" if col == "mode" else "right")
    for r in rows:
        table.add_row(
            str(r["run"]), r["mode"], f"{r['median_abs_rel_error']:.1%}", f"{r['p90_abs_rel_error']:.1%}",
            f"{r['speedups_median_abs_rel_error']:.1%}", f"{r['speedups_p90_abs_rel_error']:.1%}",
        )  # fmt: skip
    Console(width=140).print(table)
    print(f"wrote {OUT / 'bench_validation.csv'}")


if __name__ == "__main__":
    main()
