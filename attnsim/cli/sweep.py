"""``attnsim sweep``: run a design-space sweep, or plan one.

    attnsim sweep SPEC -o RESULTS [--executor local|dask|serial] [--scheduler ADDR] [--workers N]
    attnsim sweep plan SPEC [--results RESULTS] [--workers N] [--timed-points K] [--json]

Re-running the same command resumes: finished runs are found in RESULTS by their content
key and only the rest are simulated. Bad specs exit 2 with one line per problem.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

from rich.console import Console
from rich.table import Table

from attnsim.hwconfigs import HardwareConfigError
from attnsim.sweep.errors import SweepError
from attnsim.workloads import WorkloadError

ERRORS: tuple[type[BaseException], ...] = (SweepError, HardwareConfigError, WorkloadError)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``attnsim sweep``."""
    p = sub.add_parser(
        "sweep",
        help="run a design-space sweep (or 'sweep plan SPEC' to plan one)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "spec",
        nargs="+",
        metavar="[plan] SPEC",
        help="the sweep spec YAML (prefix 'plan' to plan only)",
    )
    p.add_argument(
        "-o",
        "--out",
        metavar="RESULTS",
        help="results folder (created if its parent exists; re-use it to resume)",
    )
    p.add_argument(
        "--executor", default="local", help="local (process pool, default), dask, or serial"
    )
    p.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="Dask scheduler address (default: a LocalCluster on loopback)",
    )
    p.add_argument(
        "--workers", type=int, metavar="N", help="worker processes (default: the CPUs available)"
    )
    p.add_argument(
        "--retry-failed",
        action="store_true",
        help="simulate again the runs that failed or timed out before",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--results", metavar="RESULTS", help="(plan) count the runs already in this results folder"
    )
    p.add_argument(
        "--timed-points",
        type=int,
        default=3,
        metavar="K",
        help="(plan) points to simulate for the time estimate (default 3)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def _duration(seconds: float) -> str:
    if math.isnan(seconds):
        return "-"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _plan(args: argparse.Namespace, path: str) -> int:
    from attnsim.sweep import load_spec, plan_sweep

    if args.timed_points < 0:
        raise SweepError(f"--timed-points: {args.timed_points}; expected 0 or more")
    spec = load_spec(path)
    plan = plan_sweep(
        spec, timed_points=args.timed_points, workers=args.workers, results=args.results
    )
    if args.json:
        print(json.dumps(plan.to_dict(), indent=2))
        return 0
    table = Table(title=f"sweep plan: {spec.name} ({spec.strategy.kind} over {spec.base})")
    table.add_column("", justify="left")
    table.add_column("", justify="right")
    rows: list[tuple[str, Any]] = [
        ("points", plan.points),
        ("grid size", plan.grid_size),
        ("workloads per point", plan.workloads),
        ("runs (points x workloads)", plan.points * plan.workloads),
        ("invalid variants (target loader refuses)", plan.invalid),
        ("pruned before simulation (target-only constraints)", plan.pruned),
        ("runs already in the results folder", plan.cached_runs),
        ("runs to simulate", plan.runs_to_simulate),
        ("seconds per run (timed)", f"{plan.seconds_per_run:.3f} ({plan.timed_runs} runs)"),
        (f"estimated time on {plan.workers} workers", _duration(plan.estimate_s)),
    ]
    for k, v in rows:
        table.add_row(k, str(v))
    console = Console(width=None if sys.stdout.isatty() else 160)
    console.print(table)
    for note in plan.notes:
        console.print(f"note: {note}")
    return 0


def run(args: argparse.Namespace) -> int:
    """Run the command; returns the exit code."""
    words = args.spec
    if len(words) == 2 and words[0] == "plan":
        return _plan(args, words[1])
    if len(words) != 1:
        raise SweepError(
            f"attnsim sweep: {' '.join(words)}: expected 'attnsim sweep SPEC -o RESULTS' or "
            "'attnsim sweep plan SPEC'"
        )
    if not args.out:
        raise SweepError("-o: missing; expected the results folder (attnsim sweep SPEC -o RESULTS)")
    from attnsim.api import sweep

    console = Console(stderr=True)
    table = sweep(
        words[0],
        args.out,
        executor=args.executor,
        workers=args.workers,
        scheduler=args.scheduler,
        progress=not args.no_progress and not args.json,
        retry_failed=args.retry_failed,
    )
    summary = table.attrs.get("summary", {})
    if args.json:
        print(json.dumps({"results": str(args.out), "summary": summary}, indent=2, default=str))
        return 0
    by = summary.get("points_by_status", {})
    console.print(
        f"{summary.get('points', 0)} points x {summary.get('workloads', 0)} workloads in "
        f"{_duration(summary.get('elapsed_s', math.nan))} "
        f"({summary.get('points_per_s', math.nan):.2f} points/s on {summary.get('workers')} "
        f"{summary.get('executor')} workers): "
        + ", ".join(f"{v} {k}" for k, v in by.items() if v)
        + f"; simulated {summary.get('simulated_runs', 0)} runs, reused {summary.get('reused_runs', 0)}"
    )
    print(
        f"results: {args.out} (results.parquet, points.parquet, ops.parquet); report: attnsim report {args.out} -o REPORT"
    )
    return 0
