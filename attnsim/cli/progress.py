"""The one progress bar the commands show on stderr: a description, a bar, done of
total and the time taken; gone when the work ends (``transient``)."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

__all__ = ["step_bar"]


def step_bar(console: Console, *, auto_refresh: bool = True, disable: bool = False) -> Progress:
    """A bar for ``console``. ``auto_refresh=False`` where a refresh thread would take a
    core from a timed benchmark (the caller refreshes between steps)."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        auto_refresh=auto_refresh,
        transient=True,
        disable=disable,
    )
