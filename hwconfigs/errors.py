"""The one exception for bad hardware files, and the collector that builds its lines."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from attnsim.errors import ProblemsError

__all__ = ["HardwareConfigError", "Problems", "format_problem", "join_path"]


def join_path(path: str, key: object) -> str:
    """``path.key``; a key that is not plain printable text is shown as ``repr``."""
    plain = isinstance(key, str) and key != "" and key.isprintable() and key.strip() == key
    text = key if plain else repr(key)
    return f"{path}.{text}" if path else str(text)


def format_problem(file: str, path: str, what: str, expected: str) -> str:
    """One finished problem line: ``FILE: key.path: what was wrong; what was expected``."""
    return f"{file}: {path or '<document>'}: {what}; {expected}"


class HardwareConfigError(ProblemsError):
    """Bad hardware description: ``problems`` holds one finished line per problem.

    Each line reads ``FILE: key.path: what was wrong; what was expected``. The exception
    collects every problem found in a file (and in the files it inherits from), so a
    single run shows them all.
    """

    def __init__(self, problems: Sequence[str] | str) -> None:
        super().__init__(problems)


class Problems:
    """Collects problem lines for one file; ``raise_if_any`` raises them together."""

    def __init__(self, file: str) -> None:
        self.file = file
        self._lines: list[str] = []

    def add(self, path: str, what: str, expected: str) -> None:
        """Record one problem at dotted key ``path``."""
        self._lines.append(format_problem(self.file, path, what, expected))

    def extend(self, lines: Iterable[str]) -> None:
        """Record already finished lines (e.g. from a base file)."""
        self._lines.extend(lines)

    @property
    def lines(self) -> list[str]:
        """The lines recorded so far (a copy)."""
        return list(self._lines)

    def __bool__(self) -> bool:
        return bool(self._lines)

    def raise_if_any(self) -> None:
        """Raise :class:`HardwareConfigError` with every recorded line, if any."""
        if self._lines:
            raise HardwareConfigError(self._lines)
