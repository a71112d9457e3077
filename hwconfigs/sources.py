"""``source:`` inheritance: a ``source`` on any mapping applies to every number beneath it.

:func:`push_down` rewrites one document (before ``base:`` merging, so that numbers a file
inherits keep the source of the file they came from): every scalar that may be a number
becomes ``{value: ..., source: ...}`` with the nearest ``source`` above it, and the
``source`` keys of ordinary mappings are removed. Scalars under keys that are names or
choices (``name``, ``kind``, ``unit``, ``scope`` ...) are left alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from attnsim.hwconfigs.errors import Problems, join_path

__all__ = ["TEXT_KEYS", "push_down"]

#: Keys whose scalar values are text or choices, never numbers needing a source.
TEXT_KEYS = frozenset(
    {
        "version",
        "name",
        "kind",
        "description",
        "base",
        "unit",
        "scope",
        "process",
        "kernel_families",
        "precision",
    }
)


def push_down(node: Any, problems: Problems, path: str = "", inherited: str | None = None) -> Any:
    """Return ``node`` with sources pushed down to its numeric leaves (see module doc)."""
    if not isinstance(node, Mapping):
        return node
    source = inherited
    if "source" in node:
        given = node["source"]
        if isinstance(given, str) and given.strip():
            source = given
        else:
            problems.add(
                f"{path}.source" if path else "source",
                f"is {given!r}",
                "expected the text of a source such as 'NVIDIA H100 datasheet, table 1'",
            )
    if "value" in node:  # a leaf written as {value: ..., source: ...}
        if source is not None and "source" not in node:
            return {**node, "source": source}
        return dict(node)
    out: dict[Any, Any] = {}
    for key, value in node.items():
        if key == "source":
            continue
        child = join_path(path, key)
        if isinstance(value, Mapping):
            out[key] = push_down(value, problems, child, source)
        elif key in TEXT_KEYS or isinstance(value, list) or source is None:
            out[key] = value
        else:
            out[key] = {"value": value, "source": source}
    return out
