"""What lowering produces and the engine consumes: tile classes, kernels, task graphs.

A *tile* is the unit of work a kernel hands to one compute-unit slot (one CTA of a fused
attention kernel, one output tile of a GEMM, one core's share of a CPU loop). Tiles that
do the same work are one :class:`TileClass`; a kernel's issue order is run-length encoded
as ``(TileClass, count)`` runs, so cost grows with the number of *distinct* tiles, not all
of them. All quantities are per tile and in SI units.

A :class:`TaskGraph` is what the engine runs on one clock: :class:`GraphTask` s, each a
kernel on one kind of unit, with the tasks it must wait for. Ops of a GPU stream become
a chain; a heterogeneous accelerator's lowering emits a graph in which a ternary GEMM
tile, an attention head and a softmax can run at once where the data allow.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class TileClass:
    """The cost of one tile, identical for every tile of the class.

    Attributes:
        name: label shown in timelines ("q-block 3 of causal", "gemm 128x256").
        engine_s: seconds each engine of the tile's unit is busy for this tile at its
            full per-unit throughput (keys are engine names of the target).
        compute_s: seconds the unit needs for the tile after the lowering family's
            overlap rule (e.g. ``max(tensor, sfu + vector)`` for a warp-specialised
            kernel, their sum for one that serialises them). Shared by tiles resident
            on the same unit.
        read_bytes: bytes read at each memory level (level name -> bytes).
        write_bytes: bytes written at each memory level (level name -> bytes).
        fixed_s: seconds of latency that no overlap hides (pipeline fill: the first load
            of the tile from its farthest level, the final store).
        ops: arithmetic of the tile for the energy model: ``(op class, precision) -> ops``
            (a multiply-accumulate counts as 2 ops).
        flops: useful floating-point (or integer) operations of the tile, for achieved
            FLOP/s. Padding and masked-out work are in ``ops`` but not here.
        engine_energy_j: dynamic joules one tile costs on each engine, when the lowering
            knows it from a unit model (activity counts x energy per event); an engine
            listed here is not charged again for its ``ops``. Empty: every op is charged
            at the target's energy per op (:func:`sim.energy.tile_energy`).
    """

    name: str
    engine_s: Mapping[str, float]
    compute_s: float
    read_bytes: Mapping[str, float]
    write_bytes: Mapping[str, float]
    fixed_s: float = 0.0
    ops: Mapping[tuple[str, str], float] = field(default_factory=dict)
    flops: float = 0.0
    engine_energy_j: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.compute_s < 0 or self.fixed_s < 0:
            raise ValueError(
                f"TileClass {self.name!r}: compute_s and fixed_s must be >= 0, "
                f"got {self.compute_s} and {self.fixed_s}"
            )
        for label, table in (("read_bytes", self.read_bytes), ("write_bytes", self.write_bytes)):
            for level, nbytes in table.items():
                if nbytes < 0:
                    raise ValueError(
                        f"TileClass {self.name!r}: {label}[{level!r}] must be >= 0, got {nbytes}"
                    )
        for engine, joules in self.engine_energy_j.items():
            if not joules >= 0:
                raise ValueError(
                    f"TileClass {self.name!r}: engine_energy_j[{engine!r}] must be >= 0 J, "
                    f"got {joules}"
                )

    def bytes_at(self, level: str) -> float:
        """Bytes moved (read + written) at ``level`` by one tile."""
        return self.read_bytes.get(level, 0.0) + self.write_bytes.get(level, 0.0)


@dataclass(frozen=True)
class Kernel:
    """One kernel launch: tiles issued in a stated order to slots of one unit kind.

    Attributes:
        name: kernel name ("flash-attention-3 fwd", "split-kv reduce").
        unit: the replicated compute unit the tiles run on ("sm", "core").
        slots_per_unit: tiles resident at once on one unit (occupancy).
        runs: issue order, run-length encoded: ``(tile class, number of tiles)``.
        launch_s: launch overhead in seconds, paid once before the first tile starts.
        order: one line saying how the issue order was chosen (shown in reports).
    """

    name: str
    unit: str
    slots_per_unit: int
    runs: tuple[tuple[TileClass, int], ...]
    launch_s: float = 0.0
    order: str = ""

    def __post_init__(self) -> None:
        if self.slots_per_unit < 1:
            raise ValueError(
                f"Kernel {self.name!r}: slots_per_unit must be >= 1, got {self.slots_per_unit}"
            )
        if self.launch_s < 0:
            raise ValueError(f"Kernel {self.name!r}: launch_s must be >= 0, got {self.launch_s}")
        for tile, count in self.runs:
            if count < 1:
                raise ValueError(
                    f"Kernel {self.name!r}: run of {tile.name!r} must have count >= 1, got {count}"
                )

    @property
    def num_tiles(self) -> int:
        """All tiles of the kernel."""
        return sum(count for _, count in self.runs)

    @property
    def distinct_tiles(self) -> int:
        """Distinct tile classes (what the simulation cost follows)."""
        return len({id(tile) for tile, _ in self.runs})


@dataclass(frozen=True)
class OpTasks:
    """All kernels of one op on one target, run one after another.

    Attributes:
        family: the lowering family that produced them ("flash-attention-3").
        kernels: kernels in launch order; each starts when the previous one ends.
        notes: the choices lowering made (tile sizes, occupancy, L2 hit rule outcome).
    """

    family: str
    kernels: tuple[Kernel, ...]
    notes: Mapping[str, str | int | float] = field(default_factory=dict)


@dataclass(frozen=True)
class GraphTask:
    """One node of a :class:`TaskGraph`: a kernel that runs on one kind of unit once every
    task in ``deps`` has finished.

    Attributes:
        name: label shown in timelines ("q_proj head 3", "softmax head 3").
        kernel: the tiles; ``kernel.unit`` names the unit kind they run on.
        deps: indices (into the graph's tasks) of the tasks that must finish first; each
            is smaller than this task's own index (tasks are listed in a topological
            order, the program order), so a graph is acyclic by construction.
        role: what kind of work it is, for scheduling policies: ``"matrix"`` (GEMMs,
            attention products), ``"nonlinear"`` (softmax, norms, activations,
            quantisation), ``"transfer"`` (data moves), or any other label a policy reads.
        op: index of the op (in its block) the task belongs to, for per-op results; -1
            when it belongs to none.
    """

    name: str
    kernel: Kernel
    deps: tuple[int, ...] = ()
    role: str = "matrix"
    op: int = -1


@dataclass(frozen=True)
class TaskGraph:
    """Tasks in program order with their dependencies (see :class:`GraphTask`).

    The graph is data: it says what may overlap, not what does. The engine runs it on
    one clock, with a scheduling policy ordering ready tasks that compete for a unit.
    """

    tasks: tuple[GraphTask, ...]

    def __post_init__(self) -> None:
        if isinstance(self.tasks, list):
            object.__setattr__(self, "tasks", tuple(self.tasks))
        for i, task in enumerate(self.tasks):
            for d in task.deps:
                if not isinstance(d, int) or not 0 <= d < i:
                    raise ValueError(
                        f"TaskGraph: task {i} ({task.name!r}) depends on {d!r}; expected the "
                        f"index of an earlier task (0..{i - 1})"
                    )

    @classmethod
    def chain(
        cls, kernels: tuple[Kernel, ...] | list[Kernel], *, role: str = "matrix", op: int = -1
    ) -> TaskGraph:
        """Kernels one after another, as on one GPU stream."""
        return cls(
            tuple(
                GraphTask(k.name, k, (i - 1,) if i else (), role, op) for i, k in enumerate(kernels)
            )
        )

    def dependents(self) -> tuple[tuple[int, ...], ...]:
        """For each task, the tasks that depend on it (ascending)."""
        out: list[list[int]] = [[] for _ in self.tasks]
        for i, task in enumerate(self.tasks):
            for d in sorted(set(task.deps)):
                out[d].append(i)
        return tuple(tuple(x) for x in out)

    def with_deps(self, extra: dict[int, set[int]]) -> TaskGraph:
        """A copy with ``extra[i]`` added to task ``i``'s dependencies (policies use it)."""
        tasks = []
        for i, task in enumerate(self.tasks):
            add = extra.get(i)
            if add:
                deps = tuple(sorted(set(task.deps) | add))
                task = GraphTask(task.name, task.kernel, deps, task.role, task.op)
            tasks.append(task)
        return TaskGraph(tuple(tasks))
