"""Loading a hardware file: parse -> resolve ``base:`` -> validate (two tiers) -> build.

``base:`` names a bundled target (``base: h100-sxm5-80gb``) or a YAML file relative to
the file that names it (``base: ./my-gpu.yaml``). The base is loaded first (recursively;
cycles are reported) and the file's mappings are merged into it key by key, so engines
and memory levels, which are mappings keyed by name, are overridden by name. A value
written as ``{value: ..., source: ...}`` replaces the inherited one as a whole.
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
from attnsim.hwconfigs.schema import TOP_KEYS, check_document, suggest
from attnsim.hwconfigs.sources import push_down
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
    merged = _merge(base_doc, pushed)
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
            throughput=FrozenMap({op: FrozenMap(p) for op, p in e["throughput"].items()}),
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
        )
        if area is not None
        else None,
        kernel_families=tuple(norm["kernel_families"]),
        calibration=FrozenMap(norm["calibration"]),
        sources=FrozenMap(dict(sorted(sources.items()))),
    )


def _load_source(src: _Source) -> Hardware:
    lines: list[str] = []
    try:
        doc = _read_document(src, lines, [])
        if doc is None:
            raise HardwareConfigError(lines)
        p = Problems(src.display)
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


def load_hardware(name_or_path: str | os.PathLike[str]) -> Hardware:
    """Load a bundled target by name (``"h100-sxm5-80gb"``) or a YAML file by path.

    Raises :class:`HardwareConfigError` listing every problem found.
    """
    return _load_source(_source_for(name_or_path))


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
