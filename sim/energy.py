"""Energy of simulated work: per engine, per memory level, and static power.

* **Compute**, per engine: a tile either carries the joules a unit model computed for it
  on an engine (``TileClass.engine_energy_j``: activity counts x energy per event), or
  its ops are charged at the target's energy per op — the engine's own figure
  (``engines.X.energy``), else the chip's (``energy.per_op``). A precision missing from
  the chip table takes the entry of the nearest precision of the same op class (by
  storage width) and the result says so; an op class missing altogether costs nothing
  and is reported in ``missing``.
* **Memory**, per level: bytes read and written x the level's energy per byte.
* **Static**: the target's static power (engines, levels and the rest of the chip,
  :attr:`Hardware.static_power_w`) x the run's seconds, by part.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field

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

#: The key of ops no engine of the tile runs (charged at the chip-level table).
CHIP = ""


def op_energy_per_op(hw: Hardware, op_class: str, precision: str) -> float | None:
    """J/op for ``op_class`` in ``precision`` from the chip table, falling back to the
    nearest width; None if the class is absent from the target's table."""
    table = hw.energy.op_energy_j.get(op_class)
    if not table:
        return None
    if precision in table:
        return table[precision]
    width = _WIDTH.get(precision, 32)
    nearest = min(table, key=lambda p: (abs(_WIDTH.get(p, 32) - width), p))
    return table[nearest]


def _nearest_note(hw: Hardware, op_class: str, precision: str) -> str | None:
    table = hw.energy.op_energy_j.get(op_class)
    if not table or precision in table:
        return None
    width = _WIDTH.get(precision, 32)
    nearest = min(table, key=lambda p: (abs(_WIDTH.get(p, 32) - width), p))
    return f"energy of {op_class}/{precision} taken from {op_class}/{nearest} (nearest width)"


def compute_energy(
    hw: Hardware, ops: Mapping[tuple[str, str], float]
) -> tuple[float, dict[str, float], list[str]]:
    """(joules, joules by "class/precision", missing op classes) for ``ops`` charged at
    the chip-level table."""
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


@dataclass(frozen=True)
class ComputeEnergy:
    """Dynamic compute energy in joules.

    Attributes:
        total_j: all of it.
        by_engine_j: engine name -> joules (``"chip"`` for ops no engine of their tile
            runs, charged at the chip table).
        by_precision_j: ``"class/precision"`` -> joules of the ops charged per op (unit-
            model energies are per engine, not per precision, and are not in here).
        missing: op classes with no energy figure anywhere (charged nothing).
        notes: energy figures taken from another precision (one line each).
    """

    total_j: float
    by_engine_j: Mapping[str, float]
    by_precision_j: Mapping[str, float]
    missing: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)


def engine_compute_energy(
    hw: Hardware,
    engine_ops: Mapping[str, Mapping[tuple[str, str], float]],
    unit_model_j: Mapping[str, float],
) -> ComputeEnergy:
    """Energy of ``engine_ops`` (engine -> (class, precision) -> ops; engine ``""`` for
    chip-level) plus the unit-model joules ``unit_model_j`` (engine -> J)."""
    by_engine: dict[str, float] = defaultdict(float)
    by_prec: dict[str, float] = defaultdict(float)
    missing: list[str] = []
    notes: list[str] = []
    for engine in sorted(unit_model_j):
        by_engine[engine or "chip"] += unit_model_j[engine]
    for engine in sorted(engine_ops):
        for (op_class, precision), n in sorted(engine_ops[engine].items()):
            per = hw.op_energy_j(engine, op_class, precision) if engine in hw.engines else None
            if per is None:
                per = op_energy_per_op(hw, op_class, precision)
                note = _nearest_note(hw, op_class, precision)
                if per is not None and note is not None and note not in notes:
                    notes.append(note)
            if per is None:
                if op_class not in missing:
                    missing.append(op_class)
                continue
            by_engine[engine or "chip"] += n * per
            by_prec[f"{op_class}/{precision}"] += n * per
    return ComputeEnergy(
        total_j=float(sum(by_engine.values())),
        by_engine_j=dict(by_engine),
        by_precision_j=dict(by_prec),
        missing=tuple(missing),
        notes=tuple(notes),
    )


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


def static_energy(hw: Hardware, seconds: float) -> tuple[float, dict[str, float]]:
    """(joules, joules by part) of the target's static power over ``seconds``."""
    by = {part: w * seconds for part, w in hw.static_power_breakdown_w().items()}
    return float(sum(by.values())), by
