"""Simulate one kernel alone: a one-task graph on the chip engine (:mod:`sim.engine.chip`).

Each unit instance (an SM, a core, an accelerator core) holds ``slots_per_unit``
resident tiles. Slot ``k`` lives on unit ``k mod units``, so the first wave puts one tile
on every unit before any unit gets a second (as GPU block dispatch does). A slot loops:
take a chunk of tiles, wait out their unhidden latency (``fixed_s``), then run their
compute and shared-memory traffic in the :class:`FluidPool`, where tiles on the same unit
share its compute and all tiles share each shared memory level's bandwidth.

:func:`kernel_totals` gives what a kernel does whatever the schedule (bytes per level,
ops, engine-busy seconds); the simulator adds those up per op and per run.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from attnsim.sim.engine.chip import Machine, run_graph
from attnsim.sim.tasks import GraphTask, Kernel, TaskGraph, TileClass


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


@dataclass(frozen=True)
class KernelTotals:
    """What a kernel does whatever its schedule: the sums over its tiles.

    Attributes:
        tiles / distinct_tiles: tiles and distinct tile classes.
        engine_busy_s: engine -> seconds busy summed over all unit instances.
        engine_energy_j: engine -> dynamic joules the lowering computed from a unit model
            (tiles that give ``engine_energy_j``).
        read_bytes / write_bytes: memory level -> bytes.
        ops: (op class, precision) -> operations; engine_ops: engine -> the same, for the
            ops to be charged at an energy per op (see :func:`attribute_ops`; ops whose
            engine has a unit-model energy are not in here).
        flops: useful operations.
    """

    tiles: int
    distinct_tiles: int
    engine_busy_s: Mapping[str, float]
    engine_energy_j: Mapping[str, float]
    read_bytes: Mapping[str, float]
    write_bytes: Mapping[str, float]
    ops: Mapping[tuple[str, str], float]
    engine_ops: Mapping[str, Mapping[tuple[str, str], float]]
    flops: float


def attribute_ops(
    tile: TileClass, runs_on: Callable[[str, str, str], bool] | None
) -> dict[str, dict[tuple[str, str], float]]:
    """The tile's ops by the engine that ran them: an op class/precision goes to the first
    engine of ``tile.engine_s`` that ``runs_on(engine, class, precision)`` accepts (the
    engine lowering charged time to); ops no engine accepts go under ``""`` (the chip),
    unless the tile's energy comes from a unit model (``engine_energy_j``): then they
    belong to that engine (whose unit model counted them)."""
    out: dict[str, dict[tuple[str, str], float]] = defaultdict(dict)
    modelled = next(iter(tile.engine_energy_j), "")
    for key, n in tile.ops.items():
        owner = modelled
        if runs_on is not None and not modelled:
            for engine in tile.engine_s:
                if runs_on(engine, key[0], key[1]):
                    owner = engine
                    break
        out[owner][key] = out[owner].get(key, 0.0) + n
    return out


def kernel_totals(
    kernel: Kernel, runs_on: Callable[[str, str, str], bool] | None = None
) -> KernelTotals:
    """Sums over the tiles of ``kernel`` (``runs_on`` attributes ops to engines)."""
    engine_busy: dict[str, float] = defaultdict(float)
    energy: dict[str, float] = defaultdict(float)
    reads: dict[str, float] = defaultdict(float)
    writes: dict[str, float] = defaultdict(float)
    ops: dict[tuple[str, str], float] = defaultdict(float)
    engine_ops: dict[str, dict[tuple[str, str], float]] = defaultdict(lambda: defaultdict(float))
    flops = 0.0
    for tile, count in kernel.runs:
        for engine, seconds in tile.engine_s.items():
            engine_busy[engine] += seconds * count
        for engine, joules in tile.engine_energy_j.items():
            energy[engine] += joules * count
        for level, nbytes in tile.read_bytes.items():
            reads[level] += nbytes * count
        for level, nbytes in tile.write_bytes.items():
            writes[level] += nbytes * count
        for key_op, n in tile.ops.items():
            ops[key_op] += n * count
        for engine, table in attribute_ops(tile, runs_on).items():
            if engine in tile.engine_energy_j:
                continue  # its energy is the unit model's, not ops x energy per op
            for key_op, n in table.items():
                engine_ops[engine][key_op] += n * count
        flops += tile.flops * count
    return KernelTotals(
        tiles=kernel.num_tiles,
        distinct_tiles=kernel.distinct_tiles,
        engine_busy_s=dict(engine_busy),
        engine_energy_j=dict(energy),
        read_bytes=dict(reads),
        write_bytes=dict(writes),
        ops=dict(ops),
        engine_ops={e: dict(t) for e, t in engine_ops.items()},
        flops=flops,
    )


def simulate_kernel(
    kernel: Kernel, shape: MachineShape, *, chunking: bool = True, record: bool = False
) -> KernelRun:
    """Run ``kernel`` alone on a machine of ``shape`` and return what happened.

    Deterministic: simpy breaks ties in time by event order, and the queue, slots and pool
    are visited in a fixed order.
    """
    machine = Machine(
        units={kernel.unit: shape.units},
        shared_bandwidth=dict(shape.shared_bandwidth),
        unit_bandwidth_cap={kernel.unit: dict(shape.unit_bandwidth_cap)}
        if shape.unit_bandwidth_cap
        else {},
    )
    graph = TaskGraph((GraphTask(kernel.name, kernel),))
    run = run_graph(graph, machine, chunking=chunking, record=record).tasks[0]
    totals = kernel_totals(kernel)
    level_busy = {
        name: sum(tile.bytes_at(name) * count for tile, count in kernel.runs)
        / shape.shared_bandwidth[name]
        for name in shape.shared_bandwidth
    }
    spans = tuple(
        sorted(
            (
                SlotSpan(
                    s.slot * shape.units + s.instance,
                    s.instance,
                    s.tile,
                    s.count,
                    s.start_s - kernel.launch_s,
                    s.end_s - kernel.launch_s,
                )
                for s in run.spans
            ),
            key=lambda s: (s.start_s, s.slot),
        )
    )
    return KernelRun(
        name=kernel.name,
        time_s=run.time_s,
        launch_s=kernel.launch_s,
        tiles=totals.tiles,
        distinct_tiles=totals.distinct_tiles,
        jobs=run.jobs,
        engine_busy_s=dict(totals.engine_busy_s),
        read_bytes=dict(totals.read_bytes),
        write_bytes=dict(totals.write_bytes),
        ops=dict(totals.ops),
        flops=totals.flops,
        shared_level_busy_s=level_busy,
        spans=spans,
    )
