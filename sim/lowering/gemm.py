"""Tiled GEMM lowering (``gemm-tiled``), with weight reuse and split-K.

One tile computes a ``BM x BN`` block of C for one batch entry, walking K in ``BK``
steps with ``stages`` A/B slabs staged in the scratchpad. Edge tiles are padded (the
padding is executed, not useful). The tile shape is chosen per problem by the model
itself: among the candidates that fit a unit, the one with the least predicted makespan
(waves x tile time). When there are fewer tiles than slots, K is split to fill the
machine and a reduction kernel sums the fp32 partials (cuBLAS/CUTLASS split-K).

**Clusters.** ``gemm-tma-multicast`` (Hopper and later) runs 2-CTA clusters whose B
tile is loaded from the cache once and multicast to both CTAs (TMA multicast), halving
each tile's cache-level reads of B; ``gemm-tiled`` loads every tile's operands itself.

**Reuse rule (DRAM).** If A and B together fit in the cache, each is read from DRAM
once. Otherwise tiles are rasterised in groups of ``g = floor(sqrt(slots))`` so a
wave re-reads each A row-panel ``ceil(tiles_n / g)`` times and each B column-panel
``ceil(tiles_m / g)`` times (CUTLASS's swizzled rasterisation), never more than the
cache-level traffic. C is written once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from attnsim.sim.lowering.common import streaming_kernel, traffic
from attnsim.sim.lowering.registry import LoweringFamily, LoweringOptions, register_family
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
    view: TargetView, g: GemmShape, bm: int, bn: int, bk: int, multicast: int = 1, split: int = 1
) -> tuple[float, int, int, TileClass] | None:
    """Predicted time (including a split-K reduction), split factor, resident tiles and
    the tile class for one tile shape and split."""
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
    cache_a = tiles * split * bm * k_split * g.a_elem
    cache_b = tiles * split * bn * k_split * g.b_elem / multicast
    cap = view.cache.capacity_bytes if view.cache is not None else 0.0
    if a_bytes + b_bytes <= cap:
        dram_a, dram_b = a_bytes, b_bytes
    else:
        group = max(1, math.isqrt(slots))
        dram_a = min(cache_a, a_bytes * math.ceil(tiles_n / group))
        dram_b = min(cache_b, b_bytes * math.ceil(tiles_m / group))
    n_tiles = tiles * split
    out_elem = 4.0 if split > 1 else g.c_elem
    c_tile = bm * bn * out_elem
    reads = traffic(view, (dram_a + dram_b) / n_tiles, (cache_a + cache_b) / n_tiles)
    reads[view.scratchpad.name] = (cache_a + cache_b) / n_tiles
    writes = traffic(view, c_tile)
    tile = TileClass(
        name=f"gemm {bm}x{bn}x{bk}"
        + (f" split-k/{split}" if split > 1 else "")
        + (f" multicast x{multicast}" if multicast > 1 else ""),
        engine_s={mm.engine: compute},
        compute_s=compute,
        read_bytes=reads,
        write_bytes=writes,
        fixed_s=view.dram.latency_s,
        ops={("matmul", mm.precision): mm_ops},
        flops=g.useful_flops / n_tiles,
    )
    alone = tile_nominal_s(view, tile, min(slots, n_tiles))
    waves = math.ceil(n_tiles / slots)
    estimate = waves * (alone + tile.fixed_s)
    if split > 1:  # the reduction kernel: fp32 partials in, C out, through DRAM
        out = g.batch * g.m * g.n
        dram_bw = view.shared_bandwidth[view.dram.name]
        estimate += view.launch_s + out * (split * 4.0 + g.c_elem) / dram_bw
    return estimate, split, resident, tile


def tile_nominal_s(view: TargetView, tile: TileClass, concurrent: int) -> float:
    """Seconds a tile takes when ``concurrent`` identical tiles share the machine: the
    longest of its compute, its traffic at its unit's bandwidth slice, and its share of
    each shared level's bandwidth (the engine's rule, used here to rank tile shapes)."""
    longest = (
        tile.compute_s / max(1, concurrent // view.units)
        if concurrent > view.units
        else tile.compute_s
    )
    longest = max(longest, tile.compute_s)
    for level, cap in view.unit_bandwidth_cap.items():
        longest = max(longest, tile.bytes_at(level) / cap)
    for level, bw in view.shared_bandwidth.items():
        longest = max(longest, tile.bytes_at(level) * concurrent / bw)
    return longest


def gemm_kernels(
    name: str, view: TargetView, g: GemmShape, multicast: int = 1
) -> tuple[tuple[Kernel, ...], dict[str, str | int | float]]:
    """Kernels (GEMM, then split-K reduction if any) and the choices made."""
    best: tuple[float, int, int, TileClass, tuple[int, int, int]] | None = None
    for bm, bn, bk in GEMM_TILES:
        tiles = g.batch * math.ceil(g.m / bm) * math.ceil(g.n / bn)
        for split in _split_options(tiles, view.units, g.k, bk):
            plan = _plan(view, g, bm, bn, bk, multicast, split)
            if plan is not None and (best is None or plan[0] < best[0] * (1 - 1e-9)):
                best = (*plan, (bm, bn, bk))
    if best is None:
        raise LoweringError(
            f"{view.hw.name}: no GEMM tile fits {view.scratchpad.name} of a {view.unit}"
        )
    _, split, resident, tile, (bm, bn, bk) = best
    n_tiles = g.batch * math.ceil(g.m / bm) * math.ceil(g.n / bn) * split
    kernels = [
        Kernel(
            name=name,
            unit=view.unit,
            slots_per_unit=resident,
            runs=((tile, n_tiles),),
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
    return tuple(kernels), notes


def lower_gemm(op: Op, view: TargetView, options: LoweringOptions, multicast: int = 1) -> OpTasks:
    """Lower a :class:`GemmOp` (see module docstring)."""
    del options
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
    kernels, notes = gemm_kernels(f"gemm {op.name}", view, shape, multicast)
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
