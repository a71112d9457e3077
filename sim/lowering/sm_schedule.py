"""How the consumer warpgroups of one warp-specialised attention tile share an SM: a
small discrete schedule of one tile's key blocks, instead of ``max(MMA, softmax)``.

FlashAttention-3 (Shah et al. 2024, Sec. 3.1-3.2, and ``hopper/mainloop_fwd_sm90_tma_gmma_ws.hpp``)
splits a tile's query rows among 2-3 consumer warpgroups (64 rows each). Each walks the
key blocks with *intra-warpgroup pipelining*: it issues ``S_j = Q K_j^T`` and the
previous block's ``O += P_{j-1} V_{j-1}`` together, waits for ``S_j``, runs the softmax
of block ``j`` while ``P_{j-1} V_{j-1}`` is still on the tensor cores, waits for it, then
converts ``P_j`` to 16 bits and rescales ``O``. With a *scheduler barrier* (ping-pong;
FA3 uses it for fp16/bf16 up to head dim 128, fp8 from 128) the warpgroups take turns to
issue their GEMMs, so one's softmax runs under another's GEMMs. For head dims above 128
``O`` is rescaled between issuing ``S_j`` and ``P_{j-1} V_{j-1}`` (``RescaleOBeforeGemm``).
FlashAttention-4 and the Blackwell FMHA (tcgen05, accumulators in tensor memory) issue
every MMA from one warp, in order: a tile's ``P_j V_j`` when its ``P_j`` is written and
its ``O`` rescaled (by a separate correction warpgroup), then its next ``S``; their two
softmax warpgroups take turns for the exponential loop (a sequence barrier,
``barrier`` here as well). CUTLASS's Hopper FMHA (NATTEN's Hopper FNA) runs each
warpgroup's block serially -- ``S_j``, wait for it and the previous ``P V``, the softmax
step with the rescale of ``O``, then ``P_j V_j`` -- and overlaps only across warpgroups
(``barrier``: its optional ``kIsMainloopLocked`` order of the softmax steps).

**What runs where** (per SM, each a pipe with its own rate; :class:`SmRates`): the
tensor cores run the GEMMs one at a time in issue order, reading their shared-memory
operands through the SM's shared-memory port (which the producer's TMA writes of K and
V also use, each block into one of ``stages`` buffers once the GEMMs that read its
previous contents are done, arriving no faster than the SM's share of the cache level's
bandwidth while every SM streams; and any P stores); the softmax's instructions go to the MUFU (``exp2``), the
FMA pipe (FFMA scale-subtract, FADD row sum, FMUL rescale of ``O``, an emulated exp's
polynomial) and the ALU pipe (FMNMX running max, F2FP pack-convert of ``P``, the mask's
compare and select); every CUDA-core instruction also takes an issue slot of its SM
sub-partition's scheduler. A warpgroup's softmax is two passes over its scores: the row
maximum (ALU) before any exponential (the scale needs it).

Jobs that run at once share each pipe max-min fairly (progressive filling: every job
at the same fraction of its stand-alone speed until a pipe is full); the tensor cores
serve one GEMM at a time. :func:`tile_schedule` simulates ``N`` key blocks of a tile and
returns ``T(N) = fill + N x period`` from two lengths (a simulation of the mechanism,
not a fit): ``period`` is the steady-state time per key block of the whole tile and
``fill`` what the first and last blocks add (the first ``S`` before any overlap, the
last ``P V`` after the last softmax).

Not modelled (no micro-benchmark found): the latency from issuing a wgmma/tcgen05 to
its accumulators being readable, and the latency of the named barriers; both are taken
as zero, so this schedule is a lower bound on those grounds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

#: Pipes of one SM the schedule divides (names used in :class:`Job` work).
PIPES = ("tensor", "smem", "mufu", "fma", "alu", "issue", "fill")

Variant = Literal["warpgroup_mma", "warpgroup_serial", "single_issuer_mma"]


@dataclass(frozen=True)
class SmRates:
    """Rates of one SM's pipes (per second).

    Attributes:
        tensor_ops_s: matmul ops/s of the MMA instruction the kernel uses.
        smem_bytes_s: bytes/s of the shared-memory port.
        mufu_s: MUFU results/s (``exp2``).
        fma_s / alu_s: lane instructions/s of the FMA and ALU pipes.
        issue_s: lane instructions/s the SM's warp schedulers issue (4 x 32 per clock).
        fill_bytes_s: bytes/s the producer's loads arrive at while every SM streams
            (the cache level's bandwidth divided among the units; 0: unlimited).
    """

    tensor_ops_s: float
    smem_bytes_s: float
    mufu_s: float
    fma_s: float
    alu_s: float
    issue_s: float
    fill_bytes_s: float = 0.0


@dataclass(frozen=True)
class GroupBlockWork:
    """The work of one consumer group (warpgroup / query sub-tile) on one key block.

    Attributes:
        gemm0_ops / gemm1_ops: matmul ops of ``S = Q K^T`` and ``O += P V``.
        gemm0_smem / gemm1_smem: shared-memory bytes each GEMM reads (its operands, a P
            it reads from shared memory).
        max_alu / max_fma: instructions of the row-maximum pass (and the mask's) on the
            ALU pipe, or on the FMA pipe where a model puts them there.
        exp_mufu / exp_fma: MUFU and FMA instructions of the exponential pass
            (scale-subtract, exp, row sum, emulated exps).
        convert_alu / convert_fma / convert_mufu / convert_smem: packing P to the MMA's
            precision (FP8 packs run on the XU pipe with the MUFU), and storing it to
            shared memory when the second GEMM reads it there.
        rescale_fma: FMULs rescaling the output rows.
    """

    gemm0_ops: float
    gemm1_ops: float
    gemm0_smem: float
    gemm1_smem: float
    max_alu: float
    max_fma: float
    exp_mufu: float
    exp_fma: float
    convert_alu: float
    convert_fma: float
    convert_smem: float
    rescale_fma: float
    convert_mufu: float = 0.0


@dataclass(frozen=True)
class TileLoads:
    """What the producer warp writes to shared memory per key block of the tile (the K
    block and the V block, by TMA, each in its own pipeline of ``stages`` buffers), and
    the bytes V moves through the port if the producer also transposes it there."""

    k_bytes: float
    v_bytes: float
    stages: int
    v_port_bytes: float | None = None


@dataclass(frozen=True)
class TileSchedule:
    """``T(n) = fill_s + n * period_s`` for ``n`` key blocks of one tile (seconds)."""

    fill_s: float
    period_s: float


@dataclass
class Job:
    """A piece of work on the pipes: seconds each pipe needs at its full rate."""

    work: dict[str, float]
    name: str
    done: bool = False
    left: float = 1.0  # fraction of the work still to do

    @property
    def alone_s(self) -> float:
        """Seconds the job takes with every pipe to itself."""
        return max(self.work.values(), default=0.0)


def fair_rates(jobs: Sequence[Job]) -> list[float]:
    """Progress rates (fraction of each job per second) by progressive filling: every job
    runs at the same fraction of its stand-alone speed until a pipe it uses is full; the
    rest share what is left (max-min fairness on relative speed)."""
    n = len(jobs)
    speed = [0.0] * n  # fraction of stand-alone speed
    frozen = [job.alone_s <= 0 for job in jobs]
    use = [
        {p: w / job.alone_s for p, w in job.work.items() if w > 0} if job.alone_s > 0 else {}
        for job in jobs
    ]
    while not all(frozen):
        step = min(1.0 - speed[i] for i in range(n) if not frozen[i])
        for pipe in PIPES:
            load = sum(speed[i] * use[i].get(pipe, 0.0) for i in range(n))
            grow = sum(use[i].get(pipe, 0.0) for i in range(n) if not frozen[i])
            if grow > 0:
                step = min(step, max(0.0, (1.0 - load) / grow))
        for i in range(n):
            if not frozen[i]:
                speed[i] += step
        for i in range(n):
            if frozen[i]:
                continue
            if speed[i] >= 1.0 - 1e-12:
                frozen[i] = True
                continue
            for pipe in use[i]:
                load = sum(speed[j] * use[j].get(pipe, 0.0) for j in range(n))
                if load >= 1.0 - 1e-9:
                    frozen[i] = True
                    break
    return [speed[i] / jobs[i].alone_s if jobs[i].alone_s > 0 else float("inf") for i in range(n)]


# ---- the programs of the warpgroups -------------------------------------------------------
# A step: ("issue", gemm) enqueue a GEMM on the tensor cores (does not block);
# ("wait", event) block until the event fired (a job or GEMM name); ("run", job) run a
# CUDA-core job and block until it ends; ("turn",) block until this group holds the scheduler token; ("pass",) hand it on.
Step = tuple


def _work(rates: SmRates, **ops: float) -> dict[str, float]:
    """Seconds per pipe of ``ops`` (keys: tensor, smem, mufu, fma, alu); every CUDA-core
    instruction also takes an issue slot."""
    per = {
        "tensor": rates.tensor_ops_s,
        "smem": rates.smem_bytes_s,
        "mufu": rates.mufu_s,
        "fma": rates.fma_s,
        "alu": rates.alu_s,
        "fill": rates.fill_bytes_s,
    }
    out = {p: v / per[p] for p, v in ops.items() if v > 0 and per[p] > 0}
    lanes = ops.get("mufu", 0.0) + ops.get("fma", 0.0) + ops.get("alu", 0.0)
    if lanes > 0 and rates.issue_s > 0:
        out["issue"] = lanes / rates.issue_s
    return out


def _programs(
    rates: SmRates,
    w: GroupBlockWork,
    groups: int,
    blocks: int,
    variant: Variant,
    barrier: bool,
    rescale_first: bool,
    loads: TileLoads,
) -> tuple[list[list[Step]], dict[str, Job]]:
    """The step lists of every program (the producer, one per group, and for
    FlashAttention-4 the MMA warp and a correction per group) for ``blocks`` key blocks,
    and every job by name."""
    jobs: dict[str, Job] = {}

    def job(name: str, **ops: float) -> str:
        jobs[name] = Job(_work(rates, **ops), name)
        return name

    progs: list[list[Step]] = []
    # the producer: block j's K into a free K stage (one every S = Q K^T of block
    # j - stages has finished reading), then its V likewise after the P V GEMMs
    # (FlashAttention-3's pipeline_k / pipeline_v)
    producer: list[Step] = []
    stages = max(1, loads.stages)
    for j in range(blocks):
        job(f"ldk.{j}", smem=loads.k_bytes, fill=loads.k_bytes)
        v_port = loads.v_bytes if loads.v_port_bytes is None else loads.v_port_bytes
        job(f"ldv.{j}", smem=v_port, fill=loads.v_bytes)
        if j >= stages:
            producer += [("wait", f"g0.{g}.{j - stages}") for g in range(groups)]
        producer += [("run", f"ldk.{j}")]
        if j >= stages:
            producer += [("wait", f"g1.{g}.{j - stages}") for g in range(groups)]
        producer += [("run", f"ldv.{j}")]
    for g in range(groups):
        s: list[Step] = []
        for j in range(blocks):
            job(f"g0.{g}.{j}", tensor=w.gemm0_ops, smem=w.gemm0_smem)
            job(f"g1.{g}.{j}", tensor=w.gemm1_ops, smem=w.gemm1_smem)
            job(f"max.{g}.{j}", alu=w.max_alu, fma=w.max_fma)
            job(f"exp.{g}.{j}", mufu=w.exp_mufu, fma=w.exp_fma)
            job(
                f"cvt.{g}.{j}",
                alu=w.convert_alu,
                fma=w.convert_fma,
                mufu=w.convert_mufu,
                smem=w.convert_smem,
            )
            job(f"res.{g}.{j}", fma=w.rescale_fma)
        if variant == "warpgroup_mma":
            # FlashAttention-3's fwd_step with IntraWGOverlap (hopper mainloop)
            s += [("wait", "ldk.0"), ("turn",), ("issue", f"g0.{g}.0"), ("pass",)]
            s += [("wait", f"g0.{g}.0")]
            s += [("run", f"max.{g}.0"), ("run", f"exp.{g}.0"), ("run", f"cvt.{g}.0")]
            for j in range(1, blocks):
                s += [("wait", f"ldk.{j}"), ("turn",), ("issue", f"g0.{g}.{j}")]
                if rescale_first:
                    s += [("run", f"res.{g}.{j - 1}")]
                s += [("wait", f"ldv.{j - 1}"), ("issue", f"g1.{g}.{j - 1}"), ("pass",)]
                s += [("wait", f"g0.{g}.{j}")]
                s += [("run", f"max.{g}.{j}"), ("run", f"exp.{g}.{j}")]
                s += [("wait", f"g1.{g}.{j - 1}"), ("run", f"cvt.{g}.{j}")]
                if not rescale_first:
                    s += [("run", f"res.{g}.{j - 1}")]
            s += [("run", f"res.{g}.{blocks - 1}"), ("wait", f"ldv.{blocks - 1}")]
            s += [("issue", f"g1.{g}.{blocks - 1}"), ("wait", f"g1.{g}.{blocks - 1}")]
            progs.append(s)
        elif variant == "warpgroup_serial":
            # CUTLASS's Hopper FMHA mainloop (NATTEN's Hopper FNA): issue S_j, wait for
            # it and for P_{j-1} V_{j-1} (wait<0>), the softmax step (mask, max, exp,
            # rescale of O), then issue P_j V_j
            for j in range(blocks):
                s += [("wait", f"ldk.{j}"), ("issue", f"g0.{g}.{j}"), ("wait", f"g0.{g}.{j}")]
                if j:
                    s += [("wait", f"g1.{g}.{j - 1}")]
                s += [("turn",), ("run", f"max.{g}.{j}"), ("run", f"exp.{g}.{j}")]
                s += [("run", f"res.{g}.{j}"), ("run", f"cvt.{g}.{j}"), ("pass",)]
                s += [("wait", f"ldv.{j}"), ("issue", f"g1.{g}.{j}")]
            s += [("wait", f"g1.{g}.{blocks - 1}")]
            progs.append(s)
        else:
            # FlashAttention-4 / Blackwell FMHA: the softmax warpgroup of query tile g;
            # with the sequence barrier the tiles take turns for the exp loop
            # (FlashAttention-4 s0_s1_sequence, CUTLASS OrderBarrierSoftmax)
            for j in range(blocks):
                s += [("wait", f"g0.{g}.{j}"), ("run", f"max.{g}.{j}"), ("turn",)]
                s += [("run", f"exp.{g}.{j}"), ("run", f"cvt.{g}.{j}"), ("pass",)]
            progs.append(s)
    if variant == "single_issuer_mma":
        # the MMA warp: S of every tile first, then per block each tile's P V once its P
        # is written and its O rescaled, then that tile's next S
        mma: list[Step] = [("wait", "ldk.0")]
        mma += [("issue", f"g0.{g}.0") for g in range(groups)]
        for j in range(blocks):
            for g in range(groups):
                mma += [("wait", f"cvt.{g}.{j}"), ("wait", f"res.{g}.{j}")]
                mma += [("wait", f"ldv.{j}"), ("issue", f"g1.{g}.{j}")]
                if j + 1 < blocks:
                    mma += [("wait", f"ldk.{j + 1}"), ("issue", f"g0.{g}.{j + 1}")]
        for g in range(groups):
            mma += [("wait", f"g1.{g}.{blocks - 1}")]
        progs.append(mma)
        for g in range(groups):  # the correction warpgroup of tile g
            corr: list[Step] = []
            for j in range(blocks):
                corr += [("wait", f"exp.{g}.{j}")]
                if j:
                    corr += [("wait", f"g1.{g}.{j - 1}")]
                corr += [("run", f"res.{g}.{j}")]
            progs.append(corr)
    progs.append(producer)
    return progs, jobs


def simulate_blocks(
    rates: SmRates,
    work: GroupBlockWork,
    groups: int,
    blocks: int,
    variant: Variant = "warpgroup_mma",
    barrier: bool = True,
    rescale_first: bool = False,
    loads: TileLoads = TileLoads(0.0, 0.0, 2),
) -> float:
    """Seconds for ``groups`` consumer groups to walk ``blocks`` key blocks on one SM
    (see module docstring)."""
    if blocks <= 0:
        return 0.0
    progs, jobs = _programs(rates, work, groups, blocks, variant, barrier, rescale_first, loads)
    pc = [0] * len(progs)
    fired: set[str] = set()
    token = 0  # the group holding the scheduler barrier
    queue: list[str] = []  # GEMMs issued, in order; the head runs
    running: list[str] = []  # CUDA-core jobs in progress
    waiting_on: dict[int, str] = {}  # program -> job it runs (blocking)
    now = 0.0
    for _ in range(100_000):
        moved = True
        while moved:  # advance every program as far as it can go at this instant
            moved = False
            for p, prog in enumerate(progs):
                while pc[p] < len(prog):
                    step = prog[pc[p]]
                    kind = step[0]
                    if kind == "turn":
                        if barrier and groups > 1 and p < groups and token != p:
                            break
                    elif kind == "pass":
                        if barrier and groups > 1 and p < groups:
                            token = (p + 1) % groups
                    elif kind == "issue":
                        queue.append(step[1])
                    elif kind == "wait":
                        if step[1] not in fired:
                            break
                    elif kind == "run":
                        if p in waiting_on:
                            if waiting_on[p] not in fired:
                                break
                            del waiting_on[p]
                        else:
                            if jobs[step[1]].alone_s <= 0:
                                fired.add(step[1])
                            else:
                                running.append(step[1])
                                waiting_on[p] = step[1]
                                break
                    pc[p] += 1
                    moved = True
        active = [jobs[n] for n in running]
        if queue:
            active.append(jobs[queue[0]])
        if not active:
            if all(pc[p] >= len(progs[p]) for p in range(len(progs))):
                return now
            raise RuntimeError("sm_schedule: programs deadlocked")  # pragma: no cover
        rates_now = fair_rates(active)
        dt = min(job.left / r for job, r in zip(active, rates_now, strict=True))
        now += dt
        for job, r in zip(active, rates_now, strict=True):
            job.left -= r * dt
            if job.left <= 1e-9:
                job.done = True
                fired.add(job.name)
        running = [n for n in running if not jobs[n].done]
        while queue and jobs[queue[0]].done:
            queue.pop(0)
        # a zero-work GEMM at the head completes at once
        while queue and jobs[queue[0]].alone_s <= 0:
            fired.add(queue.pop(0))
    raise RuntimeError("sm_schedule: too many events")  # pragma: no cover


#: Key blocks of the two simulated lengths from which fill and period are taken.
SHORT, LONG = 4, 12


@lru_cache(maxsize=4096)
def tile_schedule(
    rates: SmRates,
    work: GroupBlockWork,
    groups: int,
    variant: Variant = "warpgroup_mma",
    barrier: bool = True,
    rescale_first: bool = False,
    loads: TileLoads = TileLoads(0.0, 0.0, 2),
) -> TileSchedule:
    """``T(n) = fill + n x period`` of one tile, from simulations of :data:`SHORT` and
    :data:`LONG` key blocks (cached)."""
    args = (variant, barrier, rescale_first, loads)
    short = simulate_blocks(rates, work, groups, SHORT, *args)
    long = simulate_blocks(rates, work, groups, LONG, *args)
    period = (long - short) / (LONG - SHORT)
    return TileSchedule(fill_s=max(0.0, short - SHORT * period), period_s=period)
