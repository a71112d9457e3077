"""What lowering needs to know of a target, derived once from a :class:`Hardware`.

Lowering rules never read YAML keys by name; they ask this view: which unit tiles run
on and how many there are, each engine's per-unit rate for an op class and precision,
the on-chip capacity a tile may use, the shared levels tiles contend for, and the named
calibration constants. The derivation rules are stated on each property so a target
author knows what a YAML choice means to the simulator.

A target may have several kinds of unit (a ternary MAC array, an attention core, a
nonlinear unit): :attr:`TargetView.unit` is the one single-unit families (the GPU and
CPU families) run on, :meth:`TargetView.unit_count` and :meth:`TargetView.engine_rate`
reach every other, and :attr:`TargetView.all_units` is what the engine simulates.

**No silent precision fallback.** When :meth:`TargetView.rate` runs an op class in
another precision than asked (fp32 on tf32 units, bf16 on fp16 units), the view records
it; the simulator states every such fallback in the result, per op
(:meth:`TargetView.take_fallbacks`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

from attnsim.hwconfigs.model import Engine, Hardware, MemoryLevel

from attnsim.errors import ProblemsError

#: Calibration constants lowering reads (name -> meaning); a target may omit any.
CALIBRATION_CONSTANTS: dict[str, str] = {
    "launch_overhead": "seconds from one kernel's end to the next kernel's first tile (default 0)",
    "tensor_sustained_fraction": "sustained / peak matmul rate measured by a large GEMM (default 1)",
    "memory_sustained_fraction": "sustained / peak DRAM bandwidth measured by a stream (default 1)",
    "tensor_sustained_fraction_<prec>": "as tensor_sustained_fraction, for matmuls in one "
    "precision (e.g. fp8), measured by a GEMM in that precision",
    "vector_sustained_fraction_<prec>": "sustained / peak rate of the vector lanes for a "
    "matmul that runs on them (no tensor engine in that precision: an SGEMM without TF32), "
    "measured by a CUDA-core GEMM in that precision",
    "mma_sync_sustained_fraction": "on a part whose tensor peak needs asynchronous MMA "
    "(wgmma, tcgen05): the fraction of that peak warp-level mma.sync sustains (absent: "
    "mma.sync is the native instruction)",
}

#: Precision an op's dtype computes in when the target has no engine for that dtype.
_FALLBACK_PRECISION: dict[str, tuple[str, ...]] = {
    "fp32": ("tf32",),
    "tf32": ("fp32",),
    "bf16": ("fp16",),
    "fp16": ("bf16",),
    "fp8": ("fp16", "bf16"),
    "fp4": ("fp8", "int8", "fp16"),
    "int4": ("int8", "fp16"),
    "ternary": ("int8", "fp16"),
    "int8": ("fp16",),
    "fp64": ("fp32",),
}


class LoweringError(ProblemsError):
    """The target cannot run the op as asked (no engine for it, tile does not fit, ...)."""


@dataclass(frozen=True)
class Rate:
    """An engine that will run some work, and its per-unit rate (ops/s) in ``precision``."""

    engine: str
    precision: str
    per_unit_ops_s: float


class TargetView:
    """Lowering's view of one target (see module docstring)."""

    def __init__(self, hw: Hardware, unit: str | None = None) -> None:
        self.hw = hw
        self._unit = unit
        self._fallbacks: list[str] = []

    # ---- stated fallbacks --------------------------------------------------------------
    def note_fallback(self, text: str) -> None:
        """Record that lowering ran something differently than asked (one line, shown
        per op in the result); duplicates are kept once."""
        if text not in self._fallbacks:
            self._fallbacks.append(text)

    def take_fallbacks(self) -> tuple[str, ...]:
        """The fallbacks recorded since the last call, and forget them."""
        out = tuple(self._fallbacks)
        self._fallbacks.clear()
        return out

    # ---- units -------------------------------------------------------------------------
    @cached_property
    def unit(self) -> str:
        """The unit tiles run on: the unit of the engine with the highest matmul peak."""
        if self._unit is not None:
            return self._unit
        best: Engine | None = None
        best_peak = -1.0
        for engine in self.hw.engines.values():
            peak = max(engine.throughput.get("matmul", {}).values(), default=0.0)
            if peak > best_peak:
                best, best_peak = engine, peak
        if best is None:
            raise LoweringError(f"{self.hw.name}: has no engines")
        return best.unit

    @cached_property
    def unit_engines(self) -> dict[str, Engine]:
        """Engines that live in :attr:`unit`, by name."""
        return {n: e for n, e in self.hw.engines.items() if e.unit == self.unit}

    @cached_property
    def units(self) -> int:
        """Instances of :attr:`unit` (the largest count among its engines)."""
        return max(e.count for e in self.unit_engines.values())

    @cached_property
    def all_units(self) -> dict[str, int]:
        """Every replicated unit of the target and its instances, in engine order."""
        return dict(self.hw.units)

    def unit_count(self, unit: str) -> int:
        """Instances of ``unit`` (:class:`LoweringError` naming the units if absent)."""
        if unit not in self.hw.units:
            raise LoweringError(
                f"{self.hw.name}: has no unit {unit!r}; it has {', '.join(self.hw.units)}"
            )
        return int(self.hw.units[unit])

    def engine(self, name: str) -> Engine:
        """The engine called ``name`` (:class:`LoweringError` naming the engines if absent)."""
        if name not in self.hw.engines:
            raise LoweringError(
                f"{self.hw.name}: has no engine {name!r}; it has {', '.join(self.hw.engines)}"
            )
        return self.hw.engines[name]

    def engine_rate(self, engine: str, op_class: str, precision: str) -> float:
        """Ops/s of one instance of ``engine`` for ``op_class`` in exactly ``precision``;
        :class:`LoweringError` if it does not run it (no fallback)."""
        rate = self.engine(engine).per_unit(op_class, precision)
        if rate <= 0:
            runs = ", ".join(
                f"{c} in {'/'.join(ps)}" for c, ps in self.engine(engine).ops_per_cycle.items()
            )
            raise LoweringError(
                f"{self.hw.name}: engine {engine!r} does not run {op_class} in {precision}; "
                f"it runs {runs}"
            )
        return rate

    def runs_on(self, engine: str, op_class: str, precision: str) -> bool:
        """Whether ``engine`` runs ``op_class`` in ``precision`` (energy attribution)."""
        e = self.hw.engines.get(engine)
        return e is not None and e.per_unit(op_class, precision) > 0

    def calibration(self, name: str, default: float) -> float:
        """The named calibration constant of the target, or ``default``."""
        return float(self.hw.calibration.get(name, default))

    @cached_property
    def launch_s(self) -> float:
        """Kernel launch overhead, seconds."""
        return self.calibration("launch_overhead", 0.0)

    # ---- compute rates -----------------------------------------------------------------
    def rate(self, op_class: str, precision: str) -> Rate:
        """The unit engine that runs ``op_class`` fastest in ``precision`` (or the nearest
        precision it has: fp32 on tf32 units, ternary on int8, ...), at its per-unit rate.

        Matmul with no matmul engine in that precision falls back to the ``vector`` class
        (FMA on vector units), scaled by ``vector_sustained_fraction_<prec>`` when the
        target has one (a measured CUDA-core GEMM). Matmul rates are scaled by
        ``tensor_sustained_fraction_<prec>`` when the target has one for that precision,
        else by ``tensor_sustained_fraction``.
        A fallback (other precision or class) is recorded (:meth:`take_fallbacks`).
        Raises :class:`LoweringError` if nothing on the unit can run it.
        """
        for prec in (precision, *_FALLBACK_PRECISION.get(precision, ())):
            for klass in (op_class, "vector") if op_class == "matmul" else (op_class,):
                best: tuple[float, str] | None = None
                for name, engine in self.unit_engines.items():
                    r = engine.per_unit(klass, prec) * (engine.count / self.units)
                    if r > 0 and (best is None or r > best[0]):
                        best = (r, name)
                if best is not None:
                    if klass == "matmul":
                        scale = self.calibration(
                            f"tensor_sustained_fraction_{prec}",
                            self.calibration("tensor_sustained_fraction", 1.0),
                        )
                    elif op_class == "matmul":  # a GEMM on the vector lanes
                        scale = self.calibration(f"vector_sustained_fraction_{prec}", 1.0)
                    else:
                        scale = 1.0
                    if prec != precision or klass != op_class:
                        self.note_fallback(
                            f"{op_class} in {precision} ran as {klass} in {prec} on "
                            f"{best[1]} (no engine of unit {self.unit!r} runs "
                            f"{op_class} in {precision})"
                        )
                    return Rate(best[1], prec, best[0] * scale)
        raise LoweringError(
            f"{self.hw.name}: no engine on unit {self.unit!r} runs {op_class} in {precision} "
            f"(or a fallback precision)"
        )

    # ---- memory ------------------------------------------------------------------------
    @cached_property
    def per_unit_levels(self) -> tuple[MemoryLevel, ...]:
        """Levels private to each :attr:`unit`, nearest first (registers, shared memory)."""
        return tuple(m for m in self.hw.memory if m.scope == "per_unit" and m.unit == self.unit)

    @cached_property
    def shared_levels(self) -> tuple[MemoryLevel, ...]:
        """Levels shared by all units, nearest first (L2, HBM)."""
        return tuple(m for m in self.hw.memory if m.scope == "shared")

    @cached_property
    def dram(self) -> MemoryLevel:
        """The farthest level: where weights, activations and the KV cache live."""
        return self.hw.memory[-1]

    @cached_property
    def cache(self) -> MemoryLevel | None:
        """The last shared level before :attr:`dram` (the L2 / last-level cache), if any."""
        on_chip = [m for m in self.shared_levels if m is not self.dram]
        return on_chip[-1] if on_chip else None

    @cached_property
    def registers(self) -> MemoryLevel | None:
        """The nearest per-unit level (registers / L1) when there are two or more."""
        return self.per_unit_levels[0] if len(self.per_unit_levels) >= 2 else None

    @cached_property
    def scratchpad(self) -> MemoryLevel:
        """The per-unit level tiles are staged in (shared memory, a core's L2, SRAM):
        the farthest per-unit level, or the nearest shared level if there is none."""
        if self.per_unit_levels:
            return self.per_unit_levels[-1]
        return self.hw.memory[0]

    def sustained_bandwidth(self, level: MemoryLevel) -> float:
        """Bytes/s a level sustains: DRAM scaled by ``memory_sustained_fraction``."""
        if level is self.dram:
            return level.bandwidth_bytes_per_s * self.calibration("memory_sustained_fraction", 1.0)
        return level.bandwidth_bytes_per_s

    @cached_property
    def shared_bandwidth(self) -> dict[str, float]:
        """Bytes/s of each shared level, as tiles contend for it."""
        return {m.name: self.sustained_bandwidth(m) for m in self.shared_levels}

    @cached_property
    def unit_bandwidth_cap(self) -> dict[str, float]:
        """Bytes/s one unit can draw from each shared level when alone: what its own
        port delivers, the per-unit bandwidth of :attr:`scratchpad` (loads from L2 and
        DRAM land in the SM's shared memory / L1, 128 B/clk on NVIDIA SMs). A property of
        one unit, so adding units never lowers it (an equal slice of the cache's
        bandwidth would: twice the SMs would make a lone tile twice as slow). Empty when
        the scratchpad is itself a shared level (the unit is uncapped), and on an
        accelerator: its per-unit levels are operand buffers of one datapath (VitaLLM's
        activation buffers), not where its loads land -- weights stream from DRAM through
        the shared SRAM to the array's weight port -- and its families charge each
        buffer's port themselves (:mod:`sim.lowering.vitallm`); capping every shared
        level at an activation buffer's bandwidth would throttle the weight stream."""
        if (
            self.hw.kind == "accelerator"
            or self.scratchpad.scope != "per_unit"
            or not self.shared_levels
        ):
            return {}
        cap = self.scratchpad.bandwidth_bytes_per_s
        return {m.name: cap for m in self.shared_levels}

    def fits_tile(self, scratch_bytes: float, register_bytes: float) -> int:
        """How many tiles of that footprint fit on one unit at once (0 if none)."""
        n = (
            math.floor(self.scratchpad.capacity_bytes / scratch_bytes)
            if scratch_bytes > 0
            else 1 << 30
        )
        if self.registers is not None and register_bytes > 0:
            n = min(n, math.floor(self.registers.capacity_bytes / register_bytes))
        return max(0, n)
