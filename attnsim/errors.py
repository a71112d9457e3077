"""The one error type for "problems": bad input the user can fix.

Every layer reports bad input (a malformed target, a workload file that does not parse,
an option the target cannot honour, an output that cannot be written) as a subclass of
:class:`ProblemsError`: a ``ValueError`` carrying *all* the problems found, each a
finished line ``FILE: key.path: what was wrong; what was expected``. The command line
prints the lines and exits 2, never a traceback; the Python API raises it.

This module is a foundation module: it imports nothing from the project, so every layer
(``hwconfigs``, ``workloads``, ``sim``, ``kernels``, ...) may use it without breaking
the one-way import rule (docs/ARCHITECTURE.md).
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["ProblemsError", "InputFileError", "OutputFileError", "one_line"]


def one_line(text: object) -> str:
    """``text`` as one printable line (newlines and control characters escaped), so a
    hostile file name or value can never forge extra lines in an error report."""
    s = str(text)
    if s.isprintable():
        return s
    return s.encode("unicode_escape", errors="backslashreplace").decode("ascii")


class ProblemsError(ValueError):
    """Bad input; ``problems`` holds one finished line per problem (never empty).

    Args:
        problems: the lines, or one line as a string. Newlines and control characters in
            a line (echoed from a hostile key or value) are escaped, so each problem stays
            one line.
    """

    def __init__(self, problems: Iterable[str] | str) -> None:
        # each problem is one printable line, whatever a hostile input put in it
        lines = [one_line(p) for p in ([problems] if isinstance(problems, str) else problems)]
        if not lines:
            lines = ["invalid input; no detail given"]
        self._problems = lines
        super().__init__("\n".join(lines))

    @property
    def problems(self) -> list[str]:
        """The problem lines (a copy)."""
        return list(self._problems)


class InputFileError(ProblemsError):
    """An input file is missing, unreadable, too large or not what it claims to be."""


class OutputFileError(ProblemsError):
    """An output cannot be written where the user asked (no such folder, not writable,
    a name the file system refuses)."""
