"""Names the schema accepts: precisions, op classes, engine kinds, hardware kinds, memory
scopes, and the calibration constants a target may carry.

Each is an :class:`attnsim.registry.Registry` (the project's one registry helper): a
read-only mapping of name -> description (or, for calibration constants, the bounds that
give the constant its dimension). Extending one is one ``register_*`` call; a duplicate
name is refused, so two plug-ins cannot silently claim the same name. The schema reads
the registries when it checks a file, so a registration made before loading counts.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from attnsim.hwconfigs.errors import HardwareConfigError
from attnsim.hwconfigs.units import Bounds

from attnsim.registry import DuplicateRegistrationError, Registry

__all__ = [
    "PRECISIONS",
    "OP_CLASSES",
    "ENGINE_KINDS",
    "HARDWARE_KINDS",
    "MEMORY_SCOPES",
    "CALIBRATION_CONSTANTS",
    "register_precision",
    "register_op_class",
    "register_engine_kind",
    "register_calibration_constant",
]


def _names(what: str, entries: dict[str, str]) -> Registry[str]:
    registry: Registry[str] = Registry(what, HardwareConfigError)
    for name, meaning in entries.items():
        registry.register(name, meaning)
    return registry


#: Numeric formats an engine can run, widest first.
PRECISIONS = _names(
    "precision",
    {
        "fp64": "IEEE double",
        "fp32": "IEEE single",
        "tf32": "TensorFloat-32 (fp32 range, 10-bit mantissa)",
        "fp16": "IEEE half",
        "bf16": "bfloat16",
        "fp8": "8-bit float (E4M3/E5M2)",
        "int8": "8-bit integer",
        "fp4": "4-bit float",
        "int4": "4-bit integer",
        "ternary": "weights in {-1, 0, +1}",
    },
)

#: Classes of work an engine's rate is quoted for (a multiply-accumulate counts as 2 ops).
OP_CLASSES = _names(
    "op class",
    {
        "matmul": "matrix multiply-accumulate",
        "vector": "elementwise and reductions",
        "exp": "exponentials (softmax)",
    },
)

#: Kinds of compute engine.
ENGINE_KINDS = _names(
    "engine kind",
    {
        "tensor": "matrix unit (tensor core)",
        "vector": "SIMD lanes",
        "sfu": "special-function unit",
        "ternary_mac": "ternary-weight MAC array",
        "attention_core": "fused attention datapath",
        "cpu_core": "a CPU core",
    },
)

#: Kinds of device a file may describe.
HARDWARE_KINDS = _names(
    "hardware kind",
    {"gpu": "a GPU", "accelerator": "an accelerator", "cpu": "a CPU"},
)

#: Where a memory level lives: one shared instance, or one per instance of a compute unit.
MEMORY_SCOPES = _names(
    "memory scope",
    {"shared": "one instance for the device", "per_unit": "one instance per unit"},
)

_FRACTION_REASON = (
    "a share of the datasheet peak: above 1 an engine would run above its peak, below "
    "0.05 it would be broken"
)


class ConstantRegistry(Registry[Bounds]):
    """Calibration constants by exact name, plus *families* of names that share one
    dimension and bounds (``core_bandwidth_<level>``, ``block_pair_r<rows>_d<d>_k<keys>_t<
    threads>``): ``attnsim calibrate`` measures one constant per memory level or per block
    shape and thread count, so their names cannot all be listed beforehand. A family is a
    template whose ``<field>`` parts match a name (``level``: a level name; the others:
    digits); iteration yields the exact names and then the templates, so "expected one of"
    messages name the families too."""

    def __init__(self, what: str, error: type[HardwareConfigError]) -> None:
        super().__init__(what, error)
        self._families: dict[str, tuple[re.Pattern[str], Bounds]] = {}

    def register_family(self, template: str, bounds: Bounds) -> None:
        """Accept every name that ``template`` matches (``<level>`` a level name, any
        other ``<field>`` digits)."""
        if template in self._families:
            raise DuplicateRegistrationError(
                f"calibration constant family {template!r} is already registered"
            )
        parts = re.split(r"(<[a-z]+>)", template)
        regex = "".join(
            (r"[a-z][a-z0-9_]*" if p == "<level>" else r"[0-9]+")
            if p.startswith("<")
            else re.escape(p)
            for p in parts
        )
        self._families[template] = (re.compile(rf"\A{regex}\Z"), bounds)

    def __getitem__(self, name: str) -> Bounds:
        try:
            return super().__getitem__(name)
        except KeyError:
            pass
        if isinstance(name, str):
            for template, (pattern, bounds) in self._families.items():
                if name == template or pattern.match(name):
                    return bounds
        raise KeyError(name)

    def __contains__(self, name: object) -> bool:
        try:
            self[name]  # type: ignore[index]
        except (KeyError, TypeError):
            return False
        return True

    def __iter__(self) -> Iterator[str]:
        yield from super().__iter__()
        yield from self._families

    def __len__(self) -> int:
        return super().__len__() + len(self._families)


#: Calibration constants a target may carry, with the dimension and bounds of each (the
#: simulator reads them by name; an unknown name is refused, listing these).
CALIBRATION_CONSTANTS = ConstantRegistry("calibration constant", HardwareConfigError)
for _name, _bounds in {
    "launch_overhead": Bounds(
        "time", "0 s", "1 s", "a kernel launch costs microseconds, a second is a hang"
    ),
    "blas_call_overhead": Bounds(
        "time", "0 s", "1 s", "a library call costs microseconds, a second is a hang"
    ),
    "memory_sustained_fraction": Bounds("dimensionless", "0.05", "1", _FRACTION_REASON),
    "tensor_sustained_fraction": Bounds("dimensionless", "0.05", "1", _FRACTION_REASON),
    "tensor_sustained_fraction_fp8": Bounds("dimensionless", "0.05", "1", _FRACTION_REASON),
    "vector_sustained_fraction_fp32": Bounds("dimensionless", "0.05", "1", _FRACTION_REASON),
    "mma_sync_sustained_fraction": Bounds(
        "dimensionless", "0.05", "1", "a fraction of the tensor peak measured for mma.sync"
    ),
}.items():
    CALIBRATION_CONSTANTS.register(_name, _bounds)
#: Measured per machine by ``attnsim calibrate`` (attnsim/calibration.py): one core's read
#: bandwidth from a shared level, and the seconds of one block step of the CPU kernel.
CALIBRATION_CONSTANTS.register_family(
    "core_bandwidth_<level>",
    Bounds("bandwidth", "1 kB/s", "1 PB/s", "one core reads between a modem and any chip"),
)
for _template in (
    "block_pair_r<rows>_d<dim>_k<keys>_t<threads>",
    "block_softmax_r<rows>_d<dim>_k<keys>_t<threads>",
):
    CALIBRATION_CONSTANTS.register_family(
        _template, Bounds("time", "0 s", "1 s", "a block step costs microseconds")
    )


def _register(registry: Registry[str], name: str, meaning: str) -> None:
    if not isinstance(name, str) or not name.isidentifier():
        raise DuplicateRegistrationError(
            f"{registry.what} name must be an identifier string, got {name!r}"
        )
    registry.register(name, meaning)


def register_precision(name: str, meaning: str = "") -> None:
    """Accept a new precision name (raises ``ValueError`` on a duplicate)."""
    _register(PRECISIONS, name, meaning)


def register_op_class(name: str, meaning: str = "") -> None:
    """Accept a new op class name (raises ``ValueError`` on a duplicate)."""
    _register(OP_CLASSES, name, meaning)


def register_engine_kind(name: str, meaning: str = "") -> None:
    """Accept a new engine kind (raises ``ValueError`` on a duplicate)."""
    _register(ENGINE_KINDS, name, meaning)


def register_calibration_constant(name: str, bounds: Bounds) -> None:
    """Accept a new calibration constant with its dimension and bounds (raises
    ``ValueError`` on a duplicate)."""
    if not isinstance(name, str) or not name.isidentifier():
        raise DuplicateRegistrationError(
            f"calibration constant name must be an identifier string, got {name!r}"
        )
    CALIBRATION_CONSTANTS.register(name, bounds)
