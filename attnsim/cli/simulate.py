"""``attnsim simulate``: predict a workload on a target."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rich.console import Console

from attnsim.api import simulate
from attnsim.errors import ProblemsError
from attnsim.hwconfigs import HardwareConfigError
from attnsim.reports import ops_table, summary_table, write_trace
from attnsim.sim import FAMILIES, LoweringError
from attnsim.sim.scheduling import POLICIES, SchedulingError
from attnsim.workloads import WorkloadError

ERRORS: tuple[type[BaseException], ...] = (
    HardwareConfigError,
    WorkloadError,
    LoweringError,
    SchedulingError,
)


class SimulateInputError(ProblemsError):
    """A command-line argument that cannot be used (missing file, bad size)."""


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``attnsim simulate``."""
    p = sub.add_parser(
        "simulate",
        help="predict latency, traffic and energy of a workload on a target",
        description="Lower every op of WORKLOAD to tiles for the target, replay them in the "
        "discrete-event engine, and print the per-op table and totals.",
    )
    p.add_argument(
        "--hw", required=True, metavar="NAME|FILE", help="bundled target name or YAML file"
    )
    p.add_argument(
        "--workload", required=True, metavar="FILE", help="workload JSON (attnsim trace / workload)"
    )
    p.add_argument(
        "--family",
        metavar="NAME",
        help=f"kernel family for the ops it lowers (default: best the target runs); one of {', '.join(sorted(FAMILIES))}",
    )
    p.add_argument(
        "--policy",
        metavar="NAME",
        help=f"scheduling policy of the engine (default das); one of {', '.join(POLICIES)}",
    )
    p.add_argument("--block-q", type=int, metavar="N", help="override attention query-block size")
    p.add_argument("--block-k", type=int, metavar="N", help="override attention key-block size")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    p.add_argument(
        "--timeline",
        metavar="FILE",
        help="write a Perfetto/Chrome trace JSON (open in ui.perfetto.dev)",
    )
    p.add_argument(
        "--top", type=int, default=None, metavar="N", help="show only the N costliest ops"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the command; returns the exit code."""
    workload_path = Path(args.workload)
    if not workload_path.is_file():
        raise SimulateInputError(f"{args.workload}: no such workload file")
    if args.policy is not None:
        POLICIES.lookup(args.policy, where="--policy")
    for name in ("block_q", "block_k"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise SimulateInputError(f"--{name.replace('_', '-')}: {value} must be >= 1")
    result = simulate(
        args.hw,
        workload_path,
        family=args.family,
        block_q=args.block_q,
        block_k=args.block_k,
        timeline=args.timeline is not None,
        policy=args.policy,
    )
    # a pipe or a file gets full-width tables, not rich's 80-column default
    console = Console(width=None if sys.stdout.isatty() else 200)
    if args.timeline:
        path = write_trace(result, args.timeline)
    if args.json:
        doc = result.to_dict()
        if args.timeline:
            doc["timeline"] = str(path)
        print(json.dumps(doc, indent=2))
        return 0
    console.print(ops_table(result, top=args.top))
    console.print(summary_table([result]))
    if args.timeline:
        console.print(f"timeline: {path} (open in https://ui.perfetto.dev)")
    return 0
