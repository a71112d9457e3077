"""``attnsim fit-constants``: fit a target's sustained-rate constants to micro-benchmarks."""

from __future__ import annotations

import argparse
import json

import yaml

from attnsim.api import as_hardware
from attnsim.hwconfigs import HardwareConfigError
from attnsim.sim import LoweringError
from attnsim.sim.calibration import fit_target, published_measurements

ERRORS: tuple[type[BaseException], ...] = (HardwareConfigError, LoweringError)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``attnsim fit-constants``."""
    p = sub.add_parser(
        "fit-constants",
        help="fit a target's calibration constants to published micro-benchmarks",
        description="Solve memory_sustained_fraction and tensor_sustained_fraction so that the "
        "simulated stream copy and GEMM reproduce the measured ones, and take "
        "mma_sync_sustained_fraction from a measured mma.sync rate "
        "(sim/calibration/published_microbenchmarks.yaml), and print the YAML to paste "
        "into the target's calibration section.",
    )
    p.add_argument("target", metavar="NAME|FILE", help="target to fit")
    p.add_argument("--json", action="store_true", help="print JSON instead of YAML")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the command; returns the exit code."""
    hw = as_hardware(args.target)
    if not published_measurements(hw.name):
        raise LoweringError(
            f"{hw.name}: no micro-benchmark measurements to fit to "
            "(add them to sim/calibration/published_microbenchmarks.yaml)"
        )
    fitted = fit_target(hw)
    doc = {c.name: {"value": c.value, "source": c.source} for c in fitted}
    if args.json:
        print(json.dumps({"target": hw.name, "calibration": doc}, indent=2))
    else:
        print(yaml.safe_dump({"calibration": doc}, sort_keys=False, width=100), end="")
    return 0
