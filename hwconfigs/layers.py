"""Layers of a target document: a file over its ``base:``, overrides over a file.

Mappings merge key by key, so engines and memory levels (mappings keyed by name) are
overridden by name; a value written as ``{value: ..., source: ...}`` replaces the
inherited one as a whole.

Rates are per unit per cycle. A file may quote an engine's whole-group ``throughput``
(as datasheets do); it means "at this file's count and clock", so before a layer is
merged onto a document, the document's throughputs are *frozen* into ``ops_per_cycle``
(:func:`freeze_rates`). A layer that changes ``count`` or ``clock`` therefore scales the
rates, and one that quotes a new ``throughput`` replaces the rate. What cannot be
converted (a bad count, clock or throughput) stays in ``throughput`` for the schema to
report.

Overrides (design-space sweeps) are dotted key paths into the document as a user writes
it (``{"units.sm.count": 100, "memory.hbm.bandwidth": "4.8 TB/s"}``); they become one
more layer, checked like a file: a path that names nothing in the target is refused with
the keys it could have named. All functions here return new dicts and never modify
their arguments (parsed documents are cached and shared).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from attnsim.hwconfigs.errors import Problems
from attnsim.hwconfigs.parse import check_shape, data_children
from attnsim.hwconfigs.registry import CALIBRATION_CONSTANTS, OP_CLASSES, PRECISIONS
from attnsim.hwconfigs.schema import BOUNDS, COUNT, QTY, Section, check_value, suggest
from attnsim.hwconfigs.sources import push_down
from pydantic import ValidationError

__all__ = ["MAX_OVERRIDES", "freeze_rates", "merge", "merge_layer", "override_layer"]

#: Most override paths one variant may carry (a sweep point has a handful).
MAX_OVERRIDES = 256


def merge(base: Mapping[Any, Any], over: Mapping[Any, Any]) -> dict[Any, Any]:
    """``over`` merged onto ``base`` key by key (a leaf or a non-mapping replaces)."""
    out = dict(base)
    for key, value in over.items():
        old = out.get(key)
        if (
            isinstance(old, Mapping)
            and isinstance(value, Mapping)
            and "value" not in old
            and "value" not in value
        ):
            out[key] = merge(old, value)
        else:
            out[key] = value
    return out


def _count(name: Any, engine: Mapping[Any, Any], units: Any) -> int | None:
    unit = engine.get("unit", name)
    node = units.get(unit) if isinstance(units, Mapping) and isinstance(unit, str) else None
    raw = node.get("count") if isinstance(node, Mapping) else engine.get("count")
    try:
        return int(COUNT.check(raw).value)
    except ValidationError:
        return None


def freeze_rates(doc: Mapping[Any, Any]) -> dict[Any, Any]:
    """``doc`` with every engine's quoted ``throughput`` turned into ``ops_per_cycle``
    at the engine's count and clock in ``doc``; what cannot be converted stays (see the
    module docstring). ``throughput`` is kept (possibly empty) where it was given."""
    engines = doc.get("engines")
    if not isinstance(engines, Mapping):
        return dict(doc)
    new_engines: dict[Any, Any] = {}
    for name, engine in engines.items():
        quoted = engine.get("throughput") if isinstance(engine, Mapping) else None
        count = _count(name, engine, doc.get("units")) if isinstance(quoted, Mapping) else None
        clock = check_value("clock", engine.get("clock")) if count is not None else None
        if count is None or clock is None:
            new_engines[name] = engine
            continue
        given = engine.get("ops_per_cycle")
        per_cycle: dict[Any, Any] = (
            {op: dict(p) if isinstance(p, Mapping) else p for op, p in given.items()}
            if isinstance(given, Mapping)
            else {}
        )
        leftover: dict[Any, Any] = {}
        for op, precs in quoted.items():  # type: ignore[union-attr]
            if not isinstance(precs, Mapping) or not isinstance(per_cycle.get(op, {}), Mapping):
                leftover[op] = precs
                continue
            for prec, leaf in precs.items():
                rate = _per_cycle(op, prec, leaf, count, clock)
                if rate is None or prec in per_cycle.get(op, {}):
                    leftover.setdefault(op, {})[prec] = leaf
                else:
                    per_cycle.setdefault(op, {})[prec] = rate
        new_engines[name] = {**engine, "ops_per_cycle": per_cycle, "throughput": leftover}
    return {**doc, "engines": new_engines}


def _per_cycle(op: Any, prec: Any, leaf: Any, count: int, clock: float) -> dict[str, Any] | None:
    """The per-cycle leaf of one quoted rate, or None when it cannot be converted."""
    if op not in OP_CLASSES or prec not in PRECISIONS:
        return None
    try:
        ops_s, source = QTY["throughput"].check(leaf)
    except ValidationError:
        return None
    rate = ops_s / (count * clock)
    if BOUNDS["ops_per_cycle"].problem(rate, "") is not None:
        return None
    return {
        "value": rate,
        "source": f"{source} [{ops_s:.6g} ops/s over {count} units x {clock:.6g} Hz]",
    }


def merge_layer(base: Mapping[Any, Any], layer: Mapping[Any, Any]) -> dict[Any, Any]:
    """``layer`` merged onto a frozen ``base``; a rate the layer quotes as ``throughput``
    replaces the base's ``ops_per_cycle`` entry for the same op class and precision."""
    merged = merge(base, layer)
    engines = layer.get("engines")
    if not isinstance(engines, Mapping):
        return merged
    for name, engine in engines.items():
        quoted = engine.get("throughput") if isinstance(engine, Mapping) else None
        target = merged["engines"].get(name)
        rates = target.get("ops_per_cycle") if isinstance(target, Mapping) else None
        if not isinstance(quoted, Mapping) or not isinstance(rates, Mapping):
            continue
        own = engine.get("ops_per_cycle")
        own = own if isinstance(own, Mapping) else {}
        per_cycle = {op: dict(p) if isinstance(p, Mapping) else p for op, p in rates.items()}
        for op, precs in quoted.items():
            own_op = own.get(op)
            if isinstance(precs, Mapping) and isinstance(per_cycle.get(op), dict):
                for prec in precs:
                    if not isinstance(own_op, Mapping) or prec not in own_op:
                        per_cycle[op].pop(prec, None)
        merged["engines"][name] = {**target, "ops_per_cycle": per_cycle}
    return merged


def _schema_words() -> frozenset[str]:
    """Keys an override may introduce below an existing one (keys the schema knows); any
    other missing key is a typo of a name in the target."""
    fields = (name for section in Section.__subclasses__() for name in section.model_fields)
    return frozenset({*fields, *OP_CLASSES, *PRECISIONS, *CALIBRATION_CONSTANTS})


def override_layer(
    doc: Mapping[Any, Any], overrides: Mapping[Any, Any], origin: str
) -> tuple[dict[str, Any], list[str]]:
    """The layer that ``overrides`` (dotted path -> value) stand for, sources pushed
    down, and the problem lines of paths that name nothing in ``doc``."""
    p = Problems(origin)
    if not isinstance(overrides, Mapping):
        p.add(
            "<overrides>",
            f"is a {type(overrides).__name__}",
            "expected a mapping of key path -> value",
        )
        return {}, p.lines
    if len(overrides) > MAX_OVERRIDES:
        p.add("<overrides>", f"{len(overrides)} paths", f"expected at most {MAX_OVERRIDES}")
        return {}, p.lines
    shape = check_shape(dict(overrides), data_children)
    if shape is not None:
        p.add("<overrides>", shape[1], shape[2])
        return {}, p.lines
    words = _schema_words()
    layer: dict[str, Any] = {}
    for path, value in overrides.items():
        keys = path.split(".") if isinstance(path, str) else []
        if not keys or any(not k for k in keys):
            p.add(str(path), "is not a key path", "expected dotted keys such as 'units.sm.count'")
            continue
        if _names_nothing(doc, keys, path, words, p):
            continue
        cursor = layer
        for key in keys[:-1]:
            cursor = cursor.setdefault(key, {})
            if not isinstance(cursor, dict):
                p.add(path, "overlaps another override", "expected each path once")
                break
        else:
            cursor[keys[-1]] = value
    pushed = push_down(layer, p, "", f"override ({origin})")
    return pushed, p.lines


def _names_nothing(
    doc: Mapping[Any, Any], keys: list[str], path: str, words: frozenset[str], p: Problems
) -> bool:
    """Record a problem and return True when ``keys`` leave the target's keys."""
    node: Any = doc
    for depth, key in enumerate(keys[:-1]):
        if not isinstance(node, Mapping) or "value" in node:
            p.add(
                path,
                f"'{'.'.join(keys[:depth])}' holds a value, not keys",
                "expected a path that ends at a value",
            )
            return True
        if key not in node and key in words:
            node = {}  # a section the file does not use yet: the schema checks it
        elif key not in node:
            known = [str(k) for k in node]
            p.add(
                path,
                f"'{'.'.join(keys[: depth + 1])}' is not in the target",
                f"expected one of: {', '.join(known)}{suggest(key, known)}",
            )
            return True
        else:
            node = node[key]
    return False
