"""Simulate one kernel: slots take tiles from the queue and run them in the fluid pool.

Each unit instance (an SM, a core, an accelerator core) holds ``slots_per_unit``
resident tiles. Slot ``k`` lives on unit ``k mod units``, so the first wave puts one tile
on every unit before any unit gets a second (as GPU block dispatch does). A slot loops:
take a chunk of tiles, wait out their unhidden latency (``fixed_s``), then run their
compute and shared-memory traffic in the :class:`FluidPool`, where tiles on the same unit
share its compute and all tiles share each shared memory level's bandwidth.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import simpy
from attnsim.sim.engine.fluid import FluidPool
from attnsim.sim.engine.scheduler import TileQueue
from attnsim.sim.tasks import Kernel, TileClass


@dataclass(frozen=True)
class MachineShape:
    """What the engine needs to know of a target for one kernel.

    Attributes:
        units: number of instances of the unit the kernel runs on.
        shared_bandwidth: bytes/s of each shared memory level tiles contend for.
        unit_bandwidth_cap: bytes/s one unit can draw from each shared level when alone
            (its slice of the on-chip network); a level missing here is uncapped.
    """

    units: int
    shared_bandwidth: Mapping[str, float]
    unit_bandwidth_cap: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.units < 1:
            raise ValueError(f"MachineShape.units must be >= 1, got {self.units}")
        for level, bw in self.shared_bandwidth.items():
            if not bw > 0:
                raise ValueError(f"shared_bandwidth[{level!r}] must be > 0 bytes/s, got {bw}")
        for level, bw in self.unit_bandwidth_cap.items():
            if not bw > 0:
                raise ValueError(f"unit_bandwidth_cap[{level!r}] must be > 0 bytes/s, got {bw}")


@dataclass(frozen=True)
class SlotSpan:
    """One job on one slot, for timelines: ``count`` tiles of ``tile`` from start to end (s)."""

    slot: int
    unit: int
    tile: str
    count: int
    start_s: float
    end_s: float


@dataclass(frozen=True)
class KernelRun:
    """What happened when a kernel ran.

    Attributes:
        name: kernel name.
        time_s: launch overhead plus the time from the first tile start to the last end.
        launch_s: the launch overhead included in ``time_s``.
        tiles: tiles run; ``distinct_tiles``: distinct tile classes; ``jobs``: chunks
            simulated (what the simulation cost follows).
        engine_busy_s: engine name -> seconds busy summed over all unit instances.
        read_bytes / write_bytes: memory level -> bytes.
        ops: (op class, precision) -> operations (for energy).
        flops: useful operations.
        shared_level_busy_s: shared level -> seconds its full bandwidth was in use.
        spans: per-job spans when recorded, else empty.
    """

    name: str
    time_s: float
    launch_s: float
    tiles: int
    distinct_tiles: int
    jobs: int
    engine_busy_s: Mapping[str, float]
    read_bytes: Mapping[str, float]
    write_bytes: Mapping[str, float]
    ops: Mapping[tuple[str, str], float]
    flops: float
    shared_level_busy_s: Mapping[str, float]
    spans: tuple[SlotSpan, ...] = ()


def _nominal_s(tile: TileClass, shape: MachineShape) -> float:
    """Seconds one tile takes alone on a unit: its unhidden latency, then compute and
    traffic overlapped (pipelined). Folding the latency into the tile's duration means
    the tile draws less than its unit's full compute while it waits on its first load,
    which is what lets a co-resident tile use the unit meanwhile."""
    longest = tile.compute_s
    for level, cap in shape.unit_bandwidth_cap.items():
        longest = max(longest, tile.bytes_at(level) / cap)
    for level, bw in shape.shared_bandwidth.items():
        longest = max(longest, tile.bytes_at(level) / bw)
    return tile.fixed_s + longest


def simulate_kernel(
    kernel: Kernel, shape: MachineShape, *, chunking: bool = True, record: bool = False
) -> KernelRun:
    """Run ``kernel`` on a machine of ``shape`` and return what happened.

    Deterministic: simpy breaks ties in time by event order, and the queue, slots and pool
    are visited in a fixed order.
    """
    env = simpy.Environment()
    levels = list(shape.shared_bandwidth)
    n_slots = shape.units * kernel.slots_per_unit
    pool = FluidPool(env, n_slots, shape.units, np.array(list(shape.shared_bandwidth.values())))
    queue = TileQueue(kernel.runs, n_slots, chunking=chunking)
    spans: list[SlotSpan] = []
    started: list[tuple[str, int, float]] = [("", 0, 0.0)] * n_slots
    jobs = 0
    cache: dict[int, tuple[float, np.ndarray]] = {}

    def start(slot: int) -> None:
        nonlocal jobs
        if record and started[slot][1]:
            name, count, t0 = started[slot]
            spans.append(SlotSpan(slot, slot % shape.units, name, count, t0, env.now))
        item = queue.take()
        if item is None:
            return
        tile, count = item
        jobs += 1
        key = id(tile)
        if key not in cache:
            cache[key] = (
                _nominal_s(tile, shape),
                np.array([tile.bytes_at(level) for level in levels]),
            )
        nominal, level_bytes = cache[key]
        if nominal <= 0:  # an empty tile: done at once
            started[slot] = ("", 0, env.now)
            start(slot)
            return
        started[slot] = (tile.name, count, env.now)
        pool.submit(
            slot,
            slot % shape.units,
            tile.compute_s * count,
            level_bytes * count,
            nominal * count,
            start,
        )

    for slot in range(n_slots):
        start(slot)
    env.run()
    makespan = pool.last_finish_s

    engine_busy: dict[str, float] = defaultdict(float)
    reads: dict[str, float] = defaultdict(float)
    writes: dict[str, float] = defaultdict(float)
    ops: dict[tuple[str, str], float] = defaultdict(float)
    flops = 0.0
    for tile, count in kernel.runs:
        for engine, seconds in tile.engine_s.items():
            engine_busy[engine] += seconds * count
        for level, nbytes in tile.read_bytes.items():
            reads[level] += nbytes * count
        for level, nbytes in tile.write_bytes.items():
            writes[level] += nbytes * count
        for key_op, n in tile.ops.items():
            ops[key_op] += n * count
        flops += tile.flops * count
    level_busy = {
        name: sum(tile.bytes_at(name) * count for tile, count in kernel.runs)
        / shape.shared_bandwidth[name]
        for name in levels
    }
    return KernelRun(
        name=kernel.name,
        time_s=kernel.launch_s + makespan,
        launch_s=kernel.launch_s,
        tiles=kernel.num_tiles,
        distinct_tiles=kernel.distinct_tiles,
        jobs=jobs,
        engine_busy_s=dict(engine_busy),
        read_bytes=dict(reads),
        write_bytes=dict(writes),
        ops=dict(ops),
        flops=flops,
        shared_level_busy_s=level_busy,
        spans=tuple(sorted(spans, key=lambda s: (s.start_s, s.slot))),
    )
