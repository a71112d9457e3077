"""Tier two of validation: rules that relate fields to each other.

Runs on the document the schema validated (when the file has schema problems: the
document without its failing values, whose key paths are in ``pruned``), and records
every problem. A rule that depends on a value that failed is skipped, so one mistake is
reported once, not again as a cascade.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from attnsim.hwconfigs.derived import (
    LEAKAGE_DENSITY,
    RELATIVE_TOLERANCE,
    DerivedRates,
    leakage_w,
    param_values,
    unit_model_area,
    unit_model_rates,
)
from attnsim.hwconfigs.errors import Problems
from attnsim.hwconfigs.schema import BOUNDS, Document, Engine, Num, suggest
from attnsim.hwconfigs.units import format_human

__all__ = ["check_rules", "engine_unit", "engine_count"]

T = TypeVar("T")


def engine_unit(name: str, engine: Engine) -> str:
    """The replicated unit an engine lives in (its own name unless ``unit:`` says)."""
    return engine.unit or name


def engine_count(doc: Document, name: str, engine: Engine) -> Num | None:
    """An engine's instance count: its unit's (``units:``) or its own."""
    units = doc.units or {}
    unit = engine_unit(name, engine)
    return units[unit].count if unit in units else engine.count


def _under(pruned: set[str], path: str) -> bool:
    return any(p == path or p.startswith(path + ".") for p in pruned)


class _Rules:
    def __init__(self, doc: Document, p: Problems, pruned: set[str]) -> None:
        self.doc, self.p, self.pruned = doc, p, pruned
        self.engines = doc.engines or {}
        self.units = doc.units or {}
        failed = [x.split(".") for x in pruned if x.split(".")[0] == "engines"]
        #: every engine's unit is known (no engine, nor its unit, failed the schema)
        self.units_known = not any(len(x) <= 2 or x[2] == "unit" for x in failed)
        #: every engine's rates are known
        self.rates_known = not any(
            len(x) <= 2 or x[2] in ("ops_per_cycle", "throughput") for x in failed
        )

    def given(self, value: object, path: str) -> bool:
        """True when the file gives ``path`` (valid, or present but failing)."""
        return value is not None or path in self.pruned

    def engines_rules(self) -> dict[str, int]:
        """Counts given once, engines in a unit agree on it, rates given and usable."""
        counts: dict[str, tuple[int, str]] = {}
        for name, e in self.engines.items():
            path, unit = f"engines.{name}", engine_unit(name, e)
            if f"{path}.unit" in self.pruned:  # which unit it lives in is not known
                self.rates(name, e, None)
                continue
            declared = unit in self.units or f"units.{unit}" in self.pruned
            if declared and self.given(e.count, f"{path}.count"):
                self.p.add(
                    f"{path}.count",
                    f"is given here and in units.{unit}.count",
                    f"expected the count of unit '{unit}' once, in units.{unit}.count",
                )
            elif not declared and not self.given(e.count, f"{path}.count"):
                self.p.add(
                    f"{path}.count",
                    "missing",
                    f"expected a whole number of instances, such as 132 (or 'units: {{{unit}: {{count: N}}}}')",
                )
            count = engine_count(self.doc, name, e)
            self.rates(name, e, count)
            if count is None:
                continue
            if unit in counts and counts[unit][0] != count.value:
                first, other = counts[unit]
                self.p.add(
                    f"{path}.count",
                    f"{count.value} differs from the {first} of engine '{other}' in the same unit '{unit}'",
                    f"expected engines co-located in unit '{unit}' to share one count",
                )
            counts.setdefault(unit, (count.value, name))
        return {unit: value for unit, (value, _) in counts.items()}

    def from_unit_model(self, name: str, e: Engine, derive: Callable[[dict], T | None]) -> T | None:
        """``derive(params)`` for an engine whose params passed the schema, its problems
        recorded under ``engines.NAME``."""
        if _under(self.pruned, f"engines.{name}.params"):
            return None
        derived = derive(param_values(e.params))
        for key, what, expected in getattr(derived, "problems", ()):
            self.p.add(f"engines.{name}.{key}", what, expected)
        return derived

    def derived_rates(self, name: str, e: Engine) -> DerivedRates | None:
        """The rates the engine's unit model fixes; a stated one must agree with them."""
        path = f"engines.{name}"
        derived = self.from_unit_model(name, e, unit_model_rates)
        if derived is None:
            return None
        stated = e.ops_per_cycle or {}
        for op, precs in derived.ops_per_cycle.items():
            for prec, value in precs.items():
                self.agree(
                    f"{path}.ops_per_cycle.{op}.{prec}",
                    stated.get(op, {}).get(prec),
                    value,
                    "",
                    f"ops per cycle its unit model {derived.model!r} has at these params",
                )
        return derived

    def agree(self, key: str, stated: Num | None, derived: float, unit: str, why: str) -> None:
        """Record a problem when a value the file states differs from the derived one."""
        if stated is None or abs(stated.value - derived) <= RELATIVE_TOLERANCE * abs(derived):
            return
        scale, shown = (1e3, " mW") if unit == "W" else (1.0, f" {unit}" if unit else "")
        self.p.add(
            key,
            f"{stated.value * scale:.6g}{shown} disagrees with the {derived * scale:.6g}{shown} {why}",
            f"expected {derived * scale:.6g}{shown}, or no entry (the loader derives it)",
        )

    def derived_area(self, name: str, e: Engine) -> float | None:
        """The area the engine's unit model prices (problems recorded); a stated area
        must agree with it."""
        path = f"engines.{name}"
        derived = self.from_unit_model(name, e, unit_model_area)
        if derived is None:
            return None
        value = derived.area_mm2
        if value is not None:
            why = f"its params price (unit model {derived.model!r} components x area_<component>)"
            self.agree(f"{path}.area", e.area, value, "mm2", why)
        return value

    def derived_leakage(self, name: str, e: Engine, area: float | None) -> None:
        """``leakage_density`` x area gives ``static_power``; a stated one must agree."""
        path = f"engines.{name}"
        params = param_values(e.params)
        if LEAKAGE_DENSITY not in params or _under(self.pruned, f"{path}.params"):
            return
        stated = e.area.value if e.area is not None else None
        if area is None and stated is None and self._priced(e):
            return  # the priced area was refused: reported once, there
        watts, problem = leakage_w(params, area if area is not None else stated)
        if problem is not None:
            key, what, expected = problem
            self.p.add(f"{path}.{key}", what, expected)
        elif watts is not None:
            why = f"of params.{LEAKAGE_DENSITY} x the engine's area"
            self.agree(f"{path}.static_power", e.static_power, watts, "W", why)

    def rates(self, name: str, e: Engine, count: Num | None) -> None:
        path = f"engines.{name}"
        self.derived_leakage(name, e, self.derived_area(name, e))
        derived = self.derived_rates(name, e)
        if derived is not None and (derived.problems or any(derived.ops_per_cycle.values())):
            if not self.given(e.ops_per_cycle, f"{path}.ops_per_cycle") and not self.given(
                e.throughput, f"{path}.throughput"
            ):
                return  # every rate comes from the unit model (or its params were refused)
        if not self.given(e.ops_per_cycle, f"{path}.ops_per_cycle") and not self.given(
            e.throughput, f"{path}.throughput"
        ):
            self.p.add(
                f"{path}.ops_per_cycle",
                "missing",
                "expected per-unit rates 'ops_per_cycle: {matmul: {fp16: 4096}}' or whole-group "
                "'throughput: {matmul: {fp16: 989.4 TFLOP/s}}'",
            )
            return
        per_cycle = e.ops_per_cycle or {}
        quoted = e.throughput or {}
        for op, precs in quoted.items():  # rates the loader could not convert
            for prec, rate in precs.items():
                tpath = f"{path}.throughput.{op}.{prec}"
                if prec in per_cycle.get(op, {}):
                    self.p.add(
                        tpath,
                        f"is also given in {path}.ops_per_cycle.{op}.{prec}",
                        "expected each rate once, as ops_per_cycle or as throughput",
                    )
                elif count is not None and e.clock is not None:
                    value = rate.value / (count.value * e.clock.value)
                    bad = BOUNDS["ops_per_cycle"].problem(value, f"{value:.4g}")
                    clock = format_human(e.clock.value, "frequency")
                    if bad is not None:
                        self.p.add(
                            tpath,
                            f"is {value:.4g} ops per cycle at {count.value} units x {clock}",
                            bad[1],
                        )
        if (
            not any(per_cycle.values())
            and not any(quoted.values())
            and not _under(self.pruned, f"{path}.ops_per_cycle")
            and not _under(self.pruned, f"{path}.throughput")
        ):
            key = "throughput" if e.throughput is not None else "ops_per_cycle"
            self.p.add(
                f"{path}.{key}",
                "lists no precision for any op class",
                "expected at least one, such as {matmul: {fp16: 4096}} per unit per cycle",
            )

    def units_rules(self) -> None:
        if not self.engines or not self.units_known:
            return
        used = {engine_unit(name, e) for name, e in self.engines.items()}
        for unit in self.units:
            if unit not in used:
                self.p.add(
                    f"units.{unit}",
                    f"no engine lives in unit '{unit}'",
                    f"expected an engine with 'unit: {unit}', or no units.{unit} entry"
                    + suggest(unit, used),
                )

    def memory_rules(self, units: dict[str, int]) -> None:
        seen_shared: str | None = None
        for name, level in (self.doc.memory or {}).items():
            path = f"memory.{name}"
            has_unit = self.given(level.unit, f"{path}.unit")
            if f"{path}.scope" in self.pruned:
                continue
            if level.scope == "per_unit":
                if not has_unit:
                    self.p.add(
                        f"{path}.unit",
                        "missing for a per_unit level",
                        "expected the unit it sits in, such as 'sm'",
                    )
                elif level.unit is not None and self.units_known and level.unit not in units:
                    known = ", ".join(sorted(units)) or "(none)"
                    self.p.add(
                        f"{path}.unit",
                        f"no engine lives in unit {level.unit!r}",
                        f"expected one of the engine units: {known}{suggest(level.unit, units)}",
                    )
                if seen_shared is not None:
                    self.p.add(
                        f"{path}.scope",
                        f"per_unit level comes after the shared level '{seen_shared}'",
                        "expected memory ordered nearest the engines first (per-unit levels before shared ones)",
                    )
            else:
                seen_shared = seen_shared or name
                if has_unit:
                    self.p.add(
                        f"{path}.unit",
                        "is set on a shared level",
                        "expected 'scope: per_unit' with it, or no unit",
                    )

    def energy_rules(self) -> None:
        energy = self.doc.energy
        if energy is None:
            return
        if energy.static_power is not None and energy.tdp is not None:
            static, tdp = energy.static_power.value, energy.tdp.value
            if static > tdp:
                self.p.add(
                    "energy.static_power",
                    f"{static:g} W exceeds the TDP of {tdp:g} W",
                    "expected static power at most the TDP",
                )
        if not self.rates_known or any(
            any((e.throughput or {}).values()) for e in self.engines.values()
        ):
            return  # what the engines run is not known
        runnable: set[tuple[str, str]] = set()
        for name, e in self.engines.items():
            own = {(op, prec) for op, precs in (e.ops_per_cycle or {}).items() for prec in precs}
            derived = (
                None
                if _under(self.pruned, f"engines.{name}.params")
                else (unit_model_rates(param_values(e.params)))
            )
            if derived is not None:  # what its unit model runs
                own |= {(op, prec) for op, precs in derived.ops_per_cycle.items() for prec in precs}
            runnable |= own
            for op, precs in (e.energy or {}).items():
                for prec in precs:
                    if (op, prec) not in own:
                        self.p.add(
                            f"engines.{name}.energy.{op}.{prec}",
                            f"engine '{name}' does not run {op} in {prec}",
                            "expected energies only for what this engine runs: "
                            + ", ".join(sorted(f"{o}.{q}" for o, q in own)),
                        )
        for op, precs in (energy.per_op or {}).items():
            for prec in precs:
                if (op, prec) not in runnable:
                    options = ", ".join(sorted(f"{o}.{q}" for o, q in runnable))
                    self.p.add(
                        f"energy.per_op.{op}.{prec}",
                        f"no engine runs {op} in {prec}",
                        f"expected energies only for what an engine runs: {options}",
                    )

    @staticmethod
    def _priced(e: Engine) -> bool:
        """The engine prices its unit model's components (``area_<component>`` params)."""
        return any(k.startswith("area_") for k in (e.params or {}))

    def area_rules(self) -> None:
        area = self.doc.area
        priced = [n for n, e in self.engines.items() if e.area is None and self._priced(e)]
        parts = (
            [f"engines.{n}.area" for n, e in self.engines.items() if e.area is not None]
            + [f"engines.{n}.params (area_ of its components)" for n in priced]
            + [
                f"memory.{n}.area_density"
                for n, m in (self.doc.memory or {}).items()
                if m.area_density is not None
            ]
        )
        if parts and (area is None or not self.given(area.other, "area.other")):
            self.p.add(
                "area.other",
                f"missing while {parts[0]} gives a part of the die",
                "expected the area outside engines and memory levels (uncore, I/O, PHYs), so that "
                "the modelled die is the parts plus 'other' and scales with counts and capacities",
            )
        if area is None:
            return
        if not self.given(area.total, "area.total") and not self.given(area.other, "area.other"):
            self.p.add(
                "area.total",
                "missing",
                "expected the published die area (an area such as '814 mm2'), or 'other' "
                "(the area outside engines and memory levels)",
            )
        if area.total is not None:
            listed = sum(n.value for n in (area.breakdown or {}).values())
            if listed > area.total.value * (1 + 1e-9):
                self.p.add(
                    "area.breakdown",
                    f"sums to {listed:g} mm2, more than the total {area.total.value:g} mm2",
                    "expected blocks that fit in the die",
                )


def check_rules(doc: Document, p: Problems, pruned: set[str]) -> None:
    """Record every cross-field problem of the validated document ``doc``."""
    rules = _Rules(doc, p, pruned)
    rules.units_rules()
    rules.area_rules()
    units = rules.engines_rules()
    rules.memory_rules(units)
    rules.energy_rules()
