"""``attnsim calibrate``: measure this machine and write its ``host-cpu`` target (a thin
layer over :func:`attnsim.calibration.calibrate`).

Prints what was measured (quantity, median, spread, unit) and the path written.
"""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.table import Table

from attnsim.calibration import BAD_INPUT, CalibrationError, calibrate, summary_rows
from attnsim.hwconfigs import HardwareConfigError

ERRORS: tuple[type[BaseException], ...] = (*BAD_INPUT, HardwareConfigError)


def _cmd_calibrate(args: argparse.Namespace) -> int:
    if args.threads is not None and args.threads < 1:
        raise CalibrationError(f"--threads: {args.threads}; expected an integer >= 1")
    err = Console(stderr=True)
    with err.status("calibrating") as status:
        result = calibrate(
            output=args.output,
            threads=args.threads,
            quick=args.quick,
            progress=lambda name: status.update(f"timing {name}"),
        )
    mb = result.measurements
    table = Table(
        title=f"{mb.host.cpu_model}: {mb.threads} threads, {mb.date}"
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
            name,
            f"{stat.median / scale:.4g}",
            f"{stat.low / scale:.3g}..{stat.high / scale:.3g}",
            f"{100 * stat.spread:.1f}%",
            unit,
        )
    out = Console()
    out.print(table)
    out.print(f"matmul (geometric mean of d=64, d=128): {mb.matmul_geomean / 1e9:.4g} GFLOP/s")
    out.print(f"wrote {result.path} ({mb.elapsed_s:.0f} s of benchmarks)")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``calibrate`` command."""
    p = subparsers.add_parser(
        "calibrate",
        help="measure this machine and write the host-cpu target",
        description=(
            "Time micro-benchmarks of this machine (the CPU kernel's matmul pair, mask "
            "loop and online softmax on 64x64 tiles; cache and memory bandwidth and "
            "latency; the cost of a numba parallel region) and write the host-cpu "
            "hardware target, every measured value with its source. Only machine "
            "constants are fitted, never attention timings."
        ),
    )
    p.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="YAML file to write (default: the bundled hwconfigs/targets/host-cpu.yaml)",
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
        help="fewer, shorter timed runs (about 20 s instead of about a minute)",
    )
    p.set_defaults(func=_cmd_calibrate)
