"""Tier one of validation: the schema (types, required keys, units, signs).

Input is the merged document (``base:`` resolved, ``source:`` pushed down to every
numeric leaf by :mod:`hwconfigs.sources`); output is a *normalised* plain dict of SI
floats plus the source of every number, or ``None`` in place of anything that was wrong.
Every problem is recorded, none raised, so one run reports them all.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

from attnsim.hwconfigs.errors import Problems, join_path
from attnsim.hwconfigs.registry import (
    ENGINE_KINDS,
    HARDWARE_KINDS,
    MEMORY_SCOPES,
    OP_CLASSES,
    PRECISIONS,
)
from attnsim.hwconfigs.units import DIMENSIONS, QuantityError, parse_any_quantity, parse_quantity

__all__ = ["TOP_KEYS", "ENGINE_KEYS", "MEMORY_KEYS", "check_document", "suggest"]

TOP_KEYS = (
    "version",
    "name",
    "kind",
    "description",
    "base",
    "units",
    "engines",
    "memory",
    "interconnect",
    "energy",
    "area",
    "kernel_families",
    "calibration",
)
ENGINE_KEYS = (
    "kind",
    "unit",
    "count",
    "clock",
    "ops_per_cycle",
    "throughput",
    "buffer",
    "energy",
    "static_power",
    "area",
    "params",
)
UNIT_KEYS = ("count",)
MEMORY_KEYS = (
    "capacity",
    "bandwidth",
    "latency",
    "read_energy",
    "write_energy",
    "scope",
    "unit",
    "ports",
    "area_density",
    "static_power_density",
)
INTERCONNECT_KEYS = ("name", "links", "bandwidth", "latency")
ENERGY_KEYS = ("per_op", "static_power", "tdp")
AREA_KEYS = ("total", "other", "breakdown", "process")

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")


def suggest(word: object, choices: Iterable[str]) -> str:
    """``" (did you mean 'x'?)"`` for the closest choice, or ``""``."""
    choices = list(choices)
    close = difflib.get_close_matches(str(word), choices, n=1, cutoff=0.6)
    if not close and str(word):
        close = [c for c in choices if c.startswith(str(word))][:1]
    return f" (did you mean {close[0]!r}?)" if close else ""


def _one_of(choices: Iterable[str], word: object = None) -> str:
    choices = list(choices)
    hint = suggest(word, choices) if word is not None else ""
    return f"expected one of: {', '.join(choices)}{hint}"


def _show(node: object) -> str:
    text = repr(node)
    return text if len(text) <= 60 else text[:57] + "..."


def _type_name(node: object) -> str:
    if node is None:
        return "empty (null)"
    if isinstance(node, bool):
        return "a true/false"
    if isinstance(node, Mapping):
        return "a mapping"
    if isinstance(node, list):
        return "a list"
    if isinstance(node, str):
        return f"the text {_show(node)}"
    return f"{_show(node)} ({type(node).__name__})"


def _is_leaf(node: object) -> bool:
    return isinstance(node, Mapping) and "value" in node


class _Checker:
    def __init__(self, problems: Problems) -> None:
        self.p = problems
        self.sources: dict[str, str] = {}

    # -- shapes ---------------------------------------------------------------------------
    def mapping(self, node: object, path: str, expected: str) -> Mapping[Any, Any] | None:
        if isinstance(node, Mapping) and not _is_leaf(node):
            return node
        shown = _type_name(node["value"] if _is_leaf(node) else node)  # type: ignore[index]
        self.p.add(path, f"is {shown}", f"expected {expected}")
        return None

    def keys(
        self,
        node: Mapping[Any, Any],
        path: str,
        accepted: Iterable[str],
        required: Mapping[str, str],
    ) -> None:
        accepted = list(accepted)
        for key in node:
            if key not in accepted:
                self.p.add(_join(path, key), "unknown key", _one_of(accepted, key))
        for key, expected in required.items():
            if key not in node:
                self.p.add(_join(path, key), "missing", f"expected {expected}")

    def names(self, node: Mapping[Any, Any], path: str, what: str) -> list[tuple[str, Any]]:
        out = []
        for key, value in node.items():
            if isinstance(key, str) and _NAME.match(key):
                out.append((key, value))
            else:
                self.p.add(
                    _join(path, key),
                    f"{_show(key)} is not a valid {what} name",
                    "expected a name of letters, digits, '_' or '-' starting with a letter",
                )
        return out

    # -- leaves ---------------------------------------------------------------------------
    def leaf(self, node: object, path: str) -> tuple[object, str | None, bool]:
        """(value, source, ok) of a numeric leaf written plainly or as {value, source}."""
        if isinstance(node, Mapping):
            if "value" not in node:
                self.p.add(
                    path,
                    "is a mapping without 'value'",
                    "expected a value, or {value: ..., source: ...}",
                )
                return None, None, False
            ok = True
            for key in node:
                if key not in ("value", "source"):
                    self.p.add(_join(path, key), "unknown key", _one_of(("value", "source"), key))
                    ok = False
            source = node.get("source")
            return node["value"], source if isinstance(source, str) else None, ok
        return node, None, True

    def _record_source(self, path: str, source: str | None) -> bool:
        if source is None:
            self.p.add(
                path,
                "has no source",
                "expected 'source: \"<datasheet, paper, table>\"' on this value or on a mapping above it",
            )
            return False
        self.sources[path] = source
        return True

    def quantity(
        self, node: object, path: str, dimension: str, *, positive: bool = True
    ) -> float | None:
        value, source, ok = self.leaf(node, path)
        if not ok:
            return None
        try:
            number = parse_quantity(value, dimension)
        except QuantityError as exc:
            self.p.add(path, exc.what, exc.expected)
            return None
        if positive and number <= 0:
            self.p.add(
                path,
                f"{_show(value)} is not positive",
                f"expected {DIMENSIONS[dimension].example} greater than zero",
            )
            return None
        if not positive and number < 0:
            self.p.add(
                path,
                f"{_show(value)} is negative",
                f"expected {DIMENSIONS[dimension].example}, zero or more",
            )
            return None
        return number if self._record_source(path, source) else None

    def integer(self, node: object, path: str, what: str) -> int | None:
        value, source, ok = self.leaf(node, path)
        if not ok:
            return None
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            self.p.add(
                path, f"is {_type_name(value)}", f"expected a whole number of {what}, such as 132"
            )
            return None
        if value < 1 or value > 2**53:
            self.p.add(
                path,
                f"{value} is out of range",
                f"expected a whole number of {what} from 1 to 2**53",
            )
            return None
        return value if self._record_source(path, source) else None

    def string(
        self, node: object, path: str, expected: str, choices: Iterable[str] | None = None
    ) -> str | None:
        if not isinstance(node, str) or not node.strip():
            self.p.add(path, f"is {_type_name(node)}", f"expected {expected}")
            return None
        if choices is not None:
            choices = list(choices)
            if node not in choices:
                self.p.add(path, f"{node!r} is not known", _one_of(choices, node))
                return None
        return node


def _join(path: str, key: object) -> str:
    return join_path(path, key)


def _op_table(
    c: _Checker, node: object, path: str, dimension: str, example: str, *, positive: bool = True
) -> dict[str, dict[str, float]] | None:
    """An ``op class -> precision -> quantity`` table (None if its shape is wrong)."""
    tp = c.mapping(node, path, f"a mapping of op class -> precision -> {example}")
    if tp is None:
        return None
    table: dict[str, dict[str, float]] = {}
    for op, precs in tp.items():
        opath = _join(path, op)
        if op not in OP_CLASSES:
            c.p.add(opath, f"unknown op class {_show(op)}", _one_of(OP_CLASSES, op))
            continue
        pm = c.mapping(precs, opath, f"a mapping of precision -> {example}")
        table[op] = {}
        for prec, value in (pm or {}).items():
            ppath = _join(opath, prec)
            if prec not in PRECISIONS:
                c.p.add(ppath, f"unknown precision {_show(prec)}", _one_of(PRECISIONS, prec))
                continue
            number = c.quantity(value, ppath, dimension, positive=positive)
            if number is not None:
                table[op][prec] = number
    return table


def _params(c: _Checker, node: object, path: str) -> dict[str, Any]:
    """An engine's unit-model parameters: name -> number, text or true/false."""
    pm = c.mapping(node, path, "a mapping of parameter name -> value, such as {rows: 64}")
    out: dict[str, Any] = {}
    for key, value in c.names(pm or {}, path, "parameter"):
        ppath = f"{path}.{key}"
        raw, source, ok = c.leaf(value, ppath)
        if not ok:
            continue
        if isinstance(raw, bool) or isinstance(raw, str):
            out[key] = raw
            if source is not None:
                c.sources[ppath] = source
        elif isinstance(raw, int | float) and math.isfinite(raw):
            if c._record_source(ppath, source):
                out[key] = raw
        else:
            c.p.add(ppath, f"is {_type_name(raw)}", "expected a finite number, text or true/false")
    return out


def _engine(
    c: _Checker, name: str, node: object, path: str, unit_counts: Mapping[str, int | None]
) -> dict[str, Any] | None:
    m = c.mapping(node, path, "a mapping with keys " + ", ".join(ENGINE_KEYS))
    if m is None:
        return None
    unit = m.get("unit", name)
    from_units = isinstance(unit, str) and unit in unit_counts
    required = {
        "kind": "an engine kind (" + ", ".join(ENGINE_KINDS) + ")",
        "clock": DIMENSIONS["frequency"].example,
    }
    if not from_units:
        required["count"] = (
            f"a whole number of instances, such as 132 (or 'units: {{{unit}: {{count: N}}}}')"
        )
    c.keys(m, path, ENGINE_KEYS, required)
    if "ops_per_cycle" not in m and "throughput" not in m:
        c.p.add(
            f"{path}.ops_per_cycle",
            "missing",
            "expected per-unit rates 'ops_per_cycle: {matmul: {fp16: 4096}}' or whole-group "
            "'throughput: {matmul: {fp16: 989.4 TFLOP/s}}'",
        )
    out: dict[str, Any] = {"name": name}
    out["kind"] = (
        c.string(m["kind"], f"{path}.kind", "an engine kind", ENGINE_KINDS) if "kind" in m else None
    )
    out["unit"] = (
        c.string(m["unit"], f"{path}.unit", "the name of the replicated unit, such as 'sm'")
        if "unit" in m
        else name
    )
    if from_units:
        if "count" in m:
            c.p.add(
                f"{path}.count",
                f"is given here and in units.{unit}.count",
                f"expected the count of unit '{unit}' once, in units.{unit}.count",
            )
        out["count"] = unit_counts[unit]
        out["_count_path"] = f"units.{unit}.count"
    else:
        out["count"] = c.integer(m["count"], f"{path}.count", "instances") if "count" in m else None
        out["_count_path"] = f"{path}.count"
    out["clock_hz"] = c.quantity(m["clock"], f"{path}.clock", "frequency") if "clock" in m else None
    per_cycle: dict[str, dict[str, float]] = {}
    shape_ok = True
    if "ops_per_cycle" in m:
        table = _op_table(
            c, m["ops_per_cycle"], f"{path}.ops_per_cycle", "dimensionless", "ops per cycle"
        )
        shape_ok = table is not None
        per_cycle = table or {}
    if "throughput" in m:
        # Whole-group rates (as datasheets quote them) at this engine's count and clock.
        tpath = f"{path}.throughput"
        table = _op_table(c, m["throughput"], tpath, "throughput", "throughput")
        shape_ok = shape_ok and table is not None
        count, clock = out["count"], out["clock_hz"]
        for op, precs in (table or {}).items():
            for prec, ops_s in precs.items():
                if prec in per_cycle.get(op, {}):
                    c.p.add(
                        f"{tpath}.{op}.{prec}",
                        f"is also given in {path}.ops_per_cycle.{op}.{prec}",
                        "expected each rate once, as ops_per_cycle or as throughput",
                    )
                    continue
                if count is None or clock is None:
                    shape_ok = False  # reported already; no cascade of "no precision" lines
                    continue
                per_cycle.setdefault(op, {})[prec] = ops_s / (count * clock)
                src = c.sources.pop(f"{tpath}.{op}.{prec}", "")
                c.sources[f"{path}.ops_per_cycle.{op}.{prec}"] = (
                    f"{src} [{ops_s:.6g} ops/s over {count} units x {clock:.6g} Hz]"
                )
    out["ops_per_cycle"] = per_cycle if shape_ok else None
    out["_rates_key"] = "throughput" if "throughput" in m else "ops_per_cycle"
    out["buffer_bytes"] = (
        c.quantity(m["buffer"], f"{path}.buffer", "size") if "buffer" in m else None
    )
    out["energy_per_op_j"] = (
        _op_table(c, m["energy"], f"{path}.energy", "energy_per_op", "energy", positive=False) or {}
        if "energy" in m
        else {}
    )
    out["static_power_w"] = (
        c.quantity(m["static_power"], f"{path}.static_power", "power", positive=False)
        if "static_power" in m
        else None
    )
    out["area_mm2"] = c.quantity(m["area"], f"{path}.area", "area") if "area" in m else None
    out["params"] = _params(c, m["params"], f"{path}.params") if "params" in m else {}
    return out


def _units(c: _Checker, node: object) -> dict[str, int | None]:
    """The ``units:`` section: replicated unit name -> instance count."""
    um = c.mapping(
        node, "units", "a mapping of unit name -> {count: N}, such as {sm: {count: 132}}"
    )
    out: dict[str, int | None] = {}
    for name, value in c.names(um or {}, "units", "unit"):
        path = f"units.{name}"
        m = c.mapping(value, path, "a mapping {count: N}")
        if m is None:
            out[name] = None
            continue
        c.keys(m, path, UNIT_KEYS, {"count": "a whole number of instances, such as 132"})
        out[name] = c.integer(m["count"], f"{path}.count", "instances") if "count" in m else None
    return out


def _memory_level(c: _Checker, name: str, node: object, path: str) -> dict[str, Any] | None:
    m = c.mapping(node, path, "a mapping with keys " + ", ".join(MEMORY_KEYS))
    if m is None:
        return None
    c.keys(
        m,
        path,
        MEMORY_KEYS,
        {
            "capacity": DIMENSIONS["size"].example,
            "bandwidth": DIMENSIONS["bandwidth"].example,
            "latency": DIMENSIONS["time"].example,
            "read_energy": DIMENSIONS["energy_per_byte"].example,
        },
    )
    out: dict[str, Any] = {"name": name}
    for key, field, dim, positive in (
        ("capacity", "capacity_bytes", "size", True),
        ("bandwidth", "bandwidth_bytes_per_s", "bandwidth", True),
        ("latency", "latency_s", "time", False),
        ("read_energy", "read_energy_j_per_byte", "energy_per_byte", False),
        ("write_energy", "write_energy_j_per_byte", "energy_per_byte", False),
    ):
        out[field] = (
            c.quantity(m[key], f"{path}.{key}", dim, positive=positive) if key in m else None
        )
    if "write_energy" not in m and out["read_energy_j_per_byte"] is not None:
        # A level without a separate write energy costs the same to write as to read.
        out["write_energy_j_per_byte"] = out["read_energy_j_per_byte"]
        c.sources[f"{path}.write_energy"] = c.sources[f"{path}.read_energy"]
    out["scope"] = (
        c.string(m["scope"], f"{path}.scope", "a scope", MEMORY_SCOPES)
        if "scope" in m
        else "shared"
    )
    out["unit"] = (
        c.string(m["unit"], f"{path}.unit", "the name of an engine unit, such as 'sm'")
        if "unit" in m
        else None
    )
    out["_has_unit"] = "unit" in m
    out["ports"] = c.integer(m["ports"], f"{path}.ports", "ports") if "ports" in m else None
    out["area_mm2_per_byte"] = (
        c.quantity(m["area_density"], f"{path}.area_density", "area_per_size")
        if "area_density" in m
        else None
    )
    out["static_power_w_per_byte"] = (
        c.quantity(
            m["static_power_density"],
            f"{path}.static_power_density",
            "power_per_size",
            positive=False,
        )
        if "static_power_density" in m
        else None
    )
    return out


def _interconnect(c: _Checker, node: object, path: str) -> dict[str, Any] | None:
    m = c.mapping(node, path, "a mapping with keys " + ", ".join(INTERCONNECT_KEYS))
    if m is None:
        return None
    c.keys(
        m,
        path,
        INTERCONNECT_KEYS,
        {
            "name": "a name such as 'nvlink4'",
            "links": "a whole number of links",
            "bandwidth": DIMENSIONS["bandwidth"].example,
        },
    )
    return {
        "name": c.string(m["name"], f"{path}.name", "a name such as 'nvlink4'")
        if "name" in m
        else None,
        "links": c.integer(m["links"], f"{path}.links", "links") if "links" in m else None,
        "bandwidth_bytes_per_s": c.quantity(m["bandwidth"], f"{path}.bandwidth", "bandwidth")
        if "bandwidth" in m
        else None,
        "latency_s": c.quantity(m["latency"], f"{path}.latency", "time", positive=False)
        if "latency" in m
        else 0.0,
    }


def _energy(c: _Checker, node: object, path: str) -> dict[str, Any] | None:
    m = c.mapping(node, path, "a mapping with keys " + ", ".join(ENERGY_KEYS))
    if m is None:
        return None
    c.keys(
        m,
        path,
        ENERGY_KEYS,
        {
            "per_op": "a mapping of op class -> precision -> energy such as {matmul: {fp16: '0.2 pJ'}}",
            "static_power": DIMENSIONS["power"].example,
        },
    )
    per_op: dict[str, dict[str, float]] = {}
    if "per_op" in m:
        ppath = f"{path}.per_op"
        pm = c.mapping(m["per_op"], ppath, "a mapping of op class -> precision -> energy")
        for op, precs in (pm or {}).items():
            opath = _join(ppath, op)
            if op not in OP_CLASSES:
                c.p.add(opath, f"unknown op class {_show(op)}", _one_of(OP_CLASSES, op))
                continue
            em = c.mapping(
                precs, opath, "a mapping of precision -> energy such as {fp16: '0.2 pJ'}"
            )
            per_op[op] = {}
            for prec, value in (em or {}).items():
                qpath = _join(opath, prec)
                if prec not in PRECISIONS:
                    c.p.add(qpath, f"unknown precision {_show(prec)}", _one_of(PRECISIONS, prec))
                    continue
                number = c.quantity(value, qpath, "energy_per_op", positive=False)
                if number is not None:
                    per_op[op][prec] = number
    return {
        "op_energy_j": per_op,
        "static_power_w": c.quantity(
            m["static_power"], f"{path}.static_power", "power", positive=False
        )
        if "static_power" in m
        else None,
        "tdp_w": c.quantity(m["tdp"], f"{path}.tdp", "power") if "tdp" in m else None,
    }


def _area(c: _Checker, node: object, path: str) -> dict[str, Any] | None:
    m = c.mapping(node, path, "a mapping with keys " + ", ".join(AREA_KEYS))
    if m is None:
        return None
    c.keys(m, path, AREA_KEYS, {})
    if "total" not in m and "other" not in m:
        c.p.add(
            f"{path}.total",
            "missing",
            f"expected the published die area ({DIMENSIONS['area'].example}), or 'other' "
            "(the area outside engines and memory levels)",
        )
    breakdown: dict[str, float] = {}
    if "breakdown" in m:
        bpath = f"{path}.breakdown"
        bm = c.mapping(m["breakdown"], bpath, "a mapping of block name -> area")
        for key, value in c.names(bm or {}, bpath, "block"):
            number = c.quantity(value, f"{bpath}.{key}", "area")
            if number is not None:
                breakdown[key] = number
    return {
        "total_mm2": c.quantity(m["total"], f"{path}.total", "area") if "total" in m else None,
        "other_mm2": c.quantity(m["other"], f"{path}.other", "area", positive=False)
        if "other" in m
        else None,
        "breakdown_mm2": breakdown,
        "process": c.string(m["process"], f"{path}.process", "a process name such as 'TSMC 4N'")
        if "process" in m
        else None,
    }


def check_document(
    doc: Mapping[Any, Any], problems: Problems
) -> tuple[dict[str, Any], dict[str, str]]:
    """Check the merged document against the schema; return (normalised, sources)."""
    c = _Checker(problems)
    required = {
        "version": "'version: 1'",
        "name": "a name such as 'h100-sxm5-80gb'",
        "kind": "one of " + ", ".join(HARDWARE_KINDS),
        "engines": "a mapping of engine name -> engine",
        "memory": "a mapping of level name -> level, nearest the engines first",
        "energy": "a mapping with keys " + ", ".join(ENERGY_KEYS),
    }
    c.keys(doc, "", TOP_KEYS, {k: v for k, v in required.items() if k != "version"})
    out: dict[str, Any] = {
        "name": c.string(doc["name"], "name", "a name such as 'h100-sxm5-80gb'")
        if "name" in doc
        else None,
        "kind": c.string(doc["kind"], "kind", "a device kind", HARDWARE_KINDS)
        if "kind" in doc
        else None,
        "description": "",
        "version": doc.get("version"),
    }
    if "description" in doc:
        d = doc["description"]
        if isinstance(d, str):
            out["description"] = d
        else:
            problems.add("description", f"is {_type_name(d)}", "expected a line of text")
    unit_counts = _units(c, doc["units"]) if "units" in doc else {}
    out["units"] = unit_counts
    engines: dict[str, dict[str, Any] | None] = {}
    if "engines" in doc:
        em = c.mapping(doc["engines"], "engines", "a mapping of engine name -> engine")
        if em is not None and not em:
            problems.add(
                "engines",
                "is empty",
                "expected at least one engine such as 'tensor: {kind: tensor, ...}'",
            )
        for name, node in c.names(em or {}, "engines", "engine"):
            engines[name] = _engine(c, name, node, f"engines.{name}", unit_counts)
    out["engines"] = engines
    memory: list[dict[str, Any]] = []
    if "memory" in doc:
        mm = c.mapping(doc["memory"], "memory", "a mapping of level name -> level, nearest first")
        if mm is not None and not mm:
            problems.add(
                "memory", "is empty", "expected at least one memory level such as 'hbm: {...}'"
            )
        for name, node in c.names(mm or {}, "memory", "memory level"):
            level = _memory_level(c, name, node, f"memory.{name}")
            if level is not None:
                memory.append(level)
    out["memory"] = memory
    out["interconnect"] = (
        _interconnect(c, doc["interconnect"], "interconnect") if "interconnect" in doc else None
    )
    out["energy"] = _energy(c, doc["energy"], "energy") if "energy" in doc else None
    out["area"] = _area(c, doc["area"], "area") if "area" in doc else None
    families: list[str] = []
    if "kernel_families" in doc:
        kf = doc["kernel_families"]
        if not isinstance(kf, list):
            problems.add(
                "kernel_families",
                f"is {_type_name(kf)}",
                "expected a list of kernel family names such as [flash-attention-2, unfused]",
            )
        else:
            for i, fam in enumerate(kf):
                if not isinstance(fam, str) or not _NAME.match(fam):
                    problems.add(
                        f"kernel_families[{i}]",
                        f"is {_type_name(fam)}",
                        "expected a kernel family name such as 'flash-attention-2'",
                    )
                elif fam in families:
                    problems.add(
                        f"kernel_families[{i}]",
                        f"{fam!r} is listed twice",
                        "expected each family once, best first",
                    )
                else:
                    families.append(fam)
    out["kernel_families"] = families
    calibration: dict[str, float] = {}
    if "calibration" in doc:
        cm = c.mapping(
            doc["calibration"], "calibration", "a mapping of constant name -> value with a source"
        )
        for key, node in c.names(cm or {}, "calibration", "calibration constant"):
            path = f"calibration.{key}"
            value, source, ok = c.leaf(node, path)
            if not ok:
                continue
            try:
                number = parse_any_quantity(value)
            except QuantityError as exc:
                problems.add(path, exc.what, exc.expected)
                continue
            if c._record_source(path, source):
                calibration[key] = number
    out["calibration"] = calibration
    return out, c.sources
