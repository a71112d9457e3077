"""Hardware targets: YAML descriptions of devices and the loader that checks and builds them.

    >>> from hwconfigs import load_hardware
    >>> h100 = load_hardware("h100-sxm5-80gb")
    >>> h100.peak("matmul", "fp16")   # ops/s, dense
    989400000000000.0

Loading goes parse -> resolve ``base:`` -> schema -> cross-field rules -> frozen
dataclasses in SI units; every problem of a file is raised together in one
:class:`HardwareConfigError`.
"""

from attnsim.hwconfigs.errors import HardwareConfigError
from attnsim.hwconfigs.loader import (
    SCHEMA_VERSION,
    dump_yaml,
    hardware_from_dict,
    list_targets,
    load_hardware,
    targets_dir,
    validate_file,
)
from attnsim.hwconfigs.model import (
    Area,
    Energy,
    Engine,
    FrozenMap,
    Hardware,
    Interconnect,
    MemoryLevel,
)
from attnsim.hwconfigs.registry import (
    CALIBRATION_CONSTANTS,
    ENGINE_KINDS,
    HARDWARE_KINDS,
    OP_CLASSES,
    PRECISIONS,
    register_calibration_constant,
    register_engine_kind,
    register_op_class,
    register_precision,
)
from attnsim.hwconfigs.units import format_quantity, parse_quantity

__all__ = [
    "HardwareConfigError",
    "Hardware",
    "Engine",
    "MemoryLevel",
    "Interconnect",
    "Energy",
    "Area",
    "FrozenMap",
    "SCHEMA_VERSION",
    "PRECISIONS",
    "OP_CLASSES",
    "ENGINE_KINDS",
    "HARDWARE_KINDS",
    "CALIBRATION_CONSTANTS",
    "load_hardware",
    "list_targets",
    "validate_file",
    "targets_dir",
    "hardware_from_dict",
    "dump_yaml",
    "parse_quantity",
    "format_quantity",
    "register_precision",
    "register_op_class",
    "register_engine_kind",
    "register_calibration_constant",
]
