"""Benchmark: attnsim's GPU predictions against published measurements, with an ablation.

Runs ``attnsim validate --published`` (attnsim.published.validate_published) on every
expressible entry of sim/calibration/published_kernels.yaml with every mechanism on, then
once per mechanism with that mechanism switched off (``LoweringOptions.disable``), and
reports for each run the median and p90 |error| of absolute times, the median signed
error, the worst GPU/kernel group median, and the median and p90 |error| of the
sparse-over-dense speedups. Prints two tables and writes

* benchmarks/results/bench_published.csv: one row per run (the ablation);
* benchmarks/results/bench_published_groups.csv: the full model's groups (GPU x kernel);
* benchmarks/results/bench_published_cases.csv: the full model's entries.

Targets (issue #9): median |error| <= 10% on times and on speedups, no GPU/kernel group
with a median worse than 20%. Nothing is fitted here: the set is a test.

    .venv/bin/python benchmarks/bench_published.py [--jobs 2] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd
from attnsim.sim import LoweringOptions
from attnsim.sim.lowering.registry import MECHANISMS
from rich.console import Console
from rich.table import Table

from attnsim.published import published_frames, validate_published

OUT = Path(__file__).parent / "results"


def run_one(disabled: str | None) -> tuple[dict, pd.DataFrame | None, pd.DataFrame | None]:
    """One validation run with ``disabled`` switched off (None: the full model)."""
    t0 = time.perf_counter()
    options = LoweringOptions(disable=frozenset({disabled} if disabled else set()))
    report = validate_published(options=options)
    wall = time.perf_counter() - t0
    s = report.summary()
    groups = s["by_gpu_and_kernel"]
    worst = max(groups.items(), key=lambda kv: kv[1]["median_abs_rel_error"] or 0.0)
    row = {
        "mechanism_off": disabled or "(none: full model)",
        "entries": s["times"]["n"],
        "median_abs_err": s["times"]["median_abs_rel_error"],
        "p90_abs_err": s["times"]["p90_abs_rel_error"],
        "median_err": s["times"]["median_rel_error"],
        "worst_group": worst[0],
        "worst_group_median_abs_err": worst[1]["median_abs_rel_error"],
        "speedups": s["speedups"]["n"],
        "speedups_median_abs_err": s["speedups"]["median_abs_rel_error"],
        "speedups_p90_abs_err": s["speedups"]["p90_abs_rel_error"],
        "wall_s": wall,
    }
    if disabled is None:
        frames = published_frames(report)
        return row, frames["summary"], frames["cases"]
    return row, None, None


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    ap.add_argument("--only", nargs="*", metavar="NAME", help="ablate only these mechanisms")
    args = ap.parse_args()
    names = args.only if args.only is not None else sorted(MECHANISMS)
    runs: list[str | None] = [None, *names]
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        results = list(pool.map(run_one, runs))
    rows = [r for r, _, _ in results]
    summary, cases = results[0][1], results[0][2]
    assert summary is not None and cases is not None
    OUT.mkdir(parents=True, exist_ok=True)
    ablation = pd.DataFrame(rows)
    ablation.to_csv(OUT / "bench_published.csv", index=False)
    summary.to_csv(OUT / "bench_published_groups.csv", index=False)
    cases.to_csv(OUT / "bench_published_cases.csv", index=False)

    console = Console(width=180)

    def pct(x: object) -> str:
        return "-" if not isinstance(x, int | float) else f"{x:.1%}"

    t = Table(title="published validation, full model: |error| by group")
    for col in ("group", "n", "median |err|", "p90 |err|", "median err"):
        t.add_column(col, justify="left" if col == "group" else "right")
    for _, g in summary.iterrows():
        t.add_row(
            str(g["group"]),
            str(g["n"]),
            pct(g["median_abs_rel_error"]),
            pct(g["p90_abs_rel_error"]),
            pct(g["median_rel_error"]),
        )
    console.print(t)
    a = Table(title="ablation: each mechanism off, one at a time")
    for col in (
        "mechanism off",
        "median |err|",
        "p90 |err|",
        "median err",
        "worst group (median |err|)",
        "speedups median |err|",
        "speedups p90",
        "wall (s)",
    ):
        a.add_column(col, justify="left" if col.startswith(("mech", "worst")) else "right")
    for r in rows:
        a.add_row(
            r["mechanism_off"],
            pct(r["median_abs_err"]),
            pct(r["p90_abs_err"]),
            pct(r["median_err"]),
            f"{r['worst_group']} ({pct(r['worst_group_median_abs_err'])})",
            pct(r["speedups_median_abs_err"]),
            pct(r["speedups_p90_abs_err"]),
            f"{r['wall_s']:.0f}",
        )
    console.print(a)
    print(f"wrote {OUT / 'bench_published.csv'} (+ _groups, _cases)")


if __name__ == "__main__":
    main()
