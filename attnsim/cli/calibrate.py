"""``attnsim calibrate``: measure this machine and write its ``host-cpu`` target (a thin
layer over :func:`attnsim.calibration.calibrate`).

Without ``-o`` it refreshes this machine's cached target (the one ``--hw host-cpu`` and
``attnsim validate`` use); with ``-o FILE`` it writes that file instead. Prints what was
measured (quantity, median, spread, unit) and the path written.
"""

from __future__ import annotations

import argparse
import json

from rich.console import Console
from rich.table import Table

from attnsim.calibration import (
    BAD_INPUT,
    TARGET_NAME,
    CalibrationError,
    calibrate,
    machine_description,
    summary_rows,
)
from attnsim.cli.progress import step_bar
from attnsim.hosttarget import CACHE_ENV
from attnsim.hwconfigs import HardwareConfigError
from attnsim.kernels.microbench import benchmark_steps

ERRORS: tuple[type[BaseException], ...] = (*BAD_INPUT, HardwareConfigError)


def _cmd_calibrate(args: argparse.Namespace) -> int:
    if args.threads is not None and args.threads < 1:
        raise CalibrationError(f"--threads: {args.threads}; expected an integer >= 1")
    err = Console(stderr=True)
    # refreshed by hand between benchmarks: a refresh thread would take a core from them
    with step_bar(err, auto_refresh=False) as bar:
        task = bar.add_task("calibrating", total=benchmark_steps())
        started = [0]

        def step(name: str) -> None:
            bar.update(task, completed=started[0], description=f"timing {name}")
            started[0] += 1
            bar.refresh()

        result = calibrate(
            output=args.output,
            threads=args.threads,
            quick=args.quick,
            progress=step,
            name=args.name,
        )
    mb = result.measurements
    if args.json:
        print(
            json.dumps(
                {
                    "machine": machine_description(mb.host),
                    "threads": mb.threads,
                    "date": mb.date,
                    "quick": mb.quick,
                    "path": str(result.path),
                    "elapsed_s": mb.elapsed_s,
                    "disturbed": list(mb.disturbed),
                    "measured": [
                        {
                            "quantity": name,
                            "unit": unit,
                            "median": stat.median / scale,
                            "min": stat.low / scale,
                            "max": stat.high / scale,
                            "spread": stat.spread,
                            "disturbed": bool(stat.disturbed),
                        }
                        for name, stat, scale, unit in summary_rows(mb)
                    ],
                },
                indent=2,
            )
        )
        return 0
    table = Table(
        title=f"{machine_description(mb.host)}: {mb.threads} threads, {mb.date}"
        + (" (quick)" if mb.quick else "")
    )
    for column, justify in (
        ("quantity", "left"),
        ("median", "right"),
        ("min..max", "right"),
        ("spread", "right"),
        ("unit", "left"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for name, stat, scale, unit in summary_rows(mb):
        table.add_row(
            name + (" (DISTURBED)" if stat.disturbed else ""),
            f"{stat.median / scale:.4g}",
            f"{stat.low / scale:.3g}..{stat.high / scale:.3g}",
            f"{100 * stat.spread:.1f}%",
            unit,
            style="bold red" if stat.disturbed else None,
        )
    out = Console()
    out.print(table)
    out.print(f"matmul (geometric mean of d=64, d=128): {mb.matmul_geomean / 1e9:.4g} GFLOP/s")
    disturbed = mb.disturbed
    if disturbed:
        err.print(
            f"warning: {len(disturbed)} benchmarks were preempted in nearly every run "
            f"(another process held the cores): {', '.join(disturbed[:4])}"
            + (", ..." if len(disturbed) > 4 else "")
            + "; their values are marked DISTURBED; re-run attnsim calibrate on a quieter machine",
            highlight=False,
        )
    where = "this machine's cached host-cpu target " if args.output is None else ""
    out.print(f"wrote {where}{result.path} ({mb.elapsed_s:.0f} s of benchmarks)")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``calibrate`` command."""
    p = subparsers.add_parser(
        "calibrate",
        help="measure this machine and (re)write its host-cpu target",
        description=(
            "Time micro-benchmarks of this machine (the CPU kernel's sgemm pair and online "
            "softmax at its block shapes on one thread and on all; the mask loop; cache and "
            "memory bandwidth and latency; the cost of a numba parallel region and of an "
            "sgemm call) and write its host-cpu target, every measured value with its "
            "source. Only machine constants are fitted, never attention timings. Without "
            "-o the target goes to this machine's cache ($"
            f"{CACHE_ENV}, else $XDG_CACHE_HOME/attnsim or ~/.cache/attnsim), keyed by CPU "
            "model, cores and memory; --hw host-cpu and attnsim validate read it there."
        ),
    )
    p.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="YAML file to write (default: refresh this machine's cached host-cpu target)",
    )
    p.add_argument(
        "--name",
        default=TARGET_NAME,
        help="target name written in the file (default host-cpu; another name marks an "
        "example, e.g. host-cpu-example)",
    )
    p.add_argument(
        "--threads",
        type=int,
        metavar="N",
        help="numba threads for the whole-CPU benchmarks (default: every usable core)",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="fewer, shorter timed runs (about 15 s instead of about a minute)",
    )
    p.add_argument("--json", action="store_true", help="print the measurements as JSON")
    p.set_defaults(func=_cmd_calibrate)
