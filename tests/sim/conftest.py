"""Fixtures for simulator tests (helpers live in simkit.py)."""

from __future__ import annotations

import pytest
from attnsim.hwconfigs import Hardware, hardware_from_dict, load_hardware
from simkit import toy_gpu_doc


@pytest.fixture(scope="session")
def toy_gpu() -> Hardware:
    return hardware_from_dict(toy_gpu_doc(), "toy.yaml")


@pytest.fixture(scope="session")
def h100() -> Hardware:
    return load_hardware("h100-sxm5-80gb")
