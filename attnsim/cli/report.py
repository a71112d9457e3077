"""``attnsim report RESULTS -o DIR``: the design-space report of a finished sweep.

Writes ``DIR/index.md`` and a self-contained ``DIR/index.html`` (figures embedded, opens
offline), the figures as PNG and the data each figure plots as JSON beside it. With
``--validation DIR`` (what ``attnsim validate -o DIR`` wrote) the report adds the
predicted-vs-measured scatter and the measured vs predicted speedups.
"""

from __future__ import annotations

import argparse

from attnsim.hwconfigs import HardwareConfigError
from attnsim.sweep.errors import SweepError

ERRORS: tuple[type[BaseException], ...] = (SweepError, HardwareConfigError)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``attnsim report``."""
    p = sub.add_parser(
        "report",
        help="write the design-space report (Markdown + self-contained HTML) of a sweep",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("results", metavar="RESULTS", help="results folder of attnsim sweep")
    p.add_argument(
        "-o",
        "--out",
        required=True,
        metavar="DIR",
        help="report folder (created if its parent exists)",
    )
    p.add_argument("--validation", metavar="DIR", help="folder written by attnsim validate -o DIR")
    p.add_argument(
        "--x", metavar="OBJECTIVE", help="Pareto x objective (default: the spec's report.x)"
    )
    p.add_argument(
        "--y", metavar="OBJECTIVE", help="Pareto y objective (default: the spec's report.y)"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the command; returns the exit code."""
    from attnsim.api import report

    index = report(args.results, args.out, validation=args.validation, x=args.x, y=args.y)
    print(f"report: {index} (and {index.with_suffix('.md')})")
    return 0
