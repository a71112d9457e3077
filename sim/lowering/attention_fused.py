"""Fused attention (FlashAttention-style) lowering, one style per kernel family.

A prefill tile is one (batch, query head, query block): it loads its ``block_q`` query
rows once, then walks the *live* key blocks of its mask row — dead blocks are skipped,
partially live blocks are computed in full and masked, as real kernels do — and writes
its output rows once. Per key block it does ``2·Br·Bc·(d_qk + d_v)`` matmul ops on the
tensor engine, ``Br·Bc`` exponentials on the special-function unit and
:data:`SOFTMAX_VECTOR_OPS_PER_SCORE` vector ops per score for the online softmax.

Decode (``phase == "decode"``) uses split-KV (flash-decoding): one tile per (batch, KV
head, split) packs the query rows of every head in the GQA group, the live key blocks
are divided among the splits, and a small reduction kernel combines the partial
outputs. The number of splits (1 up to filling every slot) is the one with the least
simulated makespan (:func:`sim.lowering.choose.fastest`).

**K/V hit rule (L2): lockstep streams.** Every tile reads its K/V blocks through the
cache level. The query blocks of one KV head that run at the same time start together
and walk the key blocks in the same order at the same pace, so one DRAM read of a K/V
block serves all of them: ``share = min(slots, tiles per KV head)`` tiles stream the
head's K/V together, and the streamed volume is ``cache_kv / share``. The first stream
of each head is the compulsory traffic (its live K/V once). Later streams (when a
head's tiles take several waves) hit the cache if the K/V of the heads concurrently in
flight fits, and miss increasingly as it grows past the cache:
``dram_kv = compulsory + max(0, cache_kv / share - compulsory) * max(0, 1 - C / ws)``,
with ``ws = (ceil(slots / tiles per KV head) + 1) x K/V of one head``. Which KV heads
are concurrent follows the family's issue order. The compulsory part is shared evenly
by the tiles; the excess is charged to each tile in proportion to the K/V blocks it
reads. More slots never raise the traffic: the share grows, and the working set grows
only once a head's tiles fit one wave, when there are no later streams.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from attnsim.sim.lowering.choose import Plan, fastest
from attnsim.sim.lowering.common import streaming_kernel, traffic
from attnsim.sim.lowering.registry import LoweringFamily, LoweringOptions, register_family
from attnsim.sim.lowering.target import LoweringError, TargetView
from attnsim.sim.tasks import Kernel, OpTasks, TileClass
from attnsim.workloads.dtypes import nbytes
from attnsim.workloads.ops import AttentionOp, Op

#: Vector ops per attention score in the online softmax: scale, running max, subtract
#: the max, add to the row sum (the exponential itself runs on the SFU).
SOFTMAX_VECTOR_OPS_PER_SCORE = 4
#: Extra vector ops per score in a partially live tile: evaluate the mask and select.
MASK_VECTOR_OPS_PER_SCORE = 2
#: Bytes per row of the log-sum-exp a forward kernel writes (fp32).
LSE_BYTES_PER_ROW = 4


@dataclass(frozen=True)
class FusedAttentionStyle:
    """How one kernel family runs fused attention.

    Attributes:
        name: family name.
        description: one line.
        tiles: ``(block_q, block_k)`` candidates, preferred first; the first that fits the
            unit's scratchpad and registers is used.
        kv_stages: K/V blocks buffered in the scratchpad (pipeline depth).
        overlap: ``"serial"`` — matmuls and softmax of a tile run one after the other;
            ``"pipelined"`` — softmax of block j overlaps the matmuls of block j+1
            (warp specialisation / ping-pong), so a tile costs
            ``n·max(mm, softmax) + min(mm, softmax)`` per block.
        order: tiles are issued (batch, head) outer, query block inner, so the query
            blocks of one head run together and share its K/V in the cache;
            ``"q_fastest"`` — ascending query blocks (the grid order of the Triton
            tutorial and FlashAttention-2); ``"longest_first"`` — within each head, the
            query blocks with the most live key blocks first (FlashAttention-3's
            longest-processing-time-first scheduling of causal masks).
        max_resident: most tiles resident on one unit.
        min_rows: matmul row granularity (tensor-core tile M); decode rows are padded to it.
        split_kv: decode splits the KV length across tiles.
    """

    name: str
    description: str
    tiles: tuple[tuple[int, int], ...]
    kv_stages: int
    overlap: Literal["serial", "pipelined"]
    order: Literal["q_fastest", "longest_first"]
    max_resident: int
    min_rows: int
    split_kv: bool = True


def _footprint(
    br: int, bc: int, dqk: int, dv: int, elem: float, stages: int
) -> tuple[float, float]:
    """(scratchpad bytes, register bytes) of one tile: Q block plus ``stages`` K/V blocks
    staged; fp32 O accumulator plus fp32 scores S and probabilities P in registers."""
    scratch = (br * dqk + stages * bc * (dqk + dv)) * elem
    regs = (br * dv + 2 * br * bc) * 4.0
    return scratch, regs


def _choose_blocks(
    style: FusedAttentionStyle,
    view: TargetView,
    dqk: int,
    dv: int,
    elem: float,
    options: LoweringOptions,
) -> tuple[int, int, int]:
    """(block_q, block_k, tiles resident per unit)."""
    candidates = style.tiles
    if options.block_q is not None or options.block_k is not None:
        bq = options.block_q or style.tiles[0][0]
        bk = options.block_k or style.tiles[0][1]
        candidates = ((bq, bk),)
    for br, bc in candidates:
        scratch, regs = _footprint(br, bc, dqk, dv, elem, style.kv_stages)
        resident = min(style.max_resident, view.fits_tile(scratch, regs))
        if resident >= 1:
            return br, bc, resident
    br, bc = candidates[-1]
    scratch, regs = _footprint(br, bc, dqk, dv, elem, style.kv_stages)
    raise LoweringError(
        f"{view.hw.name}: no {style.name} tile fits a {view.unit}: the smallest "
        f"({br}x{bc}, head dim {dqk}/{dv}) needs {scratch:.0f} B of {view.scratchpad.name} "
        f"(has {view.scratchpad.capacity_bytes:.0f}) and {regs:.0f} B of registers"
    )


@dataclass(frozen=True)
class _BlockCost:
    """Seconds and ops of one key block of one tile."""

    mm_s: float
    softmax_s: float
    mask_s: float
    mm_ops: float
    exp_ops: float
    vec_ops: float
    mask_ops: float


def _tile_compute(
    style: FusedAttentionStyle, cost: _BlockCost, n_full: int, n_part: int, tail_s: float
) -> float:
    n = n_full + n_part
    mm = n * cost.mm_s
    sm = n * cost.softmax_s + n_part * cost.mask_s
    if n == 0:
        return tail_s
    if style.overlap == "serial":
        return mm + sm + tail_s
    per_mm, per_sm = mm / n, sm / n
    return n * max(per_mm, per_sm) + min(per_mm, per_sm) + tail_s


def _kv_miss(view: TargetView, kv_bytes_per_head: float, concurrent_heads: int) -> float:
    """Fraction of non-compulsory K/V reads that miss the cache (the K/V hit rule)."""
    if view.cache is None:
        return 1.0
    working_set = concurrent_heads * kv_bytes_per_head
    capacity = view.cache.capacity_bytes
    return 0.0 if working_set <= capacity else 1.0 - capacity / working_set


def lower_fused_attention(
    op: Op, view: TargetView, options: LoweringOptions, style: FusedAttentionStyle
) -> OpTasks:
    """Lower one :class:`AttentionOp` with ``style`` (see module docstring)."""
    if not isinstance(op, AttentionOp):
        raise LoweringError(f"{style.name} lowers attention ops, not {op.kind}")
    spec = op.spec
    elem = nbytes(op.dtype, 1)
    dqk, dv = spec.head_dim_qk, spec.head_dim_v
    br, bc, resident = _choose_blocks(style, view, dqk, dv, elem, options)
    mm = view.rate("matmul", op.dtype)
    ex = view.rate("exp", "fp32")
    vec = view.rate("vector", "fp32")
    if spec.phase == "decode" and style.split_kv:
        return _lower_decode(op, view, style, bc, resident)

    cost = _BlockCost(
        mm_s=2.0 * br * bc * (dqk + dv) / mm.per_unit_ops_s,
        softmax_s=br * bc / ex.per_unit_ops_s
        + (SOFTMAX_VECTOR_OPS_PER_SCORE * br * bc + br * dv) / vec.per_unit_ops_s,
        mask_s=MASK_VECTOR_OPS_PER_SCORE * br * bc / vec.per_unit_ops_s,
        mm_ops=2.0 * br * bc * (dqk + dv),
        exp_ops=float(br * bc),
        vec_ops=float(SOFTMAX_VECTOR_OPS_PER_SCORE * br * bc + br * dv),
        mask_ops=float(MASK_VECTOR_OPS_PER_SCORE * br * bc),
    )
    liveness = spec.mask.tile_liveness(spec.q_len, spec.kv_len, br, bc)
    live_pairs = spec.mask.tile_counts(spec.q_len, spec.kv_len, br, bc).sum(axis=1)
    n_full = (liveness == 2).sum(axis=1)
    n_part = (liveness == 1).sum(axis=1)
    heads = spec.batch * spec.q_heads
    nq = liveness.shape[0]

    tail_s = br * dv / vec.per_unit_ops_s  # final 1/rowsum scaling of O
    q_bytes = br * dqk * elem
    # under query-head reduction (Hq < Hkv) a query head reads kv_per_query_head KV heads
    kv_block_bytes = bc * (dqk + dv) * elem * spec.kv_per_query_head
    o_bytes = br * dv * elem + br * LSE_BYTES_PER_ROW

    cache_kv = float(heads * (n_full + n_part).sum() * kv_block_bytes)
    compulsory_kv = spec.batch * spec.kv_heads * spec.kv_len * (dqk + dv) * elem
    slots = view.units * resident
    group = max(1, spec.q_heads // max(1, spec.kv_heads))
    tiles_per_kv_head = nq * group
    kv_bytes_per_head = spec.kv_len * (dqk + dv) * elem
    concurrent = min(math.ceil(slots / tiles_per_kv_head) + 1, spec.batch * spec.kv_heads)
    miss = _kv_miss(view, kv_bytes_per_head, concurrent)
    compulsory = min(compulsory_kv, cache_kv) if view.cache is not None else cache_kv
    streamed = cache_kv / min(slots, tiles_per_kv_head)
    excess = max(0.0, streamed - compulsory) * miss if view.cache is not None else 0.0
    dram_per_block = (compulsory + excess) / cache_kv * kv_block_bytes if cache_kv > 0 else 0.0
    dram_frac = (compulsory + excess) / cache_kv if cache_kv > 0 else 1.0

    classes: dict[tuple[int, int, int], TileClass] = {}
    row_class: list[TileClass] = []
    scratch = view.scratchpad.name
    for i in range(nq):
        key = (int(n_full[i]), int(n_part[i]), int(live_pairs[i]))
        if key not in classes:
            nf, np_ = key[0], key[1]
            n = nf + np_
            kv = n * kv_block_bytes
            q_load = q_bytes if n else 0.0  # a row with no live key block writes zeros only
            reads = traffic(view, q_load + n * dram_per_block, q_load + kv)
            reads[scratch] = q_load + kv
            writes = traffic(view, o_bytes)
            writes[scratch] = q_load + kv
            classes[key] = TileClass(
                name=f"{style.name} q-block ({nf} full + {np_} partial key blocks)",
                engine_s={
                    mm.engine: n * cost.mm_s,
                    ex.engine: n * br * bc / ex.per_unit_ops_s,
                    vec.engine: (n * cost.vec_ops + np_ * cost.mask_ops + br * dv)
                    / vec.per_unit_ops_s,
                },
                compute_s=_tile_compute(style, cost, nf, np_, tail_s),
                read_bytes=reads,
                write_bytes=writes,
                fixed_s=view.dram.latency_s,
                ops={
                    ("matmul", mm.precision): n * cost.mm_ops,
                    ("exp", ex.precision): n * cost.exp_ops,
                    ("vector", vec.precision): n * cost.vec_ops + np_ * cost.mask_ops + br * dv,
                },
                flops=2.0 * key[2] * (dqk + dv),
            )
        row_class.append(classes[key])

    runs = _issue_order(style, row_class, n_full + n_part, heads)
    kernel = Kernel(
        name=f"{style.name} fwd",
        unit=view.unit,
        slots_per_unit=resident,
        runs=runs,
        launch_s=view.launch_s,
        order=style.order,
    )
    notes: dict[str, str | int | float] = {
        "block_q": br,
        "block_k": bc,
        "resident_per_unit": resident,
        "kv_dram_fraction": round(dram_frac, 4),
        "order": style.order,
    }
    return OpTasks(family=style.name, kernels=(kernel,), notes=notes)


def _issue_order(
    style: FusedAttentionStyle, row_class: list[TileClass], work: np.ndarray, heads: int
) -> tuple[tuple[TileClass, int], ...]:
    """Run-length encoded issue order of all ``heads x len(row_class)`` tiles."""
    order = list(range(len(row_class)))
    if style.order == "longest_first":
        order.sort(key=lambda i: (-int(work[i]), i))
    seq: list[list] = []  # one head's query blocks, run-length encoded
    for i in order:
        if seq and seq[-1][0] is row_class[i]:
            seq[-1][1] += 1
        else:
            seq.append([row_class[i], 1])
    if len(seq) == 1:
        return ((seq[0][0], int(seq[0][1]) * heads),)
    return tuple((tile, int(count)) for _ in range(heads) for tile, count in seq)


def _lower_decode(
    op: AttentionOp,
    view: TargetView,
    style: FusedAttentionStyle,
    bc: int,
    resident: int,
) -> OpTasks:
    spec = op.spec
    elem = nbytes(op.dtype, 1)
    dqk, dv = spec.head_dim_qk, spec.head_dim_v
    group = max(1, spec.q_heads // max(1, spec.kv_heads))
    rows = group * spec.q_len
    rows_padded = math.ceil(rows / style.min_rows) * style.min_rows
    mm = view.rate("matmul", op.dtype)
    ex = view.rate("exp", "fp32")
    vec = view.rate("vector", "fp32")
    liveness = spec.mask.tile_liveness(spec.q_len, spec.kv_len, spec.q_len, bc)
    live_blocks = int((liveness[0] > 0).sum())
    partial_blocks = int((liveness[0] == 1).sum())
    base_tiles = spec.batch * spec.kv_heads
    slots = view.units * resident
    live_pairs = spec.mask.live_pairs(spec.q_len, spec.kv_len)

    def tile_for(n_blocks: int, splits: int) -> TileClass:
        mm_ops = 2.0 * rows_padded * bc * (dqk + dv) * n_blocks
        exp_ops = float(rows * bc * n_blocks)
        part = min(partial_blocks, n_blocks)
        vec_ops = (
            SOFTMAX_VECTOR_OPS_PER_SCORE * rows * bc + rows * dv
        ) * n_blocks + MASK_VECTOR_OPS_PER_SCORE * rows * bc * part
        mm_s = mm_ops / mm.per_unit_ops_s
        sm_s = exp_ops / ex.per_unit_ops_s + vec_ops / vec.per_unit_ops_s
        if style.overlap == "serial" or n_blocks == 0:
            compute = mm_s + sm_s
        else:  # pipelined: n·max(per-block) + one unhidden block
            compute = max(mm_s, sm_s) + min(mm_s, sm_s) / n_blocks
        kv = n_blocks * bc * (dqk + dv) * elem
        q = rows * dqk * elem
        out = rows * (dv + 1) * 4.0 if splits > 1 else rows * dv * elem
        reads = traffic(view, q + kv)
        reads[view.scratchpad.name] = q + kv
        return TileClass(
            name=f"{style.name} decode split ({n_blocks} key blocks)",
            engine_s={
                mm.engine: mm_s,
                ex.engine: exp_ops / ex.per_unit_ops_s,
                vec.engine: vec_ops / vec.per_unit_ops_s,
            },
            compute_s=compute,
            read_bytes=reads,
            write_bytes=traffic(view, out),
            fixed_s=view.dram.latency_s,
            ops={
                ("matmul", mm.precision): mm_ops,
                ("exp", ex.precision): exp_ops,
                ("vector", vec.precision): vec_ops,
            },
            flops=2.0 * live_pairs * (dqk + dv) * spec.batch * spec.q_heads / (base_tiles * splits),
        )

    def plan(splits: int) -> Plan:
        per_split, extra = divmod(live_blocks, splits)
        runs: list[tuple[TileClass, int]] = []
        if extra:
            runs.append((tile_for(per_split + 1, splits), base_tiles * extra))
        if splits - extra:
            runs.append((tile_for(per_split, splits), base_tiles * (splits - extra)))
        kernels = [
            Kernel(
                name=f"{style.name} decode (split-kv x{splits})",
                unit=view.unit,
                slots_per_unit=resident,
                runs=tuple(runs),
                launch_s=view.launch_s,
                order="(batch, kv head) outer, split inner",
            )
        ]
        if splits > 1:
            out_rows = spec.batch * spec.q_heads * spec.q_len
            kernels.append(
                streaming_kernel(
                    "split-kv reduce",
                    view,
                    read_bytes=out_rows * splits * (dv + 1) * 4.0,
                    write_bytes=out_rows * dv * elem,
                    vector_ops=out_rows * splits * (dv + 3.0),
                    exp_ops=float(out_rows * splits),
                )
            )
        return Plan(tuple(kernels), {"splits": splits})

    # every split count up to filling the slots (a superset when there are more slots),
    # the fastest one by simulated makespan
    most = max(1, min(live_blocks, math.ceil(slots / base_tiles)))
    best = fastest([plan(n) for n in range(1, most + 1)], view)
    notes: dict[str, str | int | float] = {
        "block_k": bc,
        "rows_per_tile": rows,
        "rows_padded": rows_padded,
        "splits": best.notes["splits"],
        "resident_per_unit": resident,
    }
    return OpTasks(family=style.name, kernels=best.kernels, notes=notes)


def _register(style: FusedAttentionStyle) -> None:
    def lower(op: Op, view: TargetView, options: LoweringOptions) -> OpTasks:
        return lower_fused_attention(op, view, options, style)

    register_family(
        LoweringFamily(
            name=style.name,
            op_kinds=frozenset({"attention"}),
            lower=lower,
            description=style.description,
        )
    )


#: FlashAttention-3 (Hopper): warp-specialised producer/consumer warpgroups, softmax
#: overlapped with the GEMMs, 128x128 tiles for head dim <= 128, one CTA per SM,
#: longest-processing-time-first scheduling of causal query blocks.
FLASH_ATTENTION_3 = FusedAttentionStyle(
    name="flash-attention-3",
    description="FlashAttention-3: warp-specialised, softmax overlapped with matmuls (Hopper+)",
    tiles=((128, 128), (128, 64), (64, 64)),
    kv_stages=2,
    overlap="pipelined",
    order="longest_first",
    max_resident=1,
    min_rows=64,
)
#: FlashAttention-2: one warpgroup does matmul then softmax, 128x64 tiles, grid order.
FLASH_ATTENTION_2 = FusedAttentionStyle(
    name="flash-attention-2",
    description="FlashAttention-2: tiled online softmax, matmul and softmax serialised",
    tiles=((128, 64), (64, 64), (64, 32)),
    kv_stages=1,
    overlap="serial",
    order="q_fastest",
    max_resident=2,
    min_rows=16,
)
#: The bundled Triton kernel (kernels/gpu): the tutorial's structure, 128x64 tiles,
#: software-pipelined K/V loads, grid order, serial matmul/softmax within a program.
TRITON_BUNDLED = FusedAttentionStyle(
    name="triton-bundled",
    description="attnsim's bundled Triton flash kernel (kernels/gpu)",
    tiles=((128, 64), (64, 64), (64, 32)),
    kv_stages=2,
    overlap="serial",
    order="q_fastest",
    max_resident=2,
    min_rows=16,
)

for _style in (FLASH_ATTENTION_3, FLASH_ATTENTION_2, TRITON_BUNDLED):
    _register(_style)
