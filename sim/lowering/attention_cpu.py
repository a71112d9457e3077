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

Costs come from the target's measured building blocks (``attnsim calibrate`` times them
through the kernel's own loops):

* **By block shape and thread count** (the host targets ``attnsim calibrate`` writes):
  the named constants ``block_pair_r<rows>_d<d>_k<keys>_t<threads>`` and
  ``block_softmax_...`` (:func:`block_constant`) are the seconds of one sgemm pair and of
  one online-softmax update of a block of that shape, on one core while ``threads``
  cores run the same loop. The prediction for a target of ``units`` cores reads the
  constants at ``threads = units``. A shape or thread count that was not timed is
  interpolated (:class:`BlockTable`): along the one axis it differs on, between the two
  timed values around it, linearly in log(size) on the rate (per-core time linearly in
  the thread count); with no such pair, the rate of the nearest timed shape (a labelled
  assumption: OpenBLAS's efficiency changes smoothly between the block sizes timed).
  The timed operands are cache-resident; a K/V block held farther away adds
  ``bytes x (1/bw(level) - 1/bw(core's cache))`` to each call (packing it).
* **Otherwise** (targets without the table), from the engine rates: ``matmul`` is the
  rate of the sgemm pair, ``exp`` softmax *scores* per second (exp2, max, sum and
  rescale included), and each sgemm call costs
  ``blas_call_overhead + bytes(B) / bw + 2mnk / r``.

``vector`` is 2 ops per score of the mask loop. The level holding K/V: prefill — the
nearest of the core's L2, its share of the shared cache, and DRAM that holds one head's
K and V (a core works through the query blocks of a head in turn); decode — the shared
cache if the whole KV cache fits it, else DRAM.

This module imports the kernel's tile schedule from ``kernels`` (never its timings):
a prediction of the bundled kernel should cover exactly the tiles the kernel visits.
``kernels`` never imports ``sim``, so measurements stay independent of the model.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

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


_BLOCK_NAME = re.compile(r"^block_(pair|softmax)_r(\d+)_d(\d+)_k(\d+)_t(\d+)$")


def block_constant(kind: str, rows: int, d: int, bk: int, threads: int) -> str:
    """Name of the calibration constant holding the seconds of one ``kind`` (``"pair"``
    or ``"softmax"``) call on a ``rows x bk`` block at head dimension ``d``, on one core
    while ``threads`` cores run it."""
    if kind not in ("pair", "softmax"):
        raise ValueError(f"kind: {kind!r}; expected 'pair' or 'softmax'")
    return f"block_{kind}_r{rows}_d{d}_k{bk}_t{threads}"


Shape = tuple[int, int, int]


def _work(kind: str, shape: Shape) -> float:
    """What a call's time is proportional to at fixed efficiency: ops of the sgemm pair,
    scores (plus accumulator rescales) of the softmax update."""
    rows, d, bk = shape
    return 4.0 * rows * d * bk if kind == "pair" else float(rows * (bk + d))


class BlockTable:
    """The timed building blocks of a target, ``(kind, threads) -> {(rows, d, bk): s}``,
    read from its ``block_*`` calibration constants (see the module docstring)."""

    def __init__(self, constants: Mapping[str, float]) -> None:
        table: dict[tuple[str, int], dict[Shape, float]] = {}
        for name, value in constants.items():
            m = _BLOCK_NAME.match(name)
            if m is None or not (value > 0 and math.isfinite(value)):
                continue
            kind, rows, d, bk, t = m.group(1), *map(int, m.groups()[1:])
            table.setdefault((kind, t), {})[(rows, d, bk)] = float(value)
        self._table = table

    def __bool__(self) -> bool:
        return bool(self._table)

    def seconds(self, kind: str, shape: Shape, threads: int) -> float | None:
        """Seconds of one call on one core at ``threads`` busy cores; ``None`` when the
        table has no entry of ``kind``."""
        counts = sorted(t for k, t in self._table if k == kind)
        if not counts:
            return None
        if threads in counts:
            return self._at(kind, shape, threads)
        below = [t for t in counts if t < threads]
        above = [t for t in counts if t > threads]
        if not below or not above:  # outside the timed thread counts: the nearest one
            return self._at(kind, shape, below[-1] if below else above[0])
        lo, hi = below[-1], above[0]
        w = (threads - lo) / (hi - lo)
        return (1 - w) * self._at(kind, shape, lo) + w * self._at(kind, shape, hi)

    def _at(self, kind: str, shape: Shape, threads: int) -> float:
        timed = self._table[(kind, threads)]
        if shape in timed:
            return timed[shape]
        rate = {s: _work(kind, s) / t for s, t in timed.items()}
        logs = [math.log(x) for x in shape]
        best: tuple[float, Shape] | None = None
        for axis in range(3):  # two timed shapes around it on the one axis it differs on
            line = sorted(
                (s for s in timed if all(s[i] == shape[i] for i in range(3) if i != axis)),
                key=lambda s: s[axis],
            )
            lo = [s for s in line if s[axis] < shape[axis]]
            hi = [s for s in line if s[axis] > shape[axis]]
            if lo and hi:
                a, b = lo[-1], hi[0]
                w = (logs[axis] - math.log(a[axis])) / (math.log(b[axis]) - math.log(a[axis]))
                r = math.exp((1 - w) * math.log(rate[a]) + w * math.log(rate[b]))
                return _work(kind, shape) / r
        for s in timed:  # the nearest timed shape in log size (ties: the smaller shape)
            dist = sum((math.log(x) - y) ** 2 for x, y in zip(s, logs, strict=True))
            if best is None or (dist, s) < best:
                best = (dist, s)
        assert best is not None
        return _work(kind, shape) / rate[best[1]]


class _Rates:
    """Per-core seconds of the kernel's building blocks on one target."""

    def __init__(self, view: TargetView) -> None:
        self.view = view
        self.mm = view.rate("matmul", "fp32")
        self.ex = view.rate("exp", "fp32")
        self.vec = view.rate("vector", "fp32")
        self.call = view.calibration("blas_call_overhead", 0.0)
        self.blocks = BlockTable(view.hw.calibration)

    def pair_s(self, rows: int, d: int, dv: int, bk: int, kv_level: MemoryLevel) -> float:
        """One sgemm pair on a ``rows x bk`` block (``S = Q K^T`` at ``d``, ``acc += P V``
        at ``dv``) whose K and V come from ``kv_level``."""
        timed = self.blocks.seconds("pair", (rows, (d + dv) // 2, bk), self.view.units)
        if timed is None:
            return self.sgemm_s(rows, bk, d, kv_level) + self.sgemm_s(rows, dv, bk, kv_level)
        near = self.view.scratchpad
        extra = 0.0
        if kv_level is not near:  # packing K and V from farther than the timed blocks were
            slower = 1.0 / self.core_bandwidth(kv_level) - 1.0 / self.core_bandwidth(near)
            extra = max(0.0, bk * (d + dv) * ELEM * slower)
        return timed + extra

    def softmax_block_s(self, rows: int, dv: int, bk: int) -> float:
        """One online-softmax update of a ``rows x bk`` block with a ``rows x dv``
        accumulator."""
        timed = self.blocks.seconds("softmax", (rows, dv, bk), self.view.units)
        return timed if timed is not None else self.softmax_s(rows * bk)

    def core_bandwidth(self, level: MemoryLevel) -> float:
        """Bytes/s one core draws from ``level``: its own level's bandwidth, or its share
        of a shared level, at most what one core alone draws from it (the target's
        ``core_bandwidth_<level>``, when it has one)."""
        if level.scope == "per_unit":
            return level.bandwidth_bytes_per_s
        share = self.view.sustained_bandwidth(level) / self.view.units
        return min(share, self.view.calibration(f"core_bandwidth_{level.name}", share))

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
    pair_s = rates.pair_s(bq, dqk, dv, bk, kv_level)
    soft_s = rates.softmax_block_s(bq, dv, bk)
    block_s = pair_s + soft_s
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
                    rates.mm.engine: n * pair_s,
                    rates.ex.engine: n * soft_s,
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
    block_s = rates.pair_s(rows, dqk, dv, bk, kv_level) + rates.softmax_block_s(rows, dv, bk)
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
