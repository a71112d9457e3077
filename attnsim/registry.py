"""The one registry helper: named plug-ins (kernel families, masks, op kinds, zoo models,
kernels, engine kinds, scheduling policies, sweep strategies, ...).

A plug-in is one module plus one registration line; a second registration under the
same name is refused, so two plug-ins cannot silently claim one name. A registry is a
read-only :class:`~collections.abc.Mapping` (``name in REG``, ``REG[name]``, iteration in
registration order), and :meth:`Registry.lookup` turns an unknown name into one
:class:`~attnsim.errors.ProblemsError` line that lists the known names and suggests the
closest one.

A foundation module: it imports nothing from the project but :mod:`attnsim.errors`.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator, Mapping
from typing import Generic, TypeVar

from attnsim.errors import ProblemsError

__all__ = ["Registry", "DuplicateRegistrationError"]

T = TypeVar("T")


class DuplicateRegistrationError(ValueError):
    """A plug-in was registered under a name already taken (a programming error)."""


class Registry(Mapping[str, T], Generic[T]):
    """Named plug-ins of one kind.

    Args:
        what: what the entries are, for messages ("kernel family", "mask kind").
        error: the :class:`ProblemsError` subclass :meth:`lookup` raises, so each layer's
            callers see that layer's error type.
    """

    def __init__(self, what: str, error: type[ProblemsError] = ProblemsError) -> None:
        self._what = what
        self._error = error
        self._items: dict[str, T] = {}

    @property
    def what(self) -> str:
        """What the entries are ("kernel family")."""
        return self._what

    def register(self, name: str, item: T) -> T:
        """Add ``item`` under ``name`` and return it; a taken name raises
        :class:`DuplicateRegistrationError`."""
        if not isinstance(name, str) or not name:
            raise DuplicateRegistrationError(
                f"{self._what} name must be a non-empty string, got {name!r}"
            )
        if name in self._items:
            raise DuplicateRegistrationError(
                f"{self._what} {name!r} is already registered; expected a new name"
            )
        self._items[name] = item
        return item

    def decorator(self, name_of: Callable[[T], str]) -> Callable[[T], T]:
        """A decorator that registers its argument under ``name_of(argument)`` (e.g.
        a class registered by its ``kind`` class attribute)."""

        def add(item: T) -> T:
            return self.register(name_of(item), item)

        return add

    def lookup(self, name: str, *, where: str = "") -> T:
        """The entry ``name``, or the registry's error with one line naming the known
        entries and the closest match. ``where`` prefixes the line (a file and key
        path, or a command-line option)."""
        try:
            return self._items[name]
        except (KeyError, TypeError):
            pass
        names = list(self._items)
        close = difflib.get_close_matches(str(name), names, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        prefix = f"{where}: " if where else ""
        raise self._error(
            f"{prefix}unknown {self._what} {name!r}{hint}; expected one of "
            f"{', '.join(sorted(names)) or '(none registered)'}"
        )

    def names(self) -> list[str]:
        """Registered names, in registration order."""
        return list(self._items)

    def __getitem__(self, name: str) -> T:
        return self._items[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Registry({self._what!r}, {len(self._items)} entries)"
