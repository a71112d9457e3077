"""The names the schema accepts are registries: one ``register_*`` call adds a name."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from attnsim.hwconfigs import (
    ENGINE_KINDS,
    OP_CLASSES,
    PRECISIONS,
    load_hardware,
    register_engine_kind,
    register_op_class,
    register_precision,
)
from attnsim.hwconfigs.errors import HardwareConfigError

from attnsim.registry import DuplicateRegistrationError, Registry


def test_names_are_registries_in_their_documented_order() -> None:
    for registry in (PRECISIONS, OP_CLASSES, ENGINE_KINDS):
        assert isinstance(registry, Registry)
    assert list(PRECISIONS) == [
        "fp64", "fp32", "tf32", "fp16", "bf16", "fp8", "int8", "fp4", "int4", "ternary"
    ]  # fmt: skip
    assert list(OP_CLASSES) == ["matmul", "vector", "exp"]
    with pytest.raises(
        HardwareConfigError, match=r"^x\.yaml: unknown precision 'fp12' \(did you mean 'fp32'\?\)"
    ):
        PRECISIONS.lookup("fp12", where="x.yaml")


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch) -> None:
    """Registrations made in a test are undone after it."""
    for registry in (PRECISIONS, OP_CLASSES, ENGINE_KINDS):
        monkeypatch.setattr(registry, "_items", dict(registry))


@pytest.mark.usefixtures("fresh")
def test_registered_names_are_accepted_by_the_schema(
    tiny: dict[str, Any], write: Callable[..., Path]
) -> None:
    register_precision("fp6", "6-bit float")
    register_op_class("gelu")
    register_engine_kind("photonic")
    tiny["engines"]["mac"]["kind"] = "photonic"
    tiny["engines"]["mac"]["throughput"]["gelu"] = {"fp6": "1 TOPS"}
    hw = load_hardware(write(tiny))
    assert hw.peak("gelu", "fp6") == 1e12


@pytest.mark.usefixtures("fresh")
@pytest.mark.parametrize(
    ("register", "name", "message"),
    [
        (register_precision, "fp16", "precision 'fp16' is already registered; expected a new name"),
        (register_op_class, "2x", "op class name must be an identifier string, got '2x'"),
        (register_engine_kind, "tensor", "engine kind 'tensor' is already registered"),
    ],
)
def test_duplicate_or_bad_names_are_refused(
    register: Callable[[str], None], name: str, message: str
) -> None:
    with pytest.raises(DuplicateRegistrationError, match=message):
        register(name)
    assert issubclass(DuplicateRegistrationError, ValueError)
