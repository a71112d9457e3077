"""Benchmark: prediction accuracy on this machine, three runs in a row.

Runs the CPU validation suite (46 attention problems, 512 to 8192 tokens,
``attnsim.validation.suite("cpu")``) live, ``--runs`` times in a row, the way a user
does: ``attnsim validate`` with no flags. With ``--fresh`` (the default) the runs start
from an empty cache folder, as on a machine attnsim has never seen, so the first run
measures this machine's ``host-cpu`` target first and the later runs reuse it. Each run
reports the median and 90th percentile of |relative error| of absolute times and of
speedups over dense, over the cases whose measurement is reliable, how many were left
out as unreliable (preempted or bimodal runs), and the load average before and after.

``--modes default,calibrate`` also runs ``attnsim validate --calibrate`` (the kernel's
building blocks re-timed at each case's block shape just before it) after each default
run.

Prints a table and writes ``benchmarks/results/bench_validation.csv`` (one row per run
and mode) and ``benchmarks/results/validation_cases.csv`` (every case of every run).

    .venv/bin/python benchmarks/bench_validation.py [--runs 3] [--modes default,calibrate]
        [--threads N] [--keep-cache]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import tempfile
import time
from pathlib import Path

import pandas as pd
from attnsim.kernels.measure import cpu_model
from rich.console import Console
from rich.table import Table

from attnsim.hosttarget import CACHE_ENV, host_target_path
from attnsim.validation import validate_live

OUT = Path(__file__).parent / "results"
MODES = {"default": False, "calibrate": True}


def _load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.1%}"


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--modes", default="default", help="comma-separated: default, calibrate")
    ap.add_argument("--threads", type=int, help="CPU threads (default: all)")
    ap.add_argument(
        "--keep-cache",
        action="store_true",
        help="use the user's cached host-cpu target instead of starting from an empty cache",
    )
    args = ap.parse_args()
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = [m for m in modes if m not in MODES]
    if unknown:
        ap.error(f"--modes: unknown {', '.join(unknown)}; expected default, calibrate")
    console = Console(width=160)
    scratch = None
    if not args.keep_cache:
        scratch = tempfile.TemporaryDirectory(prefix="attnsim-cache-")
        os.environ[CACHE_ENV] = scratch.name
        console.print(f"fresh cache folder {scratch.name}: the first run measures this machine")
    rows, cases = [], []
    for run in range(1, args.runs + 1):
        for mode in modes:
            fresh = not host_target_path().exists()
            load_before = _load()
            start = time.perf_counter()
            report, _ = validate_live(
                "cpu",
                threads=args.threads,
                per_case_rates=MODES[mode],
                announce=lambda line: console.print(line, highlight=False),
            )
            elapsed = time.perf_counter() - start
            s = report.summary()
            rows.append(
                {
                    "run": run,
                    "mode": mode,
                    "calibrated_first": fresh,
                    "cases": s["cases"],
                    "cases_counted": s["cases_counted"],
                    "unreliable_cases": s["unreliable_cases"],
                    "median_abs_rel_error": s["median_abs_rel_error"],
                    "p90_abs_rel_error": s["p90_abs_rel_error"],
                    "speedups_counted": s["speedups_counted"],
                    "speedups_median_abs_rel_error": s["speedups_median_abs_rel_error"],
                    "speedups_p90_abs_rel_error": s["speedups_p90_abs_rel_error"],
                    "load_before_1_5_15min": load_before,
                    "load_after_1_5_15min": _load(),
                    "elapsed_s": round(elapsed, 1),
                    "cpu": cpu_model(),
                    "date_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                    "notes": " | ".join(report.notes),
                }
            )
            for case in report.to_dict()["cases"]:
                cases.append({"run": run, "mode": mode, **case})
            console.print(
                f"run {run} {mode}: {s['cases_counted']}/{s['cases']} cases counted, median "
                f"|err| {_pct(s['median_abs_rel_error'])}, speedups "
                f"{_pct(s['speedups_median_abs_rel_error'])}; load {load_before} -> {_load()}",
                highlight=False,
            )
    OUT.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(OUT / "bench_validation.csv", index=False)
    pd.DataFrame(cases).to_csv(OUT / "validation_cases.csv", index=False)
    table = Table(title=f"prediction accuracy on this CPU ({rows[0]['cases']} attention problems)")
    for col in (
        "run",
        "mode",
        "counted",
        "median |err|",
        "p90 |err|",
        "speedups median |err|",
        "speedups p90 |err|",
        "load before / after (1/5/15 min)",
    ):
        table.add_column(col, justify="left" if col in ("mode",) else "right")
    for r in rows:
        table.add_row(
            str(r["run"]),
            r["mode"] + (" (calibrated first)" if r["calibrated_first"] else ""),
            f"{r['cases_counted']}/{r['cases']}",
            _pct(r["median_abs_rel_error"]),
            _pct(r["p90_abs_rel_error"]),
            _pct(r["speedups_median_abs_rel_error"]),
            _pct(r["speedups_p90_abs_rel_error"]),
            f"{r['load_before_1_5_15min']} / {r['load_after_1_5_15min']}",
        )
    console.print(table)
    console.print(f"wrote {OUT / 'bench_validation.csv'} and {OUT / 'validation_cases.csv'}")
    if scratch is not None:
        scratch.cleanup()


if __name__ == "__main__":
    main()
