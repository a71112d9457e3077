"""``simulate(hw, workload)``: lower every block to a task graph, run the graphs on one
clock, add it all up.

Steps (each a function that returns data):

1. **Lower** (:func:`plan_blocks`): a block whose ops a *block family* of the target
   lowers (``vitallm-pipeline``) becomes that family's task graph; any other block
   becomes a chain: each op's kernels one after another, each op after the previous one
   (one GPU stream). Ops that differ only in name are lowered once and share their
   kernel objects, so the engine can replay them (:mod:`sim.engine.chip`).
2. **Schedule**: the scheduling policy (:mod:`sim.scheduling`) adds the dependencies its
   controller imposes and ranks the tasks.
3. **Run** (:func:`run_plans`): ONE simpy environment for the whole simulation; a
   :class:`ChipSim` holds every unit of the target; each block's graph runs once, after
   the previous block's (a layer needs the last one's output), and a block repeated
   ``count`` times is simulated once and multiplied.
4. **Assemble** (:func:`assemble`): per-op results (an op's time is from its first
   task's start to its last task's end; overlapping ops overlap), bytes per level,
   energy per engine, level and static part, utilisation per engine, area and power.
   Every distinct op is checked against the physics invariants of :mod:`sim.physics`
   (a violation raises ``PhysicsError``: a bug).
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Callable, Generator, Mapping, Sequence
from typing import Any

import simpy
from attnsim.hwconfigs.model import Hardware
from attnsim.sim.energy import engine_compute_energy, memory_energy, static_energy
from attnsim.sim.engine import ChipSim, GraphRun, Machine, estimate_s
from attnsim.sim.engine.chip import TaskRun
from attnsim.sim.engine.kernel_sim import KernelRun, KernelTotals, kernel_totals
from attnsim.sim.lowering import (
    LoweringError,
    LoweringOptions,
    TargetView,
    check_options,
    choose_block_family,
    choose_family,
)
from attnsim.sim.physics import check_block_weights, check_op
from attnsim.sim.result import Energy, OpResult, Result, TimelineEvent
from attnsim.sim.scheduling import DEFAULT_POLICY, POLICIES
from attnsim.sim.tasks import GraphTask, Kernel, OpTasks, TaskGraph
from attnsim.workloads.ops import AttentionOp, Op
from attnsim.workloads.workload import Block, Workload

#: Tile-level timeline spans are kept for the first repetition of each block, on at most
#: this many instances of each unit (a full H100 trace would be ~10^5 spans per op).
TIMELINE_UNITS = 8

#: Op kinds whose work is nonlinear (softmax, norms, activations, gathers): the ``role``
#: their tasks carry for scheduling policies. Every other kind is ``"matrix"``.
NONLINEAR_KINDS = frozenset({"softmax", "norm", "elementwise", "embedding", "unknown"})


def memory_needed_bytes(workload: Workload) -> float:
    """Bytes the workload keeps resident in the farthest memory: every weight, the KV
    cache of decode attention, and the largest single op's inputs plus outputs."""
    weights = 0.0
    kv_cache = 0.0
    largest = 0.0
    for block, op in workload.flat():
        io = op.io_bytes()
        weights += io.weights * block.count
        if isinstance(op, AttentionOp) and op.spec.phase == "decode":
            kv_cache += io.inputs * block.count
        largest = max(largest, io.inputs + io.outputs)
    return weights + kv_cache + largest


def machine_of(view: TargetView) -> Machine:
    """The engine's view of the target: every unit, the shared levels' sustained
    bandwidth, and the per-instance cap of :attr:`TargetView.unit`."""
    caps = {view.unit: dict(view.unit_bandwidth_cap)} if view.unit_bandwidth_cap else {}
    return Machine(
        units=view.all_units, shared_bandwidth=dict(view.shared_bandwidth), unit_bandwidth_cap=caps
    )


def role_of(op: Op) -> str:
    """The scheduling role of an op's tasks (see :data:`NONLINEAR_KINDS`)."""
    return "nonlinear" if op.kind in NONLINEAR_KINDS else "matrix"


@dataclasses.dataclass
class BlockPlan:
    """One block lowered and scheduled, and (after :func:`run_plans`) its run.

    Attributes:
        block: the workload block.
        graph: the task graph of one instance, with the policy's dependencies.
        priorities: the policy's rank per task.
        families: per op, the family that lowered it.
        notes: per op, lowering's choices and stated fallbacks.
        run: what happened when the graph ran (set by :func:`run_plans`).
        fused: a block family lowered the block as a whole (its ops may pass data on
            chip, so an op's compulsory DRAM traffic is only its weights).
    """

    block: Block
    graph: TaskGraph
    priorities: tuple[float, ...]
    families: list[str]
    notes: list[dict[str, str | int | float]]
    run: GraphRun | None = None
    fused: bool = False


def _op_key(op: Op) -> Op:
    return dataclasses.replace(op, name="")


def plan_blocks(
    hw: Hardware,
    view: TargetView,
    workload: Workload,
    *,
    family: str | None,
    options: LoweringOptions,
    policy: str,
) -> list[BlockPlan]:
    """Lower every block of ``workload`` to a scheduled task graph (see module docstring)."""
    pol = POLICIES.lookup(policy, where="policy")
    machine = machine_of(view)
    memo: dict[Op, tuple[OpTasks, tuple[str, ...]]] = {}

    def lower_op(op: Op) -> tuple[OpTasks, tuple[str, ...]]:
        key = _op_key(op)
        if key not in memo:
            view.take_fallbacks()
            fam = choose_family(op, view, family)
            check_options(fam, options, view)
            tasks = fam.lower(op, view, options)
            memo[key] = (tasks, view.take_fallbacks())
        return memo[key]

    plans: list[BlockPlan] = []
    for block in workload.blocks:
        block_family = choose_block_family(block, view, family)
        families: list[str] = []
        notes: list[dict[str, str | int | float]] = []
        if block_family is not None and block_family.lower_block is not None:
            check_options(block_family, options, view)
            view.take_fallbacks()
            lowered = block_family.lower_block(block, view, options)
            fallbacks = view.take_fallbacks()
            graph = lowered.graph
            for i, _op in enumerate(block.ops):
                families.append(lowered.family)
                notes.append(dict(lowered.notes.get(i, {})))
            if fallbacks:
                notes[0]["precision_fallback"] = "; ".join(fallbacks)
        else:
            tasks: list[GraphTask] = []
            for i, op in enumerate(block.ops):
                op_tasks, fallbacks = lower_op(op)
                families.append(op_tasks.family)
                note: dict[str, str | int | float] = dict(op_tasks.notes)
                if fallbacks:
                    note["precision_fallback"] = "; ".join(fallbacks)
                notes.append(note)
                for kernel in op_tasks.kernels:
                    deps = (len(tasks) - 1,) if tasks else ()
                    tasks.append(GraphTask(kernel.name, kernel, deps, role_of(op), i))
            graph = TaskGraph(tuple(tasks))
        graph = pol.prepare(graph)
        estimates = [estimate_s(t.kernel, machine) for t in graph.tasks]
        plans.append(
            BlockPlan(
                block,
                graph,
                tuple(pol.priorities(graph, estimates)),
                families,
                notes,
                fused=block_family is not None and block_family.lower_block is not None,
            )
        )
    return plans


def run_plans(
    view: TargetView,
    plans: list[BlockPlan],
    *,
    chunking: bool = True,
    record: bool = False,
    on_env: Callable[[simpy.Environment], None] | None = None,
) -> None:
    """Run every block's graph, one after another, on one clock (sets ``plan.run``)."""
    env = simpy.Environment()
    if on_env is not None:
        on_env(env)
    machine = machine_of(view)
    slots: dict[str, int] = {}
    for plan in plans:
        for task in plan.graph.tasks:
            u = task.kernel.unit
            if u not in machine.units:
                raise LoweringError(
                    f"{view.hw.name}: task {task.name!r} runs on unit {u!r}; the target has "
                    f"{', '.join(machine.units)}"
                )
            slots[u] = max(slots.get(u, 1), task.kernel.slots_per_unit)
    chip = ChipSim(env, machine, slots, chunking=chunking, record=record)

    def main() -> Generator[simpy.Event, Any, None]:
        for plan in plans:
            plan.run = yield chip.run(plan.graph, plan.priorities)

    env.process(main())
    env.run()


#: A shared level this busy (all tasks' traffic, over an op's span) is saturated.
SATURATED = 0.9


def _bound(
    run_busy: Mapping[str, float],
    level_busy: Mapping[str, float],
    latency: float,
    launch: float,
    saturated: Sequence[str] = (),
) -> str:
    """What limited the op: ``launch`` (overheads are half or more of its time), a shared
    level in ``saturated`` (its traffic from every task running beside the op filled it
    while the op ran, and the op used it), else the resource closest to saturation with
    the op's own traffic: ``compute`` or a memory level."""
    if latency <= 0:
        return "compute"
    if launch >= 0.5 * latency:
        return "launch"
    if saturated:
        return saturated[0]
    busy_time = latency - launch
    best_level = max(level_busy, key=lambda k: level_busy[k], default=None)
    if best_level is not None and level_busy[best_level] / busy_time > 0.6:
        compute_frac = max(run_busy.values(), default=0.0) / busy_time
        if level_busy[best_level] / busy_time >= compute_frac:
            return best_level
    return "compute"


def _saturated_levels(
    op: int,
    window: tuple[float, float],
    tasks: Sequence[tuple[int, float, float, Mapping[str, float]]],
    bandwidth: Mapping[str, float],
    used: Mapping[str, float],
) -> list[str]:
    """Shared levels op ``op`` used whose traffic, from every task of its block
    overlapping the op's ``window`` (``(op, ready, end, bytes per level)``, each task's
    bytes spread evenly over its interval), fills at least :data:`SATURATED` of the
    level's bandwidth with other ops' tasks taking part: what a concurrent op waits on
    although its own bytes alone would not fill the level. Busiest first; none when no
    other op ran beside it (then its own figures decide, as for a lone kernel)."""
    lo, hi = window
    span = hi - lo
    if span <= 0:
        return []
    moved: dict[str, float] = defaultdict(float)
    shared_with: set[str] = set()
    for owner, start, end, nbytes in tasks:
        overlap = min(hi, end) - max(lo, start)
        if overlap <= 0 or end <= start:
            continue
        share = overlap / (end - start)
        for level, b in nbytes.items():
            moved[level] += b * share
            if owner != op and b > 0:
                shared_with.add(level)
    util = {
        level: moved[level] / (bw * span)
        for level, bw in bandwidth.items()
        if bw > 0 and used.get(level, 0.0) > 0 and level in shared_with
    }
    return sorted((lv for lv, u in util.items() if u >= SATURATED), key=lambda lv: -util[lv])


def _peak_ops_s(hw: Hardware, matmul_ops: Mapping[str, float]) -> float:
    """Peak matmul ops/s in the precision with the most matmul ops (0 if none)."""
    if not matmul_ops:
        return 0.0
    precision = max(sorted(matmul_ops), key=lambda p: matmul_ops[p])
    return hw.peak("matmul", precision)


def _off_chip_levels(hw: Hardware) -> tuple[str, ...]:
    far = hw.memory[-1]
    return () if far.area_mm2_per_byte is not None else (far.name,)


@dataclasses.dataclass
class _Acc:
    """Sums over ops or over the run."""

    reads: dict[str, float] = dataclasses.field(default_factory=lambda: defaultdict(float))
    writes: dict[str, float] = dataclasses.field(default_factory=lambda: defaultdict(float))
    ops: dict[tuple[str, str], float] = dataclasses.field(
        default_factory=lambda: defaultdict(float)
    )
    engine_ops: dict[str, dict[tuple[str, str], float]] = dataclasses.field(
        default_factory=lambda: defaultdict(lambda: defaultdict(float))
    )
    unit_model_j: dict[str, float] = dataclasses.field(default_factory=lambda: defaultdict(float))
    busy: dict[str, float] = dataclasses.field(default_factory=lambda: defaultdict(float))

    def add(self, totals: KernelTotals, times: float = 1.0) -> None:
        for k, v in totals.read_bytes.items():
            self.reads[k] += v * times
        for k, v in totals.write_bytes.items():
            self.writes[k] += v * times
        for k2, v in totals.ops.items():
            self.ops[k2] += v * times
        for e, table in totals.engine_ops.items():
            for k2, v in table.items():
                self.engine_ops[e][k2] += v * times
        for e, v in totals.engine_energy_j.items():
            self.unit_model_j[e] += v * times
        for e, v in totals.engine_busy_s.items():
            self.busy[e] += v * times

    def merge(self, other: _Acc, times: float) -> None:
        for k, v in other.reads.items():
            self.reads[k] += v * times
        for k, v in other.writes.items():
            self.writes[k] += v * times
        for k2, v in other.ops.items():
            self.ops[k2] += v * times
        for e, table in other.engine_ops.items():
            for k2, v in table.items():
                self.engine_ops[e][k2] += v * times
        for e, v in other.unit_model_j.items():
            self.unit_model_j[e] += v * times
        for e, v in other.busy.items():
            self.busy[e] += v * times

    def level_bytes(self, hw: Hardware) -> dict[str, float]:
        return {
            lvl.name: self.reads.get(lvl.name, 0.0) + self.writes.get(lvl.name, 0.0)
            for lvl in hw.memory
            if lvl.name in self.reads or lvl.name in self.writes
        }


def assemble(
    hw: Hardware,
    view: TargetView,
    workload: Workload,
    plans: list[BlockPlan],
    *,
    family: str | None,
    policy: str,
    timeline: bool,
) -> Result:
    """The :class:`Result` of plans that have run."""
    machine = machine_of(view)
    totals_cache: dict[int, tuple[Kernel, KernelTotals]] = {}

    def totals_of(kernel: Kernel) -> KernelTotals:
        hit = totals_cache.get(id(kernel))
        if hit is None or hit[0] is not kernel:
            hit = (kernel, kernel_totals(kernel, view.runs_on))
            totals_cache[id(kernel)] = hit
        return hit[1]

    run_acc = _Acc()
    checked: set[Op] = set()
    ops_out: list[OpResult] = []
    events: list[TimelineEvent] = []
    total_latency = 0.0
    total_flops = 0.0
    fallbacks: list[str] = []
    stats = {
        "tiles": 0,
        "distinct_tiles": 0,
        "jobs": 0,
        "distinct_ops": len({_op_key(op) for _, op in workload.flat()}),
        "ops": 0,
        "tasks": 0,
        "replayed": 0,
    }
    for plan in plans:
        run = plan.run
        assert run is not None
        block = plan.block
        by_op: dict[int, list[int]] = defaultdict(list)
        for t, task in enumerate(plan.graph.tasks):
            by_op[task.op].append(t)
            task_run = run.tasks[t]
            stats["tasks"] += 1
            if task_run.replayed:
                stats["replayed"] += 1
            else:
                stats["tiles"] += task.kernel.num_tiles
                stats["distinct_tiles"] += task.kernel.distinct_tiles
                stats["jobs"] += task_run.jobs
        block_acc = _Acc()
        for t in by_op.get(-1, []):  # tasks of no op (block-level work)
            block_acc.add(totals_of(plan.graph.tasks[t].kernel))
        # every task's shared-level traffic over its interval, when ops run side by side
        concurrent: list[tuple[int, float, float, Mapping[str, float]]] = []
        if len([k for k in by_op if k >= 0]) > 1:
            for t, task in enumerate(plan.graph.tasks):
                tot = totals_of(task.kernel)
                traffic = {
                    lv: tot.read_bytes.get(lv, 0.0) + tot.write_bytes.get(lv, 0.0)
                    for lv in machine.shared_bandwidth
                }
                concurrent.append((task.op, run.tasks[t].ready_s, run.tasks[t].end_s, traffic))
        for i, op in enumerate(block.ops):
            op_acc = _Acc()
            idx = by_op.get(i, [])
            for t in idx:
                op_acc.add(totals_of(plan.graph.tasks[t].kernel))
            if idx:
                first = min(run.tasks[t].ready_s for t in idx)
                last = max(run.tasks[t].end_s for t in idx)
                latency = last - first
            else:
                first, latency = run.start_s, 0.0
            launch = sum(plan.graph.tasks[t].kernel.launch_s for t in idx)
            if _op_key(op) not in checked:
                checked.add(_op_key(op))
                check_op(
                    hw,
                    op,
                    [_kernel_use(plan.graph.tasks[t].kernel, run.tasks[t], totals_of) for t in idx],
                    view.units,
                    latency=latency,
                    on_chip_io=plan.fused or hw.kind == "accelerator",
                )

            compute = engine_compute_energy(hw, op_acc.engine_ops, op_acc.unit_model_j)
            e_memory, _ = memory_energy(hw, op_acc.reads, op_acc.writes)
            busy_per_unit = {
                e: v / max(1, hw.engines[e].count if e in hw.engines else view.units)
                for e, v in op_acc.busy.items()
            }
            level_busy = {
                name: (op_acc.reads.get(name, 0.0) + op_acc.writes.get(name, 0.0)) / bw
                for name, bw in machine.shared_bandwidth.items()
            }
            saturated = (
                _saturated_levels(
                    i, (first, first + latency), concurrent, machine.shared_bandwidth, level_busy
                )
                if concurrent and idx
                else []
            )
            note = plan.notes[i]
            if "precision_fallback" in note:
                fallbacks.append(f"{block.name}/{op.name}: {note['precision_fallback']}")
            ops_out.append(
                OpResult(
                    block=block.name,
                    name=op.name,
                    kind=op.kind,
                    family=plan.families[i],
                    kernels=tuple(plan.graph.tasks[t].name for t in idx),
                    count=block.count,
                    latency_s=latency,
                    flops=op.flops(),
                    bytes=op_acc.level_bytes(hw),
                    energy_j=compute.total_j + e_memory,
                    tiles=sum(plan.graph.tasks[t].kernel.num_tiles for t in idx),
                    distinct_tiles=sum(plan.graph.tasks[t].kernel.distinct_tiles for t in idx),
                    jobs=sum(run.tasks[t].jobs for t in idx),
                    bound=_bound(busy_per_unit, level_busy, latency, launch, saturated),
                    launch_s=launch,
                    notes=note,
                )
            )
            block_acc.merge(op_acc, 1.0)
            total_flops += op.flops() * block.count
            stats["ops"] += block.count
        if plan.fused or hw.kind == "accelerator":
            check_block_weights(hw, block, block_acc.reads.get(hw.memory[-1].name, 0.0))
        run_acc.merge(block_acc, float(block.count))
        if timeline:
            events.extend(_block_events(view, plan, total_latency))
        total_latency += run.makespan_s * block.count

    compute = engine_compute_energy(hw, run_acc.engine_ops, run_acc.unit_model_j)
    e_memory, by_level = memory_energy(hw, run_acc.reads, run_acc.writes)
    e_static, by_part = static_energy(hw, total_latency)
    by_prec = dict(compute.by_precision_j)
    energy = Energy(
        compute_j=compute.total_j,
        memory_j=e_memory,
        static_j=e_static,
        compute_by_precision_j=by_prec,
        memory_by_level_j=by_level,
        compute_by_engine_j=dict(compute.by_engine_j),
        static_by_part_j=by_part,
        notes=compute.notes,
        missing=compute.missing,
    )
    utilisation = {
        name: (
            run_acc.busy.get(name, 0.0) / (total_latency * engine.count)
            if total_latency > 0
            else 0.0
        )
        for name, engine in hw.engines.items()
    }
    matmul_ops: dict[str, float] = defaultdict(float)
    for (op_class, precision), n in run_acc.ops.items():
        if op_class == "matmul":
            matmul_ops[precision] += n
    return Result(
        hardware=hw.name,
        workload=workload.name,
        family=family,
        latency_s=total_latency,
        flops=total_flops,
        tokens=workload.tokens,
        bytes=run_acc.level_bytes(hw),
        energy=energy,
        utilisation=utilisation,
        ops=tuple(ops_out),
        timeline=tuple(events),
        stats=stats,
        policy=policy,
        area_mm2=hw.area_mm2,
        area_breakdown_mm2=hw.area_breakdown_mm2(),
        peak_ops_s=_peak_ops_s(hw, matmul_ops),
        off_chip_levels=_off_chip_levels(hw),
        precision_fallbacks=tuple(fallbacks),
        fom_peak_ops_s=hw.fom_peak_ops_s() or 0.0,
        fom_convention=hw.figure_of_merit.describe() if hw.figure_of_merit else "",
    )


def _kernel_use(
    kernel: Kernel, run: TaskRun, totals_of: Callable[[Kernel], KernelTotals]
) -> KernelRun:
    """What one task of an op did, for the physics check (:mod:`sim.physics`)."""
    totals = totals_of(kernel)
    return KernelRun(
        name=kernel.name,
        time_s=run.time_s,
        launch_s=min(kernel.launch_s, run.time_s),
        tiles=totals.tiles,
        distinct_tiles=totals.distinct_tiles,
        jobs=run.jobs,
        engine_busy_s=totals.engine_busy_s,
        read_bytes=totals.read_bytes,
        write_bytes=totals.write_bytes,
        ops=totals.ops,
        flops=totals.flops,
        shared_level_busy_s={},
    )


def simulate(
    hw: Hardware,
    workload: Workload,
    *,
    family: str | None = None,
    options: LoweringOptions | None = None,
    timeline: bool = False,
    check_capacity: bool = True,
    chunking: bool = True,
    policy: str | None = None,
    on_env: Callable[[simpy.Environment], None] | None = None,
) -> Result:
    """Predict how ``workload`` runs on ``hw``.

    Args:
        family: kernel family for the ops it lowers (e.g. ``"triton-bundled"``); None
            picks the best known family the target runs.
        options: tile-size overrides for lowering.
        timeline: collect spans for a Perfetto timeline (costs memory, not accuracy).
        check_capacity: refuse a workload whose weights, KV cache and largest op do not
            fit the target's farthest memory (raises :class:`LoweringError`).
        chunking: hand identical tiles out in chunks (see :mod:`sim.engine.scheduler`);
            False simulates tile by tile (slow; for checking the chunked engine).
        policy: scheduling policy (:data:`sim.scheduling.POLICIES`); None is ``"das"``.
        on_env: called with the simulation's one simpy environment when it is created
            (tests check there is exactly one).
    """
    options = options or LoweringOptions()
    options.check()
    policy = policy or DEFAULT_POLICY
    view = TargetView(hw)
    if check_capacity:
        needed = memory_needed_bytes(workload)
        if needed > view.dram.capacity_bytes:
            raise LoweringError(
                f"workload {workload.name!r} needs {needed / 2**30:.1f} GiB in {view.dram.name} "
                f"(weights, KV cache, largest op) but {hw.name} has "
                f"{view.dram.capacity_bytes / 2**30:.1f} GiB"
            )
    plans = plan_blocks(hw, view, workload, family=family, options=options, policy=policy)
    run_plans(view, plans, chunking=chunking, record=timeline, on_env=on_env)
    return assemble(hw, view, workload, plans, family=family, policy=policy, timeline=timeline)


def _slot_track(view: TargetView, unit: str, instance: int, slot: int) -> str:
    """Timeline row of one slot: ``unit I slot K`` on a one-unit target (K the slot's
    index over all instances), ``UNIT I slot J`` when the target has several units."""
    if len(view.all_units) == 1:
        return f"unit {instance} slot {slot * view.all_units[unit] + instance}"
    return f"{unit} {instance} slot {slot}"


#: Repetitions of a block drawn span by span in a timeline; the rest are one span (a
#: block repeated a million times, e.g. decode steps, would otherwise be millions of events).
TIMELINE_REPEATS = 1024


def _block_events(view: TargetView, plan: BlockPlan, start: float) -> list[TimelineEvent]:
    """Op and task spans for every repetition; tile spans for the first."""
    run = plan.run
    assert run is not None
    block = plan.block
    events: list[TimelineEvent] = []
    single = len(view.all_units) == 1
    by_op: dict[int, list[int]] = defaultdict(list)
    for t, task in enumerate(plan.graph.tasks):
        by_op[task.op].append(t)
    drawn = min(block.count, TIMELINE_REPEATS)
    if drawn < block.count:  # the rest of a very long repetition as one span
        events.append(
            TimelineEvent(
                "ops",
                f"{block.name} x{block.count - drawn:,} more",
                start + drawn * run.makespan_s,
                (block.count - drawn) * run.makespan_s,
                {"block": block.name, "repeats": block.count - drawn},
            )
        )
    for rep in range(drawn):
        offset = start + rep * run.makespan_s - run.start_s
        for i, op in enumerate(block.ops):
            idx = by_op.get(i, [])
            if not idx:
                continue
            first = min(run.tasks[t].ready_s for t in idx)
            last = max(run.tasks[t].end_s for t in idx)
            events.append(
                TimelineEvent(
                    "ops",
                    f"{op.kind} {op.name}",
                    offset + first,
                    last - first,
                    {"block": block.name, "repeat": rep, "family": plan.families[i]},
                )
            )
        for t, task in enumerate(plan.graph.tasks):
            tr = run.tasks[t]
            unit = task.kernel.unit
            events.append(
                TimelineEvent(
                    "kernels" if single else f"tasks {unit}",
                    task.name,
                    offset + tr.ready_s,
                    tr.time_s,
                    {"tiles": task.kernel.num_tiles, "role": task.role, "unit": unit},
                    group="" if single else unit,
                )
            )
            if rep == 0:
                for span in tr.spans:
                    if span.instance < TIMELINE_UNITS:
                        events.append(
                            TimelineEvent(
                                _slot_track(view, span.unit, span.instance, span.slot),
                                span.tile,
                                offset + span.start_s,
                                span.end_s - span.start_s,
                                {"tiles": span.count, "task": task.name},
                                group="" if single else span.unit,
                            )
                        )
    return events
