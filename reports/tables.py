"""Tables of simulation results: pandas DataFrames (for CSV/Parquet and notebooks) and
rich tables (for the terminal). Units are in the column names."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from attnsim.hwconfigs import Hardware
from attnsim.reports.numbers import format_number, format_si
from attnsim.sim.result import Result
from rich.table import Table


def _human(value: float, unit: str) -> str:
    """``value`` with an SI prefix: 989.4e12, "OP/s" -> "989.4 TOPS" (binary for bytes)."""
    if unit == "B":
        return format_si(value, "B", binary=True)
    if unit == "OP/s":  # written as people write it: 989.4 TOPS
        unit = "OPS"
    return format_si(value, unit)


def targets_table(
    targets: Sequence[Hardware], title: str = "Bundled hardware targets (dense peaks)"
) -> Table:
    """One row per target: kind, dense fp16/bf16 and ternary/int8 matmul peaks, and the
    farthest memory level's name, bandwidth and capacity."""
    table = Table(title=title)
    for column in (
        "name",
        "kind",
        "fp16/bf16 matmul",
        "ternary/int8 matmul",
        "far memory",
        "bandwidth",
        "capacity",
    ):
        table.add_column(
            column, justify="left" if column in ("name", "kind", "far memory") else "right"
        )
    for hw in targets:
        half = max(hw.peak("matmul", "fp16"), hw.peak("matmul", "bf16"))
        low = max(hw.peak("matmul", "ternary"), hw.peak("matmul", "int8"))
        far = hw.memory[-1]
        table.add_row(
            hw.name,
            hw.kind,
            _human(half, "OP/s") if half else "-",
            _human(low, "OP/s") if low else "-",
            far.name,
            _human(far.bandwidth_bytes_per_s, "B/s"),
            _human(far.capacity_bytes, "B"),
        )
    return table


def ops_frame(result: Result) -> pd.DataFrame:
    """One row per op: where it sits, how long one instance takes, its share of the run."""
    rows = []
    for o in result.ops:
        total = o.latency_s * o.count
        rows.append(
            {
                "block": o.block,
                "op": o.name,
                "kind": o.kind,
                "family": o.family,
                "count": o.count,
                "latency_us": o.latency_s * 1e6,
                "total_ms": total * 1e3,
                "share_pct": 100.0 * total / result.latency_s if result.latency_s else 0.0,
                "tflops_per_s": o.flops / o.latency_s / 1e12 if o.latency_s else 0.0,
                "dram_mb": max(o.bytes.values(), default=0.0) / 1e6 if o.bytes else 0.0,
                "bound": o.bound,
            }
        )
    return pd.DataFrame(rows)


def summary_frame(results: Sequence[Result]) -> pd.DataFrame:
    """One row per result: latency, throughput, traffic and energy totals."""
    rows = []
    for r in results:
        row: dict[str, object] = {
            "hardware": r.hardware,
            "workload": r.workload,
            "latency_ms": r.latency_s * 1e3,
            "tflops_per_s": r.tflops_per_s,
            "tokens_per_s": r.tokens_per_s,
            "energy_j": r.energy.total_j,
            "power_w": r.power_w,
        }
        for level, nbytes in r.bytes.items():
            row[f"{level}_gb"] = nbytes / 1e9
        rows.append(row)
    return pd.DataFrame(rows)


def _fmt(value: float, digits: int = 3) -> str:
    return format_number(value, digits)


def ops_table(result: Result, title: str | None = None, top: int | None = None) -> Table:
    """A rich table of the ops, slowest total first when ``top`` is given."""
    frame = ops_frame(result)
    if top is not None:
        frame = frame.sort_values("total_ms", ascending=False).head(top)
    table = Table(title=title or f"{result.workload} on {result.hardware}")
    for col, justify in (
        ("block", "left"),
        ("op", "left"),
        ("kind", "left"),
        ("family", "left"),
        ("count", "right"),
        ("latency_us", "right"),
        ("total_ms", "right"),
        ("share_pct", "right"),
        ("tflops_per_s", "right"),
        ("bound", "left"),
    ):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for _, row in frame.iterrows():
        table.add_row(
            str(row["block"]),
            str(row["op"]),
            str(row["kind"]),
            str(row["family"]),
            str(row["count"]),
            _fmt(row["latency_us"]),
            _fmt(row["total_ms"]),
            f"{row['share_pct']:.1f}",
            _fmt(row["tflops_per_s"]),
            str(row["bound"]),
        )
    return table


def summary_table(results: Sequence[Result], title: str = "Totals") -> Table:
    """Results side by side: one column per result, one row per figure."""
    table = Table(title=title)
    table.add_column("figure")
    for r in results:
        table.add_column(r.hardware, justify="right")
    levels: list[str] = []
    for r in results:
        for level in r.bytes:
            if level not in levels:
                levels.append(level)
    rows: list[tuple[str, list[str]]] = [
        ("latency (ms)", [_fmt(r.latency_s * 1e3) for r in results]),
        ("achieved TFLOP/s", [_fmt(r.tflops_per_s) for r in results]),
        (
            "tokens/s",
            [_fmt(r.tokens_per_s) if r.tokens_per_s is not None else "-" for r in results],
        ),
        ("energy (J)", [_fmt(r.energy.total_j) for r in results]),
        ("  compute (J)", [_fmt(r.energy.compute_j) for r in results]),
        ("  memory (J)", [_fmt(r.energy.memory_j) for r in results]),
        ("  static (J)", [_fmt(r.energy.static_j) for r in results]),
        ("avg power (W)", [_fmt(r.power_w) for r in results]),
    ]
    if any(r.off_chip_levels for r in results):  # a chip paper's power: the die alone
        rows.append(("  die alone (W)", [_fmt(r.die_power_w) for r in results]))
    if any(r.area_mm2 is not None for r in results):
        rows.append(("area (mm²)", [_fmt(r.area_mm2) if r.area_mm2 else "-" for r in results]))
        rows.append(
            (
                "FOM (TOPS/mm²/W)",
                [_fmt(r.fom_tops_per_mm2_w) if r.fom_tops_per_mm2_w else "-" for r in results],
            )
        )
    for level in levels:
        rows.append(
            (
                f"{level} traffic (GB)",
                [_fmt(r.bytes.get(level, 0.0) / 1e9) if level in r.bytes else "-" for r in results],
            )
        )
    for label, cells in rows:
        table.add_row(label, *cells)
    return table
