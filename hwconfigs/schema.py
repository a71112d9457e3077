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
    "engines",
    "memory",
    "interconnect",
    "energy",
    "area",
    "kernel_families",
    "calibration",
)
ENGINE_KEYS = ("kind", "unit", "count", "clock", "throughput")
MEMORY_KEYS = ("capacity", "bandwidth", "latency", "read_energy", "write_energy", "scope", "unit")
INTERCONNECT_KEYS = ("name", "links", "bandwidth", "latency")
ENERGY_KEYS = ("per_op", "static_power", "tdp")
AREA_KEYS = ("total", "breakdown", "process")

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


def _engine(c: _Checker, name: str, node: object, path: str) -> dict[str, Any] | None:
    m = c.mapping(node, path, "a mapping with keys " + ", ".join(ENGINE_KEYS))
    if m is None:
        return None
    c.keys(
        m,
        path,
        ENGINE_KEYS,
        {
            "kind": "an engine kind (" + ", ".join(ENGINE_KINDS) + ")",
            "count": "a whole number of instances, such as 132",
            "clock": DIMENSIONS["frequency"].example,
            "throughput": "a mapping of op class -> precision -> throughput",
        },
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
    out["count"] = c.integer(m["count"], f"{path}.count", "instances") if "count" in m else None
    out["clock_hz"] = c.quantity(m["clock"], f"{path}.clock", "frequency") if "clock" in m else None
    throughput: dict[str, dict[str, float]] = {}
    if "throughput" in m:
        tpath = f"{path}.throughput"
        tp = c.mapping(m["throughput"], tpath, "a mapping of op class -> precision -> throughput")
        for op, precs in (tp or {}).items():
            opath = _join(tpath, op)
            if op not in OP_CLASSES:
                c.p.add(opath, f"unknown op class {_show(op)}", _one_of(OP_CLASSES, op))
                continue
            pm = c.mapping(
                precs, opath, "a mapping of precision -> throughput such as {fp16: '989.4 TFLOP/s'}"
            )
            throughput[op] = {}
            for prec, value in (pm or {}).items():
                ppath = _join(opath, prec)
                if prec not in PRECISIONS:
                    c.p.add(ppath, f"unknown precision {_show(prec)}", _one_of(PRECISIONS, prec))
                    continue
                number = c.quantity(value, ppath, "throughput")
                if number is not None:
                    throughput[op][prec] = number
        out["throughput"] = throughput if tp is not None else None
    else:
        out["throughput"] = None
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
    c.keys(m, path, AREA_KEYS, {"total": DIMENSIONS["area"].example})
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
            engines[name] = _engine(c, name, node, f"engines.{name}")
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
