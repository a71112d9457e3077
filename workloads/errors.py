"""The one exception type for bad workload input.

Every loader and constructor in :mod:`workloads` reports bad input as a
:class:`WorkloadError`: a ``ValueError`` that carries *all* the problems found, each a
finished line ``FILE: field.path: what was wrong; what was expected`` (constructors,
which have no file, start the line with the object's name instead). The command line
prints the lines and exits 2.
"""

from __future__ import annotations

from collections.abc import Iterable

from attnsim.errors import ProblemsError


class WorkloadError(ProblemsError):
    """Bad workload input; ``problems`` holds one finished line per problem."""


def check_positive_int(where: str, name: str, value: object, minimum: int = 1) -> list[str]:
    """Problem lines (empty when fine) for an integer field that must be >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int):
        return [f"{where}.{name}: {value!r} is not an integer; expected an integer >= {minimum}"]
    if value < minimum:
        return [f"{where}.{name}: {value} is too small; expected an integer >= {minimum}"]
    return []


# --------------------------------------------------------------------------------------
# Reading typed fields of a frozen dataclass from a plain dict (the JSON form).
# --------------------------------------------------------------------------------------


def _type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def coerce(value: object, annotation: str, path: str, problems: list[str]) -> object:
    """Convert a JSON value to the Python type named by a dataclass ``annotation``.

    Understands the annotations used by workload dataclasses: ``int``, ``float``,
    ``bool``, ``str``, ``X | None``, ``tuple[X, ...]`` (nested). Appends a problem line
    (``path: what was wrong; what was expected``) and returns ``None`` on a mismatch.
    """
    annotation = annotation.replace(" ", "")
    if annotation.endswith("|None"):
        if value is None:
            return None
        return coerce(value, annotation[: -len("|None")], path, problems)
    if annotation.startswith("tuple[") and annotation.endswith(",...]"):
        inner = annotation[len("tuple[") : -len(",...]")]
        if not isinstance(value, list | tuple):
            problems.append(f"{path}: got {_type_name(value)}; expected a list")
            return None
        items = [coerce(v, inner, f"{path}[{i}]", problems) for i, v in enumerate(value)]
        return tuple(items)
    if annotation == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            problems.append(f"{path}: got {_type_name(value)} {value!r}; expected an integer")
            return None
        return value
    if annotation == "float":
        if isinstance(value, bool) or not isinstance(value, int | float):
            problems.append(f"{path}: got {_type_name(value)} {value!r}; expected a number")
            return None
        return float(value)
    if annotation == "bool":
        if not isinstance(value, bool):
            problems.append(f"{path}: got {_type_name(value)} {value!r}; expected true or false")
            return None
        return value
    if annotation == "str":
        if not isinstance(value, str):
            problems.append(f"{path}: got {_type_name(value)} {value!r}; expected a string")
            return None
        return value
    raise TypeError(f"coerce: unsupported annotation {annotation!r}")  # a programming error


def unknown_key(path: str, key: str, accepted: Iterable[str]) -> str:
    """The problem line for an unknown key: the accepted keys and the closest one."""
    import difflib

    names = sorted(accepted)
    close = difflib.get_close_matches(str(key), names, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"{path}: unknown field{hint}; expected one of {', '.join(names)}"
