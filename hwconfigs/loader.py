"""Loading a hardware file: parse -> resolve ``base:`` -> validate (two tiers) -> build.

``base:`` names a bundled target (``base: h100-sxm5-80gb``) or a YAML file relative to
the file that names it (``base: ./my-gpu.yaml``). The base is loaded first (recursively;
cycles are reported) and the file's mappings are merged into it key by key, so engines
and memory levels, which are mappings keyed by name, are overridden by name. A value
written as ``{value: ..., source: ...}`` replaces the inherited one as a whole.

Rates are per unit per cycle. A file may quote an engine's whole-group ``throughput``
(as datasheets do); it means "at this file's count and clock", so before a file's own
keys are merged into its base, the base's throughputs are *frozen* into
``ops_per_cycle``. A child (or a sweep override) that changes ``count`` or ``clock``
therefore scales the rates, and one that quotes a new ``throughput`` replaces the rate.

``overrides`` (for design-space sweeps) are dotted key paths into the document as a
user writes it (``{"units.sm.count": 100, "memory.hbm.bandwidth": "4.8 TB/s"}``); they
are one more layer on top of the file, checked like a file: a path that names nothing
in the target is refused with the keys it could have named.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import yaml
from attnsim.hwconfigs.errors import HardwareConfigError, Problems, format_problem
from attnsim.hwconfigs.model import (
    Area,
    Energy,
    Engine,
    FrozenMap,
    Hardware,
    Interconnect,
    MemoryLevel,
)
from attnsim.hwconfigs.registry import OP_CLASSES, PRECISIONS
from attnsim.hwconfigs.schema import (
    AREA_KEYS,
    ENERGY_KEYS,
    ENGINE_KEYS,
    MEMORY_KEYS,
    TOP_KEYS,
    check_document,
    suggest,
)
from attnsim.hwconfigs.sources import push_down
from attnsim.hwconfigs.units import QuantityError, parse_quantity
from attnsim.hwconfigs.validate import check_rules

__all__ = [
    "SCHEMA_VERSION",
    "UPGRADES",
    "load_hardware",
    "list_targets",
    "validate_file",
    "targets_dir",
    "hardware_from_dict",
    "dump_yaml",
]

#: The file format version this code reads and writes.
SCHEMA_VERSION = 1

#: ``UPGRADES[v]`` turns a version-``v`` document into a version-``v + 1`` one. Version 1
#: is the first format, so there is nothing to upgrade yet.
UPGRADES: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}

_SUFFIXES = (".yaml", ".yml")


def targets_dir() -> Traversable:
    """The folder of bundled target files (works installed, editable or from a checkout)."""
    return resources.files("attnsim.hwconfigs").joinpath("targets")


def list_targets() -> list[str]:
    """Names of the bundled targets, sorted."""
    return sorted(
        entry.name.rsplit(".", 1)[0]
        for entry in targets_dir().iterdir()
        if entry.is_file() and entry.name.endswith(_SUFFIXES)
    )


# -- parsing -------------------------------------------------------------------------------
_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BaseLoader):  # type: ignore[valid-type,misc]
    """Safe YAML loader that records duplicate keys instead of silently keeping the last."""

    duplicates: list[tuple[str, int]]


def _construct_mapping(loader: _Loader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        if isinstance(key_node, yaml.ScalarNode):
            key = loader.construct_object(key_node, deep=True)  # type: ignore[no-untyped-call]
            try:
                if key in seen:
                    loader.duplicates.append((str(key), key_node.start_mark.line + 1))
                seen.add(key)
            except TypeError:
                pass
    return _BaseLoader.construct_mapping(loader, node, deep=deep)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _parse(text: str, p: Problems) -> Any:
    try:
        loader = _Loader(text)
    except yaml.YAMLError as exc:  # the reader refuses control characters up front
        p.add("<document>", f"YAML error: {str(exc).splitlines()[0]}", "expected valid YAML text")
        return None
    loader.duplicates = []
    try:
        doc = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        p.add(
            "<document>",
            f"YAML syntax error{where}: {exc.problem or exc.context}",
            "expected valid YAML (check indentation, colons and quotes)",
        )
        return None
    except yaml.YAMLError as exc:
        p.add("<document>", f"YAML error: {str(exc).splitlines()[0]}", "expected valid YAML")
        return None
    finally:
        loader.dispose()
    for key, line in loader.duplicates:
        p.add(
            key,
            f"duplicate key at line {line}",
            "expected each key once in a mapping (the later one would silently win)",
        )
    return doc


def _check_version(doc: Mapping[Any, Any], p: Problems) -> dict[str, Any] | None:
    """Apply upgrades, or report why the version cannot be read; None means stop."""
    if "version" not in doc:
        p.add(
            "version",
            "missing",
            f"expected 'version: {SCHEMA_VERSION}' as the first line (files from before versioning are version 1: add 'version: 1')",
        )
        return dict(doc)
    version = doc["version"]
    if isinstance(version, bool) or not isinstance(version, int):
        p.add(
            "version", f"{version!r} is not a whole number", f"expected 'version: {SCHEMA_VERSION}'"
        )
        return dict(doc)
    if version > SCHEMA_VERSION:
        p.add(
            "version",
            f"version {version} is newer than this attnsim reads (version {SCHEMA_VERSION})",
            "expected an older file: upgrade attnsim (pip install -U attnsim) to read it",
        )
        return None
    if version < 1:
        p.add(
            "version", f"version {version} does not exist", f"expected 'version: {SCHEMA_VERSION}'"
        )
        return dict(doc)
    out = dict(doc)
    while out["version"] < SCHEMA_VERSION:
        out = UPGRADES[out["version"]](out)
    return out


# -- base resolution -----------------------------------------------------------------------
class _Source:
    """A file to read: what to call it in messages, how to read it, where its bases live."""

    def __init__(self, display: str, location: Traversable | Path, key: str) -> None:
        self.display = display
        self.location = location
        self.key = key

    def read(self) -> str:
        return self.location.read_text(encoding="utf-8")

    def sibling(self, ref: str) -> Traversable | Path:
        parent = self.location.parent if isinstance(self.location, Path) else targets_dir()
        return parent.joinpath(ref)


def _bundled(name: str) -> _Source | None:
    for suffix in _SUFFIXES:
        entry = targets_dir().joinpath(name + suffix)
        if entry.is_file():
            return _Source(name + suffix, entry, f"bundled:{name}")
    return None


def _user_file(path: Path, display: str) -> _Source:
    try:
        key = str(path.resolve())
    except (OSError, RuntimeError):
        key = str(path)
    return _Source(display, path, key)


def _resolve_base(ref: str, child: _Source) -> _Source | None:
    if not ref.endswith(_SUFFIXES) and "/" not in ref and os.sep not in ref:
        found = _bundled(ref)
        if found is not None:
            return found
        ref = ref + ".yaml"
    target = child.sibling(ref)
    if isinstance(target, Path):
        return _user_file(target, str(target)) if target.is_file() else None
    return _Source(ref, target, f"bundled:{ref}") if target.is_file() else None


def _leaf_value(node: Any) -> Any:
    return node.get("value") if isinstance(node, Mapping) and "value" in node else node


def _raw_count(engine: Mapping[Any, Any], units: Mapping[Any, Any]) -> int | None:
    unit = engine.get("unit")
    node = units.get(unit) if isinstance(unit, str) else None
    raw = _leaf_value(node.get("count")) if isinstance(node, Mapping) else engine.get("count")
    raw = _leaf_value(raw)
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 1:
        return None
    return raw


def _raw_clock(engine: Mapping[Any, Any]) -> float | None:
    try:
        clock = parse_quantity(_leaf_value(engine.get("clock")), "frequency")
    except (QuantityError, KeyError):
        return None
    return clock if clock > 0 else None


def _freeze_rates(doc: Mapping[Any, Any]) -> dict[Any, Any]:
    """``doc`` with every engine's whole-group ``throughput`` turned into per-unit
    ``ops_per_cycle`` at the engine's count and clock in ``doc`` (see module docstring).
    Anything that cannot be converted is left in place for the schema to report."""
    out = dict(doc)
    engines = doc.get("engines")
    if not isinstance(engines, Mapping):
        return out
    units = doc.get("units") if isinstance(doc.get("units"), Mapping) else {}
    new_engines: dict[Any, Any] = {}
    for name, engine in engines.items():
        if not isinstance(engine, Mapping) or not isinstance(engine.get("throughput"), Mapping):
            new_engines[name] = engine
            continue
        count, clock = _raw_count(engine, units), _raw_clock(engine)  # type: ignore[arg-type]
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
        for op, precs in engine["throughput"].items():
            if not isinstance(precs, Mapping) or not isinstance(per_cycle.get(op, {}), Mapping):
                leftover[op] = precs
                continue
            for prec, leaf in precs.items():
                source = leaf.get("source") if isinstance(leaf, Mapping) else None
                try:
                    ops_s = parse_quantity(_leaf_value(leaf), "throughput")
                except QuantityError:
                    ops_s = -1.0
                if ops_s <= 0 or not isinstance(source, str) or prec in per_cycle.get(op, {}):
                    leftover.setdefault(op, {})[prec] = leaf
                    continue
                per_cycle.setdefault(op, {})[prec] = {
                    "value": ops_s / (count * clock),
                    "source": f"{source} [{ops_s:.6g} ops/s over {count} units x {clock:.6g} Hz]",
                }
        new_engine = {k: v for k, v in engine.items() if k != "throughput"}
        new_engine["ops_per_cycle"] = per_cycle
        if leftover:
            new_engine["throughput"] = leftover
        new_engines[name] = new_engine
    out["engines"] = new_engines
    return out


def _merge_layer(base: Mapping[Any, Any], layer: Mapping[Any, Any]) -> dict[Any, Any]:
    """``layer`` merged onto a frozen ``base``; a rate the layer quotes as ``throughput``
    replaces the base's ``ops_per_cycle`` entry for the same op class and precision."""
    merged = _merge(base, layer)
    engines = layer.get("engines")
    if isinstance(engines, Mapping):
        for name, engine in engines.items():
            if not isinstance(engine, Mapping) or not isinstance(engine.get("throughput"), Mapping):
                continue
            target = merged.get("engines", {}).get(name)
            if not isinstance(target, Mapping) or not isinstance(
                target.get("ops_per_cycle"), Mapping
            ):
                continue
            own = (
                engine.get("ops_per_cycle")
                if isinstance(engine.get("ops_per_cycle"), Mapping)
                else {}
            )
            per_cycle = {
                op: dict(p) if isinstance(p, Mapping) else p
                for op, p in target["ops_per_cycle"].items()
            }
            for op, precs in engine["throughput"].items():
                rates = per_cycle.get(op)
                if not isinstance(precs, Mapping) or not isinstance(rates, dict):
                    continue
                own_op = own.get(op) if isinstance(own, Mapping) else None
                for prec in precs:
                    if not isinstance(own_op, Mapping) or prec not in own_op:
                        rates.pop(prec, None)
            merged["engines"][name] = {**target, "ops_per_cycle": per_cycle}
    return merged


def _merge(base: Mapping[Any, Any], over: Mapping[Any, Any]) -> dict[Any, Any]:
    out = dict(base)
    for key, value in over.items():
        old = out.get(key)
        if (
            isinstance(old, Mapping)
            and isinstance(value, Mapping)
            and "value" not in old
            and "value" not in value
        ):
            out[key] = _merge(old, value)
        else:
            out[key] = value
    return out


def _read_document(src: _Source, lines: list[str], stack: list[_Source]) -> dict[str, Any] | None:
    """The merged, source-pushed document of ``src`` and its bases; None after problems."""
    p = Problems(src.display)
    try:
        text = src.read()
    except (OSError, UnicodeDecodeError) as exc:
        p.add(
            "<document>",
            f"cannot be read ({exc.__class__.__name__}: {exc})",
            "expected a readable UTF-8 YAML file",
        )
        lines.extend(p.lines)
        return None
    doc = _parse(text, p)
    if doc is None and not p:
        p.add("<document>", "is empty", f"expected a mapping with keys {', '.join(TOP_KEYS)}")
    elif doc is not None and not isinstance(doc, Mapping):
        p.add(
            "<document>",
            f"top level is {_kind(doc)}",
            f"expected a mapping with keys {', '.join(TOP_KEYS)}",
        )
    if p and (doc is None or not isinstance(doc, Mapping)):
        lines.extend(p.lines)
        return None
    checked = _check_version(doc, p)
    if checked is None:
        lines.extend(p.lines)
        return None
    pushed = push_down(checked, p)
    lines.extend(p.lines)
    base_ref = pushed.pop("base", None)
    if base_ref is None:
        return pushed
    if not isinstance(base_ref, str) or not base_ref.strip():
        lines.append(
            format_problem(
                src.display,
                "base",
                f"is {base_ref!r}",
                "expected the name of a bundled target or a path to a YAML file",
            )
        )
        return None
    base = _resolve_base(base_ref, src)
    if base is None:
        names = list_targets()
        lines.append(
            format_problem(
                src.display,
                "base",
                f"{base_ref!r} is neither a bundled target nor a file next to this one",
                f"expected one of: {', '.join(names)}{suggest(base_ref, names)}, or a relative path to a YAML file",
            )
        )
        return None
    chain = stack + [src]
    if any(s.key == base.key for s in chain):
        start = next(i for i, s in enumerate(chain) if s.key == base.key)
        cycle = " -> ".join([s.display for s in chain[start:]] + [base.display])
        lines.append(
            format_problem(
                src.display,
                "base",
                f"inheritance cycle {cycle}",
                "expected a chain of bases that ends in a file without 'base:'",
            )
        )
        return None
    before = len(lines)
    base_doc = _read_document(base, lines, chain)
    if base_doc is None:
        if len(lines) == before:
            lines.append(
                format_problem(
                    src.display,
                    "base",
                    f"{base_ref!r} could not be loaded",
                    "expected a valid base file",
                )
            )
        return None
    merged = _merge_layer(_freeze_rates(base_doc), pushed)
    if "version" in pushed:
        merged["version"] = pushed["version"]
    return merged


def _kind(node: object) -> str:
    if isinstance(node, list):
        return "a list"
    if isinstance(node, str):
        return "a line of text"
    return f"a {type(node).__name__}"


# -- building ------------------------------------------------------------------------------
def _build(norm: dict[str, Any], sources: dict[str, str]) -> Hardware:
    engines = {
        name: Engine(
            name=name,
            kind=e["kind"],
            unit=e["unit"],
            count=e["count"],
            clock_hz=e["clock_hz"],
            ops_per_cycle=FrozenMap({op: FrozenMap(p) for op, p in e["ops_per_cycle"].items()}),
            buffer_bytes=e["buffer_bytes"],
            energy_per_op_j=FrozenMap({op: FrozenMap(p) for op, p in e["energy_per_op_j"].items()}),
            static_power_w=e["static_power_w"],
            area_mm2=e["area_mm2"],
            params=FrozenMap(e["params"]),
        )
        for name, e in norm["engines"].items()
    }
    memory = tuple(
        MemoryLevel(
            name=m["name"],
            capacity_bytes=m["capacity_bytes"],
            bandwidth_bytes_per_s=m["bandwidth_bytes_per_s"],
            latency_s=m["latency_s"],
            read_energy_j_per_byte=m["read_energy_j_per_byte"],
            write_energy_j_per_byte=m["write_energy_j_per_byte"],
            scope=m["scope"],
            unit=m["unit"],
            ports=m["ports"],
            area_mm2_per_byte=m["area_mm2_per_byte"],
            static_power_w_per_byte=m["static_power_w_per_byte"],
        )
        for m in norm["memory"]
    )
    ic = norm["interconnect"]
    en = norm["energy"]
    area = norm["area"]
    return Hardware(
        name=norm["name"],
        kind=norm["kind"],
        description=norm["description"],
        version=norm["version"],
        engines=FrozenMap(engines),
        memory=memory,
        interconnect=Interconnect(**ic) if ic is not None else None,
        energy=Energy(
            op_energy_j=FrozenMap({op: FrozenMap(p) for op, p in en["op_energy_j"].items()}),
            static_power_w=en["static_power_w"],
            tdp_w=en["tdp_w"],
        ),
        area=Area(
            total_mm2=area["total_mm2"],
            breakdown_mm2=FrozenMap(area["breakdown_mm2"]),
            process=area["process"],
            other_mm2=area["other_mm2"],
        )
        if area is not None
        else None,
        kernel_families=tuple(norm["kernel_families"]),
        calibration=FrozenMap(norm["calibration"]),
        sources=FrozenMap(dict(sorted(sources.items()))),
        declared_units=tuple(norm["units"]),
    )


#: Keys an override may introduce below an existing one (sections and table keys the
#: schema knows); any other missing key is a typo of a name in the target.
_SCHEMA_WORDS = frozenset(
    {*TOP_KEYS, *ENGINE_KEYS, *MEMORY_KEYS, *AREA_KEYS, *ENERGY_KEYS, *OP_CLASSES, *PRECISIONS}
)

#: Most override paths one variant may carry (a sweep point has a handful).
MAX_OVERRIDES = 256


def _override_layer(
    doc: Mapping[Any, Any], overrides: Mapping[str, Any], origin: str
) -> tuple[dict[str, Any], list[str]]:
    """The nested layer that ``overrides`` (dotted path -> value) stand for, and the
    problem lines of paths that name nothing in ``doc``."""
    p = Problems(origin)
    if len(overrides) > MAX_OVERRIDES:
        p.add("<overrides>", f"{len(overrides)} paths", f"expected at most {MAX_OVERRIDES}")
        return {}, p.lines
    layer: dict[str, Any] = {}
    for path, value in overrides.items():
        keys = path.split(".") if isinstance(path, str) else []
        if not keys or any(not k for k in keys):
            p.add(str(path), "is not a key path", "expected dotted keys such as 'units.sm.count'")
            continue
        node: Any = doc
        ok = True
        for depth, key in enumerate(keys[:-1]):
            where = ".".join(keys[: depth + 1])
            if not isinstance(node, Mapping) or "value" in node:
                p.add(
                    path,
                    f"'{'.'.join(keys[:depth])}' holds a value, not keys",
                    "expected a path that ends at a value",
                )
                ok = False
                break
            if key not in node and key in _SCHEMA_WORDS:
                node = {}  # a section the file does not use yet: the schema checks it
                continue
            if key not in node:
                known = [str(k) for k in node]
                p.add(
                    path,
                    f"'{where}' is not in the target",
                    f"expected one of: {', '.join(known)}{suggest(key, known)}",
                )
                ok = False
                break
            node = node[key]
        if not ok:
            continue
        cursor = layer
        for key in keys[:-1]:
            cursor = cursor.setdefault(key, {})
            if not isinstance(cursor, dict):
                p.add(path, "overlaps another override", "expected each path once")
                ok = False
                break
        if ok:
            cursor[keys[-1]] = value
    pushed = push_down(layer, p, "", f"override ({origin})")
    return pushed, p.lines


def _load_source(
    src: _Source, overrides: Mapping[str, Any] | None = None, origin: str = "overrides"
) -> Hardware:
    lines: list[str] = []
    try:
        doc = _read_document(src, lines, [])
        if doc is None:
            raise HardwareConfigError(lines)
        display = src.display
        if overrides:
            frozen = _freeze_rates(doc)
            layer, override_lines = _override_layer(frozen, overrides, origin)
            if override_lines:
                raise HardwareConfigError(override_lines)
            doc = _merge_layer(frozen, layer)
            display = f"{src.display} with {origin}"
        p = Problems(display)
        p.extend(lines)
        norm, sources = check_document(doc, p)
        check_rules(norm, p)
        p.raise_if_any()
        return _build(norm, sources)
    except RecursionError:
        raise HardwareConfigError(
            [
                format_problem(
                    src.display,
                    "<document>",
                    "nests too deeply (or refers to itself through a YAML alias)",
                    "expected a plain, finite document",
                )
            ]
        ) from None


def _source_for(name_or_path: str | os.PathLike[str]) -> _Source:
    text = os.fspath(name_or_path)
    looks_like_path = (
        not isinstance(name_or_path, str)
        or text.endswith(_SUFFIXES)
        or "/" in text
        or os.sep in text
        or Path(text).is_file()
    )
    if not looks_like_path:
        found = _bundled(text)
        if found is not None:
            return found
        names = list_targets()
        raise HardwareConfigError(
            [
                format_problem(
                    text,
                    "<document>",
                    "is neither a bundled target nor a file",
                    f"expected one of: {', '.join(names)}{suggest(text, names)}, or a path to a YAML file",
                )
            ]
        )
    path = Path(text)
    if not path.is_file():
        raise HardwareConfigError(
            [
                format_problem(
                    text,
                    "<document>",
                    "file not found",
                    "expected a path to a YAML file or a bundled target name",
                )
            ]
        )
    return _user_file(path, text)


def load_hardware(
    name_or_path: str | os.PathLike[str],
    overrides: Mapping[str, Any] | None = None,
    *,
    origin: str = "overrides",
) -> Hardware:
    """Load a bundled target by name (``"h100-sxm5-80gb"``) or a YAML file by path.

    ``overrides`` maps dotted key paths of the document to new values, written as in a
    file (``{"units.sm.count": 100, "engines.tensor.clock": "1.6 GHz"}``): a design
    variant, validated like a file. ``origin`` names where they came from in messages
    (``"sweep.yaml: axes"``). Raises :class:`HardwareConfigError` listing every problem.
    """
    return _load_source(_source_for(name_or_path), overrides, origin)


def validate_file(path: str | os.PathLike[str]) -> list[str]:
    """Problem lines of a hardware file (or bundled name); ``[]`` when it is valid."""
    try:
        load_hardware(path)
    except HardwareConfigError as exc:
        return exc.problems
    return []


def hardware_from_dict(doc: Mapping[str, Any], display: str = "<dict>") -> Hardware:
    """Validate and build a ``Hardware`` from an already parsed document (no ``base:``).

    Messages name ``display`` as the file.
    """
    p = Problems(display)
    checked = _check_version(doc, p)
    if checked is None:
        p.raise_if_any()
    pushed = push_down(checked, p)
    if "base" in pushed:
        p.add(
            "base",
            "is not supported here",
            "expected a complete document (load a file to use 'base:')",
        )
        pushed.pop("base")
    norm, sources = check_document(pushed, p)
    check_rules(norm, p)
    p.raise_if_any()
    return _build(norm, sources)


def dump_yaml(hardware: Hardware) -> str:
    """The YAML text of ``hardware.to_dict()`` (keys in schema order)."""
    return yaml.safe_dump(hardware.to_dict(), sort_keys=False, allow_unicode=True, width=100)
