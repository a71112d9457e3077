"""Hooks of the whole test run: the fuzz campaign's counts at the end (this file sits at the
root of tests/ so that the pytest-xdist controller, which collects nothing, loads it)."""

from __future__ import annotations

import json
from typing import Any


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print the inputs per family of ``test_fuzz_cli.py`` (recorded as the user property
    ``fuzz_counts`` of each campaign test, which pytest-xdist carries to the controller)."""
    counts: dict[str, int] = {}
    failed = 0
    for key in ("passed", "failed"):
        for report in terminalreporter.stats.get(key, []):
            for name, value in getattr(report, "user_properties", []):
                if name == "fuzz_counts":
                    counts.update(json.loads(value))
                    failed += key == "failed"
    if counts:
        listed = ", ".join(f"{family} {n:,}" for family, n in sorted(counts.items()))
        verdict = "no traceback, no hang" if not failed else f"{failed} families failed"
        terminalreporter.write_line(
            f"fuzz campaign: {sum(counts.values()):,} inputs ({listed}); {verdict}"
        )
