"""Loading a hardware file: read -> parse -> resolve ``base:`` -> validate (two tiers) -> build.

A file is read with a size bound (:data:`~hwconfigs.parse.MAX_FILE_BYTES`) and parsed
with bounds on nodes and depth and without YAML aliases (:mod:`hwconfigs.parse`), so a
hostile file costs milliseconds; every failure is one line, never an ``OSError``.

``base:`` names a bundled target (``base: h100-sxm5-80gb``) or a ``.yaml``/``.yml``
file in the folder of the file that names it or below it (``base: ./variants/x.yaml``);
nothing else is read. A base must itself look like a target file (a mapping with
``version:`` and only target keys), or it is refused in one line that never shows its
content. Bases are loaded first (recursively; cycles are reported) and the file is
merged onto them (:mod:`hwconfigs.layers`), then overrides, then the schema
(:mod:`hwconfigs.schema`) and the cross-field rules (:mod:`hwconfigs.validate`) check
the result, and it is built into a frozen :class:`~hwconfigs.model.Hardware`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import yaml
from attnsim.hwconfigs.derived import (
    LEAKAGE_DENSITY,
    describe,
    leakage_w,
    param_values,
    unit_model_area,
    unit_model_rates,
)
from attnsim.hwconfigs.errors import HardwareConfigError, Problems, format_problem
from attnsim.hwconfigs.layers import freeze_rates, merge_layer, override_layer
from attnsim.hwconfigs.model import (
    Area,
    Energy,
    Engine,
    FigureOfMerit,
    FrozenMap,
    Hardware,
    Interconnect,
    MemoryLevel,
)
from attnsim.hwconfigs.parse import MAX_FILE_BYTES, parse_yaml
from attnsim.hwconfigs.schema import Document, Num, check_document, suggest
from attnsim.hwconfigs.sources import push_down
from attnsim.hwconfigs.validate import check_rules, engine_count, engine_unit

from attnsim.errors import InputFileError, one_line
from attnsim.fileio import read_input_text

__all__ = [
    "SCHEMA_VERSION",
    "UPGRADES",
    "MAX_BASE_DEPTH",
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

#: Longest chain of ``base:`` files (a target and a few variants of it need 2 or 3).
MAX_BASE_DEPTH = 16

_SUFFIXES = (".yaml", ".yml")
_TOP_KEYS = tuple(Document.model_fields)
_TOP = f"expected a mapping with keys {', '.join(_TOP_KEYS)}"


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


# -- sources: what to read, how to name it, where its bases may live ------------------------
class _Unreadable(Exception):
    def __init__(self, what: str, expected: str) -> None:
        super().__init__(what)
        self.what, self.expected = what, expected


@dataclass(frozen=True)
class _Source:
    """A file to read: its name in messages, its identity (for cycles), where it is."""

    display: str
    key: str
    path: Path | None = None  # a user's file
    entry: Traversable | None = None  # a bundled file

    def read(self) -> str:
        if self.entry is not None:  # package data
            return self.entry.read_text(encoding="utf-8")
        assert self.path is not None
        try:
            return read_input_text(self.path, what="hardware target", max_bytes=MAX_FILE_BYTES)
        except InputFileError as exc:
            line = exc.problems[0]
            where = f"{one_line(self.path)}: "
            line = line[len(where) :] if line.startswith(where) else line
            if line.startswith("no such file"):
                raise _Unreadable(
                    "file not found", "expected a path to a YAML file or a bundled target name"
                ) from None
            what, _, expected = line.partition("; ")
            raise _Unreadable(
                what, expected or f"expected a readable YAML file of at most {MAX_FILE_BYTES} bytes"
            ) from None


def _bundled(name: str) -> _Source | None:
    """The bundled target ``name`` (a bare name, or a file name in the targets folder)."""
    if "/" in name or os.sep in name or name.startswith("."):
        return None
    files = [name] if name.endswith(_SUFFIXES) else [name + suffix for suffix in _SUFFIXES]
    for file in files:
        entry = targets_dir().joinpath(file)
        if entry.is_file():
            return _Source(file, f"bundled:{file}", entry=entry)
    return None


def _is_name(text: str) -> bool:
    return "/" not in text and os.sep not in text and not text.endswith(_SUFFIXES)


def _base_of(child: _Source, ref: str) -> _Source | tuple[str, str]:
    """The base file ``ref`` names, or (what, expected) saying why it may not be read.

    A bare name is a bundled target (or, for a user's file, ``name.yaml`` beside it); a
    bundled target's base is bundled; a user's file's base is a .yaml/.yml file in its
    folder or below it (after following links)."""
    found = _bundled(ref) if _is_name(ref) or child.path is None else None
    if found is not None:
        return found
    names = list_targets()
    missing = (
        f"{ref!r} is neither a bundled target nor a file next to this one",
        f"expected one of: {', '.join(names)}{suggest(ref, names)}, or a relative path to a YAML file",
    )
    if child.path is None:
        return missing
    ref = ref + ".yaml" if _is_name(ref) else ref
    rule = "expected a bundled target name or a .yaml/.yml file in this file's folder or below it"
    if not ref.endswith(_SUFFIXES):
        return f"{ref!r} is not a .yaml/.yml file", rule
    folder, target = child.path.parent, child.path.parent / ref
    try:
        if not target.resolve().is_relative_to(folder.resolve()):
            return f"{ref!r} is outside the folder of this file", rule
        if not target.is_file():
            return missing
    except (OSError, RuntimeError, ValueError):
        return missing
    return _Source(one_line(target), str(target.resolve()), path=target)


def _source_for(name_or_path: str | os.PathLike[str]) -> _Source:
    text = os.fspath(name_or_path)
    if isinstance(name_or_path, str) and _is_name(text):
        found = _bundled(text)
        if found is not None:
            return found
        try:
            exists = os.path.exists(text)
        except (OSError, ValueError):
            exists = False
        if not exists:
            names = list_targets()
            raise HardwareConfigError(
                format_problem(
                    one_line(text),
                    "<document>",
                    "is neither a bundled target nor a file",
                    f"expected one of: {', '.join(names)}{suggest(text, names)}, or a path to a YAML file",
                )
            )
    path = Path(text)
    try:
        key = str(path.resolve())
    except (OSError, RuntimeError, ValueError):
        key = text
    return _Source(one_line(text), key, path=path)


# -- reading one file and its bases ---------------------------------------------------------
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
            "version",
            f"{version!r} is not a whole number"[:80],
            f"expected 'version: {SCHEMA_VERSION}'",
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


def _kind(node: object) -> str:
    if isinstance(node, list):
        return "a list"
    if isinstance(node, str):
        return "a line of text"
    return f"a {type(node).__name__}"


def _not_a_target(src: _Source, text: str) -> str | None:
    """Why the text of a base file is not a target file (never quoting it), or None.
    YAML that does not parse is left to the normal report (its lines quote no value)."""
    doc, problems = parse_yaml(text)
    if doc is None:
        return None if problems else "it is empty"
    if not isinstance(doc, Mapping):
        return "its top level is not a mapping"
    if not isinstance(doc.get("version"), int) or isinstance(doc.get("version"), bool):
        return "it has no 'version:' number"
    if any(key not in _TOP_KEYS and key != "source" for key in doc):
        return "it has keys a target does not have"
    return None


def _layer(src: _Source, lines: list[str]) -> dict[str, Any] | None:
    """The file's own document (version checked, sources pushed down), or None."""
    p = Problems(src.display)
    try:
        text = src.read()
    except _Unreadable as exc:
        p.add("<document>", exc.what, exc.expected)
        lines.extend(p.lines)
        return None
    doc, problems = parse_yaml(text)
    for path, what, expected in problems:
        p.add(path, what, expected)
    if doc is None and not p:
        p.add("<document>", "is empty", _TOP)
    elif doc is not None and not isinstance(doc, Mapping):
        p.add("<document>", f"top level is {_kind(doc)}", _TOP)
    elif isinstance(doc, Mapping) and doc and not any(key in _TOP_KEYS for key in doc):
        p.add("<document>", "has none of the keys of a hardware target", _TOP)
    if p and (doc is None or not isinstance(doc, Mapping) or not any(k in _TOP_KEYS for k in doc)):
        lines.extend(p.lines)
        return None
    checked = _check_version(doc, p)
    if checked is None:
        lines.extend(p.lines)
        return None
    pushed = push_down(checked, p)
    lines.extend(p.lines)
    return pushed  # type: ignore[no-any-return]


def _document(src: _Source, lines: list[str], chain: list[_Source]) -> dict[str, Any] | None:
    """The merged document of ``src`` over its bases (problems go to ``lines``)."""
    pushed = _layer(src, lines)
    if pushed is None:
        return None
    ref = pushed.pop("base", None)
    if ref is None:
        return pushed

    def refuse(what: str, expected: str) -> None:
        lines.append(format_problem(src.display, "base", what, expected))

    if not isinstance(ref, str) or not ref.strip():
        refuse(f"is {ref!r}"[:80], "expected the name of a bundled target or a path to a YAML file")
        return None
    base = _base_of(src, ref)
    if isinstance(base, tuple):
        refuse(*base)
        return None
    chain = [*chain, src]
    if any(s.key == base.key for s in chain):
        start = next(i for i, s in enumerate(chain) if s.key == base.key)
        cycle = " -> ".join([s.display for s in chain[start:]] + [base.display])
        refuse(
            f"inheritance cycle {cycle}",
            "expected a chain of bases that ends in a file without 'base:'",
        )
        return None
    if len(chain) >= MAX_BASE_DEPTH:
        refuse(f"is the {len(chain)}th base in a chain", f"expected at most {MAX_BASE_DEPTH}")
        return None
    try:
        why = _not_a_target(base, base.read())
    except _Unreadable as exc:
        why = f"it cannot be read: {exc.what}"
    if why is not None:
        refuse(
            f"{ref!r} is not a hardware target file ({why})",
            f"expected a target YAML file with 'version: {SCHEMA_VERSION}' and target keys",
        )
        return None
    before = len(lines)
    base_doc = _document(base, lines, chain)
    if base_doc is None:
        if len(lines) == before:
            refuse(f"{ref!r} could not be loaded", "expected a valid base file")
        return None
    merged = merge_layer(freeze_rates(base_doc), pushed)
    if "version" in pushed:
        merged["version"] = pushed["version"]
    return merged


# -- building ------------------------------------------------------------------------------
def _value(num: Num | None) -> Any:
    return None if num is None else num.value


def _table(table: Mapping[str, Mapping[str, Num]] | None) -> FrozenMap[str, Any]:
    return FrozenMap(
        {
            op: FrozenMap({p: n.value for p, n in precs.items()})
            for op, precs in (table or {}).items()
        }
    )


def _rates(name: str, e: Any, sources: dict[str, str]) -> FrozenMap[str, Any]:
    """The engine's ``ops_per_cycle``: as stated, plus what its unit model derives
    (:mod:`hwconfigs.derived`; a stated rate that disagrees was refused by the rules)."""
    table = {op: dict(precs) for op, precs in _table(e.ops_per_cycle).items()}
    params = param_values(e.params)
    derived = unit_model_rates(params)
    if derived is not None:
        note = describe(derived, params)
        for op, precs in derived.ops_per_cycle.items():
            for prec, value in precs.items():
                if prec not in table.get(op, {}):
                    table.setdefault(op, {})[prec] = value
                    sources[f"engines.{name}.ops_per_cycle.{op}.{prec}"] = note
    return FrozenMap({op: FrozenMap(precs) for op, precs in table.items()})


def _area(name: str, e: Any, sources: dict[str, str]) -> float | None:
    """One instance's area: as stated, or priced from its unit model's components
    (:func:`hwconfigs.derived.unit_model_area`; a disagreement was refused by the rules)."""
    if e.area is not None:
        return float(e.area.value)
    derived = unit_model_area(param_values(e.params))
    if derived is None or derived.area_mm2 is None:
        return None
    sources[f"engines.{name}.area"] = derived.note
    return derived.area_mm2


def _static(name: str, e: Any, area: float | None, sources: dict[str, str]) -> float | None:
    """One instance's leakage: as stated, or ``leakage_density`` x its area."""
    if e.static_power is not None:
        return float(e.static_power.value)
    watts, _ = leakage_w(param_values(e.params), area)
    if watts is not None:
        sources[f"engines.{name}.static_power"] = (
            f"derived: params.{LEAKAGE_DENSITY} x this engine's area"
        )
    return watts


def _build(doc: Document, sources: dict[str, str]) -> Hardware:
    """The frozen hardware of a document that passed both tiers."""
    assert doc.engines and doc.memory and doc.energy and doc.name and doc.kind
    engines = {}
    for name, e in doc.engines.items():
        engine_area = _area(name, e, sources)
        engines[name] = Engine(
            name=name,
            kind=str(e.kind),
            unit=engine_unit(name, e),
            count=_value(engine_count(doc, name, e)),
            clock_hz=_value(e.clock),
            ops_per_cycle=_rates(name, e, sources),
            buffer_bytes=_value(e.buffer),
            energy_per_op_j=_table(e.energy),
            static_power_w=_static(name, e, engine_area, sources),
            area_mm2=engine_area,
            params=FrozenMap({k: n.value for k, n in (e.params or {}).items()}),
        )
    memory = []
    for name, m in doc.memory.items():
        if m.write_energy is None:  # writing costs what reading costs unless stated
            sources[f"memory.{name}.write_energy"] = sources[f"memory.{name}.read_energy"]
        memory.append(
            MemoryLevel(
                name=name,
                capacity_bytes=_value(m.capacity),
                bandwidth_bytes_per_s=_value(m.bandwidth),
                latency_s=_value(m.latency),
                read_energy_j_per_byte=_value(m.read_energy),
                write_energy_j_per_byte=_value(m.write_energy or m.read_energy),
                scope=m.scope or "shared",
                unit=m.unit,
                ports=_value(m.ports),
                area_mm2_per_byte=_value(m.area_density),
                static_power_w_per_byte=_value(m.static_power_density),
            )
        )
    ic, area = doc.interconnect, doc.area
    return Hardware(
        name=doc.name,
        kind=doc.kind,
        description=doc.description or "",
        version=doc.version,
        engines=FrozenMap(engines),
        memory=tuple(memory),
        interconnect=Interconnect(
            name=str(ic.name),
            links=_value(ic.links),
            bandwidth_bytes_per_s=_value(ic.bandwidth),
            latency_s=_value(ic.latency) or 0.0,
        )
        if ic is not None
        else None,
        energy=Energy(
            op_energy_j=_table(doc.energy.per_op),
            static_power_w=_value(doc.energy.static_power),
            tdp_w=_value(doc.energy.tdp),
        ),
        area=Area(
            total_mm2=_value(area.total),
            breakdown_mm2=FrozenMap({k: n.value for k, n in (area.breakdown or {}).items()}),
            process=area.process,
            other_mm2=_value(area.other),
        )
        if area is not None
        else None,
        kernel_families=doc.kernel_families or (),
        calibration=FrozenMap({k: n.value for k, n in (doc.calibration or {}).items()}),
        sources=FrozenMap(dict(sorted(sources.items()))),
        declared_units=tuple(doc.units or ()),
        figure_of_merit=FigureOfMerit(
            engines=tuple(fom.engines or ()),
            precision=str(fom.precision),
            ops_per_mac=int(_value(fom.ops_per_mac)),
        )
        if (fom := doc.figure_of_merit) is not None
        else None,
    )


def _validate(doc: Mapping[str, Any], p: Problems) -> Hardware:
    """Both tiers on a merged document (rates frozen), then the build."""
    model, sources, pruned = check_document(freeze_rates(doc), p)
    if model is not None:
        check_rules(model, p, pruned)
    p.raise_if_any()
    assert model is not None
    hw = _build(model, sources)
    _check_figure_of_merit(hw, p)
    p.raise_if_any()
    return hw


def _check_figure_of_merit(hw: Hardware, p: Problems) -> None:
    """The FOM convention names engines of the target that run matmul in its precision
    (checked on the built target: unit-model engines' rates are derived)."""
    f = hw.figure_of_merit
    if f is None:
        return
    for i, name in enumerate(f.engines):
        if name not in hw.engines:
            p.add(
                f"figure_of_merit.engines[{i}]",
                f"{name!r} is not an engine of this target",
                f"expected one of {', '.join(hw.engines)}" + suggest(name, hw.engines),
            )
            continue
        rates = hw.engines[name].throughput.get("matmul", {})
        if rates.get(f.precision, 0.0) <= 0:
            p.add(
                "figure_of_merit.precision",
                f"engine {name!r} runs no {f.precision} matmul",
                f"expected a precision of its matmul rates ({', '.join(rates) or 'none'})",
            )


# -- the public functions ------------------------------------------------------------------
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
    src = _source_for(name_or_path)
    lines: list[str] = []
    doc = _document(src, lines, [])
    if doc is None:
        raise HardwareConfigError(lines)
    display = src.display
    if overrides:
        frozen = freeze_rates(doc)
        layer, override_lines = override_layer(frozen, overrides, one_line(origin))
        if override_lines:
            raise HardwareConfigError(override_lines)
        doc = merge_layer(frozen, layer)
        display = f"{src.display} with {one_line(origin)}"
    p = Problems(display)
    p.extend(lines)
    return _validate(doc, p)


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
    p = Problems(one_line(display))
    if not isinstance(doc, Mapping):
        p.add("<document>", f"top level is {_kind(doc)}", _TOP)
        p.raise_if_any()
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
    return _validate(pushed, p)


def dump_yaml(hardware: Hardware) -> str:
    """The YAML text of ``hardware.to_dict()`` (keys in schema order)."""
    return yaml.safe_dump(hardware.to_dict(), sort_keys=False, allow_unicode=True, width=100)
