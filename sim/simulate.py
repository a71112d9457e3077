"""``simulate(hw, workload)``: lower every distinct op, run its kernels, add it all up.

Repeated blocks are simulated once and multiplied by their count; ops that differ only
in name (the q and o projections of a layer, two identical norms) are simulated once.
Ops run one after another (each op's kernels start when the previous kernel ends), as
in a single CUDA stream. Every distinct op's simulated kernels are checked against the
physics invariants of :mod:`sim.physics` (a violation raises ``PhysicsError``: a bug).
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict

from attnsim.hwconfigs.model import Hardware
from attnsim.sim.energy import compute_energy, memory_energy
from attnsim.sim.engine.kernel_sim import KernelRun
from attnsim.sim.lowering import LoweringError, LoweringOptions, TargetView, choose_family
from attnsim.sim.lowering.choose import machine_shape, run_kernel
from attnsim.sim.physics import check_op
from attnsim.sim.result import Energy, OpResult, Result, TimelineEvent
from attnsim.sim.tasks import OpTasks
from attnsim.workloads.ops import AttentionOp, Op
from attnsim.workloads.workload import Workload

#: Tile-level timeline spans are kept for the first instance of each distinct op, on
#: at most this many units (a full H100 trace would be ~10^5 spans per op otherwise).
TIMELINE_UNITS = 8


@dataclasses.dataclass(frozen=True)
class _Simulated:
    tasks: OpTasks
    runs: tuple[KernelRun, ...]

    @property
    def latency_s(self) -> float:
        return sum(r.time_s for r in self.runs)


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


def _bound(
    run_busy: dict[str, float], level_busy: dict[str, float], latency: float, launch: float
) -> str:
    """What limited the op: ``launch`` (overheads are half or more of its time), else the
    resource closest to saturation while it ran: ``compute`` or a memory level."""
    if latency <= 0:
        return "compute"
    if launch >= 0.5 * latency:
        return "launch"
    busy_time = latency - launch
    best_level = max(level_busy, key=lambda k: level_busy[k], default=None)
    if best_level is not None and level_busy[best_level] / busy_time > 0.6:
        compute_frac = max(run_busy.values(), default=0.0) / busy_time
        if level_busy[best_level] / busy_time >= compute_frac:
            return best_level
    return "compute"


def simulate(
    hw: Hardware,
    workload: Workload,
    *,
    family: str | None = None,
    options: LoweringOptions | None = None,
    timeline: bool = False,
    check_capacity: bool = True,
    chunking: bool = True,
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
    """
    options = options or LoweringOptions()
    options.check()
    view = TargetView(hw)
    if check_capacity:
        needed = memory_needed_bytes(workload)
        if needed > view.dram.capacity_bytes:
            raise LoweringError(
                f"workload {workload.name!r} needs {needed / 2**30:.1f} GiB in {view.dram.name} "
                f"(weights, KV cache, largest op) but {hw.name} has "
                f"{view.dram.capacity_bytes / 2**30:.1f} GiB"
            )
    shape = machine_shape(view)
    memo: dict[Op, _Simulated] = {}
    first_use: dict[Op, bool] = {}

    def run(op: Op) -> tuple[_Simulated, bool]:
        key = dataclasses.replace(op, name="")
        if key not in memo:
            fam = choose_family(op, view, family)
            tasks = fam.lower(op, view, options)
            runs = tuple(
                run_kernel(k, shape, chunking=chunking, record=timeline) for k in tasks.kernels
            )
            check_op(hw, op, runs, view.units)
            memo[key] = _Simulated(tasks, runs)
            first_use[key] = True
            return memo[key], True
        return memo[key], False

    ops_out: list[OpResult] = []
    events: list[TimelineEvent] = []
    total_latency = 0.0
    total_flops = 0.0
    reads: dict[str, float] = defaultdict(float)
    writes: dict[str, float] = defaultdict(float)
    all_ops: dict[tuple[str, str], float] = defaultdict(float)
    busy: dict[str, float] = defaultdict(float)
    stats = {"tiles": 0, "distinct_tiles": 0, "jobs": 0, "distinct_ops": 0, "ops": 0}

    for block in workload.blocks:
        block_start = total_latency
        block_ops: list[tuple[Op, _Simulated, bool]] = []
        for op in block.ops:
            simulated, first = run(op)
            block_ops.append((op, simulated, first))
        block_latency = sum(s.latency_s for _, s, _ in block_ops)
        for op, simulated, first in block_ops:
            op_reads: dict[str, float] = defaultdict(float)
            op_writes: dict[str, float] = defaultdict(float)
            op_ops: dict[tuple[str, str], float] = defaultdict(float)
            op_busy: dict[str, float] = defaultdict(float)
            level_busy: dict[str, float] = defaultdict(float)
            for r in simulated.runs:
                for k, v in r.read_bytes.items():
                    op_reads[k] += v
                for k, v in r.write_bytes.items():
                    op_writes[k] += v
                for k2, v in r.ops.items():
                    op_ops[k2] += v
                for k, v in r.engine_busy_s.items():
                    op_busy[k] += v / max(1, view.units)
                for k, v in r.shared_level_busy_s.items():
                    level_busy[k] += v
            e_compute, _, _ = compute_energy(hw, op_ops)
            e_memory, _ = memory_energy(hw, op_reads, op_writes)
            op_bytes = {
                name: op_reads.get(name, 0.0) + op_writes.get(name, 0.0)
                for name in [lvl.name for lvl in hw.memory]
                if name in op_reads or name in op_writes
            }
            latency = simulated.latency_s
            launch = sum(r.launch_s for r in simulated.runs)
            ops_out.append(
                OpResult(
                    block=block.name,
                    name=op.name,
                    kind=op.kind,
                    family=simulated.tasks.family,
                    kernels=tuple(r.name for r in simulated.runs),
                    count=block.count,
                    latency_s=latency,
                    flops=op.flops(),
                    bytes=op_bytes,
                    energy_j=e_compute + e_memory,
                    tiles=sum(r.tiles for r in simulated.runs),
                    distinct_tiles=sum(r.distinct_tiles for r in simulated.runs),
                    jobs=sum(r.jobs for r in simulated.runs),
                    bound=_bound(dict(op_busy), dict(level_busy), latency, launch),
                    launch_s=launch,
                    notes=dict(simulated.tasks.notes),
                )
            )
            n = block.count
            total_flops += op.flops() * n
            for k, v in op_reads.items():
                reads[k] += v * n
            for k, v in op_writes.items():
                writes[k] += v * n
            for k2, v in op_ops.items():
                all_ops[k2] += v * n
            for r in simulated.runs:
                for k, v in r.engine_busy_s.items():
                    busy[k] += v * n
            stats["ops"] += n
            if first:
                stats["distinct_ops"] += 1
                stats["tiles"] += sum(r.tiles for r in simulated.runs)
                stats["distinct_tiles"] += sum(r.distinct_tiles for r in simulated.runs)
                stats["jobs"] += sum(r.jobs for r in simulated.runs)
        if timeline:
            events.extend(_block_events(block.name, block.count, block_start, block_ops))
        total_latency += block_latency * block.count

    e_compute, by_prec, _missing = compute_energy(hw, all_ops)
    e_memory, by_level = memory_energy(hw, reads, writes)
    energy = Energy(
        compute_j=e_compute,
        memory_j=e_memory,
        static_j=hw.energy.static_power_w * total_latency,
        compute_by_precision_j=by_prec,
        memory_by_level_j=by_level,
    )
    utilisation = {
        name: (busy.get(name, 0.0) / (total_latency * engine.count) if total_latency > 0 else 0.0)
        for name, engine in hw.engines.items()
    }
    all_bytes = {
        lvl.name: reads.get(lvl.name, 0.0) + writes.get(lvl.name, 0.0)
        for lvl in hw.memory
        if lvl.name in reads or lvl.name in writes
    }
    return Result(
        hardware=hw.name,
        workload=workload.name,
        family=family,
        latency_s=total_latency,
        flops=total_flops,
        tokens=workload.tokens,
        bytes=all_bytes,
        energy=energy,
        utilisation=utilisation,
        ops=tuple(ops_out),
        timeline=tuple(events),
        stats=stats,
    )


def _block_events(
    block_name: str, count: int, start: float, block_ops: list[tuple[Op, _Simulated, bool]]
) -> list[TimelineEvent]:
    """Op and kernel spans for every repetition; tile spans for first instances."""
    events: list[TimelineEvent] = []
    block_latency = sum(s.latency_s for _, s, _ in block_ops)
    for rep in range(count):
        t = start + rep * block_latency
        for op, simulated, first in block_ops:
            events.append(
                TimelineEvent(
                    "ops",
                    f"{op.kind} {op.name}",
                    t,
                    simulated.latency_s,
                    {"block": block_name, "repeat": rep, "family": simulated.tasks.family},
                )
            )
            kt = t
            for r in simulated.runs:
                events.append(TimelineEvent("kernels", r.name, kt, r.time_s, {"tiles": r.tiles}))
                if first and rep == 0:
                    for span in r.spans:
                        if span.unit < TIMELINE_UNITS:
                            events.append(
                                TimelineEvent(
                                    f"unit {span.unit} slot {span.slot}",
                                    span.tile,
                                    kt + r.launch_s + span.start_s,
                                    span.end_s - span.start_s,
                                    {"tiles": span.count},
                                )
                            )
                kt += r.time_s
            t += simulated.latency_s
    return events
