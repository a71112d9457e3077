"""Names the schema accepts: precisions, op classes, engine kinds, hardware kinds.

Each set is a registry: extending it is one ``register_*`` call, and a duplicate name is
refused, so two plug-ins cannot silently claim the same name.
"""

from __future__ import annotations

__all__ = [
    "PRECISIONS",
    "OP_CLASSES",
    "ENGINE_KINDS",
    "HARDWARE_KINDS",
    "MEMORY_SCOPES",
    "register_precision",
    "register_op_class",
    "register_engine_kind",
]

#: Numeric formats an engine can run, narrowest last (``ternary`` = weights in {-1, 0, +1}).
PRECISIONS: list[str] = [
    "fp64",
    "fp32",
    "tf32",
    "fp16",
    "bf16",
    "fp8",
    "int8",
    "fp4",
    "int4",
    "ternary",
]

#: Classes of work an engine's throughput is quoted for (ops/s; a MAC counts as 2 ops).
OP_CLASSES: list[str] = ["matmul", "vector", "exp"]

#: Kinds of compute engine.
ENGINE_KINDS: list[str] = [
    "tensor",
    "vector",
    "sfu",
    "ternary_mac",
    "attention_core",
    "cpu_core",
]

#: Kinds of device a file may describe.
HARDWARE_KINDS: tuple[str, ...] = ("gpu", "accelerator", "cpu")

#: Where a memory level lives: one shared instance, or one per instance of a compute unit.
MEMORY_SCOPES: tuple[str, ...] = ("shared", "per_unit")


def _register(registry: list[str], what: str, name: str) -> None:
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"{what} name must be an identifier string, got {name!r}")
    if name in registry:
        raise ValueError(f"{what} {name!r} is already registered; expected a new name")
    registry.append(name)


def register_precision(name: str) -> None:
    """Accept a new precision name (raises ``ValueError`` on a duplicate)."""
    _register(PRECISIONS, "precision", name)


def register_op_class(name: str) -> None:
    """Accept a new op class name (raises ``ValueError`` on a duplicate)."""
    _register(OP_CLASSES, "op class", name)


def register_engine_kind(name: str) -> None:
    """Accept a new engine kind (raises ``ValueError`` on a duplicate)."""
    _register(ENGINE_KINDS, "engine kind", name)
