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
        tp = e.get("ops_per_cycle")
        if tp is not None and not any(tp.values()):
            p.add(
                f"engines.{name}.{e.get('_rates_key', 'ops_per_cycle')}",
                "lists no precision for any op class",
                "expected at least one, such as {matmul: {fp16: 4096}} per unit per cycle",
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
        e for e in norm["engines"].values() if e is not None and e.get("ops_per_cycle") is not None
    ]
    if len(engines) != len(norm["engines"]):
        return
    runnable = {
        (op, prec) for e in engines for op, precs in e["ops_per_cycle"].items() for prec in precs
    }
    for e in engines:
        own = {(op, prec) for op, precs in e["ops_per_cycle"].items() for prec in precs}
        for op, precs in e.get("energy_per_op_j", {}).items():
            for prec in precs:
                if (op, prec) not in own:
                    p.add(
                        f"engines.{e['name']}.energy.{op}.{prec}",
                        f"engine '{e['name']}' does not run {op} in {prec}",
                        "expected energies only for what this engine runs: "
                        + ", ".join(sorted(f"{o}.{q}" for o, q in own)),
                    )
    for op, precs in energy.get("op_energy_j", {}).items():
        for prec in precs:
            if (op, prec) not in runnable:
                options = sorted(f"{o}.{q}" for o, q in runnable)
                p.add(
                    f"energy.per_op.{op}.{prec}",
                    f"no engine runs {op} in {prec}",
                    f"expected energies only for what an engine runs: {', '.join(options)}",
                )


def _area_rules(norm: dict[str, Any], p: Problems) -> None:
    area = norm.get("area")
    engines = [e for e in norm.get("engines", {}).values() if e is not None]
    parts = [f"engines.{e['name']}.area" for e in engines if e.get("area_mm2") is not None] + [
        f"memory.{m['name']}.area_density"
        for m in norm.get("memory", [])
        if m.get("area_mm2_per_byte") is not None
    ]
    if parts and (not area or area.get("other_mm2") is None):
        p.add(
            "area.other",
            f"missing while {parts[0]} gives a part of the die",
            "expected the area outside engines and memory levels (uncore, I/O, PHYs), so that "
            "the modelled die is the parts plus 'other' and scales with counts and capacities",
        )
    if area and area.get("total_mm2") is not None:
        total = area["total_mm2"]
        listed = sum(area.get("breakdown_mm2", {}).values())
        if listed > total * (1 + 1e-9):
            p.add(
                "area.breakdown",
                f"sums to {listed:g} mm2, more than the total {total:g} mm2",
                "expected blocks that fit in the die",
            )


def _unit_rules(norm: dict[str, Any], p: Problems) -> None:
    used = {e.get("unit") for e in norm.get("engines", {}).values() if e is not None}
    for unit in norm.get("units", {}):
        if unit not in used:
            p.add(
                f"units.{unit}",
                f"no engine lives in unit '{unit}'",
                f"expected an engine with 'unit: {unit}', or no units.{unit} entry"
                + suggest(unit, [u for u in used if isinstance(u, str)]),
            )


def check_rules(norm: dict[str, Any], p: Problems) -> None:
    """Record every cross-field problem of the normalised document ``norm``."""
    engines = norm.get("engines", {})
    _unit_rules(norm, p)
    _area_rules(norm, p)
    units = _engine_rules(engines, p)
    engines_ok = all(e is not None and e.get("unit") is not None for e in engines.values())
    _memory_rules(norm.get("memory", []), units, engines_ok, p)
    _energy_rules(norm, p)
