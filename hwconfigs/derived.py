"""Rates, area and leakage a target need not state because its engine's unit model
fixes them.

An engine whose ``params.model`` names a unit model (:mod:`rtl_models`: the TINT ternary
array, the Booth array, the softmax unit, the LOP pruner) takes every tile's cycles from
that model, so its peak rate is a property of the model's parameters (``rows x cols``
MACs a cycle, ...), not a second number to keep in step by hand. The loader derives the
engine's ``ops_per_cycle`` for each (op class, precision) the model reports
(:meth:`UnitModel.peak_ops_per_cycle`); a rate the file states as well must agree. So a
sweep over ``engines.tint.params.cols`` moves the peak, the roofline and the FOM with the
array, and the physics check bounds the model's tiles by the same peak. Likewise the
engine's area, when the file prices the model's components (``area_<component>`` params
times :meth:`UnitModel.components`, times ``area_overhead``), and its static power
(``leakage_density`` times that area): both then follow the array's size.

Only the model's own fields are read here (``rows``, ``cols``, ``lanes``, ...); energies,
operand distributions and the lowering family's keys are checked when the simulator binds
the engine (:mod:`sim.lowering.unit_models`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "AREA_OVERHEAD",
    "DerivedArea",
    "DerivedRates",
    "LEAKAGE_DENSITY",
    "RELATIVE_TOLERANCE",
    "area_param",
    "describe",
    "leakage_w",
    "param_values",
    "unit_model_area",
    "unit_model_rates",
]

#: A stated rate agrees with the derived one within this relative difference.
RELATIVE_TOLERANCE = 1e-6


@dataclass(frozen=True)
class DerivedRates:
    """The peak rates an engine's unit model gives.

    Attributes:
        model: the unit model's name.
        ops_per_cycle: op class -> precision -> operations per cycle per instance.
        problems: ``(key, what, expected)`` for parameters the model refused (then
            ``ops_per_cycle`` is empty).
    """

    model: str
    ops_per_cycle: Mapping[str, Mapping[str, float]]
    problems: tuple[tuple[str, str, str], ...] = ()


def param_values(params: Mapping[str, Any] | None) -> dict[str, Any]:
    """An engine's ``params`` as plain values (the document holds ``Num(value, source)``)."""
    return {k: getattr(v, "value", v) for k, v in (params or {}).items()}


def unit_model_rates(params: Mapping[str, Any]) -> DerivedRates | None:
    """The rates ``params`` (an engine's, values as parsed) fix; None when they name no
    unit model (no ``model`` key). An unknown model name is a problem (with the closest
    registered name)."""
    name = params.get("model")
    if not isinstance(name, str):
        return None
    configured = _configured(name, params)
    if isinstance(configured, list):
        return DerivedRates(name, {}, tuple(configured))
    model, unit_params = configured
    from attnsim.hwconfigs.registry import OP_CLASSES, PRECISIONS

    table: dict[str, dict[str, float]] = {}
    for (op_class, precision), ops in model.peak_ops_per_cycle(unit_params).items():
        # a unit's own formats (the softmax unit's fixed24 exp) are not target precisions:
        # no rate is listed for them (the physics check then bounds the engine's busy time)
        if op_class in OP_CLASSES and precision in PRECISIONS:
            table.setdefault(op_class, {})[precision] = float(ops)
    return DerivedRates(name, table)


Problem = tuple[str, str, str]


def _configured(name: str, params: Mapping[str, Any]) -> tuple[Any, Any] | list[Problem]:
    """``(unit model, its params from the engine's)``, or the list of problems that stop
    it."""
    from attnsim.rtl_models import UNIT_MODELS, RtlModelError

    try:
        model = UNIT_MODELS.lookup(name)
    except RtlModelError as exc:
        text = str((exc.problems or [str(exc)])[0])
        what, _, expected = text.partition("; ")
        return [("params.model", what, expected)]
    base = model.default_params()
    fields = {f.name for f in dataclasses.fields(base)}
    values = {
        k: v
        for k, v in params.items()
        if k in fields and isinstance(v, int | float | str) and not isinstance(v, bool)
        if k != "a_distribution"
    }
    try:
        return model, dataclasses.replace(base, **values)
    except (RtlModelError, TypeError) as exc:
        found = getattr(exc, "problems", None) or [str(exc)]
        return [_problem(name, str(p)) for p in found]


@dataclass(frozen=True)
class DerivedArea:
    """An engine's area priced from its unit model's components.

    Attributes:
        model: the unit model's name.
        area_mm2: one instance's area (None when it could not be priced).
        note: the source line of the derived value.
        problems: ``(key, what, expected)``.
    """

    model: str
    area_mm2: float | None
    note: str = ""
    problems: tuple[Problem, ...] = ()


def area_param(component: str) -> str:
    """The params key of the area of one ``component`` ("tint.lane" -> "area_tint_lane")."""
    return "area_" + component.replace(".", "_")


#: The params key of the factor on the priced components (pipeline registers, muxes,
#: control the inventory does not list).
AREA_OVERHEAD = "area_overhead"


def unit_model_area(params: Mapping[str, Any]) -> DerivedArea | None:
    """The area ``params`` price (every component's ``area_<component>`` given, times
    ``area_overhead``); None when the engine names no unit model or prices nothing."""
    from attnsim.hwconfigs.units import QuantityError, parse_quantity

    name = params.get("model")
    priced = {k for k in params if k.startswith("area_")}
    if not isinstance(name, str) or not priced:
        return None
    configured = _configured(name, params)
    if isinstance(configured, list):
        return DerivedArea(name, None)  # reported with the rates
    model, unit_params = configured
    counts = model.components(unit_params)
    keys = {area_param(c): c for c in counts}
    problems: list[Problem] = []
    for key in sorted(priced - set(keys) - {AREA_OVERHEAD}):
        accepted = ", ".join(sorted(keys) + [AREA_OVERHEAD]) if keys else "none"
        problems.append(
            (
                f"params.{key}",
                f"unit model {name!r} has no component {key[len('area_') :]!r}",
                f"expected areas of its components: {accepted}"
                + ("" if keys else " (state the engine's area: instead)"),
            )
        )
    missing = sorted(set(keys) - priced)
    if keys and missing and priced - {AREA_OVERHEAD}:
        problems.append(
            (
                f"params.{missing[0]}",
                "missing while other components are priced",
                f"expected an area for every component of {name!r}: {', '.join(sorted(keys))}",
            )
        )
    total = 0.0
    for key, component in keys.items():
        if key not in params:
            continue
        try:
            total += counts[component] * parse_quantity(params[key], "area")
        except QuantityError as exc:
            problems.append((f"params.{key}", exc.what, exc.expected))
    overhead = params.get(AREA_OVERHEAD, 1.0)
    if isinstance(overhead, bool) or not isinstance(overhead, int | float) or overhead < 1:
        problems.append(
            (
                f"params.{AREA_OVERHEAD}",
                f"got {overhead!r}",
                "expected a factor >= 1 on the priced components (registers, muxes, control)",
            )
        )
        overhead = 1.0
    if problems:
        return DerivedArea(name, None, problems=tuple(problems))
    shown = " + ".join(f"{counts[c]:g} x {area_param(c)}" for c in sorted(counts))
    note = (
        f"derived: unit model {name} components priced by this engine's params: "
        f"{overhead:g} x ({shown})"
    )
    return DerivedArea(name, float(overhead) * total, note)


#: The params key of an engine's leakage per mm² of its (priced or stated) area.
LEAKAGE_DENSITY = "leakage_density"


def leakage_w(
    params: Mapping[str, Any], area_mm2: float | None
) -> tuple[float | None, Problem | None]:
    """One instance's static power from ``leakage_density`` x its area, so that leakage
    follows the array like the area does; ``(None, None)`` when the engine gives no
    density."""
    from attnsim.hwconfigs.units import QuantityError, parse_quantity

    if LEAKAGE_DENSITY not in params:
        return None, None
    key = f"params.{LEAKAGE_DENSITY}"
    try:
        density = parse_quantity(params[LEAKAGE_DENSITY], "power_per_area")
    except QuantityError as exc:
        return None, (key, exc.what, exc.expected)
    if density < 0 or density > 10.0:  # W/mm2: beyond any logic process's leakage
        return None, (key, f"{density:g} W/mm2 is out of range", "expected 0 to 10 W/mm2")
    if area_mm2 is None:
        return None, (key, "given without an area", "expected the engine's area (stated or priced)")
    return density * area_mm2, None


def _problem(model: str, text: str) -> tuple[str, str, str]:
    """``(key, what, expected)`` of a unit model's refusal ``"rtl_models: MODEL.FIELD: got
    X; expected Y"`` (the whole text under ``params`` if it has another form)."""
    head = f"rtl_models: {model}."
    if text.startswith(head) and ": " in text[len(head) :]:
        field, _, rest = text[len(head) :].partition(": ")
        what, _, expected = rest.partition("; ")
        return f"params.{field}", what, expected or f"a value unit model {model!r} accepts"
    return "params", text, f"parameters unit model {model!r} accepts"


def describe(rates: DerivedRates, params: Mapping[str, Any]) -> str:
    """The source line of a derived rate: the model and the parameters it read."""
    from attnsim.rtl_models import UNIT_MODELS

    base = UNIT_MODELS.lookup(rates.model).default_params()
    fields = [f.name for f in dataclasses.fields(base)]
    used = ", ".join(f"{k} {params[k]}" for k in fields if k in params and k != "a_distribution")
    return (
        f"derived: the peak of unit model {rates.model} (rtl_models "
        f"peak_ops_per_cycle) from this engine's params ({used or 'its defaults'})"
    )
