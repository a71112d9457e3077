"""Fused attention (FlashAttention-style) lowering, one style per kernel family.

A prefill tile is one (batch, query head, query block): it loads its ``block_q`` query
rows, walks the *live* key blocks of its mask row -- dead blocks are skipped, partially
live blocks are computed in full and masked, as real kernels do -- and writes its output
rows once. Which query rows and key blocks make a tile comes from the family's tiling:
contiguous runs of the token order (FlashAttention), or N-d boxes of the token grid
(NATTEN's fused neighborhood attention, :mod:`sim.lowering.natten`).

**What one key block costs (the mechanisms, each with a switch in
``LoweringOptions.disable``).** The pipes of an SM (:mod:`sim.lowering.sm_pipes`) run at
the same time; a key block of ``Br x Bc`` scores needs

* ``mma``: ``2·Br·Bc·(d_qk + d_v)`` ops on the tensor cores, at the rate of the
  family's MMA instruction (``mma_sync``: FlashAttention-2's warp-level ``mma.sync``
  reaches only a measured fraction of Hopper's and Blackwell's peak), and, at the same
  time, its operands read from shared memory (``operand_bandwidth``: each warp or
  warpgroup that splits the rows reads the whole K and V block);
* ``sfu_exp``: ``Br·Bc`` exponentials on the MUFU (16 per clock per SM);
* ``softmax_fp32``: the FP32 instructions of the online softmax per score
  (:data:`SOFTMAX_FP32_PER_SCORE`: scale-and-subtract FFMA, running-max FMNMX, row-sum
  FADD, half a pack-convert F2FP) plus the rescale of the output rows (``Br·d_v``
  FMULs, skipped ~90% of the time by FlashAttention-4's ``conditional_rescale``);
  ``exp_emulation`` (FlashAttention-4) moves a share of the exponentials to a
  polynomial on the FP32 lanes, the share that balances the two pipes;
* ``diagonal_mask``: on blocks the mask cuts, :data:`MASK_FP32_PER_SCORE` more
  instructions per score (index compare and select).

The softmax time of a block is ``max(MUFU, FP32 lanes)``. The family's overlap rule
(``overlap``) combines it with the MMA time: FlashAttention-2 and the bundled Triton
kernel run them one after the other in each warp (``serial``); FlashAttention-3
(ping-pong between two warpgroups plus intra-warpgroup pipelining) and Blackwell
kernels (two query tiles ping-ponging on the tensor cores) overlap them
(``overlapped``): a tile costs ``max(sum of MMA, sum of softmax)`` plus one unhidden
block. ``pipeline_fill``: a tile also pays, unoverlapped, its first loads (Q and one K/V
block through the unit's port) and its epilogue (normalising, converting and storing O);
a persistent kernel (FlashAttention-3/4) prefetches the next tile's loads during the
epilogue and pays only the epilogue.

Decode (``phase == "decode"``) uses split-KV (flash-decoding): one tile per (batch, KV
head, split) packs the query rows of every head in the GQA group, the live key blocks
are divided among the splits, and a small reduction kernel combines the partial
outputs. The number of splits (1 up to filling every slot) is the one with the least
simulated makespan (:func:`sim.lowering.choose.fastest`).

**K/V hit rule (L2): lockstep streams** (``kv_lockstep``). Every tile reads its K/V
blocks through the cache level. The query blocks of one KV head that run at the same
time start together and walk the key blocks in the same order at the same pace, so one
DRAM read of a K/V block serves all of them: ``share = min(slots, tiles per KV head)``
tiles stream the head's K/V together, and the streamed volume is ``cache_kv / share``.
The first stream of each head is the compulsory traffic (its live K/V once). Later
streams (when a head's tiles take several waves) hit the cache if the K/V of the heads
concurrently in flight fits, and miss increasingly as it grows past the cache:
``dram_kv = compulsory + max(0, cache_kv / share - compulsory) * max(0, 1 - C / ws)``,
with ``ws = (ceil(slots / tiles per KV head) + 1) x K/V of one head``. Which KV heads
are concurrent follows the family's issue order (FlashAttention-3's longest-first
scheduler runs heads in sections whose K/V fit 32 MiB, so a section's K/V stays in L2).
Each tile is charged DRAM bytes in
proportion to the K/V blocks it reads. More slots never raise the traffic: the share
grows, and the working set grows only once a head's tiles fit one wave, when there are
no later streams. Switched off, every tile reads its K/V from DRAM.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from attnsim.sim.lowering.choose import Plan, fastest
from attnsim.sim.lowering.common import check_runs, repeat_runs, streaming_kernel, traffic
from attnsim.sim.lowering.registry import (
    LoweringFamily,
    LoweringOptions,
    register_family,
    register_mechanism,
    tile_multiples,
)
from attnsim.sim.lowering.sm_pipes import SmPipes, sm_pipes
from attnsim.sim.lowering.sm_schedule import (
    GroupBlockWork,
    SmRates,
    TileLoads,
    TileSchedule,
    Variant,
    tile_schedule,
)
from attnsim.sim.lowering.target import LoweringError, TargetView
from attnsim.sim.tasks import Kernel, OpTasks, TileClass
from attnsim.workloads.dtypes import nbytes
from attnsim.workloads.ops import AttentionOp, Op

#: FP32-lane instructions per attention score in the online softmax: the FFMA that
#: scales the score and subtracts the running max, the FMNMX of the running max, the
#: FADD of the row sum, and half an F2FP (one pack-convert makes two fp16/bf16 P values).
#: Counted from FlashAttention-2's Algorithm 1 and the FlashAttention-2/3 softmax code
#: (``softmax.h``: ``reduce_max``, ``scale_apply_exp2``, ``reduce_sum``, ``convert_type``).
SOFTMAX_FP32_PER_SCORE = 3.5
#: Of those, on the FMA pipe (the FFMA and the FADD) and on the ALU pipe (the FMNMX and
#: half an F2FP): :mod:`sim.lowering.sm_pipes`.
SOFTMAX_FMA_PER_SCORE = 2.0
SOFTMAX_ALU_PER_SCORE = SOFTMAX_FP32_PER_SCORE - SOFTMAX_FMA_PER_SCORE
#: F2FP pack-converts per score (one makes two 16-bit P values).
SOFTMAX_CONVERT_PER_SCORE = 0.5
#: FP32-lane instructions per score of a masked block: an index compare and a select
#: (FlashAttention's ``apply_mask_causal``: ``col > row + offset -> -inf``).
MASK_FP32_PER_SCORE = 2.0
#: FP32-lane instructions of one exponential emulated with FlashAttention-4's degree-3
#: polynomial: range reduction (round, subtract), three Horner FFMAs, and inserting the
#: integer part into the exponent (shift, add). Counted from the algorithm (Zadouri et
#: al., FlashAttention-4, arXiv 2603.05451).
EXP_EMULATION_FP32 = 7.0
#: Bytes per row of the log-sum-exp a forward kernel writes (fp32).
LSE_BYTES_PER_ROW = 4

for _name, _what, _source in (
    (
        "sfu_exp",
        "exponentials on the MUFU at its per-SM rate (off: exp is free)",
        "CUDA C++ Programming Guide arithmetic-instruction table: 16 exp2/clk/SM (cc 8.0-10.0)",
    ),
    (
        "softmax_fp32",
        "FP32-lane instructions of the online softmax and the rescale of O (off: free)",
        "FlashAttention-2 Algorithm 1; FlashAttention-2/3 softmax.h instruction count",
    ),
    (
        "overlap",
        "FA3/FA4 overlap of the softmax with the MMAs, as a simulated schedule of the "
        "consumer warpgroups on the SM's pipes (off: one after the other)",
        "FlashAttention-3 (Shah et al. 2024) Sec. 3.1-3.2 and hopper/mainloop_fwd_sm90_tma_"
        "gmma_ws.hpp: ping-pong (scheduler barrier) and intra-warpgroup pipelining; "
        "FlashAttention-4: one MMA warp, two ping-ponging query tiles, a correction warpgroup",
    ),
    (
        "alu_pipe",
        "FMNMX, the F2FP pack-convert and the mask's compare/select on the 64-lane ALU pipe "
        "(off: on the FP32 lanes)",
        "Nsight Compute Kernel Profiling Guide (pipelines: the ALU pipe runs comparisons and "
        "the fast FP32-to-FP16 conversion); A100/H100 whitepapers: 64 INT32 lanes per SM",
    ),
    (
        "issue_slots",
        "every CUDA-core instruction takes an issue slot: 4 warp instructions per clock per "
        "SM (off: free)",
        "A100/H100 whitepapers: one warp scheduler issuing one warp instruction per clock "
        "per SM sub-partition, four per SM",
    ),
    (
        "p_in_smem",
        "FA3's 192x192 tile at head dim 64 stores P to shared memory for an SS second GEMM "
        "(off: P from registers)",
        "FlashAttention-3 hopper/tile_size.h (MmaPV_is_RS false) and the mainloop's "
        "write_P_to_smem",
    ),
    (
        "fp8_convert_xu",
        "FP32 -> FP8 packs of P run on the XU pipe with the MUFU, 16 results/clk/SM (off: "
        "on the ALU pipe like the FP16 packs)",
        "CUDA C++ Programming Guide throughput table (all other type conversions: 16 "
        "results/clk/SM, cc 9.0); Nsight Compute Kernel Profiling Guide, pipelines (xu: "
        "special functions and type conversions; only the FP32-to-FP16 conversion is on "
        "the ALU pipe)",
    ),
    (
        "fp8_v_transpose",
        "FA3 with fp8 transposes each V block in shared memory (LDSM.T + STSM by the "
        "producer warpgroup) (off: V read as loaded)",
        "FlashAttention-3 Sec. 3.3 (in-kernel transpose of V for FP8 WGMMA) and "
        "hopper/mainloop_fwd_sm90_tma_gmma_ws.hpp (Transpose_V, LDSM.T/STSM)",
    ),
    (
        "mma_sync",
        "FlashAttention-2's mma.sync at its measured fraction of an async-MMA part's peak "
        "(off: the wgmma/tcgen05 sustained rate)",
        "calibration mma_sync_sustained_fraction (published_microbenchmarks.yaml)",
    ),
    (
        "operand_bandwidth",
        "MMA operands read from shared memory at 128 B/clk/SM by every warp(group) that "
        "splits the rows (off: free)",
        "CUDA C++ Programming Guide (32 banks x 4 B); FlashAttention-4 roofline",
    ),
    (
        "exp_emulation",
        "FlashAttention-4 moves the share of exps that balances the MUFU and FP32 pipes to "
        "a degree-3 polynomial on the FP32 lanes (off: every exp on the MUFU)",
        "Zadouri et al., FlashAttention-4 (arXiv 2603.05451): software exp2, 10-25% of entries",
    ),
    (
        "conditional_rescale",
        "FlashAttention-4 rescales O only when the running max moved enough, ~10% of blocks "
        "(off: every block)",
        "FlashAttention-4 (arXiv 2603.05451): new online softmax avoids ~90% of rescaling",
    ),
    (
        "cta_pair",
        "Blackwell 2-CTA MMA: each CTA of a pair loads and reads half of the K/V block "
        "(off: each CTA reads all of it)",
        "FlashAttention-4 (arXiv 2603.05451); PTX ISA tcgen05.mma cta_group::2",
    ),
    (
        "diagonal_mask",
        "mask instructions on key blocks the mask cuts (off: a cut block costs a full one)",
        "FlashAttention-2/3 apply_mask_causal; NATTEN NeighborhoodAttentionMask::apply_mask",
    ),
    (
        "longest_first",
        "causal/sparse query blocks issued longest first (off: grid order)",
        "FlashAttention-3 hopper/tile_scheduler.hpp (LPT ordering for causal and local)",
    ),
    (
        "pipeline_fill",
        "per-tile prologue (first Q and K/V loads) and epilogue (normalise, convert, store O; "
        "GEMM: first K slab, C write-out) not overlapped (off: only the DRAM latency)",
        "FlashAttention-3 Sec. 3.1 (persistent kernels overlap the epilogue with the next "
        "tile's prologue); CUTLASS mainloop prologue",
    ),
    (
        "kv_lockstep",
        "the query blocks of a KV head in flight share one DRAM stream of its K/V through "
        "L2 (off: every tile reads its own K/V from DRAM)",
        "FlashAttention's loop order (every query block walks key blocks 0..n in order)",
    ),
    (
        "split_kv",
        "decode splits the KV length across tiles to fill the machine (off: one split)",
        "Flash-Decoding (Dao et al. 2023); FlashAttention num_splits_heuristic",
    ),
):
    register_mechanism(_name, _what, _source)

Mma = Literal["async", "sync"]
Overlap = Literal["serial", "overlapped"]


@dataclass(frozen=True)
class FusedAttentionStyle:
    """How one kernel family runs fused attention.

    Attributes:
        name: family name.
        description: one line.
        tile_table: ``(max head dim, (block_q, block_k) causal, (block_q, block_k)
            dense)`` rows: the first row whose max head dim covers the op's is the tile the
            kernel's launch code picks (register- and shared-memory-limited shapes).
        fallback_tiles: smaller tiles tried when the table's does not fit the unit.
        kv_stages: K/V blocks buffered in the scratchpad (pipeline depth).
        mma: ``"async"`` (wgmma/tcgen05, the sustained tensor rate) or ``"sync"``
            (warp-level mma.sync).
        overlap: ``"serial"`` (matmuls then softmax in each warp) or ``"overlapped"``.
        order: ``"q_fastest"`` (grid order) or ``"longest_first"`` (within each head,
            the query blocks with the most live key blocks first).
        max_resident: most tiles resident on one unit.
        min_rows: matmul row granularity (tensor-core tile M); decode rows are padded.
        rows_per_reader: rows each warp (mma.sync) or warpgroup (wgmma) of a tile owns:
            each reads the whole K/V block from shared memory. 0: one MMA covers the
            tile (tcgen05).
        tensor_memory: accumulators (S, O) live in Blackwell's tensor memory, not in
            registers (no register limit on the tile).
        persistent: the kernel prefetches the next tile while storing this one.
        rescale_fraction: share of key blocks that rescale the output rows.
        exp_emulation: exps split between the MUFU and a polynomial (FlashAttention-4).
        cta_pair: 2-CTA MMA (each CTA reads half of each K/V block).
        split_kv: decode splits the KV length across tiles.
        power_of_two_tiles: tile sizes must be powers of two (Triton's ``tl.arange``).
        scheduler_barrier: ``"fa3"``: the consumer warpgroups take turns to issue their
            GEMMs (FlashAttention-3's ``UseSchedulerBarrier``: two or more warpgroups and
            head dim <= 128 in fp16/bf16, >= 128 in fp8); ``"none"``: they issue freely.
        consumer_loop: how an overlapped style's consumers walk the key blocks
            (:mod:`sim.lowering.sm_schedule`): ``"warpgroup_mma"`` (FlashAttention-3's
            intra-warpgroup pipelining), ``"warpgroup_serial"`` (CUTLASS's Hopper FMHA:
            each warpgroup serial, overlap across warpgroups) or ``"single_issuer_mma"``
            (tcgen05: one MMA warp, softmax and correction warpgroups).
        tile_table_fp8: the tile table for 8-bit operands (empty: ``tile_table``).
        fp8_transpose_v: with fp8 operands the kernel transposes each V block in shared
            memory (LDSM.T then STSM by the producer warpgroup: FlashAttention-3 Sec. 3.3,
            ``Transpose_V``), moving it through the port twice more.
        fp8_convert_xu: packing P to FP8 runs on the XU pipe with the MUFU at 16 results
            per clock per SM (CUDA C++ Programming Guide, cc 9.0: "all other type
            conversions"; only FP32-to-FP16 is the ALU's fast path); set for the Hopper
            families, not for Blackwell, whose rate for it we have no figure for.
        warps: ``(max head dim, warps)`` rows: warps that split a tile's rows (each
            reads the whole K/V block); empty: ``block_q / rows_per_reader``.
        smem_tiles: ``(above head dim, up to head dim, shared memory per unit, tile,
            warps)`` rows: on a unit with at least that much shared memory the launch
            code picks this tile and warp count instead of the table's (FlashAttention-2
            at head dim 256: 64x64 with 4 warps where an SM has >= 192 KiB).
        fma_per_score: FMA-pipe instructions per score of the softmax (FFMA and FADD;
            1.0 where they are packed two-wide, ``fma.rn.f32x2`` on Blackwell).
        max_per_score: FMNMX instructions per score (0.5 with three-input max).
        p_in_smem_max_head_dim: up to this head dim a non-causal tile stores P to shared
            memory and the second GEMM reads it there (FlashAttention-3 ``tile_size.h``:
            ``MmaPV_is_RS`` false for the 192x192 tile of head dim 64); 0: P stays in
            registers (or tensor memory).
        rescale_first_min_head_dim: from this head dim the output is rescaled between
            issuing ``S = Q K^T`` and ``P V`` (FlashAttention-3 ``RescaleOBeforeGemm``,
            head dim > 128, not fp8), else after ``P V`` completes.
    """

    name: str
    description: str
    tile_table: tuple[tuple[int, tuple[int, int], tuple[int, int]], ...]
    kv_stages: int
    mma: Mma
    overlap: Overlap
    order: Literal["q_fastest", "longest_first"]
    max_resident: int
    min_rows: int
    rows_per_reader: int
    fallback_tiles: tuple[tuple[int, int], ...] = ((128, 64), (64, 64), (64, 32))
    tensor_memory: bool = False
    persistent: bool = False
    rescale_fraction: float = 1.0
    exp_emulation: bool = False
    cta_pair: bool = False
    split_kv: bool = True
    power_of_two_tiles: bool = False
    scheduler_barrier: Literal["none", "fa3"] = "none"
    consumer_loop: Variant = "warpgroup_mma"
    tile_table_fp8: tuple[tuple[int, tuple[int, int], tuple[int, int]], ...] = ()
    fp8_transpose_v: bool = False
    fp8_convert_xu: bool = False
    warps: tuple[tuple[int, int], ...] = ()
    smem_tiles: tuple[tuple[int, int, int, tuple[int, int], int], ...] = ()
    fma_per_score: float = SOFTMAX_FMA_PER_SCORE
    max_per_score: float = 1.0
    p_in_smem_max_head_dim: int = 0
    rescale_first_min_head_dim: int = 1 << 30


def _footprint(
    style: FusedAttentionStyle, br: int, bc: int, dqk: int, dv: int, elem: float
) -> tuple[float, float]:
    """(scratchpad bytes, register bytes) of one tile: Q block plus ``kv_stages`` K/V
    blocks staged; the fp32 O accumulator and fp32 scores S in registers (P is converted
    in place), or none in registers when the accumulators live in tensor memory."""
    scratch = (br * dqk + style.kv_stages * bc * (dqk + dv)) * elem
    regs = 0.0 if style.tensor_memory else (br * dv + br * bc) * 4.0
    return scratch, regs


def choose_blocks(
    style: FusedAttentionStyle,
    view: TargetView,
    dqk: int,
    dv: int,
    elem: float,
    causal: bool,
    options: LoweringOptions,
) -> tuple[int, int, int]:
    """(block_q, block_k, tiles resident per unit): the style's tile for the head dim,
    else the first fallback that fits, or the user's override."""
    smem = view.scratchpad.capacity_bytes
    if options.block_q is not None or options.block_k is not None:
        first = _table_tile(style, max(dqk, dv), causal, smem, elem)
        candidates: Sequence[tuple[int, int]] = (
            (options.block_q or first[0], options.block_k or first[1]),
        )
    else:
        candidates = (_table_tile(style, max(dqk, dv), causal, smem, elem), *style.fallback_tiles)
    for br, bc in candidates:
        scratch, regs = _footprint(style, br, bc, dqk, dv, elem)
        resident = min(style.max_resident, view.fits_tile(scratch, regs))
        if resident >= 1:
            return br, bc, resident
    br, bc = candidates[-1]
    scratch, regs = _footprint(style, br, bc, dqk, dv, elem)
    raise LoweringError(
        f"{view.hw.name}: no {style.name} tile fits a {view.unit}: the smallest "
        f"({br}x{bc}, head dim {dqk}/{dv}) needs {scratch:.0f} B of {view.scratchpad.name} "
        f"(has {view.scratchpad.capacity_bytes:.0f}) and {regs:.0f} B of registers"
    )


def _smem_rule(
    style: FusedAttentionStyle, head_dim: int, smem_bytes: float
) -> tuple[tuple[int, int], int] | None:
    for above, up_to, need, tile, warps in style.smem_tiles:
        if above < head_dim <= up_to and smem_bytes >= need:
            return tile, warps
    return None


def tile_readers(style: FusedAttentionStyle, br: int, head_dim: int, smem_bytes: float) -> int:
    """Warps (mma.sync) or warpgroups (wgmma) that split a ``br``-row tile's rows, each
    reading the whole K/V block: the launch code's warp count where the style gives
    one, else ``br / rows_per_reader`` (1 when one MMA covers the tile)."""
    rule = _smem_rule(style, head_dim, smem_bytes)
    if rule is not None:
        return rule[1]
    for max_d, warps in style.warps:
        if head_dim <= max_d:
            return warps
    if style.warps:
        return style.warps[-1][1]
    return max(1, br // style.rows_per_reader) if style.rows_per_reader else 1


def _table_tile(
    style: FusedAttentionStyle,
    head_dim: int,
    causal: bool,
    smem_bytes: float = 0.0,
    elem: float = 2.0,
) -> tuple[int, int]:
    rule = _smem_rule(style, head_dim, smem_bytes)
    if rule is not None:
        return rule[0]
    table = style.tile_table_fp8 if elem <= 1 and style.tile_table_fp8 else style.tile_table
    for max_d, causal_tile, dense_tile in table:
        if head_dim <= max_d:
            return causal_tile if causal else dense_tile
    last = table[-1]
    return last[1] if causal else last[2]


@dataclass(frozen=True)
class BlockCost:
    """Seconds (on one unit) and ops of one key block of one tile.

    Attributes:
        mma_s: tensor-core time, or the operand reads if they take longer.
        softmax_s: the slowest CUDA-core pipe (MUFU, FMA, ALU, issue) of an unmasked
            block.
        masked_softmax_s: the same with the mask instructions.
        mma_ops / exp_ops / fp32_ops / mask_ops: for energy and the engines' busy time
            (``fp32_ops``: every non-MUFU softmax instruction, FMA and ALU pipes).
        exp_engine_s / fp32_s / mask_fp32_s: per-engine seconds (the CUDA-core engine's
            busy time: the larger of its issue slots and its ALU pipe).
        epilogue_s: normalising and converting the output rows once per tile.
        schedule / masked_schedule: for an overlapped family, the simulated
            ``T(n) = fill + n x period`` of a tile over unmasked and masked key blocks
            (:mod:`sim.lowering.sm_schedule`); None for a serial one.
    """

    mma_s: float
    softmax_s: float
    masked_softmax_s: float
    mma_ops: float
    exp_ops: float
    fp32_ops: float
    mask_ops: float
    exp_engine_s: float
    fp32_s: float
    mask_fp32_s: float
    epilogue_s: float
    schedule: TileSchedule | None = None
    masked_schedule: TileSchedule | None = None


#: FlashAttention-4's software-exp schedule (``flash_attn/cute/flash_fwd_sm100.py``,
#: ``_TUNING_CONFIG`` for sm100): (causal, head dim) -> (``ex2_emu_freq``, ``ex2_emu_res``,
#: ``ex2_emu_start_frg``): ``res`` of every ``freq`` exp pairs of a 32-score fragment are
#: emulated, in fragments from ``start`` to the last but one of a row.
FA4_EXP_EMULATION: dict[tuple[bool, int], tuple[int, int, int]] = {
    (False, 128): (10, 1, 1),
    (True, 128): (16, 1, 1),
    (False, 192): (16, 1, 0),
    (True, 192): (32, 1, 1),
    (False, 256): (14, 6, 0),
    (True, 256): (14, 6, 0),
}
#: The same for fp8 operands (``_FP8_TUNING_CONFIG``: causal head dim 128 emulates more,
#: 1 pair in 8; the rest as for 16-bit).
FA4_EXP_EMULATION_FP8: dict[tuple[bool, int], tuple[int, int, int]] = {
    **FA4_EXP_EMULATION,
    (True, 128): (8, 1, 1),
}
#: Scores per fragment of FlashAttention-4's exp loop (``frg_tile``).
FA4_EXP_FRAGMENT = 32


def fa4_exp_emulation_share(causal: bool, head_dim: int, block_k: int, fp8: bool = False) -> float:
    """Share of a row's exponentials FlashAttention-4 computes with the polynomial
    (:data:`FA4_EXP_EMULATION`, :data:`FA4_EXP_EMULATION_FP8`); 0 for head dims it has
    no schedule for."""
    table = FA4_EXP_EMULATION_FP8 if fp8 else FA4_EXP_EMULATION
    padded = next((d for d in (128, 192, 256) if head_dim <= d), None)
    if padded is None or head_dim <= 64 or (causal, padded) not in table:
        return 0.0
    freq, res, start = table[(causal, padded)]
    fragments = max(1, block_k // FA4_EXP_FRAGMENT)
    eligible = max(0, fragments - 1 - start)
    return min(1.0, res / freq) * eligible / fragments


def pipeline_flags(
    style: FusedAttentionStyle, dqk: int, dv: int, causal: bool, dtype: str, groups: int
) -> tuple[bool, bool, bool]:
    """(scheduler barrier, P through shared memory, rescale before ``P V``) of ``style``
    for this head dim, mask and precision (rules of :class:`FusedAttentionStyle`)."""
    d = max(dqk, dv)
    fp8 = dtype.startswith("fp8")
    barrier = style.scheduler_barrier == "fa3" and groups >= 2 and (d >= 128 if fp8 else d <= 128)
    p_smem = (not causal) and d <= style.p_in_smem_max_head_dim
    rescale_first = d >= style.rescale_first_min_head_dim and not fp8
    return barrier, p_smem, rescale_first


def block_cost(
    style: FusedAttentionStyle,
    pipes: SmPipes,
    br: int,
    bc: int,
    dqk: int,
    dv: int,
    elem: float,
    options: LoweringOptions,
    mask_fp32_per_score: float = MASK_FP32_PER_SCORE,
    *,
    causal: bool = False,
    dtype: str = "bf16",
    useful: float = 1.0,
    readers: int | None = None,
    active_units: int | None = None,
) -> BlockCost:
    """Cost of one ``br x bc`` key block of ``style`` on one unit (module docstring).

    ``useful``: the fraction of the rows whose softmax is computed (decode pads its rows
    to the MMA's minimum; the padding's softmax is skipped). ``readers``: warps or
    warpgroups splitting the rows (:func:`tile_readers`; default ``br / rows_per_reader``).
    ``active_units``: units streaming K/V at once (the kernel's tiles, at most every
    unit), which share the cache level's bandwidth the producer's loads arrive at."""
    on = options.enabled
    mma_ops = 2.0 * br * bc * (dqk + dv)
    rate = pipes.mma_sync_ops_s if style.mma == "sync" and on("mma_sync") else pipes.mma_async_ops_s
    mma_s = mma_ops / rate
    if readers is None:
        readers = max(1, br // style.rows_per_reader) if style.rows_per_reader else 1
    groups = max(1, readers)
    barrier, p_smem, rescale_first = pipeline_flags(style, dqk, dv, causal, dtype, groups)
    p_smem = p_smem and on("p_in_smem")
    kv_share = 0.5 if style.cta_pair and on("cta_pair") else 1.0
    smem_on = on("operand_bandwidth")
    if smem_on:
        # every warp(group) that splits the rows reads the whole K and V block
        kv_reads = float(groups * bc * (dqk + dv)) * kv_share
        operand_bytes = (br * dqk + kv_reads) * elem
        mma_s = max(mma_s, operand_bytes / pipes.operand_bytes_s)
    scores = float(br * bc) * useful
    rescale = style.rescale_fraction if on("conditional_rescale") else 1.0
    alu_on = on("alu_pipe")
    fp8 = dtype.startswith("fp8")
    # FP32 -> FP8 packs: the XU pipe, with the MUFU (where the style's architecture says so)
    cvt_xu = fp8 and style.fp8_convert_xu and on("fp8_convert_xu")
    # per score: FFMA scale-subtract + FADD row sum on the FMA pipe; FMNMX running max
    # and half an F2FP pack on the ALU pipe (or the FP32 lanes with alu_pipe off)
    fma_base = style.fma_per_score + rescale * dv / bc
    alu_base = style.max_per_score + (0.0 if cvt_xu else SOFTMAX_CONVERT_PER_SCORE)
    share = 0.0
    if style.exp_emulation and on("exp_emulation") and on("sfu_exp"):
        share = fa4_exp_emulation_share(causal, max(dqk, dv), bc, fp8)
    exp_ops = scores * (1.0 - share)
    fp32_ops = scores * (
        fma_base
        + alu_base
        + share * EXP_EMULATION_FP32
        + (SOFTMAX_CONVERT_PER_SCORE if cvt_xu else 0)
    )
    mask_ops = scores * mask_fp32_per_score if on("diagonal_mask") else 0.0
    soft_on = on("softmax_fp32")
    fma_instr = scores * (fma_base + share * EXP_EMULATION_FP32) if soft_on else 0.0
    alu_instr = scores * alu_base if soft_on else 0.0
    if not alu_on:  # the earlier model: every non-MUFU instruction on the FP32 lanes
        fma_instr, alu_instr = fma_instr + alu_instr, 0.0
    mufu_instr = exp_ops if on("sfu_exp") else 0.0
    xu_cvt = scores * SOFTMAX_CONVERT_PER_SCORE if cvt_xu and on("softmax_fp32") else 0.0
    mufu_instr += xu_cvt
    issue_on = on("issue_slots")
    alu_rate = pipes.alu_instr_s if alu_on else pipes.fp32_instr_s

    def pipes_s(mask: float) -> tuple[float, float, float, float]:
        """(MUFU, FMA, ALU, issue) seconds of a block with ``mask`` mask instructions."""
        alu = alu_instr + (mask if alu_on else 0.0)
        fma = fma_instr + (0.0 if alu_on else mask)
        issue = (mufu_instr + fma + alu) / pipes.issue_instr_s if issue_on else 0.0
        return mufu_instr / pipes.sfu_exp_s, fma / pipes.fp32_instr_s, alu / alu_rate, issue

    sfu_s, fma_s, alu_s, issue_s = pipes_s(0.0)
    _, m_fma_s, m_alu_s, m_issue_s = pipes_s(mask_ops)
    epilogue_ops = 2.0 * br * dv * useful  # normalise by the row sum, convert to the output
    busy = max(fma_s, alu_s, issue_s)
    mask_busy = max(m_fma_s, m_alu_s, m_issue_s) - busy
    schedule = masked = None
    if style.overlap == "overlapped" and on("overlap"):
        rates = SmRates(
            tensor_ops_s=rate,
            smem_bytes_s=pipes.operand_bytes_s if smem_on else 0.0,
            mufu_s=pipes.sfu_exp_s,
            fma_s=pipes.fp32_instr_s,
            alu_s=alu_rate,
            issue_s=pipes.issue_instr_s if issue_on else 0.0,
            fill_bytes_s=pipes.fill_bytes_s * pipes.units / max(1, active_units or pipes.units),
        )
        rows = br / groups
        g_scores = rows * bc * useful
        per = g_scores / scores if scores else 0.0
        n_max = g_scores * style.max_per_score if soft_on else 0.0  # FMNMX
        n_cvt = SOFTMAX_CONVERT_PER_SCORE * g_scores if soft_on else 0.0  # F2FP
        n_cvt_xu = xu_cvt * per
        if cvt_xu:
            n_cvt = 0.0
        n_res = rows * dv * rescale * useful if soft_on else 0.0  # FMUL on O
        n_exp_fma = fma_instr * per - n_res  # FFMA, FADD, emulated exps

        def work(mask: float) -> GroupBlockWork:
            first = n_max + mask * per
            return GroupBlockWork(
                gemm0_ops=2.0 * rows * bc * dqk,
                gemm1_ops=2.0 * rows * bc * dv,
                # Q rows and the K block; the V block and, if stored there, P
                gemm0_smem=(rows * dqk + bc * dqk * kv_share) * elem,
                gemm1_smem=(bc * dv * kv_share + (rows * bc if p_smem else 0)) * elem,
                max_alu=first if alu_on else 0.0,
                max_fma=0.0 if alu_on else first,
                exp_mufu=mufu_instr * per - n_cvt_xu,
                exp_fma=n_exp_fma,
                convert_alu=n_cvt if alu_on else 0.0,
                convert_fma=0.0 if alu_on else n_cvt,
                convert_smem=rows * bc * elem if p_smem else 0.0,
                convert_mufu=n_cvt_xu,
                rescale_fma=n_res,
            )

        variant: Variant = style.consumer_loop
        if variant == "single_issuer_mma":  # the softmax warpgroups' sequence barrier
            barrier = groups >= 2
        # the producer's TMA writes of each K and V block (a 2-CTA pair loads half each)
        k_bytes = bc * dqk * kv_share * elem if smem_on else 0.0
        v_bytes = bc * dv * kv_share * elem if smem_on else 0.0
        transpose = fp8 and style.fp8_transpose_v and on("fp8_v_transpose")
        # a transposed V passes the port three times: TMA write, LDSM.T read, STSM write
        loads = TileLoads(k_bytes, v_bytes, style.kv_stages, 3 * v_bytes if transpose else None)
        args = (groups, variant, barrier, rescale_first, loads)
        schedule = tile_schedule(rates, work(0.0), *args)
        masked = tile_schedule(rates, work(mask_ops), *args)
    return BlockCost(
        mma_s=mma_s,
        softmax_s=max(sfu_s, fma_s, alu_s, issue_s),
        masked_softmax_s=max(sfu_s, m_fma_s, m_alu_s, m_issue_s),
        mma_ops=mma_ops,
        exp_ops=exp_ops,
        fp32_ops=fp32_ops,
        mask_ops=mask_ops,
        exp_engine_s=sfu_s,
        fp32_s=busy,
        mask_fp32_s=max(0.0, mask_busy),
        epilogue_s=epilogue_ops / pipes.fp32_instr_s if soft_on else 0.0,
        schedule=schedule,
        masked_schedule=masked,
    )


def tile_compute_s(
    style: FusedAttentionStyle,
    cost: BlockCost,
    n_blocks: int,
    n_masked: int,
    options: LoweringOptions,
) -> float:
    """Seconds of a tile's unit for ``n_blocks`` key blocks, ``n_masked`` of them masked:
    the MMAs then the softmax of each block (serial families), or the simulated schedule
    of the warpgroups (overlapped families, :mod:`sim.lowering.sm_schedule`)."""
    if n_blocks == 0:
        return 0.0
    if cost.schedule is None or cost.masked_schedule is None:
        mma = n_blocks * cost.mma_s
        soft = (n_blocks - n_masked) * cost.softmax_s + n_masked * cost.masked_softmax_s
        return mma + soft
    full, masked = cost.schedule, cost.masked_schedule
    fill = masked.fill_s if n_masked else full.fill_s
    return fill + (n_blocks - n_masked) * full.period_s + n_masked * masked.period_s


def _kv_miss(view: TargetView, kv_bytes_per_head: float, concurrent_heads: int) -> float:
    """Fraction of non-compulsory K/V reads that miss the cache (the K/V hit rule)."""
    if view.cache is None:
        return 1.0
    working_set = concurrent_heads * kv_bytes_per_head
    capacity = view.cache.capacity_bytes
    return 0.0 if working_set <= capacity else 1.0 - capacity / working_set


@dataclass(frozen=True)
class QueryRows:
    """The query tiles of one head: per tile its full and partial key blocks, the key
    blocks it masks, and its live pairs (numpy int arrays of one length)."""

    n_full: np.ndarray
    n_part: np.ndarray
    n_masked: np.ndarray
    live_pairs: np.ndarray

    @property
    def blocks(self) -> np.ndarray:
        """Live key blocks per query tile."""
        return self.n_full + self.n_part


def contiguous_rows(op: AttentionOp, br: int, bc: int) -> QueryRows:
    """Query blocks of ``br`` consecutive rows, key blocks of ``bc`` consecutive keys."""
    spec = op.spec
    liveness = spec.mask.tile_liveness(spec.q_len, spec.kv_len, br, bc)
    n_full = (liveness == 2).sum(axis=1)
    n_part = (liveness == 1).sum(axis=1)
    live = spec.mask.tile_counts(spec.q_len, spec.kv_len, br, bc).sum(axis=1)
    return QueryRows(n_full, n_part, n_part.copy(), live)


def lower_fused_attention(
    op: Op, view: TargetView, options: LoweringOptions, style: FusedAttentionStyle
) -> OpTasks:
    """Lower one :class:`AttentionOp` with ``style`` (see module docstring)."""
    if not isinstance(op, AttentionOp):
        raise LoweringError(f"{style.name} lowers attention ops, not {op.kind}")
    spec = op.spec
    elem = nbytes(op.dtype, 1)
    causal = spec.mask.kind != "full"
    br, bc, resident = choose_blocks(
        style, view, spec.head_dim_qk, spec.head_dim_v, elem, causal, options
    )
    if spec.phase == "decode" and style.split_kv:
        return _lower_decode(op, view, style, bc, resident, options)
    rows = contiguous_rows(op, br, bc)
    kernel, notes = fused_kernel(op, view, options, style, br, bc, resident, rows)
    return OpTasks(family=style.name, kernels=(kernel,), notes=notes)


def fused_kernel(
    op: AttentionOp,
    view: TargetView,
    options: LoweringOptions,
    style: FusedAttentionStyle,
    br: int,
    bc: int,
    resident: int,
    rows: QueryRows,
    mask_fp32_per_score: float = MASK_FP32_PER_SCORE,
) -> tuple[Kernel, dict[str, str | int | float]]:
    """The forward kernel of ``style`` over the query tiles ``rows`` (one head's; every
    head has the same) and the notes of the choices made."""
    spec = op.spec
    elem = nbytes(op.dtype, 1)
    dqk, dv = spec.head_dim_qk, spec.head_dim_v
    pipes = sm_pipes(view, op.dtype)
    causal = spec.mask.kind != "full"
    readers = tile_readers(style, br, max(dqk, dv), view.scratchpad.capacity_bytes)
    active = min(view.units, spec.batch * spec.q_heads * len(rows.n_full))
    cost = block_cost(
        style,
        pipes,
        br,
        bc,
        dqk,
        dv,
        elem,
        options,
        mask_fp32_per_score,
        causal=causal,
        dtype=op.dtype,
        readers=readers,
        active_units=active,
    )
    heads = spec.batch * spec.q_heads
    nq = len(rows.n_full)
    check_runs(nq, f"{style.name}: {nq:,} query blocks")
    blocks = rows.blocks

    q_bytes = br * dqk * elem
    # under query-head reduction (Hq < Hkv) a query head reads kv_per_query_head KV heads
    kv_block_bytes = bc * (dqk + dv) * elem * spec.kv_per_query_head
    o_bytes = br * dv * elem + br * LSE_BYTES_PER_ROW

    cache_kv = float(heads * blocks.sum() * kv_block_bytes)
    compulsory_kv = spec.batch * spec.kv_heads * spec.kv_len * (dqk + dv) * elem
    slots = view.units * resident
    group = max(1, spec.q_heads // max(1, spec.kv_heads))
    tiles_per_kv_head = nq * group
    kv_bytes_per_head = spec.kv_len * (dqk + dv) * elem
    order = style.order if options.enabled("longest_first") else "q_fastest"
    section = lpt_section_heads(kv_bytes_per_head, group) if order == "longest_first" else 1
    # KV heads whose tiles are in flight together: the section's (FA3's L2 swizzle), or the
    # heads a wave of head-major tiles spans
    concurrent = max(math.ceil(section / group), math.ceil(slots / tiles_per_kv_head)) + 1
    concurrent = min(concurrent, spec.batch * spec.kv_heads)
    miss = _kv_miss(view, kv_bytes_per_head, concurrent)
    lockstep = view.cache is not None and options.enabled("kv_lockstep")
    compulsory = min(compulsory_kv, cache_kv) if lockstep else cache_kv
    streamed = cache_kv / min(slots, tiles_per_kv_head)
    excess = max(0.0, streamed - compulsory) * miss if lockstep else 0.0
    dram_per_block = (compulsory + excess) / cache_kv * kv_block_bytes if cache_kv > 0 else 0.0
    dram_frac = (compulsory + excess) / cache_kv if cache_kv > 0 else 1.0

    fill = view.dram.latency_s
    if options.enabled("pipeline_fill"):
        port = view.unit_bandwidth_cap.get(view.dram.name, math.inf)
        fill += cost.epilogue_s + o_bytes / port
        if not style.persistent:
            fill += (q_bytes + kv_block_bytes) / port

    classes: dict[tuple[int, int, int, int], TileClass] = {}
    row_class: list[TileClass] = []
    scratch = view.scratchpad.name
    for i in range(nq):
        key = (
            int(rows.n_full[i]),
            int(rows.n_part[i]),
            int(rows.n_masked[i]),
            int(rows.live_pairs[i]),
        )
        if key not in classes:
            nf, np_, nm, live = key
            n = nf + np_
            kv = n * kv_block_bytes
            q_load = q_bytes if n else 0.0  # a row with no live key block writes zeros only
            reads = traffic(view, q_load + n * dram_per_block, q_load + kv)
            reads[scratch] = q_load + kv
            writes = traffic(view, o_bytes)
            writes[scratch] = q_load + kv
            fp32_ops = n * cost.fp32_ops + nm * cost.mask_ops + 2.0 * br * dv
            classes[key] = TileClass(
                name=f"{style.name} q-block ({nf} full + {np_} partial key blocks)",
                engine_s={
                    pipes.mma_engine: n * cost.mma_s,
                    pipes.sfu_engine: n * cost.exp_engine_s,
                    pipes.fp32_engine: n * cost.fp32_s + nm * cost.mask_fp32_s + cost.epilogue_s,
                },
                compute_s=tile_compute_s(style, cost, n, nm, options),
                read_bytes=reads,
                write_bytes=writes,
                fixed_s=fill,
                ops={
                    ("matmul", pipes.mma_precision): n * cost.mma_ops,
                    ("exp", "fp32"): n * cost.exp_ops,
                    ("vector", "fp32"): fp32_ops,
                },
                flops=2.0 * live * (dqk + dv),
            )
        row_class.append(classes[key])

    runs = issue_order(order, row_class, blocks, heads, section)
    kernel = Kernel(
        name=f"{style.name} fwd",
        unit=view.unit,
        slots_per_unit=resident,
        runs=runs,
        launch_s=view.launch_s,
        order=order,
    )
    notes: dict[str, str | int | float] = {
        "block_q": br,
        "block_k": bc,
        "resident_per_unit": resident,
        "kv_dram_fraction": round(dram_frac, 4),
        "order": order,
        "section_heads": section,
    }
    return kernel, notes


#: Bytes of K and V that FlashAttention-3's longest-first scheduler keeps in flight per
#: section of heads (``hopper/tile_scheduler.hpp``: ``size_l2 = 32 MB for K & V``).
LPT_SECTION_KV_BYTES = 32 * 1024 * 1024


def lpt_section_heads(kv_bytes_per_head: float, group: int) -> int:
    """Query heads per section of FlashAttention-3's longest-first scheduler: the largest
    power of two of KV heads whose K/V fit :data:`LPT_SECTION_KV_BYTES` (at least one),
    times the query heads per KV head."""
    fit = LPT_SECTION_KV_BYTES // max(1, int(kv_bytes_per_head))
    return (1 << (int(fit).bit_length() - 1) if fit >= 1 else 1) * max(1, group)


def issue_order(
    order: str, row_class: list[TileClass], work: np.ndarray, heads: int, section: int = 1
) -> tuple[tuple[TileClass, int], ...]:
    """Run-length encoded issue order of all ``heads x len(row_class)`` tiles.

    ``q_fastest``: heads outer, query blocks in grid order inner. ``longest_first``:
    FlashAttention-3's L2-swizzled longest-processing-time-first order -- heads in
    sections of ``section`` (whose K/V fit the L2 budget), and within a section the
    query blocks from the most live key blocks to the fewest, each for every head of the
    section (heads inner)."""
    n = len(row_class)
    if order != "longest_first":
        seq: list[list] = []  # one head's query blocks, run-length encoded
        for i in range(n):
            if seq and seq[-1][0] is row_class[i]:
                seq[-1][1] += 1
            else:
                seq.append([row_class[i], 1])
        return repeat_runs(seq, heads, f"{heads:,} heads x {len(seq):,} query-block runs")
    idx = sorted(range(n), key=lambda i: (-int(work[i]), i))
    runs: list[list] = []
    full, rest = divmod(heads, max(1, section))
    check_runs((full + (1 if rest else 0)) * n, f"{heads:,} heads x {n:,} query blocks")
    for size, repeat in ((section, full), (rest, 1 if rest else 0)):
        for _ in range(repeat):
            for i in idx:
                if runs and runs[-1][0] is row_class[i]:
                    runs[-1][1] += size
                else:
                    runs.append([row_class[i], size])
    return tuple((tile, int(count)) for tile, count in runs)


def _lower_decode(
    op: AttentionOp,
    view: TargetView,
    style: FusedAttentionStyle,
    bc: int,
    resident: int,
    options: LoweringOptions,
) -> OpTasks:
    spec = op.spec
    elem = nbytes(op.dtype, 1)
    dqk, dv = spec.head_dim_qk, spec.head_dim_v
    group = max(1, spec.q_heads // max(1, spec.kv_heads))
    rows = group * spec.q_len
    rows_padded = math.ceil(rows / style.min_rows) * style.min_rows
    pipes = sm_pipes(view, op.dtype)
    useful = rows / rows_padded  # softmax work of padded rows is skipped
    scaled = block_cost(
        style,
        pipes,
        rows_padded,
        bc,
        dqk,
        dv,
        elem,
        options,
        causal=True,
        dtype=op.dtype,
        useful=useful,
        readers=tile_readers(style, rows_padded, max(dqk, dv), view.scratchpad.capacity_bytes),
        active_units=min(view.units, spec.batch * spec.kv_heads),
    )
    liveness = spec.mask.tile_liveness(spec.q_len, spec.kv_len, spec.q_len, bc)
    live_blocks = int((liveness[0] > 0).sum())
    partial_blocks = int((liveness[0] == 1).sum())
    base_tiles = spec.batch * spec.kv_heads
    slots = view.units * resident
    live_pairs = spec.mask.live_pairs(spec.q_len, spec.kv_len)

    def tile_for(n_blocks: int, splits: int) -> TileClass:
        part = min(partial_blocks, n_blocks)
        kv = n_blocks * bc * (dqk + dv) * elem
        q = rows * dqk * elem
        out = rows * (dv + 1) * 4.0 if splits > 1 else rows * dv * elem
        reads = traffic(view, q + kv)
        reads[view.scratchpad.name] = q + kv
        return TileClass(
            name=f"{style.name} decode split ({n_blocks} key blocks)",
            engine_s={
                pipes.mma_engine: n_blocks * scaled.mma_s,
                pipes.sfu_engine: n_blocks * scaled.exp_engine_s,
                pipes.fp32_engine: n_blocks * scaled.fp32_s + part * scaled.mask_fp32_s,
            },
            compute_s=tile_compute_s(style, scaled, n_blocks, part, options),
            read_bytes=reads,
            write_bytes=traffic(view, out),
            fixed_s=view.dram.latency_s,
            ops={
                ("matmul", pipes.mma_precision): n_blocks * scaled.mma_ops,
                ("exp", "fp32"): n_blocks * scaled.exp_ops,
                ("vector", "fp32"): n_blocks * scaled.fp32_ops + part * scaled.mask_ops,
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
    if not options.enabled("split_kv"):
        most = 1
    best = fastest([plan(n) for n in range(1, most + 1)], view)
    notes: dict[str, str | int | float] = {
        "block_k": bc,
        "rows_per_tile": rows,
        "rows_padded": rows_padded,
        "splits": best.notes["splits"],
        "resident_per_unit": resident,
    }
    return OpTasks(family=style.name, kernels=best.kernels, notes=notes)


#: Keys per MMA step of a 16-bit tensor-core instruction (m16n8k16, wgmma k16, tcgen05 k16).
MMA_K_STEP = 16


def register_style(style: FusedAttentionStyle) -> None:
    """Register ``style`` as a kernel family for attention ops."""

    def lower(op: Op, view: TargetView, options: LoweringOptions) -> OpTasks:
        return lower_fused_attention(op, view, options, style)

    register_family(
        LoweringFamily(
            name=style.name,
            op_kinds=frozenset({"attention"}),
            lower=lower,
            description=style.description,
            # --block-q/--block-k in the MMA's granularity: tiles of min_rows rows (wgmma's
            # 64-row warpgroup tile, mma.sync's 16, tcgen05's 128) and keys in steps of 16
            # (the K of a 16-bit MMA, which the keys are in P·V)
            check_options=tile_multiples(
                style.min_rows,
                MMA_K_STEP,
                f"its tensor-core MMA tiles have {style.min_rows} rows and take keys in "
                f"steps of {MMA_K_STEP}",
                power_of_two=style.power_of_two_tiles,
            ),
        )
    )


#: FlashAttention-3 (Hopper): a producer warpgroup loads with TMA, 2-3 consumer
#: warpgroups (64 rows each) run wgmma and ping-pong softmax against each other's GEMMs,
#: persistent tile scheduler, longest-processing-time-first for causal masks. Tiles from
#: its launch code (``hopper/tile_size.h``, fp16/bf16): head dim <= 64: 192x128 (causal)
#: / 192x192; <= 128: 128x128 / 128x176; <= 192: 128x128; else 128x80; fp8: 192x160,
#: 192x128, 128x224, 128x160, 128x128. With fp8 it transposes V in shared memory.
FLASH_ATTENTION_3 = FusedAttentionStyle(
    name="flash-attention-3",
    description="FlashAttention-3: warp-specialised, softmax overlapped with matmuls (Hopper+)",
    tile_table=(
        (64, (192, 128), (192, 192)),
        (128, (128, 128), (128, 176)),
        (192, (128, 128), (128, 128)),
        (256, (128, 80), (128, 80)),
    ),
    kv_stages=2,
    mma="async",
    overlap="overlapped",
    order="longest_first",
    max_resident=1,
    min_rows=64,
    rows_per_reader=64,
    persistent=True,
    scheduler_barrier="fa3",
    p_in_smem_max_head_dim=64,
    rescale_first_min_head_dim=129,
    tile_table_fp8=(
        (64, (192, 160), (192, 160)),
        (96, (192, 128), (192, 128)),
        (128, (128, 224), (128, 224)),
        (192, (128, 160), (128, 160)),
        (256, (128, 128), (128, 128)),
    ),
    fp8_transpose_v=True,
    fp8_convert_xu=True,
)
#: FlashAttention-2: 4 warps (8 for head dim > 128) split the query rows and each runs
#: mma.sync then the softmax; grid order. Tiles from its sm80/sm90 launch code
#: (``csrc/flash_attn/src/flash_fwd_launch_template.h``): head dim <= 64: 128x128; <= 128:
#: 128x64; larger: 128x64 with 8 warps -- except at head dim 256 on an SM with at least
#: 4 x 256 x (64 + 2 x 64) B = 192 KiB of shared memory (Hopper's 228 KiB), where
#: ``run_mha_fwd_hdim256`` picks 64x64 with 4 warps.
FLASH_ATTENTION_2 = FusedAttentionStyle(
    name="flash-attention-2",
    description="FlashAttention-2: tiled online softmax, mma.sync, matmul and softmax serialised",
    tile_table=(
        (64, (128, 128), (128, 128)),
        (128, (128, 64), (128, 64)),
        (256, (128, 64), (128, 64)),
    ),
    kv_stages=1,
    mma="sync",
    overlap="serial",
    order="q_fastest",
    max_resident=2,
    min_rows=16,
    rows_per_reader=32,
    warps=((128, 4), (256, 8)),
    smem_tiles=((192, 256, 4 * 256 * (64 + 2 * 64), (64, 64), 4),),
)
#: The bundled Triton kernel (kernels/gpu): the tutorial's structure, 128x64 tiles,
#: software-pipelined K/V loads, grid order, serial matmul/softmax within a program;
#: Triton emits wgmma on Hopper (async MMA).
TRITON_BUNDLED = FusedAttentionStyle(
    name="triton-bundled",
    description="attnsim's bundled Triton flash kernel (kernels/gpu)",
    tile_table=((256, (128, 64), (128, 64)),),
    kv_stages=2,
    mma="async",
    overlap="serial",
    order="q_fastest",
    max_resident=2,
    min_rows=16,
    rows_per_reader=32,
    power_of_two_tiles=True,
)
#: FlashAttention-4 (Blackwell, tcgen05): one CTA ping-pongs two 128-row query tiles on
#: the tensor cores (MMA of one tile while the other's softmax runs), accumulators in
#: tensor memory, 2-CTA MMA, software exp2 on the FP32 lanes for part of the scores,
#: conditional rescaling; persistent, longest first for causal. 128-key blocks. Softmax
#: instructions from ``flash_attn/cute/softmax.py`` and ``utils.py`` for sm100: packed
#: two-wide FFMA/FADD (``fma_packed_f32x2``, ``add_packed_f32x2``) and three-input max
#: (``fmax_reduce``).
FLASH_ATTENTION_4 = FusedAttentionStyle(
    name="flash-attention-4",
    description="FlashAttention-4: tcgen05, 2 ping-pong Q tiles, exp emulation, 2-CTA MMA (Blackwell)",
    tile_table=((256, (256, 128), (256, 128)),),
    fallback_tiles=((128, 128), (128, 64)),
    kv_stages=2,
    mma="async",
    overlap="overlapped",
    order="longest_first",
    max_resident=1,
    min_rows=128,
    rows_per_reader=128,
    tensor_memory=True,
    persistent=True,
    rescale_fraction=0.1,
    exp_emulation=True,
    cta_pair=True,
    fma_per_score=1.0,
    max_per_score=0.5,
    consumer_loop="single_issuer_mma",
)

for _style in (FLASH_ATTENTION_3, FLASH_ATTENTION_2, TRITON_BUNDLED, FLASH_ATTENTION_4):
    register_style(_style)
