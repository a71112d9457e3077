"""The sweep layer's bad-input error (a :class:`~attnsim.errors.ProblemsError`)."""

from __future__ import annotations

from attnsim.errors import ProblemsError

__all__ = ["SweepError"]


class SweepError(ProblemsError):
    """A sweep spec, results folder or option the user can fix; one line per problem,
    ``FILE: key.path: what was wrong; what was expected``."""
