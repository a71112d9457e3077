"""The :class:`Result` of a simulation: plain, frozen, serialisable data.

Everything is in SI units; per-op figures are for *one* instance of the op and ``count``
says how many times the workload runs it (repeated layers are simulated once).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

#: Version of the JSON layout written by :meth:`Result.to_dict` (2 added per-engine
#: energy, static energy by part, area, die power, peak rate, FOM, the scheduling policy
#: and stated precision fallbacks; every version-1 key keeps its meaning).
RESULT_VERSION = 2


def _plain(value: Any) -> Any:
    """``value`` with numpy scalars turned into the Python numbers they hold (mappings and
    tuples converted item by item), so a Result, its ``to_dict`` and its JSON hold only
    plain Python values whatever the engine computed them with."""
    if isinstance(value, np.generic):  # before the float check: np.float64 is a float
        return value.item()
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    return value


class _PlainValues:
    """Mixin: every field holds plain Python values (see :func:`_plain`)."""

    def __post_init__(self) -> None:
        for f in fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            plain = _plain(value)
            if plain is not value:
                object.__setattr__(self, f.name, plain)


@dataclass(frozen=True)
class Energy(_PlainValues):
    """Energy split in joules: compute (by engine and by op class/precision), memory by
    level, static (by part: engines, levels, the rest of the chip).

    ``notes`` says where an energy figure was borrowed from another precision; ``missing``
    lists op classes no figure covers (charged nothing)."""

    compute_j: float
    memory_j: float
    static_j: float
    compute_by_precision_j: Mapping[str, float] = field(default_factory=dict)
    memory_by_level_j: Mapping[str, float] = field(default_factory=dict)
    compute_by_engine_j: Mapping[str, float] = field(default_factory=dict)
    static_by_part_j: Mapping[str, float] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()

    @property
    def total_j(self) -> float:
        """Compute + memory + static, joules."""
        return self.compute_j + self.memory_j + self.static_j


@dataclass(frozen=True)
class OpResult(_PlainValues):
    """One op of the workload on the target (figures for one instance).

    Attributes:
        block / name / kind: where the op sits and what it is.
        family: lowering family used; kernels: kernel names launched in order.
        count: instances in the workload (block repeat count).
        latency_s: seconds for one instance, launch overheads included.
        flops: useful operations of one instance (the op's own count).
        bytes: memory level -> bytes moved (read + written) by one instance.
        energy_j: compute + memory energy of one instance (static is whole-run).
        tiles / distinct_tiles / jobs: tiles run, distinct tile classes, chunks simulated.
        bound: ``"launch"`` when launch overheads are most of its time, else
            ``"compute"`` or the memory level that limited it most.
        launch_s: launch overhead included in ``latency_s``.
        notes: lowering's choices (tile sizes, splits, hit rule outcome).
    """

    block: str
    name: str
    kind: str
    family: str
    kernels: tuple[str, ...]
    count: int
    latency_s: float
    flops: float
    bytes: Mapping[str, float]
    energy_j: float
    tiles: int
    distinct_tiles: int
    jobs: int
    bound: str
    launch_s: float = 0.0
    notes: Mapping[str, str | int | float] = field(default_factory=dict)


@dataclass(frozen=True)
class TimelineEvent(_PlainValues):
    """A span for the Perfetto/Chrome trace: ``track`` is the row it is drawn on and
    ``group`` the set of rows it belongs to (an engine of a multi-engine chip; ``""`` for
    the chip-wide rows)."""

    track: str
    name: str
    start_s: float
    duration_s: float
    args: Mapping[str, str | int | float] = field(default_factory=dict)
    group: str = ""


@dataclass(frozen=True)
class Result(_PlainValues):
    """Predicted behaviour of one workload on one target.

    Attributes:
        hardware / workload: names; family: the family asked for (None: best known).
        latency_s: end-to-end seconds.
        flops: useful operations of the whole workload.
        tokens: tokens the workload produces or consumes (None when not a token model).
        bytes: memory level -> bytes moved over the run.
        energy: energy split.
        utilisation: engine -> busy fraction of (latency x engine instances).
        ops: per-op results in workload order.
        timeline: spans, when asked for.
        stats: simulation cost: tiles, distinct tiles, jobs (chunks), distinct ops simulated,
            tasks simulated and tasks replayed (identical isolated runs repeated).
        policy: the scheduling policy the engine ran (``"das"``, ``"in-order"``, ...).
        area_mm2: die area of the target's configuration (None when the target gives none);
            area_breakdown_mm2: by engine, level and the rest, when the target models it.
        peak_ops_s: peak matmul ops/s (a MAC = 2 ops) of the target in the precision that
            carries most of this run's matmul ops, summed over the engines that run it.
        off_chip_levels: memory levels outside the die (the farthest level unless it
            gives an area density); their energy is in ``power_w`` but not ``die_power_w``.
        fom_peak_ops_s / fom_convention: the peak the target's own figure-of-merit
            convention counts (its ``figure_of_merit`` section: which engines, which
            precision, ops per MAC) and that convention in words; 0.0 and "" when the
            target states none (the FOM then uses ``peak_ops_s``).
        precision_fallbacks: one line per op that ran in another precision or op class
            than it asked for (never silent).
    """

    hardware: str
    workload: str
    family: str | None
    latency_s: float
    flops: float
    tokens: int | None
    bytes: Mapping[str, float]
    energy: Energy
    utilisation: Mapping[str, float]
    ops: tuple[OpResult, ...]
    timeline: tuple[TimelineEvent, ...] = ()
    stats: Mapping[str, int] = field(default_factory=dict)
    policy: str = ""
    area_mm2: float | None = None
    area_breakdown_mm2: Mapping[str, float] = field(default_factory=dict)
    peak_ops_s: float = 0.0
    off_chip_levels: tuple[str, ...] = ()
    precision_fallbacks: tuple[str, ...] = ()
    fom_peak_ops_s: float = 0.0
    fom_convention: str = ""

    @property
    def tflops_per_s(self) -> float:
        """Achieved useful TFLOP/s."""
        return self.flops / self.latency_s / 1e12 if self.latency_s > 0 else 0.0

    @property
    def tokens_per_s(self) -> float | None:
        """Tokens per second, or None when the workload has no tokens."""
        if self.tokens is None or self.latency_s <= 0:
            return None
        return self.tokens / self.latency_s

    @property
    def power_w(self) -> float:
        """Average power over the run, watts (everything: die and off-chip memory)."""
        return self.energy.total_j / self.latency_s if self.latency_s > 0 else 0.0

    @property
    def die_power_w(self) -> float:
        """Average power of the die, watts: :attr:`power_w` without the energy of the
        :attr:`off_chip_levels` (what a chip paper reports as its power)."""
        if self.latency_s <= 0:
            return 0.0
        off = sum(self.energy.memory_by_level_j.get(name, 0.0) for name in self.off_chip_levels)
        return (self.energy.total_j - off) / self.latency_s

    @property
    def fom_tops_per_mm2_w(self) -> float | None:
        """Figure of merit: peak TOPS per mm² of die per W of die power, the peak as the
        target's paper counts it (:attr:`fom_convention`), else :attr:`peak_ops_s` (a MAC
        = 2 ops); None without an area."""
        if self.area_mm2 is None or self.area_mm2 <= 0 or self.die_power_w <= 0:
            return None
        peak = self.fom_peak_ops_s or self.peak_ops_s
        return peak / 1e12 / self.area_mm2 / self.die_power_w

    def to_dict(self) -> dict[str, Any]:
        """The JSON layout of ``attnsim simulate --json`` (no timeline)."""
        return {
            "format": "attnsim-result",
            "version": RESULT_VERSION,
            "hardware": self.hardware,
            "workload": self.workload,
            "family": self.family,
            "latency_s": self.latency_s,
            "flops": self.flops,
            "tflops_per_s": self.tflops_per_s,
            "tokens": self.tokens,
            "tokens_per_s": self.tokens_per_s,
            "policy": self.policy,
            "bytes": dict(self.bytes),
            "energy_j": {
                "compute": self.energy.compute_j,
                "memory": self.energy.memory_j,
                "static": self.energy.static_j,
                "total": self.energy.total_j,
                "compute_by_precision": dict(self.energy.compute_by_precision_j),
                "compute_by_engine": dict(self.energy.compute_by_engine_j),
                "memory_by_level": dict(self.energy.memory_by_level_j),
                "static_by_part": dict(self.energy.static_by_part_j),
                "notes": list(self.energy.notes),
                "missing": list(self.energy.missing),
            },
            "power_w": self.power_w,
            "die_power_w": self.die_power_w,
            "off_chip_levels": list(self.off_chip_levels),
            "area_mm2": self.area_mm2,
            "area_breakdown_mm2": dict(self.area_breakdown_mm2),
            "peak_ops_s": self.peak_ops_s,
            "fom_tops_per_mm2_w": self.fom_tops_per_mm2_w,
            "fom_convention": self.fom_convention
            or "whole chip's matmul peak in this run's precision, a MAC = 2 ops",
            "precision_fallbacks": list(self.precision_fallbacks),
            "utilisation": dict(self.utilisation),
            "stats": dict(self.stats),
            "ops": [
                {
                    "block": o.block,
                    "name": o.name,
                    "kind": o.kind,
                    "family": o.family,
                    "kernels": list(o.kernels),
                    "count": o.count,
                    "latency_s": o.latency_s,
                    "total_latency_s": o.latency_s * o.count,
                    "flops": o.flops,
                    "bytes": dict(o.bytes),
                    "energy_j": o.energy_j,
                    "tiles": o.tiles,
                    "distinct_tiles": o.distinct_tiles,
                    "bound": o.bound,
                    "launch_s": o.launch_s,
                    "notes": dict(o.notes),
                }
                for o in self.ops
            ],
        }
