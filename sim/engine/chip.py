"""The chip engine: every unit of a target on one simpy clock, running task graphs.

A :class:`ChipSim` owns the slots of every unit instance of a :class:`Machine` (SMs, a
ternary MAC array, an attention core, a nonlinear unit, ...) and one :class:`FluidPool`
in which every running tile shares its unit's compute and the chip's shared memory
bandwidth. :meth:`ChipSim.run` is a simpy process that executes one
:class:`~sim.tasks.TaskGraph`:

* a task becomes *ready* when every task it depends on has finished, and *available*
  ``kernel.launch_s`` later (the launch overhead, a simpy timeout);
* each unit kind keeps its available tasks ordered by the priorities the caller gives
  (a scheduling policy's, :mod:`sim.scheduling`); a slot that is free takes the next
  chunk of tiles (:class:`TileQueue`) from the first available task of its unit kind that
  still has tiles and whose occupancy admits the slot (slot ``j`` of a unit runs tiles of
  kernels with ``slots_per_unit > j``);
* a task finishes when its last tile ends; its dependents become ready at that instant.

Slot ``j`` of instance ``i`` of a unit kind with ``n`` instances has id ``base + j*n + i``
and free slots are served in id order, so the first wave of a kernel puts one tile on
every instance before any gets a second (GPU block dispatch). A graph whose tasks form a
chain therefore runs each kernel exactly as a kernel run alone would.

Identical work is simulated once: when a kernel starts with the chip otherwise empty
(nothing running, nothing else available or launching) and the same kernel object ran
before under the same condition, its run is *replayed* (one timeout of the recorded
duration, spans shifted) instead of simulated tile by tile. Nothing else can start
during such a run (a task becomes available only when another finishes or launches),
so the replay is exact.

The engine knows units, slots, tiles, bytes and seconds; it never knows GPUs, engine
kinds, op kinds or policies: those reach it as kernels, unit names and priorities.
"""

from __future__ import annotations

import bisect
import functools
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import simpy
from attnsim.sim.engine.fluid import FluidPool
from attnsim.sim.engine.scheduler import TileQueue
from attnsim.sim.tasks import Kernel, TaskGraph, TileClass


@dataclass(frozen=True)
class Machine:
    """What the engine needs to know of a chip.

    Attributes:
        units: unit kind -> instances (``{"sm": 132}``, ``{"tint": 2, "boothflex": 1}``).
        shared_bandwidth: bytes/s of each shared memory level tiles contend for.
        unit_bandwidth_cap: unit kind -> level -> bytes/s one instance can draw from that
            shared level when alone (its slice of the on-chip network); a missing entry
            is uncapped.
    """

    units: Mapping[str, int]
    shared_bandwidth: Mapping[str, float]
    unit_bandwidth_cap: Mapping[str, Mapping[str, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.units:
            raise ValueError("Machine.units must name at least one unit kind, got none")
        for unit, count in self.units.items():
            if not isinstance(count, int) or count < 1:
                raise ValueError(f"Machine.units[{unit!r}] must be an integer >= 1, got {count!r}")
        for level, bw in self.shared_bandwidth.items():
            if not bw > 0:
                raise ValueError(f"shared_bandwidth[{level!r}] must be > 0 bytes/s, got {bw}")
        for unit, caps in self.unit_bandwidth_cap.items():
            if unit not in self.units:
                raise ValueError(
                    f"unit_bandwidth_cap names unit {unit!r}; expected one of {sorted(self.units)}"
                )
            for level, bw in caps.items():
                if not bw > 0:
                    raise ValueError(
                        f"unit_bandwidth_cap[{unit!r}][{level!r}] must be > 0 bytes/s, got {bw}"
                    )


@dataclass(frozen=True)
class TaskSpan:
    """One job (a chunk of identical tiles) on one slot, for timelines.

    ``unit`` is the unit kind, ``instance`` its instance, ``slot`` the slot index within
    the instance; times in seconds on the chip clock."""

    task: int
    unit: str
    instance: int
    slot: int
    tile: str
    count: int
    start_s: float
    end_s: float


@dataclass(frozen=True)
class TaskRun:
    """When one task of a graph ran.

    Attributes:
        ready_s: all its dependencies had finished (its launch overhead starts).
        end_s: its last tile ended (``ready_s + launch`` for a task without tiles).
        jobs: chunks simulated (0 when replayed).
        replayed: the run repeated an earlier identical isolated run instead of
            simulating it.
        spans: per-job spans when recording, else empty.
    """

    ready_s: float
    end_s: float
    jobs: int
    replayed: bool = False
    spans: tuple[TaskSpan, ...] = ()

    @property
    def time_s(self) -> float:
        """Seconds from ready to end: launch overhead plus first tile start to last end."""
        return self.end_s - self.ready_s


@dataclass(frozen=True)
class GraphRun:
    """What happened when a graph ran: its start and end on the chip clock and a
    :class:`TaskRun` per task (same order as the graph's tasks)."""

    start_s: float
    end_s: float
    tasks: tuple[TaskRun, ...]

    @property
    def makespan_s(self) -> float:
        """Seconds from the graph's start to its last task's end."""
        return self.end_s - self.start_s


def nominal_s(tile: TileClass, machine: Machine, unit: str) -> float:
    """Seconds one tile takes alone on an instance of ``unit``: its unhidden latency, then
    compute and traffic overlapped (pipelined). Folding the latency into the tile's
    duration means the tile draws less than its unit's full compute while it waits on
    its first load, which is what lets a co-resident tile use the unit meanwhile."""
    longest = tile.compute_s
    for level, cap in machine.unit_bandwidth_cap.get(unit, {}).items():
        longest = max(longest, tile.bytes_at(level) / cap)
    for level, bw in machine.shared_bandwidth.items():
        longest = max(longest, tile.bytes_at(level) / bw)
    return tile.fixed_s + longest


def estimate_s(kernel: Kernel, machine: Machine) -> float:
    """Seconds ``kernel`` takes alone, by a bound that needs no simulation: its launch plus
    its tiles' stand-alone seconds spread over every slot of its unit (but never less
    than its longest tile). Policies rank tasks with it; it never sets a time."""
    slots = machine.units[kernel.unit] * kernel.slots_per_unit
    total = 0.0
    longest = 0.0
    for tile, count in kernel.runs:
        t = nominal_s(tile, machine, kernel.unit)
        total += t * count
        longest = max(longest, t)
    return kernel.launch_s + max(total / slots, longest)


@dataclass
class _Task:
    """Mutable state of one task of one running graph."""

    run: _Run
    index: int
    kernel: Kernel
    unit: str
    key: tuple[float, int, int]
    waiting: int
    queue: TileQueue | None = None
    inflight: int = 0
    jobs: int = 0
    ready_s: float = float("nan")
    end_s: float = float("nan")
    done: bool = False
    replayed: bool = False
    isolated: bool = False
    spans: list[TaskSpan] = field(default_factory=list)


@dataclass
class _Run:
    """Mutable state of one running graph."""

    graph: TaskGraph
    dependents: tuple[tuple[int, ...], ...]
    tasks: list[_Task]
    left: int
    done: simpy.Event
    start_s: float


@dataclass(frozen=True)
class _Recorded:
    kernel: Kernel  # held so that its id cannot be reused while recorded
    duration_s: float
    spans: tuple[TaskSpan, ...]


class ChipSim:
    """Every unit instance of a machine, its slots and one fluid pool, on ``env``.

    Args:
        env: the simulation's one simpy environment.
        machine: units, shared bandwidth and per-unit caps.
        slots_per_unit: unit kind -> most tiles an instance holds at once over every
            kernel that will run (the pool is sized for it; a kernel uses the first
            ``kernel.slots_per_unit`` of them).
        chunking: hand identical tiles out in guided chunks (:class:`TileQueue`).
        record: keep per-job spans for timelines.
        replay: repeat isolated runs of a kernel that already ran isolated (exact; see
            the module docstring). False simulates every run.
    """

    def __init__(
        self,
        env: simpy.Environment,
        machine: Machine,
        slots_per_unit: Mapping[str, int],
        *,
        chunking: bool = True,
        record: bool = False,
        replay: bool = True,
    ) -> None:
        for unit, n in slots_per_unit.items():
            if unit not in machine.units:
                raise ValueError(
                    f"slots_per_unit names unit {unit!r}; expected one of {sorted(machine.units)}"
                )
            if not isinstance(n, int) or n < 1:
                raise ValueError(f"slots_per_unit[{unit!r}] must be an integer >= 1, got {n!r}")
        self._env = env
        self._machine = machine
        self._chunking = chunking
        self._record = record
        self._replay = replay
        self._levels = list(machine.shared_bandwidth)
        # slot layout: unit kinds in machine order; slot j of instance i = base + j*n + i
        self._slot_base: dict[str, int] = {}
        self._unit_base: dict[str, int] = {}
        self._slots_of: dict[str, int] = {}
        slot_unit: list[str] = []
        slot_instance: list[int] = []
        slot_index: list[int] = []
        instances = 0
        for unit, n in machine.units.items():
            s = int(slots_per_unit.get(unit, 1))
            self._slot_base[unit] = len(slot_unit)
            self._unit_base[unit] = instances
            self._slots_of[unit] = s
            for j in range(s):
                for i in range(n):
                    slot_unit.append(unit)
                    slot_instance.append(i)
                    slot_index.append(j)
            instances += n
        self._slot_unit = slot_unit
        self._slot_instance = slot_instance
        self._slot_index = slot_index
        bw = np.array([machine.shared_bandwidth[lv] for lv in self._levels], dtype=float)
        self._pool = FluidPool(env, len(slot_unit), instances, bw)
        self._busy: list[_Task | None] = [None] * len(slot_unit)
        self._job_start: list[tuple[str, int, float]] = [("", 0, 0.0)] * len(slot_unit)
        self._available: dict[str, list[tuple[tuple[float, int, int], _Task]]] = {
            u: [] for u in machine.units
        }
        self._inflight = 0
        self._launching = 0
        self._runs = 0
        self._tile_cache: dict[tuple[int, str], tuple[TileClass, float, np.ndarray]] = {}
        self._recorded: dict[int, _Recorded] = {}
        self._isolated: _Task | None = None
        self._dirty: set[str] = set()

    @property
    def env(self) -> simpy.Environment:
        """The simpy environment (the chip's clock)."""
        return self._env

    @property
    def machine(self) -> Machine:
        """The machine simulated."""
        return self._machine

    def run(
        self, graph: TaskGraph, priorities: Sequence[float] | None = None
    ) -> simpy.events.Process:
        """Start running ``graph`` now; the returned process's value is a :class:`GraphRun`.

        ``priorities`` (one per task, lower first) orders available tasks that compete
        for a unit; ties go to the earlier task. None: program order.
        """
        for i, task in enumerate(graph.tasks):
            unit = task.kernel.unit
            if unit not in self._machine.units:
                raise ValueError(
                    f"task {i} ({task.name!r}) runs on unit {unit!r}; the machine has "
                    f"{', '.join(self._machine.units)}"
                )
            if task.kernel.slots_per_unit > self._slots_of[unit]:
                raise ValueError(
                    f"task {i} ({task.name!r}) needs {task.kernel.slots_per_unit} slots per "
                    f"{unit}; the engine was built with {self._slots_of[unit]}"
                )
        if priorities is not None and len(priorities) != len(graph.tasks):
            raise ValueError(
                f"priorities has {len(priorities)} entries; expected one per task "
                f"({len(graph.tasks)})"
            )
        return self._env.process(self._execute(graph, priorities))

    # ---- one graph ----------------------------------------------------------------------
    def _execute(
        self, graph: TaskGraph, priorities: Sequence[float] | None
    ) -> Generator[simpy.Event, Any, GraphRun]:
        env = self._env
        self._runs += 1
        seq = self._runs
        run = _Run(graph, graph.dependents(), [], len(graph.tasks), env.event(), env.now)
        for i, task in enumerate(graph.tasks):
            prio = float(priorities[i]) if priorities is not None else float(i)
            run.tasks.append(
                _Task(run, i, task.kernel, task.kernel.unit, (prio, seq, i), len(set(task.deps)))
            )
        if run.left == 0:
            run.done.succeed()
        else:
            for t in run.tasks:
                if t.waiting == 0:
                    self._ready(t)
            self._flush()
        yield run.done
        end = max((t.end_s for t in run.tasks), default=run.start_s)
        return GraphRun(
            start_s=run.start_s,
            end_s=end,
            tasks=tuple(
                TaskRun(t.ready_s, t.end_s, t.jobs, t.replayed, tuple(t.spans)) for t in run.tasks
            ),
        )

    def _ready(self, t: _Task) -> None:
        """All of ``t``'s dependencies are done: launch it."""
        t.ready_s = self._env.now
        launch = t.kernel.launch_s
        if launch > 0:
            self._launching += 1
            event = self._env.timeout(launch)
            event.callbacks.append(functools.partial(self._launched, t))
        else:
            self._available_now(t)

    def _launched(self, t: _Task, _event: simpy.Event) -> None:
        self._launching -= 1
        self._available_now(t)
        self._flush()

    def _quiet(self) -> bool:
        """Nothing runs, launches or waits for a slot anywhere on the chip."""
        return self._inflight == 0 and self._launching == 0 and not any(self._available.values())

    def _available_now(self, t: _Task) -> None:
        """``t`` may take slots from now on (or replays, or completes if it has no tiles)."""
        quiet = self._quiet()
        if not quiet and self._isolated is not None:
            self._isolated.isolated = False  # it shares the chip from now on
            self._isolated = None
        if not t.kernel.runs:
            self._complete(t)
            return
        if self._replay and quiet:
            recorded = self._recorded.get(id(t.kernel))
            if recorded is not None and recorded.kernel is t.kernel:
                self._start_replay(t, recorded)
                return
            t.isolated = True
            self._isolated = t
        t.queue = TileQueue(
            t.kernel.runs,
            self._machine.units[t.unit] * t.kernel.slots_per_unit,
            chunking=self._chunking,
        )
        bisect.insort(self._available[t.unit], (t.key, t), key=lambda e: e[0])
        self._dirty.add(t.unit)

    def _start_replay(self, t: _Task, rec: _Recorded) -> None:
        t.replayed = True
        self._inflight += 1
        start = self._env.now
        if self._record:
            t.spans = [
                TaskSpan(
                    t.index,
                    s.unit,
                    s.instance,
                    s.slot,
                    s.tile,
                    s.count,
                    start + s.start_s,
                    start + s.end_s,
                )
                for s in rec.spans
            ]

        def finish(_e: simpy.Event) -> None:
            self._inflight -= 1
            self._complete(t)
            self._flush()

        self._env.timeout(rec.duration_s).callbacks.append(finish)

    # ---- slots --------------------------------------------------------------------------
    def _flush(self) -> None:
        """Fill the free slots of every unit kind whose work changed, in machine order
        (filling can complete tasks with empty tiles and make more work available)."""
        while self._dirty:
            unit = next(u for u in self._machine.units if u in self._dirty)
            self._dirty.discard(unit)
            self._fill(unit)

    def _fill(self, unit: str) -> None:
        """Give every free slot of ``unit`` work, in slot-id order."""
        base = self._slot_base[unit]
        for slot in range(base, base + self._machine.units[unit] * self._slots_of[unit]):
            if not self._available[unit]:
                return
            if self._busy[slot] is None:
                self._take(slot)

    def _take(self, slot: int) -> None:
        """Start the next chunk on the free ``slot`` (no-op when nothing fits it)."""
        unit = self._slot_unit[slot]
        j = self._slot_index[slot]
        entries = self._available[unit]
        while True:
            task = next((c for _, c in entries if j < c.kernel.slots_per_unit), None)
            if task is None or task.queue is None:
                return
            item = task.queue.take()
            if task.queue.remaining == 0:
                self._remove_available(task)
            if item is None:  # pragma: no cover - a listed queue always has tiles
                continue
            tile, count = item
            nominal, level_bytes = self._tile_costs(tile, unit)
            task.jobs += 1
            if nominal <= 0:  # an empty tile: done at once
                if task.queue.remaining == 0 and task.inflight == 0:
                    self._complete(task)
                continue
            self._busy[slot] = task
            task.inflight += 1
            self._inflight += 1
            self._job_start[slot] = (tile.name, count, self._env.now)
            self._pool.submit(
                slot,
                self._unit_base[unit] + self._slot_instance[slot],
                tile.compute_s * count,
                level_bytes * count,
                nominal * count,
                self._job_done,
            )
            return

    def _remove_available(self, task: _Task) -> None:
        entries = self._available[task.unit]
        for k, (_, candidate) in enumerate(entries):
            if candidate is task:
                del entries[k]
                return

    def _tile_costs(self, tile: TileClass, unit: str) -> tuple[float, np.ndarray]:
        key = (id(tile), unit)
        cached = self._tile_cache.get(key)
        if cached is None or cached[0] is not tile:  # ids are reused once objects die
            cached = (
                tile,
                nominal_s(tile, self._machine, unit),
                np.array([tile.bytes_at(level) for level in self._levels]),
            )
            self._tile_cache[key] = cached
        return cached[1], cached[2]

    def _job_done(self, slot: int) -> None:
        task = self._busy[slot]
        assert task is not None
        self._busy[slot] = None
        task.inflight -= 1
        self._inflight -= 1
        if self._record:
            name, count, t0 = self._job_start[slot]
            task.spans.append(
                TaskSpan(
                    task.index,
                    self._slot_unit[slot],
                    self._slot_instance[slot],
                    self._slot_index[slot],
                    name,
                    count,
                    t0,
                    self._env.now,
                )
            )
        if task.inflight == 0 and task.queue is not None and task.queue.remaining == 0:
            self._complete(task)
            self._dirty.add(self._slot_unit[slot])
        else:
            self._take(slot)
        self._flush()

    # ---- completion ---------------------------------------------------------------------
    def _complete(self, t: _Task) -> None:
        now = self._env.now
        t.done = True
        t.end_s = now
        if t is self._isolated:
            self._isolated = None
            if t.isolated and not t.replayed:
                start = t.ready_s + t.kernel.launch_s
                self._recorded[id(t.kernel)] = _Recorded(
                    t.kernel,
                    now - start,
                    tuple(
                        TaskSpan(
                            s.task,
                            s.unit,
                            s.instance,
                            s.slot,
                            s.tile,
                            s.count,
                            s.start_s - start,
                            s.end_s - start,
                        )
                        for s in t.spans
                    ),
                )
        run = t.run
        run.left -= 1
        for d in run.dependents[t.index]:
            dep = run.tasks[d]
            dep.waiting -= 1
            if dep.waiting == 0:
                self._ready(dep)
        if run.left == 0:
            run.done.succeed()


def run_graph(
    graph: TaskGraph,
    machine: Machine,
    *,
    priorities: Sequence[float] | None = None,
    chunking: bool = True,
    record: bool = False,
    replay: bool = True,
    on_env: Callable[[simpy.Environment], None] | None = None,
) -> GraphRun:
    """Run one graph alone on a fresh clock (tests, one-kernel runs) and return its run."""
    env = simpy.Environment()
    if on_env is not None:
        on_env(env)
    slots: dict[str, int] = {}
    for task in graph.tasks:
        u = task.kernel.unit
        slots[u] = max(slots.get(u, 1), task.kernel.slots_per_unit)
    chip = ChipSim(env, machine, slots, chunking=chunking, record=record, replay=replay)
    process = chip.run(graph, priorities)
    env.run()
    value = process.value
    assert isinstance(value, GraphRun)
    return value
