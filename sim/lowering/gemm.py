"""Tiled GEMM lowering (``gemm-tiled``), with weight reuse and split-K.

One tile computes a ``BM x BN`` block of C for one batch entry, walking K in ``BK``
steps with ``stages`` A/B slabs staged in the scratchpad. Edge tiles are padded: the
padding is executed (not useful work) but not loaded (the loads zero-fill it). The tile shape is chosen per problem by the model
itself: among the candidates that fit a unit, the one the engine predicts finishes first
(:func:`sim.lowering.choose.fastest`, branch and bound on a lower bound of each plan's
simulated time). When there are fewer tiles than slots, K may be split to fill the
machine and a reduction kernel sums the fp32 partials (cuBLAS/CUTLASS split-K).

**Clusters.** ``gemm-tma-multicast`` (Hopper and later) runs 2-CTA clusters of tiles
adjacent along M, which share their B tile: it is loaded from the cache once and
multicast to both CTAs' shared memory (TMA multicast), halving the cache-level reads
of B when there are two M tiles to pair (a GEMV, one M tile, has no partner). Each CTA
still receives the whole B tile in its shared memory, and every byte of B still comes
from DRAM at least once. ``gemm-tiled`` loads every tile's operands itself.

**Reuse rule (DRAM).** If A and B together fit in the cache, each is read from DRAM
once. Otherwise tiles are rasterised in groups of ``g = floor(sqrt(slots))`` so a
wave re-reads each A row-panel ``ceil(tiles_n / g)`` times and each B column-panel
``ceil(tiles_m / g)`` times (CUTLASS's swizzled rasterisation), never more than the
cache-level traffic and never less than the operand itself. C is written once.

**Stream-K** (``stream_k``). When the tiles do not fill a whole number of waves, a
stream-K kernel divides all tiles' K iterations evenly over every slot (one wave); a
tile cut between two slots is finished by one of them, which reads the other's fp32
partial tile from a workspace (Osama et al., PPoPP 2023; CUTLASS's sm90 stream-K
scheduler, which cuBLAS picks for such shapes). It is one more candidate plan.

**Pipeline fill** (``pipeline_fill``). A tile cannot overlap its prologue (the first K
slab must arrive before the first MMA) nor its epilogue (C is stored after the last
MMA): both pass through the unit's port, unoverlapped, on top of the DRAM latency. It
is what makes small GEMMs (few K steps per tile) slower than their FLOPs suggest.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from attnsim.sim.lowering.choose import Plan, fastest
from attnsim.sim.lowering.common import streaming_kernel, traffic
from attnsim.sim.lowering.registry import (
    LoweringFamily,
    LoweringOptions,
    register_family,
    register_mechanism,
)
from attnsim.sim.lowering.target import LoweringError, TargetView
from attnsim.sim.tasks import Kernel, OpTasks, TileClass
from attnsim.workloads.dtypes import nbytes
from attnsim.workloads.ops import GemmOp, Op

#: (BM, BN, BK) candidates, largest first.
GEMM_TILES: tuple[tuple[int, int, int], ...] = (
    (128, 256, 64),
    (256, 128, 64),
    (128, 128, 64),
    (128, 64, 64),
    (64, 128, 64),
    (64, 64, 64),
    (64, 64, 32),
    (32, 32, 32),
    (16, 16, 16),
)
#: A/B slabs in flight per tile (software pipeline depth).
GEMM_STAGES = 3

register_mechanism(
    "stream_k",
    "stream-K: the tiles' K iterations divided evenly over every slot (one wave, partial "
    "tiles fixed up through a workspace), against wave quantisation (off: not a candidate)",
    "Osama et al., Stream-K (PPoPP 2023); CUTLASS sm90 StreamKScheduler",
)
register_mechanism(
    "split_k",
    "GEMMs with fewer tiles than slots may split K and reduce the fp32 partials (off: never split)",
    "cuBLAS/CUTLASS split-K (CUTLASS GemmSplitKParallel)",
)


@dataclass(frozen=True)
class GemmShape:
    """A (batched) GEMM C[b] = A[b] @ B[b]: A is m x k, B is k x n, in bytes per element."""

    batch: int
    m: int
    n: int
    k: int
    a_elem: float
    b_elem: float
    c_elem: float
    precision: str
    useful_flops: float


def gemm_compute_precision(op: GemmOp, view: TargetView) -> str:
    """Ternary/int4 weights compute natively where the target has a matmul engine for the
    weight type (a ternary MAC array); elsewhere they are unpacked to the op's dtype."""
    if op.weight_dtype and op.weight_dtype != op.dtype:
        for engine in view.unit_engines.values():
            if engine.per_unit("matmul", op.weight_dtype) > 0:
                return op.weight_dtype
    return op.dtype


def _split_options(tiles: int, slots: int, k: int, bk: int) -> list[int]:
    """Split-K factors worth trying: 1, and powers of two up to filling the machine
    while every split keeps at least two K steps."""
    options = [1]
    split = 2
    while split <= max(1, k // (2 * bk)) and tiles * split <= 2 * slots:
        options.append(split)
        split *= 2
    return options


def _plan(
    view: TargetView,
    g: GemmShape,
    bm: int,
    bn: int,
    bk: int,
    multicast: int = 1,
    split: int = 1,
    options: LoweringOptions | None = None,
) -> tuple[int, TileClass] | None:
    """Resident tiles per unit and the tile class for one tile shape and split (None when
    the tile does not fit a unit)."""
    scratch = GEMM_STAGES * (bm * g.a_elem + bn * g.b_elem) * bk
    regs = bm * bn * 4.0
    resident = min(2, view.fits_tile(scratch, regs))
    if resident < 1:
        return None
    tiles_m, tiles_n = math.ceil(g.m / bm), math.ceil(g.n / bn)
    tiles = g.batch * tiles_m * tiles_n
    slots = view.units * resident
    k_split = math.ceil(g.k / split)
    k_padded = math.ceil(k_split / bk) * bk
    mm = view.rate("matmul", g.precision)
    mm_ops = 2.0 * bm * bn * k_padded
    compute = mm_ops / mm.per_unit_ops_s

    a_bytes = g.batch * g.m * g.k * g.a_elem
    b_bytes = g.batch * g.k * g.n * g.b_elem
    pairs = max(1, min(multicast, tiles_m))  # CTAs along M that share one B tile
    # out-of-bounds rows/columns of edge tiles are zero-filled by the loads (TMA,
    # predicated cp.async), not read: every tile column reads A once, every row B once
    staged_a = g.batch * tiles_n * g.m * g.k * g.a_elem
    staged_b = g.batch * tiles_m * g.n * g.k * g.b_elem
    cache_a, cache_b = staged_a, staged_b / pairs
    cap = view.cache.capacity_bytes if view.cache is not None else 0.0
    if a_bytes + b_bytes <= cap:
        dram_a, dram_b = a_bytes, b_bytes
    else:
        group = max(1, math.isqrt(slots))
        dram_a = max(a_bytes, min(cache_a, a_bytes * math.ceil(tiles_n / group)))
        dram_b = max(b_bytes, min(cache_b, b_bytes * math.ceil(tiles_m / group)))
    n_tiles = tiles * split
    out_elem = 4.0 if split > 1 else g.c_elem
    c_tile = bm * bn * out_elem
    reads = traffic(view, (dram_a + dram_b) / n_tiles, (cache_a + cache_b) / n_tiles)
    reads[view.scratchpad.name] = (staged_a + staged_b) / n_tiles
    writes = traffic(view, c_tile)
    fill = view.dram.latency_s
    if options is None or options.enabled("pipeline_fill"):
        # the first K slab must land before the first MMA (prologue); the C tile is
        # stored after the last one (epilogue), both through the unit's port
        port = view.unit_bandwidth_cap.get(view.dram.name, math.inf)
        fill += ((bm * g.a_elem + bn * g.b_elem) * bk + c_tile) / port
    tile = TileClass(
        name=f"gemm {bm}x{bn}x{bk}"
        + (f" split-k/{split}" if split > 1 else "")
        + (f" multicast x{pairs}" if pairs > 1 else ""),
        engine_s={mm.engine: compute},
        compute_s=compute,
        read_bytes=reads,
        write_bytes=writes,
        fixed_s=fill,
        ops={("matmul", mm.precision): mm_ops},
        flops=g.useful_flops / n_tiles,
    )
    return resident, tile


def _stream_k_tiles(
    view: TargetView,
    g: GemmShape,
    bm: int,
    bn: int,
    bk: int,
    multicast: int,
    options: LoweringOptions,
) -> list[tuple[int, int, TileClass]]:
    """(resident, workers, tile class) of stream-K kernels: each of ``workers`` CTAs runs
    the same share of all tiles' K iterations; a tile cut between two workers is fixed
    up by writing and reading one fp32 partial tile. Worker counts are the machine's
    slots, half of them, a quarter... (so a machine with twice the units has the smaller
    machine's candidates too); a count is skipped when the tiles divide evenly among the
    workers or a worker would get fewer than two K iterations."""
    planned = _plan(view, g, bm, bn, bk, multicast, 1, options)
    if planned is None:
        return []
    resident, tiled = planned
    tiles = g.batch * math.ceil(g.m / bm) * math.ceil(g.n / bn)
    k_iters = math.ceil(g.k / bk)
    out = []
    workers = view.units * resident
    while workers >= 1:
        if tiles % workers and tiles * k_iters >= 2 * workers:
            out.append(
                (
                    resident,
                    workers,
                    _stream_k_tile(view, g, tiled, tiles, workers, bm, bn, bk, options),
                )
            )
        workers //= 2
    return out


def _stream_k_tile(
    view: TargetView,
    g: GemmShape,
    tiled: TileClass,
    tiles: int,
    workers: int,
    bm: int,
    bn: int,
    bk: int,
    options: LoweringOptions,
) -> TileClass:
    """The tile class of one stream-K worker (see :func:`_stream_k_tiles`)."""
    k_iters = math.ceil(g.k / bk)
    share = math.ceil(tiles * k_iters / workers) / k_iters  # tiles' worth of work per worker
    partial = bm * bn * 4.0
    reads = {lvl: b * share for lvl, b in tiled.read_bytes.items()}
    writes = {lvl: b * share for lvl, b in tiled.write_bytes.items()}
    for lvl, b in traffic(view, partial).items():
        reads[lvl] = reads.get(lvl, 0.0) + b
        writes[lvl] = writes.get(lvl, 0.0) + b
    port = view.unit_bandwidth_cap.get(view.dram.name, math.inf)
    fixed = tiled.fixed_s + (2 * partial / port if options.enabled("pipeline_fill") else 0.0)
    return TileClass(
        name=f"gemm {bm}x{bn}x{bk} stream-k ({share:.2f} tiles per worker)",
        engine_s={e: t * share for e, t in tiled.engine_s.items()},
        compute_s=tiled.compute_s * share,
        read_bytes=reads,
        write_bytes=writes,
        fixed_s=fixed,
        ops={k: v * share for k, v in tiled.ops.items()},
        flops=g.useful_flops / workers,
    )


def gemm_plans(
    name: str,
    view: TargetView,
    g: GemmShape,
    multicast: int = 1,
    options: LoweringOptions | None = None,
) -> list[Plan]:
    """Every (tile shape, split-K) plan that fits a unit: the GEMM kernel, then the
    split-K reduction kernel if K is split."""
    options = options or LoweringOptions()
    plans: list[Plan] = []
    for bm, bn, bk in GEMM_TILES:
        tiles = g.batch * math.ceil(g.m / bm) * math.ceil(g.n / bn)
        splits = _split_options(tiles, view.units, g.k, bk) if options.enabled("split_k") else [1]
        for split in splits:
            planned = _plan(view, g, bm, bn, bk, multicast, split, options)
            if planned is None:
                continue
            resident, tile = planned
            kernels = [
                Kernel(
                    name=name,
                    unit=view.unit,
                    slots_per_unit=resident,
                    runs=((tile, tiles * split),),
                    launch_s=view.launch_s,
                    order="swizzled row-major",
                )
            ]
            if split > 1:
                out = g.batch * g.m * g.n
                kernels.append(
                    streaming_kernel(
                        f"{name} split-k reduce",
                        view,
                        read_bytes=out * split * 4.0,
                        write_bytes=out * g.c_elem,
                        vector_ops=out * float(split),
                    )
                )
            notes: dict[str, str | int | float] = {
                "tile": f"{bm}x{bn}x{bk}",
                "split_k": split,
                "resident_per_unit": resident,
            }
            plans.append(Plan(tuple(kernels), notes))
        if options.enabled("stream_k"):
            for resident, workers, tile in _stream_k_tiles(view, g, bm, bn, bk, multicast, options):
                kernel = Kernel(
                    name=name,
                    unit=view.unit,
                    slots_per_unit=resident,
                    runs=((tile, workers),),
                    launch_s=view.launch_s,
                    order="stream-K: equal K-iteration shares",
                )
                notes = {
                    "tile": f"{bm}x{bn}x{bk}",
                    "split_k": 1,
                    "stream_k_workers": workers,
                    "resident_per_unit": resident,
                }
                plans.append(Plan((kernel,), notes))
    return plans


def gemm_kernels(
    name: str,
    view: TargetView,
    g: GemmShape,
    multicast: int = 1,
    options: LoweringOptions | None = None,
) -> tuple[tuple[Kernel, ...], dict[str, str | int | float]]:
    """Kernels (GEMM, then split-K reduction if any) of the fastest plan, and its choices."""
    plans = gemm_plans(name, view, g, multicast, options)
    if not plans:
        raise LoweringError(
            f"{view.hw.name}: no GEMM tile fits {view.scratchpad.name} of a {view.unit}"
        )
    best = fastest(plans, view)
    return best.kernels, dict(best.notes)


def lower_gemm(op: Op, view: TargetView, options: LoweringOptions, multicast: int = 1) -> OpTasks:
    """Lower a :class:`GemmOp` (see module docstring)."""
    family = "gemm-tma-multicast" if multicast > 1 else "gemm-tiled"
    if not isinstance(op, GemmOp):
        raise LoweringError(f"{family} lowers gemm ops, not {op.kind}")
    elem = nbytes(op.dtype, 1)
    weight_elem = nbytes(op.weight_dtype or op.dtype, 1)
    # A weight operand is shared by the whole batch (GemmOp's contract): the batch is one
    # GEMM against it, so the weight is read once, not once per batch entry.
    batch, m, n = op.batch, op.m, op.n
    if batch > 1 and op.weight_operand == "a":
        batch, n = 1, n * batch
    elif batch > 1 and op.weight_operand == "b":
        batch, m = 1, m * batch
    shape = GemmShape(
        batch=batch,
        m=m,
        n=n,
        k=op.k,
        a_elem=weight_elem if op.weight_operand == "a" else elem,
        b_elem=weight_elem if op.weight_operand == "b" else elem,
        c_elem=elem,
        precision=gemm_compute_precision(op, view),
        useful_flops=op.flops(),
    )
    kernels, notes = gemm_kernels(f"gemm {op.name}", view, shape, multicast, options)
    return OpTasks(family=family, kernels=kernels, notes=notes)


def _lower_multicast(op: Op, view: TargetView, options: LoweringOptions) -> OpTasks:
    return lower_gemm(op, view, options, multicast=2)


register_family(
    LoweringFamily(
        name="gemm-tiled",
        op_kinds=frozenset({"gemm"}),
        lower=lower_gemm,
        generic=True,
        description="tiled GEMM with swizzled rasterisation and split-K",
    )
)

register_family(
    LoweringFamily(
        name="gemm-tma-multicast",
        op_kinds=frozenset({"gemm"}),
        lower=_lower_multicast,
        description="tiled GEMM in 2-CTA clusters with TMA multicast of B (Hopper and later)",
    )
)
