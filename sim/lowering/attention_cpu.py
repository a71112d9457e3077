"""The bundled numba CPU kernel (``kernels/cpu``) as a lowering family: ``numba-flash-cpu``.

This family predicts *that* kernel, so it follows its structure exactly:

* **Prefill.** One task per (batch, query head, query block); the key blocks a task
  visits are the kernel's own tile schedule (``kernels.cpu.schedule.kernel_schedule``,
  including its patch tiling of multi-axis neighborhood masks, with the token gather
  and scatter that tiling costs). Per visited key block: two single-threaded OpenBLAS
  ``sgemm`` calls (``S = Q K^T`` and ``acc += P V``), the online-softmax loop over the
  ``block_q x block_k`` scores, and on partial blocks the mask loop. Per task: scaling
  and copying the query block in, normalising the output block out. Tasks are
  spread over threads longest first (the kernel's LPT assignment); one task per core
  at a time.
* **Decode.** Tasks are (batch, KV head, KV split) with the ``group x q_len`` query rows
  of a GQA group stacked, ``kernels.cpu.flash.decode_splits`` splits, 128-key blocks,
  then a reduction pass over the partial results.

Costs come from the target's measured rates (``attnsim calibrate`` measures them through
the kernel's own loops): ``matmul`` is the rate of the sgemm pair, ``exp`` is softmax
*scores* per second through the kernel's online-softmax loop (exp2, max, sum and rescale
included, so no separate vector ops are charged for it), ``vector`` is 2 ops per score of
the mask loop. Each sgemm call costs ``blas_call_overhead + bytes(B) / bw + 2mnk / r``:
a fixed cost, packing its B operand (a K or V block) from the memory level that holds
it at one core's bandwidth of that level, and the arithmetic at the matmul rate. The
level holding K/V: prefill — the nearest of the core's L2, its share of the shared
cache, and DRAM that holds one head's K and V (a core works through the query blocks of
a head in turn); decode — the shared cache if the whole KV cache fits it, else DRAM.

This module imports the kernel's tile schedule from ``kernels`` (never its timings):
a prediction of the bundled kernel should cover exactly the tiles the kernel visits.
``kernels`` never imports ``sim``, so measurements stay independent of the model.
"""

from __future__ import annotations

import numpy as np
from attnsim.hwconfigs.model import MemoryLevel
from attnsim.kernels.cpu.flash import (
    DEFAULT_BLOCK_K,
    DEFAULT_BLOCK_Q,
    DEFAULT_DECODE_BLOCK_K,
    decode_splits,
)
from attnsim.kernels.cpu.schedule import FULL, PARTIAL, kernel_schedule
from attnsim.sim.lowering.attention_fused import _kv_miss
from attnsim.sim.lowering.common import check_runs, streaming_kernel, traffic
from attnsim.sim.lowering.registry import LoweringFamily, LoweringOptions, register_family
from attnsim.sim.lowering.target import LoweringError, TargetView
from attnsim.sim.tasks import Kernel, OpTasks, TileClass
from attnsim.workloads.ops import AttentionOp, Op

FAMILY = "numba-flash-cpu"
#: The kernel computes in float32 whatever the workload's dtype.
ELEM = 4.0
#: Vector ops per score of the mask loop on a partial tile (compare, select), the same
#: count ``attnsim calibrate`` divides the loop's time by.
MASK_OPS_PER_SCORE = 2.0


class _Rates:
    """Per-core seconds of the kernel's building blocks on one target."""

    def __init__(self, view: TargetView) -> None:
        self.view = view
        self.mm = view.rate("matmul", "fp32")
        self.ex = view.rate("exp", "fp32")
        self.vec = view.rate("vector", "fp32")
        self.call = view.calibration("blas_call_overhead", 0.0)

    def core_bandwidth(self, level: MemoryLevel) -> float:
        """Bytes/s one core draws from ``level``: its own level's bandwidth, or its share
        of a shared level."""
        if level.scope == "per_unit":
            return level.bandwidth_bytes_per_s
        return self.view.sustained_bandwidth(level) / self.view.units

    def holding_level(self, nbytes: float, per_core: bool) -> MemoryLevel:
        """The nearest level (scratchpad, cache, DRAM) whose capacity holds ``nbytes``
        (per core for the private level; per core or whole for the shared cache)."""
        view = self.view
        if nbytes <= view.scratchpad.capacity_bytes and view.scratchpad.scope == "per_unit":
            return view.scratchpad
        if view.cache is not None:
            share = view.cache.capacity_bytes / (view.units if per_core else 1)
            if nbytes <= share:
                return view.cache
        return view.dram

    def sgemm_s(self, m: int, n: int, k: int, b_level: MemoryLevel | None = None) -> float:
        """One single-threaded sgemm call of ``m x n x k`` whose B (``k x n``) is packed
        from ``b_level``."""
        pack = k * n * ELEM / self.core_bandwidth(b_level) if b_level is not None else 0.0
        return self.call + pack + 2.0 * m * n * k / self.mm.per_unit_ops_s

    def softmax_s(self, scores: float) -> float:
        return scores / self.ex.per_unit_ops_s

    def vector_s(self, ops: float) -> float:
        return ops / self.vec.per_unit_ops_s


def _gather_kernel(view: TargetView, nbytes: float, name: str) -> Kernel:
    """A single-threaded numpy copy (``np.take`` / scatter) of ``nbytes`` in and out."""
    tile = TileClass(
        name=name,
        engine_s={},
        compute_s=0.0,
        read_bytes=traffic(view, nbytes),
        write_bytes=traffic(view, nbytes),
        fixed_s=view.dram.latency_s,
    )
    return Kernel(
        name=name, unit=view.unit, slots_per_unit=1, runs=((tile, 1),), launch_s=0.0, order="serial"
    )


def _lower_prefill(op: AttentionOp, view: TargetView, options: LoweringOptions) -> OpTasks:
    spec = op.spec
    bq = options.block_q or DEFAULT_BLOCK_Q
    bk = options.block_k or DEFAULT_BLOCK_K
    dqk, dv = spec.head_dim_qk, spec.head_dim_v
    sched = kernel_schedule(spec.mask, spec.q_len, spec.kv_len, bq, bk, tiling="auto")
    rates = _Rates(view)
    kinds = sched.col_kind
    row_ptr = sched.row_ptr
    rows = sched.num_q_blocks
    check_runs(rows, f"{FAMILY}: {rows:,} query blocks")

    def per_row(hit: np.ndarray) -> np.ndarray:
        # tiles of each query-block row (CSR rows, empty ones included; reduceat cannot
        # take the index len(kinds) that trailing empty rows give)
        cum = np.concatenate([[0], np.cumsum(hit, dtype=np.int64)])
        return cum[row_ptr[1:]] - cum[row_ptr[:-1]]

    n_full = per_row(kinds == FULL)
    n_part = per_row(kinds == PARTIAL)
    live = (
        spec.mask.tile_counts(spec.q_len, spec.kv_len, bq, bk).sum(axis=1)
        if sched.patch is None
        else None
    )

    kv_level = rates.holding_level(spec.kv_len * (dqk + dv) * ELEM, per_core=True)
    block_s = (
        rates.sgemm_s(bq, bk, dqk, kv_level)
        + rates.sgemm_s(bq, dv, bk, kv_level)
        + rates.softmax_s(bq * bk)
    )
    mask_s = rates.vector_s(MASK_OPS_PER_SCORE * bq * bk)
    edge_s = rates.vector_s(bq * (dqk + dv + 2) + bq * dv)  # Q scale/copy, init, normalise
    heads = spec.batch * spec.q_heads
    q_bytes, o_bytes = bq * dqk * ELEM, bq * dv * ELEM
    kv_block = bk * (dqk + dv) * ELEM

    cache_kv = float(heads * (n_full + n_part).sum() * kv_block)
    compulsory = min(cache_kv, spec.batch * spec.kv_heads * spec.kv_len * (dqk + dv) * ELEM)
    group = max(1, spec.q_heads // max(1, spec.kv_heads))
    concurrent = min(spec.batch * spec.kv_heads, view.units // max(1, rows * group) + 2)
    miss = (
        _kv_miss(view, spec.kv_len * (dqk + dv) * ELEM, concurrent)
        if view.cache is not None
        else 1.0
    )
    n_tasks = heads * rows
    compulsory_per_task = compulsory / n_tasks if n_tasks else 0.0
    excess_per_block = (cache_kv - compulsory) * miss / cache_kv * kv_block if cache_kv > 0 else 0.0
    total_pairs = spec.live_pairs

    # useful flops per task: exact where the schedule is row-major, else spread evenly
    if live is not None:
        flops_rows = [2.0 * float(live[i]) * (dqk + dv) for i in range(rows)]
    else:
        flops_rows = [2.0 * total_pairs * (dqk + dv) / rows] * rows

    classes: dict[tuple[int, int, float], TileClass] = {}

    def task_class(i: int) -> TileClass:
        nf, np_ = int(n_full[i]), int(n_part[i])
        key = (nf, np_, flops_rows[i])
        if key not in classes:
            n = nf + np_
            kv = n * kv_block
            reads = traffic(
                view, q_bytes + compulsory_per_task + n * excess_per_block, q_bytes + kv
            )
            reads[view.scratchpad.name] = q_bytes + kv
            classes[key] = TileClass(
                name=f"{FAMILY} task ({nf} full + {np_} partial key blocks)",
                engine_s={
                    rates.mm.engine: n * (block_s - rates.softmax_s(bq * bk)),
                    rates.ex.engine: n * rates.softmax_s(bq * bk),
                    rates.vec.engine: np_ * mask_s + edge_s,
                },
                compute_s=n * block_s + np_ * mask_s + edge_s,
                read_bytes=reads,
                write_bytes=traffic(view, o_bytes),
                fixed_s=0.0,
                ops={
                    ("matmul", "fp32"): n * 2.0 * bq * bk * (dqk + dv),
                    ("exp", "fp32"): float(n * bq * bk),
                    ("vector", "fp32"): MASK_OPS_PER_SCORE * np_ * bq * bk
                    + bq * (dqk + 3 * dv + 2),
                },
                flops=flops_rows[i],
            )
        return classes[key]

    # LPT: longest tasks first (cost = visited tiles + 1/4, as the kernel estimates it)
    order = sorted(range(rows), key=lambda i: (-(int(n_full[i] + n_part[i]) + 0.25), i))
    runs: list[tuple[TileClass, int]] = []
    for i in order:
        tile = task_class(i)
        if runs and runs[-1][0] is tile:
            runs[-1] = (tile, runs[-1][1] + heads)
        else:
            runs.append((tile, heads))
    kernels: list[Kernel] = []
    if sched.token_order is not None:
        gathered = (
            spec.batch * spec.q_heads * spec.q_len * dqk
            + spec.batch * spec.kv_heads * spec.kv_len * (dqk + dv)
        ) * ELEM
        kernels.append(_gather_kernel(view, gathered, "gather tokens into patch order"))
    kernels.append(
        Kernel(
            name=f"{FAMILY} prefill",
            unit=view.unit,
            slots_per_unit=1,
            runs=tuple(runs),
            launch_s=view.launch_s,
            order="longest task first (LPT)",
        )
    )
    if sched.token_order is not None:
        out_bytes = 2.0 * spec.batch * spec.q_heads * spec.q_len * dv * ELEM
        kernels.append(_gather_kernel(view, out_bytes, "scatter output back to grid order"))
    notes: dict[str, str | int | float] = {
        "block_q": bq,
        "block_k": bk,
        "tiles_per_head": int(sched.live_tiles),
        "tiling": "patch " + "x".join(map(str, sched.patch)) if sched.patch else "row-major",
        "kv_level": kv_level.name,
    }
    return OpTasks(family=FAMILY, kernels=tuple(kernels), notes=notes)


def _lower_decode(op: AttentionOp, view: TargetView, options: LoweringOptions) -> OpTasks:
    spec = op.spec
    bk = options.block_k or DEFAULT_DECODE_BLOCK_K
    if spec.q_len > bk:
        raise LoweringError(f"{FAMILY} decode takes q_len <= block_k ({bk}), got {spec.q_len}")
    dqk, dv = spec.head_dim_qk, spec.head_dim_v
    rates = _Rates(view)
    group = max(1, spec.q_heads // max(1, spec.kv_heads))
    rows = group * spec.q_len
    sched = kernel_schedule(spec.mask, spec.q_len, spec.kv_len, spec.q_len, bk, tiling="row-major")
    live = sched.live_tiles
    base = spec.batch * spec.kv_heads
    splits = decode_splits(live, base, view.units)
    bounds = np.linspace(0, live, splits + 1).round().astype(np.int64)
    kinds = sched.col_kind
    kv_level = rates.holding_level(base * spec.kv_len * (dqk + dv) * ELEM, per_core=False)
    block_s = (
        rates.sgemm_s(rows, bk, dqk, kv_level)
        + rates.sgemm_s(rows, dv, bk, kv_level)
        + rates.softmax_s(rows * bk)
    )
    mask_s = rates.vector_s(MASK_OPS_PER_SCORE * rows * bk)
    edge_s = rates.vector_s(rows * (dqk + dv + 2))
    kv_block = bk * (dqk + dv) * ELEM
    flops_per_task = (
        2.0 * spec.live_pairs * (dqk + dv) * spec.batch * spec.q_heads / (base * splits)
    )
    classes: dict[tuple[int, int], TileClass] = {}
    seq: list[TileClass] = []
    for s in range(splits):
        part = kinds[bounds[s] : bounds[s + 1]]
        n, np_ = int(part.size), int(np.count_nonzero(part == PARTIAL))
        if (n, np_) not in classes:
            reads = traffic(view, n * kv_block + rows * dqk * ELEM)
            classes[(n, np_)] = TileClass(
                name=f"{FAMILY} decode split ({n} key blocks)",
                engine_s={rates.mm.engine: n * block_s},
                compute_s=n * block_s + np_ * mask_s + edge_s,
                read_bytes=reads,
                write_bytes=traffic(view, rows * (dv + 2) * ELEM),
                fixed_s=0.0,
                ops={
                    ("matmul", "fp32"): n * 2.0 * rows * bk * (dqk + dv),
                    ("exp", "fp32"): float(n * rows * bk),
                },
                flops=flops_per_task,
            )
        seq.append(classes[(n, np_)])
    runs: list[tuple[TileClass, int]] = []
    if len(set(map(id, seq))) == 1:  # every split alike: one run, whatever the heads
        runs.append((seq[0], base * len(seq)))
    else:
        check_runs(base * len(seq), f"{FAMILY}: {base:,} heads x {len(seq):,} splits")
        for _ in range(base):
            for tile in seq:
                if runs and runs[-1][0] is tile:
                    runs[-1] = (tile, runs[-1][1] + 1)
                else:
                    runs.append((tile, 1))
    out_rows = spec.batch * spec.q_heads * spec.q_len
    kernels = [
        Kernel(
            name=f"{FAMILY} decode (split-kv x{splits})",
            unit=view.unit,
            slots_per_unit=1,
            runs=tuple(runs),
            launch_s=view.launch_s,
            order="(batch, kv head) outer, split inner",
        ),
        streaming_kernel(
            "split-kv reduce",
            view,
            read_bytes=out_rows * splits * (dv + 2) * ELEM,
            write_bytes=out_rows * dv * ELEM,
            vector_ops=out_rows * splits * (dv + 3.0),
        ),
    ]
    notes: dict[str, str | int | float] = {
        "block_k": bk,
        "rows_per_task": rows,
        "splits": splits,
        "kv_level": kv_level.name,
    }
    return OpTasks(family=FAMILY, kernels=tuple(kernels), notes=notes)


def lower_numba_flash(op: Op, view: TargetView, options: LoweringOptions) -> OpTasks:
    """Lower an :class:`AttentionOp` as the bundled numba kernel runs it."""
    if not isinstance(op, AttentionOp):
        raise LoweringError(f"{FAMILY} lowers attention ops, not {op.kind}")
    if op.spec.q_heads < op.spec.kv_heads:
        raise LoweringError(
            f"{FAMILY}: the bundled kernel needs q_heads >= kv_heads (GQA), got {op.spec.q_heads} < {op.spec.kv_heads}"
        )
    if op.spec.phase == "decode":
        return _lower_decode(op, view, options)
    return _lower_prefill(op, view, options)


register_family(
    LoweringFamily(
        name=FAMILY,
        op_kinds=frozenset({"attention"}),
        lower=lower_numba_flash,
        description="attnsim's bundled numba CPU flash kernel (kernels/cpu)",
    )
)
