"""Fixtures for the whole suite.

``host-cpu`` is this machine's own target, measured on first use (about a minute) and
cached in the user's cache folder. No test may spend that minute or touch the user's
cache: every test runs with ``ATTNSIM_CACHE_DIR`` pointing at a temporary folder that
already holds this machine's cached target — a copy of the bundled ``host-cpu-example``
(measured on the project's development machine and labelled so: its name stays
``host-cpu-example``). Tests of the cache itself use ``empty_host_cache``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from attnsim.hwconfigs import targets_dir

from attnsim.hosttarget import CACHE_ENV, EXAMPLE_TARGET, host_target_path


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
