"""Energy of simulated work: ops x energy per op, bytes x energy per byte, static power.

A precision missing from the target's energy table takes the entry of the nearest
precision the table has in the same op class (by storage width); an op class missing
altogether costs nothing and is reported in ``missing`` so reports can say so.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping

from attnsim.hwconfigs.model import Hardware

_WIDTH = {
    "fp64": 64,
    "fp32": 32,
    "tf32": 19,
    "fp16": 16,
    "bf16": 16,
    "fp8": 8,
    "int8": 8,
    "fp4": 4,
    "int4": 4,
    "ternary": 2,
}


def op_energy_per_op(hw: Hardware, op_class: str, precision: str) -> float | None:
    """J/op for ``op_class`` in ``precision``, falling back to the nearest width; None if
    the class is absent from the target's table."""
    table = hw.energy.op_energy_j.get(op_class)
    if not table:
        return None
    if precision in table:
        return table[precision]
    width = _WIDTH.get(precision, 32)
    nearest = min(table, key=lambda p: (abs(_WIDTH.get(p, 32) - width), p))
    return table[nearest]


def compute_energy(
    hw: Hardware, ops: Mapping[tuple[str, str], float]
) -> tuple[float, dict[str, float], list[str]]:
    """(joules, joules by "class/precision", missing op classes) for ``ops``."""
    total = 0.0
    by: dict[str, float] = defaultdict(float)
    missing: list[str] = []
    for (op_class, precision), n in sorted(ops.items()):
        per = op_energy_per_op(hw, op_class, precision)
        if per is None:
            if op_class not in missing:
                missing.append(op_class)
            continue
        by[f"{op_class}/{precision}"] += n * per
        total += n * per
    return total, dict(by), missing


def memory_energy(
    hw: Hardware, reads: Mapping[str, float], writes: Mapping[str, float]
) -> tuple[float, dict[str, float]]:
    """(joules, joules by level) for bytes read and written at each level."""
    by: dict[str, float] = {}
    for level in hw.memory:
        j = reads.get(level.name, 0.0) * level.read_energy_j_per_byte
        j += writes.get(level.name, 0.0) * level.write_energy_j_per_byte
        if j:
            by[level.name] = j
    return sum(by.values()), by
