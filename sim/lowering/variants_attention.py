"""Lowering of the attention variants that are several kernels (projections, two passes,
recovery): each is composed from the families that already exist — the target's best
fused-attention family for the attention part, the GEMM family for projections and the
streaming kernel for elementwise steps — so a variant is simulated with the same rules
as dense attention, and its prediction moves when those rules do.

* ``low-rank-projected`` — Linformer: the ``E K``/``F V`` projections as one GEMM per
  distinct projection matrix (a shared matrix is the GEMM's ``A`` operand for every
  (sequence, head): read once), then fused attention over ``proj`` keys.
* ``cs-recovery`` — CSAT: one GEMM measures Q, K and V with the shared ``Phi``; fused
  attention over the ``m x m`` compressed pairs; then ``iters`` ISTA iterations, each
  two GEMMs (``Phi x``, ``Phi^T r``) and one streaming kernel (residual, step, shrink);
  with no iteration the recovered ``n x d`` output is ISTA's start ``x = 0``, written by a
  fill kernel (the op's output is ``n x d`` whatever the iteration count).
* ``moh-gathered`` — Mixture-of-Head: each head's routed tokens are gathered into
  ``ceil(q*k/H)`` consecutive rows (the gather fused into the Q load by index, as
  grouped MoE kernels do) and run by the fused family with a
  :class:`~workloads.masks_sparse.RowSubsetMask`.
* ``differential-two-pass`` — (grouped) differential attention: a fused pass over the
  signal heads, a fused pass over the noise heads whose value rows are the V of the
  ``q_heads / noise_heads`` signal heads sharing each noise map (one score map, a wide
  V), and a streaming combine ``o1 - lambda o2``.
* ``vertical-slash-gather`` — MInference's kernel for the vertical-slash pattern
  (:class:`~workloads.ops_variants.GatheredAttentionOp`): per query block, the vertical
  columns gathered ``64`` at a time and the diagonals as merged contiguous key ranges. A
  plain ``AttentionOp`` with a vertical-slash mask (as traced) runs on the target's
  fused family instead, which can only skip dead tiles.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
from attnsim.sim.lowering.common import check_runs, repeat_runs, streaming_kernel, traffic
from attnsim.sim.lowering.registry import (
    LoweringFamily,
    LoweringOptions,
    choose_family,
    register_family,
)
from attnsim.sim.lowering.target import LoweringError, TargetView
from attnsim.sim.tasks import Kernel, OpTasks, TileClass
from attnsim.workloads.dtypes import nbytes
from attnsim.workloads.masks import CausalMask
from attnsim.workloads.masks_sparse import RowSubsetMask, VerticalSlashMask
from attnsim.workloads.ops import AttentionOp, GemmOp, Op
from attnsim.workloads.ops_variants import (
    CompressedSensingAttentionOp,
    DifferentialAttentionOp,
    GatheredAttentionOp,
    LowRankAttentionOp,
    MixtureOfHeadsAttentionOp,
)
from attnsim.workloads.spec import AttentionSpec

__all__ = [
    "attention_kernels",
    "gemm_kernels_for",
    "sub_op_kernels",
    "vertical_slash_blocks",
]


def sub_op_kernels(
    op: Op, view: TargetView, options: LoweringOptions
) -> tuple[tuple[Kernel, ...], str]:
    """Kernels of a sub-op by the family the target would pick for it, and its name."""
    family = choose_family(op, view)
    tasks = family.lower(op, view, options)
    return tasks.kernels, tasks.family


def attention_kernels(
    name: str, dtype: str, spec: AttentionSpec, view: TargetView, options: LoweringOptions
) -> tuple[tuple[Kernel, ...], str]:
    """Fused-attention kernels of ``spec`` by the target's best attention family."""
    return sub_op_kernels(AttentionOp(name=name, dtype=dtype, spec=spec), view, options)


def gemm_kernels_for(op: GemmOp, view: TargetView) -> tuple[Kernel, ...]:
    """Kernels of one GEMM by the target's GEMM family."""
    return sub_op_kernels(op, view, LoweringOptions())[0]


def _expect(op: Op, cls: type, family: str) -> None:
    if not isinstance(op, cls):
        raise LoweringError(f"{family} lowers {cls.kind} ops, not {op.kind}")  # type: ignore[attr-defined]


def lower_low_rank(op: Op, view: TargetView, options: LoweringOptions) -> OpTasks:
    """Lower a :class:`LowRankAttentionOp` (see module docstring)."""
    _expect(op, LowRankAttentionOp, "low-rank-projected")
    assert isinstance(op, LowRankAttentionOp)
    bh = op.batch * op.heads
    gemms: list[GemmOp] = []
    if op.share == "layer":  # one E for K and V of every head: one GEMM
        gemms.append(
            GemmOp(
                name=f"{op.name} E[K|V]",
                dtype=op.dtype,
                m=op.proj,
                n=bh * (op.head_dim + op.head_dim_v),
                k=op.kv_len,
                weight_operand="a",
            )
        )
    elif op.share == "kv":
        for label, width in (("E K", op.head_dim), ("F V", op.head_dim_v)):
            gemms.append(
                GemmOp(
                    name=f"{op.name} {label}",
                    dtype=op.dtype,
                    m=op.proj,
                    n=bh * width,
                    k=op.kv_len,
                    weight_operand="a",
                )
            )
    else:  # per-head E_h, F_h: a batch of heads, each matrix read once
        for label, width in (("E K", op.head_dim), ("F V", op.head_dim_v)):
            gemms.append(
                GemmOp(
                    name=f"{op.name} {label}",
                    dtype=op.dtype,
                    m=op.proj,
                    n=op.batch * width,
                    k=op.kv_len,
                    batch=op.heads,
                )
            )
    kernels: list[Kernel] = []
    for g in gemms:
        kernels += gemm_kernels_for(g, view)
    attn, fam = attention_kernels(
        f"{op.name} attention", op.dtype, op.attention_spec(), view, options
    )
    kernels += attn
    notes: dict[str, str | int | float] = {
        "projection_gemms": len(gemms),
        "attention_family": fam,
        "proj": op.proj,
    }
    return OpTasks(family="low-rank-projected", kernels=tuple(kernels), notes=notes)


def lower_cs_attention(op: Op, view: TargetView, options: LoweringOptions) -> OpTasks:
    """Lower a :class:`CompressedSensingAttentionOp` (see module docstring)."""
    _expect(op, CompressedSensingAttentionOp, "cs-recovery")
    assert isinstance(op, CompressedSensingAttentionOp)
    bhd = op.batch * op.heads * op.head_dim
    m, n = op.measurements, op.seq
    kernels: list[Kernel] = list(
        gemm_kernels_for(
            GemmOp(
                name=f"{op.name} measure QKV",
                dtype=op.dtype,
                m=m,
                n=3 * bhd,
                k=n,
                weight_operand="a",
            ),
            view,
        )
    )
    attn, fam = attention_kernels(
        f"{op.name} attention", op.dtype, op.attention_spec(), view, options
    )
    kernels += attn
    forward = gemm_kernels_for(
        GemmOp(name=f"{op.name} Phi x", dtype=op.dtype, m=m, n=bhd, k=n, weight_operand="a"), view
    )
    adjoint = gemm_kernels_for(
        GemmOp(name=f"{op.name} Phi^T r", dtype=op.dtype, m=n, n=bhd, k=m, weight_operand="a"),
        view,
    )
    elem = nbytes(op.dtype, 1)
    shrink = streaming_kernel(
        f"{op.name} ISTA shrink",
        view,
        read_bytes=2.0 * n * bhd * elem,  # x and the back-projected residual
        write_bytes=1.0 * n * bhd * elem,
        vector_ops=4.0 * n * bhd,
        flops=4.0 * n * bhd,
    )
    for _ in range(op.iters):
        kernels += forward
        kernels += adjoint
        kernels.append(shrink)
    if op.iters == 0:  # ISTA's start x = 0 is the output: written once
        kernels.append(
            streaming_kernel(
                f"{op.name} x = 0", view, read_bytes=0.0, write_bytes=n * bhd * elem, vector_ops=0.0
            )
        )
    notes: dict[str, str | int | float] = {
        "measurements": m,
        "ista_iterations": op.iters,
        "attention_family": fam,
    }
    return OpTasks(family="cs-recovery", kernels=tuple(kernels), notes=notes)


def lower_moh(op: Op, view: TargetView, options: LoweringOptions) -> OpTasks:
    """Lower a :class:`MixtureOfHeadsAttentionOp` (see module docstring)."""
    _expect(op, MixtureOfHeadsAttentionOp, "moh-gathered")
    assert isinstance(op, MixtureOfHeadsAttentionOp)
    s = op.spec
    rows = op.rows_per_head
    spec = dataclasses.replace(
        s,
        q_len=rows,
        mask=RowSubsetMask(total_rows=s.q_len, causal=isinstance(s.mask, CausalMask)),
    )
    attn, fam = attention_kernels(f"{op.name} routed heads", op.dtype, spec, view, options)
    notes: dict[str, str | int | float] = {
        "rows_per_head": rows,
        "active_heads": op.active_heads,
        "attention_family": fam,
    }
    return OpTasks(family="moh-gathered", kernels=attn, notes=notes)


def lower_differential(op: Op, view: TargetView, options: LoweringOptions) -> OpTasks:
    """Lower a :class:`DifferentialAttentionOp` (see module docstring)."""
    _expect(op, DifferentialAttentionOp, "differential-two-pass")
    assert isinstance(op, DifferentialAttentionOp)
    s = op.spec
    group = s.q_heads // op.noise_heads
    signal, fam = attention_kernels(f"{op.name} signal", op.dtype, s, view, options)
    noise_spec = dataclasses.replace(
        s,
        q_heads=op.noise_heads,
        kv_heads=op.noise_heads,
        head_dim_v=s.head_dim_v * group,
    )
    noise, _ = attention_kernels(f"{op.name} noise", op.dtype, noise_spec, view, options)
    elem = nbytes(op.dtype, 1)
    out = s.batch * s.q_heads * s.q_len * s.head_dim_v
    combine = streaming_kernel(
        f"{op.name} o1 - lambda o2",
        view,
        read_bytes=2.0 * out * elem,
        write_bytes=out * elem,
        vector_ops=2.0 * out,
        flops=2.0 * out,
    )
    notes: dict[str, str | int | float] = {
        "noise_heads": op.noise_heads,
        "signal_heads_per_noise_head": group,
        "attention_family": fam,
    }
    return OpTasks(family="differential-two-pass", kernels=(*signal, *noise, combine), notes=notes)


for _name, _kind, _fn, _desc in (
    ("low-rank-projected", "low_rank_attention", lower_low_rank,
     "Linformer: shared projection GEMMs, then fused attention over the projected keys"),
    ("cs-recovery", "cs_attention", lower_cs_attention,
     "CSAT: measurement GEMM, compressed fused attention, ISTA recovery (2 GEMMs + shrink per step)"),
    ("moh-gathered", "mixture_of_heads", lower_moh,
     "Mixture-of-Head: routed tokens gathered per head, fused attention on the compact rows"),
    ("differential-two-pass", "differential_attention", lower_differential,
     "differential attention: signal pass, grouped noise pass (wide V), combine"),
):  # fmt: skip
    register_family(
        LoweringFamily(
            name=_name, op_kinds=frozenset({_kind}), lower=_fn, generic=True, description=_desc
        )
    )


#: Tile of the vertical-slash gather kernel (MInference's block sizes).
VS_BLOCK = 64
#: Vector ops per computed score: the online softmax's four plus the mask select two.
VS_VECTOR_OPS_PER_SCORE = 6


def vertical_slash_blocks(
    mask: VerticalSlashMask, q_len: int, kv_len: int, block: int
) -> np.ndarray:
    """Key blocks each query block computes in the gather kernel, int64 ``(nq,)``.

    The kernel (MInference's vertical-slash kernel) handles a query block's vertical
    columns (the verticals up to its last position) by gathering them ``block`` at a
    time, and its slashes as contiguous key ranges: diagonal ``s`` covers keys
    ``[p_first - s, p_last - s]``; overlapping ranges are merged and each merged range is
    cut into ``block``-key pieces. Every piece is computed whole with the mask applied.
    """
    off = kv_len - q_len
    V = np.asarray(mask.verticals, dtype=np.int64)
    S = np.asarray(mask.slashes, dtype=np.int64)[::-1]  # descending: range starts ascend
    nq = -(-q_len // block)
    check_runs(nq, f"vertical-slash-gather: {nq:,} query blocks")
    out = np.zeros(nq, dtype=np.int64)
    for i in range(nq):
        p_lo = off + i * block
        p_hi = min(off + (i + 1) * block, kv_len) - 1
        n_vert = int(np.searchsorted(V, p_hi, side="right"))
        s = S[S <= p_hi]
        lo = np.maximum(0, p_lo - s)
        hi = p_hi - s
        total, end, run_lo = 0, -1, 0
        for a, b in zip(lo.tolist(), hi.tolist(), strict=True):
            if a > end:
                if end >= 0:
                    total += -(-(end - run_lo + 1) // block)
                run_lo, end = a, b
            else:
                end = max(end, b)
        if end >= 0:
            total += -(-(end - run_lo + 1) // block)
        out[i] = -(-n_vert // block) + total
    return out


def lower_vertical_slash(op: Op, view: TargetView, options: LoweringOptions) -> OpTasks:
    """Lower a :class:`GatheredAttentionOp` (a :class:`VerticalSlashMask`) by gathering its
    columns and diagonal ranges (see :func:`vertical_slash_blocks`); one tile per (batch,
    head, query block), matmuls and softmax serialised as in FlashAttention-2. K/V come
    from DRAM once per head while the heads that run together fit the cache, the excess
    growing as fused attention's hit rule."""
    if not isinstance(op, GatheredAttentionOp) or not isinstance(op.spec.mask, VerticalSlashMask):
        raise LoweringError(f"vertical-slash-gather lowers gathered_attention ops, not {op.kind}")
    spec = op.spec
    mask = spec.mask
    assert isinstance(mask, VerticalSlashMask)  # checked above; narrows the type
    bq = bk = options.block_q or VS_BLOCK
    elem = nbytes(op.dtype, 1)
    dqk, dv = spec.head_dim_qk, spec.head_dim_v
    blocks = vertical_slash_blocks(mask, spec.q_len, spec.kv_len, bq)
    nq = blocks.size
    bounds = np.minimum(np.arange(nq + 1, dtype=np.int64) * bq, spec.q_len)
    live = np.diff(spec.mask.cumulative_pairs(bounds, [spec.kv_len], spec.q_len, spec.kv_len)[:, 0])
    mm = view.rate("matmul", op.dtype)
    ex = view.rate("exp", "fp32")
    vec = view.rate("vector", "fp32")
    scratch = (bq * dqk + 2 * bk * (dqk + dv)) * elem
    resident = min(2, view.fits_tile(scratch, (bq * dv + 2 * bq * bk) * 4.0))
    if resident < 1:
        raise LoweringError(f"{view.hw.name}: no vertical-slash tile fits a {view.unit}")
    heads = spec.batch * spec.q_heads
    kv_block = bk * (dqk + dv) * elem * spec.kv_per_query_head
    cache_kv = float(heads * blocks.sum() * kv_block)
    compulsory_kv = float(spec.batch * spec.kv_heads * spec.live_keys * (dqk + dv) * elem)
    concurrent = min(math.ceil(view.units * resident / nq) + 1, spec.batch * spec.kv_heads)
    ws = concurrent * spec.kv_len * (dqk + dv) * elem
    cap = view.cache.capacity_bytes if view.cache is not None else 0.0
    miss = 1.0 if view.cache is None else (0.0 if ws <= cap else 1.0 - cap / ws)
    compulsory = min(compulsory_kv, cache_kv)
    excess_per_block = (cache_kv - compulsory) * miss / cache_kv * kv_block if cache_kv else 0.0
    n_tiles = heads * nq
    classes: dict[tuple[int, int], TileClass] = {}
    seq: list[list[Any]] = []
    for i in range(nq):
        key = (int(blocks[i]), int(live[i]))
        if key not in classes:
            n = key[0]
            mm_ops = 2.0 * bq * bk * (dqk + dv) * n
            exp_ops = float(bq * bk * n)
            vec_ops = float(VS_VECTOR_OPS_PER_SCORE * bq * bk * n + bq * dv)
            engine_s = {mm.engine: mm_ops / mm.per_unit_ops_s}
            engine_s[ex.engine] = engine_s.get(ex.engine, 0.0) + exp_ops / ex.per_unit_ops_s
            engine_s[vec.engine] = engine_s.get(vec.engine, 0.0) + vec_ops / vec.per_unit_ops_s
            q_bytes = bq * dqk * elem
            reads = traffic(
                view,
                q_bytes + compulsory / n_tiles + n * excess_per_block,
                q_bytes + n * kv_block,
            )
            reads[view.scratchpad.name] = q_bytes + n * kv_block
            classes[key] = TileClass(
                name=f"vertical-slash q-block ({n} gathered key blocks)",
                engine_s=engine_s,
                compute_s=sum(engine_s.values()),
                read_bytes=reads,
                write_bytes=traffic(view, bq * dv * elem),
                fixed_s=view.dram.latency_s,
                ops={
                    ("matmul", mm.precision): mm_ops,
                    ("exp", ex.precision): exp_ops,
                    ("vector", vec.precision): vec_ops,
                },
                flops=2.0 * key[1] * (dqk + dv),
            )
        tile = classes[key]
        if seq and seq[-1][0] is tile:
            seq[-1][1] += 1
        else:
            seq.append([tile, 1])
    runs = repeat_runs(seq, heads, f"vertical-slash-gather: {heads:,} heads x {len(seq):,} runs")
    kernel = Kernel(
        name="vertical-slash gather fwd",
        unit=view.unit,
        slots_per_unit=resident,
        runs=runs,
        launch_s=view.launch_s,
        order="(batch, head) outer, query block inner",
    )
    notes: dict[str, str | int | float] = {
        "block": bq,
        "key_blocks_per_query_block": round(float(blocks.mean()), 2),
        "kv_dram_miss": round(miss, 4),
    }
    return OpTasks(family="vertical-slash-gather", kernels=(kernel,), notes=notes)


register_family(
    LoweringFamily(
        name="vertical-slash-gather",
        op_kinds=frozenset({"gathered_attention"}),
        lower=lower_vertical_slash,
        generic=True,
        description="MInference-style vertical-slash kernel: gathered columns + merged "
        "diagonal ranges",
    )
)
