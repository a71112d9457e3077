"""``attnsim validate``: predicted vs measured, on the bundled kernels."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.table import Table

from attnsim.api import as_hardware
from attnsim.calibration import BAD_INPUT as CALIBRATION_ERRORS
from attnsim.cli.progress import step_bar
from attnsim.hwconfigs import Hardware, HardwareConfigError
from attnsim.kernels.measure import MeasureError, MeasurementFileError, read_measurements
from attnsim.published import PublishedReport, PublishedValidationError, validate_published
from attnsim.sim import LoweringError
from attnsim.sim.calibration.published import PublishedDataError
from attnsim.validation import (
    Report,
    ValidationError,
    report_json,
    validate_live,
    validate_recorded,
)
from attnsim.workloads import WorkloadError

ERRORS: tuple[type[BaseException], ...] = (
    *CALIBRATION_ERRORS,
    ValidationError,
    HardwareConfigError,
    MeasureError,
    MeasurementFileError,
    LoweringError,
    WorkloadError,
    PublishedValidationError,
    PublishedDataError,
)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``attnsim validate``."""
    p = sub.add_parser(
        "validate",
        help="compare predictions with timings of the bundled kernels",
        description="Run the validation suite of attention problems (kernels/problems.py) on "
        "the bundled kernels — live on this device, or from recorded measurement CSVs — "
        "simulate each on the matching target with the family that models the kernel, and "
        "report the error of absolute times and of speedups over dense attention.",
    )
    p.add_argument(
        "--device",
        choices=("cpu", "cuda"),
        default="cpu",
        help="device to measure live (default cpu)",
    )
    p.add_argument(
        "--recorded",
        nargs="+",
        metavar="CSV",
        help="use recorded measurements instead of measuring",
    )
    p.add_argument(
        "--hw",
        metavar="NAME|FILE",
        help="target to predict on (default: on the CPU, this machine's own host-cpu, "
        "measured on first use; on a GPU, the bundled target of its name)",
    )
    p.add_argument(
        "--published",
        action="store_true",
        help="compare with published GPU measurements (sim/calibration/published_kernels.yaml) "
        "instead of the bundled kernels; --hw keeps one bundled target",
    )
    p.add_argument("--quick", action="store_true", help="a handful of problems (the demo's)")
    p.add_argument(
        "--calibrate",
        action="store_true",
        help="time the kernel's building blocks (sgemm pair, softmax, call cost) at each case's block "
        "shape right before measuring it, and predict with those rates (this host's speed drifts)",
    )
    p.add_argument(
        "--threads",
        type=int,
        metavar="N",
        help="CPU threads the kernels run on, and the prediction assumes (default: all)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument(
        "-o", "--out", metavar="DIR", help="write cases.csv, speedups.csv and a scatter plot here"
    )
    p.set_defaults(func=run)


def _ms(seconds: float) -> str:
    """Milliseconds as people write them: 3 significant digits."""
    return f"{seconds * 1e3:.3g}"


def _table(report: Report) -> Table:
    table = Table(title="predicted vs measured")
    for col in (
        "problem",
        "kernel",
        "target",
        "measured (ms)",
        "IQR (ms)",
        "predicted (ms)",
        "error",
    ):
        table.add_column(col, justify="left" if col in ("problem", "kernel", "target") else "right")
    for c in report.cases:
        table.add_row(
            c.name,
            c.kernel,
            c.target,
            _ms(c.measured_s),
            _ms(c.measured_p75_s - c.measured_p25_s),
            _ms(c.predicted_s),
            f"{c.rel_error:+.1%}" if c.reliable else f"({c.rel_error:+.0%}) unreliable",
            style=None if c.reliable else "dim",
        )
    return table


def _speedup_table(report: Report) -> Table:
    table = Table(title="speedup over dense attention on the same problem")
    for col in ("variant", "measured", "predicted", "error"):
        table.add_column(col, justify="left" if col == "variant" else "right")
    for s in report.speedups:
        table.add_row(
            s.variant,
            f"{s.measured:.3g}x",
            f"{s.predicted:.3g}x",
            f"{s.rel_error:+.1%}" if s.reliable else f"({s.rel_error:+.0%}) unreliable",
            style=None if s.reliable else "dim",
        )
    return table


def print_report(report: Report, console: Console) -> None:
    """Tables and the summary line (shared with the demo)."""
    console.print(_table(report))
    if report.speedups:
        console.print(_speedup_table(report))
    s = report.summary()

    def pct(x: float | None) -> str:
        return "-" if x is None else f"{x:.1%}"

    left_out = f" ({s['unreliable_cases']} unreliable left out)" if s["unreliable_cases"] else ""
    console.print(
        f"{s['cases_counted']} of {s['cases']} cases{left_out}: median |error| "
        f"{pct(s['median_abs_rel_error'])}, p90 {pct(s['p90_abs_rel_error'])}; "
        f"{s['speedups_counted']} speedups: median |error| "
        f"{pct(s['speedups_median_abs_rel_error'])}, p90 {pct(s['speedups_p90_abs_rel_error'])}"
    )
    for c in report.cases:
        if not c.reliable:
            console.print(f"unreliable: {c.name}: {c.unreliable}", style="dim")
    for note in report.notes:
        console.print(f"note: {note}")


def _live(args: argparse.Namespace, hw: Hardware | None, console: Console) -> Report:
    """Measure the suite live, with a progress bar (refreshed by hand between bursts:
    a refresh thread would compete with the kernel for the cores)."""
    with step_bar(
        console, auto_refresh=False, disable=args.json and not console.is_terminal
    ) as bar:
        task = bar.add_task("validating", total=None)

        def on_step(done: int, total: int, label: str) -> None:
            bar.update(task, completed=done, total=total, description=label)
            bar.refresh()

        report, _ = validate_live(
            args.device,
            quick=args.quick,
            hw=hw,
            threads=args.threads,
            per_case_rates=args.calibrate,
            on_step=on_step,
            announce=lambda line: console.print(line, style="bold", highlight=False),
        )
    return report


def _published(args: argparse.Namespace, console: Console) -> int:
    """``attnsim validate --published``: the published set against predictions."""
    if args.recorded or args.calibrate or args.quick or args.device != "cpu":
        raise ValidationError(
            "--published: not with --recorded, --calibrate, --quick or --device; "
            "it predicts the published set on the bundled targets"
        )
    targets = [args.hw] if args.hw else None
    report = validate_published(
        targets=targets,
        progress=None if args.json else (lambda i: console.print(f"predicting {i}", style="dim")),
    )
    if args.out:
        from attnsim.published import write_published_csv

        for path in write_published_csv(report, args.out):
            console.print(f"wrote {path}")
    if args.json:
        import json

        print(json.dumps(report.to_dict(), indent=2))
    else:
        print_published(report, console)
    return 0


def _pct(x: object) -> str:
    return "-" if not isinstance(x, int | float) else f"{x:.1%}"


def print_published(report: PublishedReport, console: Console) -> None:
    """Per-entry table, error summary by GPU and by kernel, and the speedups."""
    table = Table(title="published measurements vs predictions")
    for col in ("entry", "kernel", "family", "measured (ms)", "predicted (ms)", "error"):
        table.add_column(col, justify="left" if col in ("entry", "kernel", "family") else "right")
    for c in report.cases:
        table.add_row(
            c.id,
            c.group,
            c.family,
            f"{c.measured_s * 1e3:.4g}",
            f"{c.predicted_s * 1e3:.4g}",
            f"{c.rel_error:+.1%}",
        )
    console.print(table)
    summary = report.summary()
    groups = Table(title="|error| of times by GPU and by kernel")
    for col in ("group", "entries", "median |error|", "p90 |error|", "median error"):
        groups.add_column(col, justify="left" if col == "group" else "right")
    rows = [("all", summary["times"])]
    rows += [(f"GPU {g}", v) for g, v in summary["by_gpu"].items()]
    rows += [(f"kernel {g}", v) for g, v in summary["by_kernel"].items()]
    for name, v in rows:
        groups.add_row(
            name,
            str(v["n"]),
            _pct(v["median_abs_rel_error"]),
            _pct(v["p90_abs_rel_error"]),
            _pct(v["median_rel_error"]),
        )
    console.print(groups)
    if report.speedups:
        sp = Table(title="sparse-over-dense speedups (same problem and GPU)")
        for col in ("speedup", "measured", "predicted", "error"):
            sp.add_column(col, justify="left" if col == "speedup" else "right")
        for s in report.speedups:
            sp.add_row(s.id, f"{s.measured:.2f}x", f"{s.predicted:.2f}x", f"{s.rel_error:+.1%}")
        console.print(sp)
    t, s = summary["times"], summary["speedups"]
    console.print(
        f"{t['n']} entries: median |error| {_pct(t['median_abs_rel_error'])}, p90 "
        f"{_pct(t['p90_abs_rel_error'])}; {s['n']} speedups: median |error| "
        f"{_pct(s['median_abs_rel_error'])}, p90 {_pct(s['p90_abs_rel_error'])}; "
        f"{len(report.skipped)} entries skipped (not expressible)"
    )


def run(args: argparse.Namespace) -> int:
    """Run the command; returns the exit code."""
    if args.threads is not None and args.threads < 1:
        raise ValidationError(f"--threads: {args.threads}; expected an integer >= 1")
    if args.out is not None and Path(args.out).exists() and not Path(args.out).is_dir():
        raise ValidationError(f"-o {args.out}: exists and is not a directory")
    if args.calibrate and (args.hw or args.recorded or args.device != "cpu"):
        raise ValidationError(
            "--calibrate: only with live CPU validation (no --hw, --recorded or --device cuda)"
        )
    if args.published:
        return _published(
            args, Console(width=None if sys.stdout.isatty() else 200, stderr=args.json)
        )
    hw = as_hardware(args.hw) if args.hw else None
    console = Console(width=None if sys.stdout.isatty() else 200, stderr=args.json)
    if args.recorded:
        rows = []
        for path in args.recorded:
            if not Path(path).is_file():
                raise ValidationError(f"{path}: no such measurement file")
            rows += [(path, m) for m in read_measurements(path)]
        report = validate_recorded(
            rows, hw, announce=lambda line: console.print(line, style="bold", highlight=False)
        )
    else:
        report = _live(args, hw, console)
    if args.out:
        from attnsim.reports.validation import write_validation

        doc = report.to_dict()
        cases = pd.DataFrame(doc["cases"])
        sp = pd.DataFrame(doc["summary"]["speedups"])
        for path in write_validation(cases, sp, args.out):
            console.print(f"wrote {path}")
    if args.json:
        print(report_json(report))
    else:
        print_report(report, console)
    return 0
