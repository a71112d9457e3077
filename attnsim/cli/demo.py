"""``attnsim demo``: the whole path on the bundled defaults (what ``make demo`` runs)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console

from attnsim.demo import DemoConfig, run_demo
from attnsim.hwconfigs import HardwareConfigError
from attnsim.sim import LoweringError
from attnsim.sweep.errors import SweepError
from attnsim.workloads import WorkloadError

ERRORS: tuple[type[BaseException], ...] = (
    HardwareConfigError,
    WorkloadError,
    LoweringError,
    SweepError,
)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``attnsim demo``."""
    defaults = DemoConfig()
    p = sub.add_parser(
        "demo",
        help="trace a VLM, simulate it on two GPUs, sweep a design space, validate, write the report",
        description=DemoConfig.__doc__,
    )
    p.add_argument(
        "--model", default=defaults.model, help=f"zoo model to trace (default {defaults.model})"
    )
    p.add_argument(
        "--text-tokens", type=int, default=defaults.text_tokens, help="text tokens after the image"
    )
    p.add_argument(
        "--targets",
        nargs="+",
        default=list(defaults.targets),
        metavar="NAME",
        help="targets to compare",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=defaults.out_dir,
        help=f"output folder (default {defaults.out_dir})",
    )
    p.add_argument(
        "--sweep-spec",
        type=Path,
        help="sweep spec to run (default examples/sweep-small.yaml of the checkout)",
    )
    p.add_argument("--workers", type=int, help="sweep worker processes (default: the CPUs)")
    p.add_argument("--no-validate", action="store_true", help="skip the CPU validation")
    p.add_argument(
        "--json",
        action="store_true",
        help="print what the demo produced as JSON (its tables and progress go to stderr)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the demo; returns the exit code."""
    cfg = DemoConfig(
        model=args.model,
        text_tokens=args.text_tokens,
        targets=tuple(args.targets),
        out_dir=args.out,
        sweep_spec=args.sweep_spec,
        workers=args.workers,
        validate=not args.no_validate,
    )
    results = run_demo(cfg, Console(width=160, stderr=True) if args.json else None)
    if args.json:
        out = cfg.out_dir.resolve()
        print(
            json.dumps(
                {
                    "model": cfg.model,
                    "simulations": [
                        {
                            "hardware": r.hardware,
                            "latency_s": r.latency_s,
                            "tokens_per_s": r.tokens_per_s,
                            "energy_j": r.energy.total_j,
                        }
                        for r in results
                    ],
                    "workload": str(out / f"{cfg.model}.json"),
                    "sweep": str(out / "sweep"),
                    "validation": str(out / "validation") if cfg.validate else None,
                    "report": str(out / "report" / "index.html"),
                },
                indent=2,
            )
        )
    return 0
