"""Fixtures for the hwconfigs tests: a small valid target and helpers to write variants."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from attnsim.hwconfigs import HardwareConfigError, load_hardware

#: A minimal valid target: one engine in unit "pe", a per-unit buffer and a shared DRAM.
TINY: dict[str, Any] = {
    "version": 1,
    "name": "tiny",
    "kind": "accelerator",
    "source": "test fixture",
    "engines": {
        "mac": {
            "kind": "tensor",
            "unit": "pe",
            "count": 4,
            "clock": "1 GHz",
            "throughput": {"matmul": {"fp16": "8 TOPS", "int8": "16 TOPS"}},
        },
    },
    "memory": {
        "buf": {
            "scope": "per_unit",
            "unit": "pe",
            "capacity": "64 KiB",
            "bandwidth": "64 GB/s",
            "latency": "1 ns",
            "read_energy": "1 pJ/B",
        },
        "dram": {
            "capacity": "1 GiB",
            "bandwidth": "10 GB/s",
            "latency": "100 ns",
            "read_energy": "10 pJ/B",
        },
    },
    "energy": {"per_op": {"matmul": {"fp16": "0.5 pJ"}}, "static_power": "1 mW", "tdp": "1 W"},
}


@pytest.fixture
def tiny() -> dict[str, Any]:
    """A fresh deep copy of :data:`TINY` to mutate."""
    return copy.deepcopy(TINY)


@pytest.fixture
def write(tmp_path: Path) -> Callable[..., Path]:
    """``write(doc_or_text, name="tiny.yaml")`` -> path of the written YAML file."""

    def _write(doc: Any, name: str = "tiny.yaml") -> Path:
        path = tmp_path / name
        text = doc if isinstance(doc, str) else yaml.safe_dump(doc, sort_keys=False)
        path.write_text(text, encoding="utf-8")
        return path

    return _write


@pytest.fixture
def problems(write: Callable[..., Path]) -> Callable[..., list[str]]:
    """``problems(doc_or_text)`` -> the problem lines loading it raises (fails if it loads)."""

    def _problems(doc: Any, name: str = "tiny.yaml") -> list[str]:
        path = write(doc, name)
        with pytest.raises(HardwareConfigError) as info:
            load_hardware(path)
        return info.value.problems

    return _problems
