"""Reading a target's YAML text safely: bounded in nodes and depth, no aliases, no
duplicate keys, no Python objects; every problem is one ``(key path, what, expected)``.

The checks run on libyaml's event stream *before* any node or Python object is built, so
a hostile file costs milliseconds: an alias bomb (a few hundred bytes that expand into
gigabytes through ``*aliases``) is refused at its first alias, and a deeply nested or
huge document at the bound. The size of the text
itself is bounded by the caller (:data:`MAX_FILE_BYTES`, read with
:func:`attnsim.fileio.read_input_text`).

Parsed documents are cached by their text (loading a bundled target is on the hot path
of sweeps); callers must treat the returned document as read-only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from typing import Any

import yaml
from attnsim.hwconfigs.errors import join_path

__all__ = ["MAX_FILE_BYTES", "MAX_NODES", "MAX_DEPTH", "Problem", "parse_yaml", "check_shape"]

#: Largest target file read (bytes): 20x the largest bundled target (host-cpu, ~13 KB).
MAX_FILE_BYTES = 256 * 1024
#: Most values (mapping keys, values and list items) a document may hold: ~20x the
#: largest bundled target.
MAX_NODES = 20_000
#: Deepest nesting accepted: the deepest path a target needs is 8 levels
#: (engines.x.throughput.matmul.fp16.value).
MAX_DEPTH = 24

#: One problem: (dotted key path, what was wrong, what was expected).
Problem = tuple[str, str, str]

_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BaseLoader):  # type: ignore[valid-type,misc]
    """Safe YAML loader that records duplicate keys instead of silently keeping the last."""

    duplicates: list[tuple[Any, int]]


def _construct_mapping(loader: _Loader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        if isinstance(key_node, yaml.ScalarNode):
            key = loader.construct_object(key_node, deep=True)  # type: ignore[no-untyped-call]
            try:
                if key in seen:
                    loader.duplicates.append((key, key_node.start_mark.line + 1))
                seen.add(key)
            except TypeError:
                pass
    return _BaseLoader.construct_mapping(loader, node, deep=deep)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


_TOO_MANY = (
    "<document>",
    f"holds more than {MAX_NODES} values",
    "expected a target file (the largest bundled one holds about 1000)",
)
_TOO_DEEP = (
    "<document>",
    f"nests deeper than {MAX_DEPTH} levels",
    "expected a target file (its deepest key path has 8 levels)",
)


def check_shape(root: Any, children: Callable[[Any], Iterable[Any] | None]) -> Problem | None:
    """A problem if ``root`` holds more than :data:`MAX_NODES` values or nests deeper
    than :data:`MAX_DEPTH` (a cycle does both); ``children(node)`` lists a node's
    children, or None for a scalar. Iterative, and stops at the first problem."""
    stack: list[tuple[Any, int]] = [(root, 1)]
    count = 0
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > MAX_NODES:
            return _TOO_MANY
        if depth > MAX_DEPTH:
            return _TOO_DEEP
        kids = children(node)
        if kids is not None:
            stack.extend((kid, depth + 1) for kid in kids)
    return None


def data_children(node: Any) -> Iterable[Any] | None:
    """Children of plain Python data (for :func:`check_shape` on override values)."""
    if isinstance(node, Mapping):
        return [part for pair in node.items() for part in pair]
    if isinstance(node, list | tuple | set | frozenset):
        return list(node)
    return None


def _scan(text: str) -> Problem | None:
    """Walk libyaml's events (before any node is built): a problem at the first alias,
    past :data:`MAX_NODES` values or past :data:`MAX_DEPTH` levels."""
    loader = _Loader(text)
    count = depth = 0
    try:
        while loader.check_event():
            event = loader.get_event()
            if isinstance(event, yaml.AliasEvent):
                line, column = event.start_mark.line + 1, event.start_mark.column + 1  # type: ignore[union-attr]
                return (
                    "<document>",
                    f"has a YAML alias at line {line}, column {column}",
                    "expected every value written out (YAML anchors and aliases are not "
                    "accepted: a few aliases can expand a small file into gigabytes)",
                )
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
            count += isinstance(event, yaml.NodeEvent)
            if count > MAX_NODES:
                return _TOO_MANY
            if depth > MAX_DEPTH:
                return _TOO_DEEP
    finally:
        loader.dispose()
    return None


def _syntax(exc: yaml.MarkedYAMLError) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    return (
        "<document>",
        f"YAML syntax error{where}: {exc.problem or exc.context}",
        "expected valid YAML (check indentation, colons and quotes)",
    )


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0]


@lru_cache(maxsize=64)
def parse_yaml(text: str) -> tuple[Any, tuple[Problem, ...]]:
    """``(document, problems)`` of YAML ``text``; the document is None when it cannot be
    read (the problems say why) and for an empty text (no problems)."""
    try:
        shape = _scan(text)
        if shape is not None:
            return None, (shape,)
        loader = _Loader(text)
    except yaml.MarkedYAMLError as exc:
        return None, (_syntax(exc),)
    except yaml.YAMLError as exc:  # the reader refuses control characters up front
        return None, (("<document>", f"YAML error: {_first_line(exc)}", "expected valid YAML"),)
    loader.duplicates = []
    try:
        doc = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        return None, (_syntax(exc),)
    except yaml.YAMLError as exc:
        return None, (("<document>", f"YAML error: {_first_line(exc)}", "expected valid YAML"),)
    except (ValueError, TypeError, OverflowError) as exc:  # e.g. an integer of 5000 digits
        return None, (
            ("<document>", f"a value cannot be read: {_first_line(exc)}", "expected valid YAML"),
        )
    finally:
        loader.dispose()
    problems = tuple(
        (
            join_path("", key),
            f"duplicate key at line {line}",
            "expected each key once in a mapping (the later one would silently win)",
        )
        for key, line in loader.duplicates
    )
    return doc, problems
