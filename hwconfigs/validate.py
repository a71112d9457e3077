"""Tier two of validation: rules that relate fields to each other.

Runs on the normalised dict from :func:`hwconfigs.schema.check_document` (where anything
that failed the schema is ``None`` and skipped here), and records every problem.
"""

from __future__ import annotations

from typing import Any

from attnsim.hwconfigs.errors import Problems
from attnsim.hwconfigs.schema import suggest

__all__ = ["check_rules"]


def _engine_rules(engines: dict[str, Any], p: Problems) -> dict[str, int]:
    """Engines have a precision; engines in the same unit agree on its count."""
    unit_counts: dict[str, int] = {}
    unit_first: dict[str, str] = {}
    for name, e in engines.items():
        if e is None:
            continue
        tp = e.get("throughput")
        if tp is not None and not any(tp.values()):
            p.add(
                f"engines.{name}.throughput",
                "lists no precision for any op class",
                "expected at least one, such as {matmul: {fp16: '989.4 TFLOP/s'}}",
            )
        unit, count = e.get("unit"), e.get("count")
        if unit is None or count is None:
            continue
        if unit in unit_counts and unit_counts[unit] != count:
            p.add(
                f"engines.{name}.count",
                f"{count} differs from the {unit_counts[unit]} of engine '{unit_first[unit]}' in the same unit '{unit}'",
                f"expected engines co-located in unit '{unit}' to share one count",
            )
        else:
            unit_counts.setdefault(unit, count)
            unit_first.setdefault(unit, name)
    return unit_counts


def _memory_rules(
    memory: list[dict[str, Any]], units: dict[str, int], engines_ok: bool, p: Problems
) -> None:
    seen_shared: str | None = None
    for level in memory:
        path = f"memory.{level['name']}"
        scope, unit = level.get("scope"), level.get("unit")
        if scope == "per_unit":
            if not level.get("_has_unit"):
                p.add(
                    f"{path}.unit",
                    "missing for a per_unit level",
                    "expected the unit it sits in, such as 'sm'",
                )
            elif unit is not None and engines_ok and unit not in units:
                known = ", ".join(sorted(units)) or "(none)"
                p.add(
                    f"{path}.unit",
                    f"no engine lives in unit {unit!r}",
                    f"expected one of the engine units: {known}{suggest(unit, units)}",
                )
            if seen_shared is not None:
                p.add(
                    f"{path}.scope",
                    f"per_unit level comes after the shared level '{seen_shared}'",
                    "expected memory ordered nearest the engines first (per-unit levels before shared ones)",
                )
        elif scope == "shared":
            seen_shared = seen_shared or level["name"]
            if level.get("_has_unit"):
                p.add(
                    f"{path}.unit",
                    "is set on a shared level",
                    "expected 'scope: per_unit' with it, or no unit",
                )


def _energy_rules(norm: dict[str, Any], p: Problems) -> None:
    energy = norm.get("energy")
    if not energy:
        return
    static, tdp = energy.get("static_power_w"), energy.get("tdp_w")
    if static is not None and tdp is not None and static > tdp:
        p.add(
            "energy.static_power",
            f"{static:g} W exceeds the TDP of {tdp:g} W",
            "expected static power at most the TDP",
        )
    engines = [
        e for e in norm["engines"].values() if e is not None and e.get("throughput") is not None
    ]
    if len(engines) != len(norm["engines"]):
        return
    runnable = {
        (op, prec) for e in engines for op, precs in e["throughput"].items() for prec in precs
    }
    for op, precs in energy.get("op_energy_j", {}).items():
        for prec in precs:
            if (op, prec) not in runnable:
                options = sorted(f"{o}.{q}" for o, q in runnable)
                p.add(
                    f"energy.per_op.{op}.{prec}",
                    f"no engine runs {op} in {prec}",
                    f"expected energies only for what an engine runs: {', '.join(options)}",
                )


def check_rules(norm: dict[str, Any], p: Problems) -> None:
    """Record every cross-field problem of the normalised document ``norm``."""
    engines = norm.get("engines", {})
    units = _engine_rules(engines, p)
    engines_ok = all(e is not None and e.get("unit") is not None for e in engines.values())
    _memory_rules(norm.get("memory", []), units, engines_ok, p)
    _energy_rules(norm, p)
    area = norm.get("area")
    if area and area.get("total_mm2") is not None:
        parts = sum(area.get("breakdown_mm2", {}).values())
        if parts > area["total_mm2"] * (1 + 1e-9):
            p.add(
                "area.breakdown",
                f"sums to {parts:g} mm2, more than the total {area['total_mm2']:g} mm2",
                "expected blocks that fit in the die",
            )
