"""Fixtures for simulator tests (helpers live in simkit.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from attnsim.hwconfigs import Hardware, load_hardware
from simkit import toy_gpu_doc, write_target


@pytest.fixture(scope="session")
def target_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding the toy GPU as a YAML file, for variants that name it as base."""
    folder = tmp_path_factory.mktemp("targets")
    write_target(folder, "toy-gpu-8", toy_gpu_doc())
    return folder


@pytest.fixture(scope="session")
def toy_path(target_dir: Path) -> Path:
    return target_dir / "toy-gpu-8.yaml"


@pytest.fixture(scope="session")
def toy_gpu(toy_path: Path) -> Hardware:
    return load_hardware(toy_path)


@pytest.fixture(scope="session")
def h100() -> Hardware:
    return load_hardware("h100-sxm5-80gb")
