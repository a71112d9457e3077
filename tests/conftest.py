"""Fixtures and hooks for the whole suite (this file sits at the root of tests/ so that the
pytest-xdist controller, which collects nothing, loads the fuzz summary hook).

``host-cpu`` is this machine's own target, measured on first use (about a minute) and
cached in the user's cache folder. No test may spend that minute or touch the user's
cache: every test runs with ``ATTNSIM_CACHE_DIR`` pointing at a temporary folder that
already holds this machine's cached target — a copy of the bundled ``host-cpu-example``
(measured on the project's development machine and labelled so: its name stays
``host-cpu-example``). Tests of the cache itself use ``empty_host_cache``.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from attnsim.hwconfigs import targets_dir
from hypothesis import settings

from attnsim.hosttarget import CACHE_ENV, EXAMPLE_TARGET, host_target_path

#: Property tests draw the same examples in every run (CI never fails on a new draw and a
#: failure reproduces bit for bit); ``ATTNSIM_HYPOTHESIS=explore`` draws new ones locally.
settings.register_profile("deterministic", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(
    "explore" if os.environ.get("ATTNSIM_HYPOTHESIS") == "explore" else "deterministic"
)


@pytest.fixture(autouse=True)
def host_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The cache folder of this test, holding the example as this machine's target."""
    folder = tmp_path_factory.mktemp("attnsim-cache")
    monkeypatch.setenv(CACHE_ENV, str(folder))
    example = Path(str(targets_dir().joinpath(f"{EXAMPLE_TARGET}.yaml")))
    shutil.copyfile(example, host_target_path())
    return folder


@pytest.fixture
def empty_host_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty cache folder (no host target yet)."""
    folder = tmp_path / "cache"
    monkeypatch.setenv(CACHE_ENV, str(folder))
    return folder


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
