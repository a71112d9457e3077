"""``vitallm-pipeline``: a ternary LLM layer on a VitaLLM-class accelerator, lowered
block by block to one task graph over its engines.

VitaLLM (Lin & Chang, arXiv:2604.27396 [V1] and arXiv:2605.00320 [V2]) runs BitNet b1.58
on heterogeneous engines that work on one token at once; this family says what each
engine does and what waits for what, and takes every tile's cycles, activity energy and
port bytes from the unit models (:mod:`rtl_models`, through
:mod:`sim.lowering.unit_models`). The engines are found by their unit model, never by
name: ``ternary_mac_array`` (TINT cores), ``booth_array`` (BoothFlex), ``softmax_unit``
(the nonlinear unit, NLU) and, optionally, ``lop_pruner``.

**Who does what** (the papers' "dual-core compute strategy"; organisation below is
ours where the abstracts are silent, each marked ASSUMPTION):

* Ternary projections (GEMMs with ternary weights) run on the TINT cores. While the
  attention of a layer runs, BoothFlex is busy with it and the Q/K/V projections are on
  TINT alone; every other projection (O, FFN) is split by columns between TINT and
  BoothFlex's ternary mode in proportion to their rates on that shape ("sustaining
  utilization without duplicating arrays" [V2]; the static split is ASSUMPTION V-A1: a
  compiler's choice, no work stealing).
* Attention runs per KV head on BoothFlex in INT8 x INT8 (Q K^T, then P V), the softmax
  of a head on the NLU's softmax unit in between. With a ``lop_pruner`` engine whose
  ``keep`` K is below the cached keys M, the pruner first scores every cached key from
  its leading-one codes (read from DRAM) and the head fetches only the kept keys' K and
  V; the fraction fetched (the union over the head's queries) is *measured* by
  ``rtl_models.lop_fetch_stats`` on the stated synthetic distribution of the engine's
  ``fetch_*`` parameters, not assumed.
* Nonlinear ops (norms, activations, RoPE, residual adds, gathers, the KV-cache append)
  run on the NLU at its ``vector`` rate and energy per op. Each group of ternary
  projections reading a nonlinear op's output is preceded by an **absmax quantisation**
  of that output (max |x| over the whole vector, then scale and round: 3 vector ops per
  element, ASSUMPTION V-A2), a barrier: it needs every element [V2: "absmax-based
  quantization barrier"]. A non-ternary weight GEMM (the LM head) runs INT8 x INT8 on
  BoothFlex: int8 weights (zoo ``bitnet-b1.58-3b-edge``) are read as they are; wider
  ones (the released model's 16-bit head) are read from DRAM as stored and quantised on
  chip, a precision change stated in the result.
* **Head-level pipelining** [V2]: ops whose tensors split by head (Q/K/V projections,
  RoPE, the append, attention) become one task per head, emitted head-major, and each
  head's tasks wait only for the same head's inputs; so TINT computes head h+1's
  projections while BoothFlex and the NLU run head h's attention. Whether a nonlinear
  task may overlap matrix work is the scheduling policy's decision (``das`` lets it;
  ``in-order`` makes it a barrier).

**Dataflow.** The IR is an ordered op list without edges, so dependencies are inferred
(ASSUMPTION V-A3, exact for Llama/BitNet decoder layers): a ternary projection reads the
most recent earlier op that is not a weight GEMM and whose output has as many elements
as its input (Q, K and V, or gate and up, read the same normalised vector); any other op
reads the op just before it, and a two-input elementwise op also the most recent other
op whose output matches its size (the SiLU output for ``act * up``).

**Memory.** Per-unit levels of the TINT and BoothFlex units are their activation
buffers; the last shared level before DRAM is the on-chip SRAM; the farthest level is
DRAM. Ternary weights (1.6 bits each, five trits a byte) stream DRAM -> SRAM -> the
array's weight port once per row chunk (ASSUMPTION V-A4: staged through SRAM, the only
on-chip store the papers name); activation rows are loaded from SRAM into the unit's
buffer once per tile and broadcast from there (the ``act_in`` port); partial sums are
written to SRAM. An activation row is written into the buffer on the array's first pass
over it (the first column block is fed from SRAM while the row is written, ASSUMPTION
V-A5: a write-through fill, as a single-ported buffer without room for a second copy
must be filled); later column blocks re-read it from the buffer, so the buffer's port
moves exactly the ``act_in`` bytes, one per cycle at most, within its bandwidth (checked
by :mod:`sim.physics`). A tile takes its unit model's cycles, or longer when one of its
unit's buffers cannot move the tile's bytes in them at the level's bandwidth (the
datapath waits for its port): BoothFlex's ternary mode consumes ``4 x rows`` activation
bytes a cycle (rtl A-B4), so with a buffer that delivers ``rows`` bytes a cycle it runs
at the buffer's pace. A projection's row chunk is as many rows as the activation buffer holds
(at most the accumulator depth), so a prefill runs several chunks over each 128-column
weight tile. **Loop order** (ASSUMPTION V-A7, the compiler's choice): either every chunk
streams the tile from DRAM again, or the tile stays in the SRAM across the chunks (read
from DRAM once) and the activations get the SRAM that is left; a tile larger than that
reserve is split along ``k`` into sub-tiles that fit, each kept while a group of rows as
deep as the accumulators passes (partial sums stay in the accumulators), so its weights
are read once per row group. :func:`lower_block` lowers the block with each of its
weight-tile sizes (and the whole SRAM) as the reserve and keeps the order that moves the
fewest DRAM bytes, then the one whose engines are busy least (op note
``weight_passes``). K and V are int8 in DRAM, with
a 4-bit leading-one plane beside K when LOP is on.

**Activations that do not fit** (ASSUMPTION V-A6: whole tensors, no fusion across ops).
An op's output stays in the SRAM when it fits there beside the op's activation input;
otherwise it is written to DRAM and every op that reads it reads it from DRAM. A tensor
split by head whose readers are split the same way is consumed head by head (head-level
pipelining), so one head's part must fit; a tensor read whole (the attention output by
the O projection) must fit whole. A decode token's vectors fit the 88 KiB SRAM of
``vitallm-16nm``; a 64-token prefill's do not (nor beside a resident weight tile, V-A7),
so its activations round-trip LPDDR, and a larger SRAM lowers the prefill's DRAM bytes
and energy (the op notes say how many bytes each op spilled: ``spilled_bytes``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache

from attnsim.hwconfigs.model import MemoryLevel
from attnsim.rtl_models import (
    UNIT_MODELS,
    QKDistribution,
    RtlModelError,
    TileShape,
    UnitCost,
    lop_fetch_stats,
)
from attnsim.rtl_models.lop import LopParams
from attnsim.sim.lowering.registry import (
    BlockTasks,
    LoweringFamily,
    LoweringOptions,
    register_family,
)
from attnsim.sim.lowering.target import LoweringError, TargetView
from attnsim.sim.lowering.unit_models import UnitBinding, bind_unit, engines_with_model
from attnsim.sim.tasks import GraphTask, Kernel, OpTasks, TaskGraph, TileClass
from attnsim.workloads.dtypes import nbytes
from attnsim.workloads.ops import (
    AttentionOp,
    ElementwiseOp,
    EmbeddingOp,
    GemmOp,
    NormOp,
    Op,
    SoftmaxOp,
    UnknownOp,
)
from attnsim.workloads.workload import Block

FAMILY = "vitallm-pipeline"

#: Vector ops per element of the nonlinear ops the NLU runs (as ``memory-bound``):
#: softmax = max, subtract, sum, divide; rmsnorm = square, sum, normalise, scale;
#: layernorm = mean, variance (2), normalise, scale, shift.
VECTOR_OPS_PER_ELEMENT = {"softmax": 4.0, "layernorm": 6.0, "rmsnorm": 4.0, "groupnorm": 6.0}
#: Absmax quantisation: |x| and max (pass 1), scale-and-round (pass 2) (ASSUMPTION V-A2).
QUANT_OPS_PER_ELEMENT = 3.0
#: Columns of one projection tile (a multiple of every array's column count in the
#: bundled targets; the split between engines is in whole tiles).
GEMM_TILE_COLS = 128
#: Rows of queries processed together in one attention tile (the Booth accumulator
#: depth bounds it too).
ATTENTION_BLOCK_K = 64
#: Precision label of the NLU's fixed-point vector work.
NLU_PRECISION = "int8"
#: Parameters of the LOP engine that say how its skip rate is measured.
LOP_FETCH_KEYS = ("fetch_distribution", "fetch_rho_max", "fetch_seed", "fetch_trials")


# ---- the chip ---------------------------------------------------------------------------
@dataclass(frozen=True)
class VitaChip:
    """The engines and memories of a VitaLLM-class target, as this family uses them."""

    tint: UnitBinding
    tint_units: int
    booth: UnitBinding
    nlu: UnitBinding
    nlu_vector_ops_s: float
    lop: UnitBinding | None
    tint_buffer: MemoryLevel | None
    booth_buffer: MemoryLevel | None
    sram: MemoryLevel
    dram: MemoryLevel

    @property
    def tint_unit(self) -> str:
        return self.unit_of(self.tint)

    def unit_of(self, b: UnitBinding) -> str:
        return self._units[b.engine]

    _units: dict[str, str] = field(default_factory=dict)


def _one(view: TargetView, model: str, *, required: bool = True) -> str | None:
    names = engines_with_model(view, model)
    if not names:
        if not required:
            return None
        raise LoweringError(
            f"{view.hw.name}: {FAMILY} needs an engine with params.model {model!r}; the "
            f"target's engines are {', '.join(view.hw.engines)}"
        )
    if len(names) > 1:
        raise LoweringError(
            f"{view.hw.name}: {FAMILY} found several engines with params.model {model!r} "
            f"({', '.join(names)}); expected one (give it count: N for several instances)"
        )
    return names[0]


def _buffer(view: TargetView, unit: str) -> MemoryLevel | None:
    levels = [m for m in view.hw.memory if m.scope == "per_unit" and m.unit == unit]
    return levels[-1] if levels else None


def chip(view: TargetView) -> VitaChip:
    """The VitaLLM engines and memories of ``view``'s target (:class:`LoweringError` if
    an engine is missing or misconfigured)."""
    for name, engine in view.hw.engines.items():  # a misspelt model: did-you-mean
        model = engine.params.get("model")
        if model is not None and model not in UNIT_MODELS:
            try:
                UNIT_MODELS.lookup(str(model), where=f"{view.hw.name}: engines.{name}.params.model")
            except RtlModelError as exc:
                raise LoweringError(exc.problems) from exc
    tint = _one(view, "ternary_mac_array")
    booth = _one(view, "booth_array")
    nlu = _one(view, "softmax_unit")
    lop = _one(view, "lop_pruner", required=False)
    assert tint is not None and booth is not None and nlu is not None
    if view.cache is None:
        raise LoweringError(
            f"{view.hw.name}: {FAMILY} needs an on-chip shared level (SRAM) before "
            f"{view.dram.name}; the target has only {view.dram.name}"
        )
    units = {n: view.engine(n).unit for n in (tint, booth, nlu) + ((lop,) if lop else ())}
    return VitaChip(
        tint=bind_unit(view, tint),
        tint_units=view.unit_count(units[tint]),
        booth=bind_unit(view, booth),
        nlu=bind_unit(view, nlu),
        nlu_vector_ops_s=view.engine_rate(nlu, "vector", NLU_PRECISION),
        lop=bind_unit(view, lop, extra_keys=LOP_FETCH_KEYS) if lop else None,
        tint_buffer=_buffer(view, units[tint]),
        booth_buffer=_buffer(view, units[booth]),
        sram=view.cache,
        dram=view.dram,
        _units=units,
    )


# ---- tiles --------------------------------------------------------------------------------
@dataclass
class _Bytes:
    """Bytes a tile moves per level, and the seconds its unit's own buffers (per-unit
    levels) need to move theirs at their bandwidth."""

    reads: dict[str, float] = field(default_factory=dict)
    writes: dict[str, float] = field(default_factory=dict)
    port_s: dict[str, float] = field(default_factory=dict)
    spill: float = 0.0  # activation bytes among the DRAM ones (tensors that did not fit)

    def _port(self, level: MemoryLevel, n: float) -> None:
        if level.scope == "per_unit" and level.bandwidth_bytes_per_s > 0:
            self.port_s[level.name] = self.port_s.get(level.name, 0.0) + (
                n / level.bandwidth_bytes_per_s
            )

    def read(self, level: MemoryLevel | None, n: float) -> None:
        if level is not None and n > 0:
            self.reads[level.name] = self.reads.get(level.name, 0.0) + n
            self._port(level, n)

    def write(self, level: MemoryLevel | None, n: float) -> None:
        if level is not None and n > 0:
            self.writes[level.name] = self.writes.get(level.name, 0.0) + n
            self._port(level, n)

    def bound(self, seconds: float) -> float:
        """``seconds`` of the unit's datapath, or longer if one of its buffers cannot
        move the tile's bytes in that time (the datapath then waits for its port)."""
        return max(seconds, *self.port_s.values()) if self.port_s else seconds


def _unit_tile(
    name: str, b: UnitBinding, cost: UnitCost, traffic: _Bytes, *, flops: float = 0.0
) -> TileClass:
    seconds = traffic.bound(b.seconds(cost))
    return TileClass(
        name=name,
        engine_s={b.engine: seconds},
        compute_s=seconds,
        read_bytes=traffic.reads,
        write_bytes=traffic.writes,
        ops=dict(cost.ops),
        flops=flops,
        engine_energy_j={b.engine: b.energy_j(cost)},
    )


def _kernel(name: str, unit: str, runs: Sequence[tuple[TileClass, int]]) -> Kernel:
    return Kernel(name=name, unit=unit, slots_per_unit=1, runs=tuple((t, c) for t, c in runs if c))


@dataclass
class _Tiles:
    """Tile runs of (part of) a projection, the activation bytes they move through DRAM
    (V-A6) and the most DRAM passes over one of its weight tiles (V-A7)."""

    runs: list[tuple[TileClass, int]] = field(default_factory=list)
    spill: float = 0.0
    passes: int = 0

    def add(self, other: _Tiles, times: int = 1) -> None:
        """Append ``other``'s runs ``times`` over (a column block repeated)."""
        self.runs += [(tile, n * times) for tile, n in other.runs]
        self.spill += other.spill * times
        self.passes = max(self.passes, other.passes)


@dataclass(frozen=True)
class _Projection:
    """One projection (or one head's part of it) to lower: ``m x k`` activation rows
    times a ``k x n`` weight. ``engines``: ``"tint"``, ``"split"`` (TINT and BoothFlex
    ternary by rate) or ``"booth-int8"``; ``weight_bits`` per weight on chip; activations
    from ``src`` and outputs to ``dst`` (default: the SRAM; DRAM when they do not fit)."""

    idx: int
    m: int
    k: int
    n: int
    deps: tuple[int, ...]
    engines: str
    weight_bits: float
    label: str
    src: MemoryLevel | None = None
    dst: MemoryLevel | None = None


# ---- the graph builder ----------------------------------------------------------------------
@dataclass
class _Builder:
    view: TargetView
    c: VitaChip
    tasks: list[GraphTask] = field(default_factory=list)
    notes: dict[int, dict[str, str | int | float]] = field(default_factory=dict)
    lop_active: bool = False  # the block's attention prunes: keys get a leading-one plane
    homes: dict[object, MemoryLevel] = field(default_factory=dict)  # tensor -> its level
    reads: list[list[int]] = field(default_factory=list)  # per op: the ops it reads
    parts: list[int] = field(default_factory=list)  # per op: the parts (heads) it splits into
    reserve: float = 0.0  # SRAM bytes kept for resident weight tiles (the loop order, V-A7)
    weight_tiles: set[float] = field(default_factory=set)  # on-chip bytes of each tile seen
    restreams: bool = False  # some projection streams its weights more than once

    @property
    def act_capacity(self) -> float:
        """SRAM bytes activations may use: the SRAM less the weight-tile reserve."""
        return self.c.sram.capacity_bytes - self.reserve

    def live(self, idx: int, part_bytes: float) -> float:
        """Bytes of op ``idx``'s output on chip at once: one part's when every reader is
        split the same way (head-level pipelining consumes it head by head), a group of
        parts when a reader's part needs several (Q heads of one KV head), else all."""
        p = self.parts[idx] if idx < len(self.parts) else 1
        readers = [j for j, r in enumerate(self.reads) if idx in r]
        if p <= 1 or not readers:
            return part_bytes * p
        need = 1
        for j in readers:
            q = self.parts[j]
            need = max(need, p // q if q > 1 and p % q == 0 else p)
        return part_bytes * need

    def inputs(self, idx: int, nbytes: float) -> list[tuple[MemoryLevel, float]]:
        """Where op ``idx``'s ``nbytes`` of activation input come from: shared evenly by
        the ops it reads, each from where it put its output."""
        src = self.reads[idx] if idx < len(self.reads) else []
        if not src:
            return [(self.home(("input", idx), nbytes), nbytes)]
        share = nbytes / len(src)
        return [(self.home(p, share), share) for p in src]

    def place(self, tensor: object, in_bytes: float, live_bytes: float) -> MemoryLevel:
        """Where ``tensor`` (an op's output; ``live_bytes`` of it on chip at once) is kept:
        the SRAM when it fits beside ``in_bytes`` of the op's input, else DRAM (V-A6)."""
        c = self.c
        home = c.sram if in_bytes + live_bytes <= self.act_capacity else c.dram
        self.homes[tensor] = home
        return home

    def home(self, tensor: object, nbytes: float) -> MemoryLevel:
        """Where ``tensor`` is read from: where its producer put it, or, for a block's
        input (its producer is in the previous block), the SRAM when ``nbytes`` fit."""
        if tensor in self.homes:
            return self.homes[tensor]
        return self.c.sram if nbytes <= self.act_capacity else self.c.dram

    def act_read(self, t: _Bytes, level: MemoryLevel, n: float) -> None:
        """``t`` reads ``n`` activation bytes from ``level`` (DRAM when spilled)."""
        t.read(level, n)
        if level is self.c.dram:
            t.spill += n

    def act_write(self, t: _Bytes, level: MemoryLevel, n: float) -> None:
        """``t`` writes ``n`` activation bytes to ``level`` (DRAM when spilled)."""
        t.write(level, n)
        if level is self.c.dram:
            t.spill += n

    def operand(
        self, t: _Bytes, buffer: MemoryLevel | None, src: MemoryLevel, staged: float, act_in: float
    ) -> None:
        """``t`` loads an activation operand of ``staged`` bytes from ``src`` (the SRAM or,
        for a spilled tensor, DRAM) and the array reads it ``act_in / staged`` times: it is
        written into the unit's ``buffer`` on the first pass (fed from ``src`` at the same
        time, ASSUMPTION V-A5) and re-read from there on the later passes; without a
        buffer every pass reads ``src``."""
        self.act_read(t, src, staged)
        if buffer is None:
            self.act_read(t, src, act_in)
            return
        first = min(staged, act_in)
        t.write(buffer, first)
        t.read(buffer, act_in - first)

    def note_spill(self, idx: int, n: float) -> None:
        """Count, on op ``idx``, activation bytes that went through DRAM."""
        if n > 0:
            note = self.notes.setdefault(idx, {})
            note["spilled_bytes"] = float(note.get("spilled_bytes", 0.0)) + n

    def fallback(self, idx: int, text: str) -> None:
        """State, on op ``idx``, that it runs in another precision than it asks for."""
        note = self.notes.setdefault(idx, {})
        old = str(note.get("precision_fallback", ""))
        if text not in old.split("; "):
            note["precision_fallback"] = f"{old}; {text}" if old else text

    def add(self, name: str, kernel: Kernel, deps: Sequence[int], role: str, op: int) -> int:
        self.tasks.append(GraphTask(name, kernel, tuple(sorted(set(deps))), role, op))
        return len(self.tasks) - 1

    # -- ternary projections --------------------------------------------------------------
    def _rows_per_chunk(self, b: UnitBinding, buffer: MemoryLevel | None, m: int, k: int) -> int:
        depth = int(getattr(b.params, "acc_depth", m))
        fit = int(buffer.capacity_bytes // k) if buffer is not None else m
        if fit < 1:
            raise LoweringError(
                f"{self.view.hw.name}: {FAMILY}: one activation row of {k} int8 elements "
                f"does not fit {buffer.name if buffer else 'the buffer'} of {b.engine}"
            )
        return max(1, min(m, depth, fit))

    def _proj_tiles(
        self,
        b: UnitBinding,
        buffer: MemoryLevel | None,
        m: int,
        k: int,
        n: int,
        mode: str | None,
        weight_bits: float,
        label: str,
        stored_bits: float | None = None,
        src: MemoryLevel | None = None,
        dst: MemoryLevel | None = None,
    ) -> _Tiles:
        """Tiles of an ``m x k @ k x n`` projection on engine ``b``: one per row chunk.
        ``weight_bits`` per weight on chip; ``stored_bits`` per weight in DRAM when the
        chip quantises wider stored weights on the way in (default: the same). The
        activation rows come from ``src`` and the outputs go to ``dst`` (default: the
        SRAM; DRAM for tensors that do not fit it, V-A6).

        Loop order (V-A7): a weight tile within the SRAM reserve stays there across the
        row chunks (read from DRAM once); a larger one, with a reserve, is split along
        ``k`` into sub-tiles that fit it, each kept while a group of rows as deep as the
        accumulators passes (the partial sums stay in the accumulators, outputs are
        written after the last sub-tile), so its weights are read once per row group;
        without a reserve every row chunk streams the tile again."""
        src = src or self.c.sram
        dst = dst or self.c.sram
        weights = k * n * weight_bits / 8.0  # the column tile's weights on chip
        self.weight_tiles.add(weights)
        kc, group = k, m
        resident = 0.0 < weights <= self.reserve
        if not resident and self.reserve > 0:
            fit = int(self.reserve // (n * weight_bits / 8.0))
            if fit >= 1:
                kc, resident = min(k, fit), True
                group = max(1, min(m, int(getattr(b.params, "acc_depth", m))))
        k_chunks = [(kc, k // kc)] + ([(k % kc, 1)] if k % kc else [])
        out = _Tiles()
        for g, g_count in ((group, m // group), (m % group, 1 if m % group else 0)):
            if not g_count:
                continue
            rows = self._rows_per_chunk(b, buffer, g, kc)
            full, tail = divmod(g, rows)
            out.passes += g_count * (1 if resident else full + (1 if tail else 0))
            for ki, (kk, k_count) in enumerate(k_chunks):
                last = ki == len(k_chunks) - 1
                # outputs leave the accumulators after the last sub-tile only
                splits = [(k_count - 1, False), (1, True)] if last else [(k_count, False)]
                for kn, writes in splits:
                    if not kn:
                        continue
                    for r, r_count in ((rows, full), (tail, 1 if tail else 0)):
                        if not r_count:
                            continue
                        count = g_count * kn * r_count
                        tile, spill = self._proj_tile(
                            b,
                            buffer,
                            mode,
                            label,
                            (r, kk, n, g),
                            weight_bits,
                            stored_bits,
                            resident,
                            writes,
                            src,
                            dst,
                        )
                        out.runs.append((tile, count))
                        out.spill += spill * count
        self.restreams |= out.passes > 1 and not (resident and kc == k)
        return out

    def _proj_tile(
        self,
        b: UnitBinding,
        buffer: MemoryLevel | None,
        mode: str | None,
        label: str,
        shape: tuple[int, int, int, int],
        weight_bits: float,
        stored_bits: float | None,
        resident: bool,
        writes: bool,
        src: MemoryLevel,
        dst: MemoryLevel,
    ) -> tuple[TileClass, float]:
        """One ``r x kk x n`` tile of a row group of ``g`` rows, and its spilled bytes: a
        resident weight sub-tile is read from DRAM once per group (this tile's share),
        else once per tile; ``writes``: the tile completes the sums and writes them."""
        r, kk, n, g = shape
        cost = b.cost(TileShape(r, kk, n), mode)
        weights = kk * n * weight_bits / 8.0
        share = r / g if resident else 1.0
        t = _Bytes()
        t.read(self.c.dram, kk * n * (stored_bits or weight_bits) / 8.0 * share)
        t.write(self.c.sram, weights * share)
        t.read(self.c.sram, cost.port_bytes.get("weight_in", weights))
        self.operand(t, buffer, src, r * kk, cost.port_bytes.get("act_in", 0.0))
        if writes:
            self.act_write(t, dst, cost.port_bytes.get("out", 0.0))
        name = f"{label} {r}x{kk}x{n}" + ("" if writes else " (partial sums)")
        return _unit_tile(name, b, cost, t, flops=2.0 * r * kk * n), t.spill

    def projection(self, p: _Projection) -> list[int]:
        """Tasks of one projection (or one head's part of it), its spilled bytes and its
        weight passes noted on its op."""
        made, tiles = self._projection_tasks(p)
        self.note_spill(p.idx, tiles.spill)
        note = self.notes.setdefault(p.idx, {})
        note["weight_passes"] = max(int(note.get("weight_passes", 0)), tiles.passes)
        return made

    def _projection_tasks(self, p: _Projection) -> tuple[list[int], _Tiles]:
        idx, m, k, n, deps, label = p.idx, p.m, p.k, p.n, p.deps, p.label
        engines, weight_bits, src, dst = p.engines, p.weight_bits, p.src, p.dst
        c = self.c
        if engines == "booth-int8":  # int8 on chip; wider stored weights are read in full
            tiles = self._col_tiles(
                c.booth,
                c.booth_buffer,
                m,
                k,
                n,
                _int8_mode(c),
                8.0,
                label,
                max(8.0, weight_bits),
                src=src,
                dst=dst,
            )
            task = self.add(
                label, _kernel(label, c.unit_of(c.booth), tiles.runs), deps, "matrix", idx
            )
            return [task], tiles
        if engines == "tint":
            tiles = self._proj_tiles(
                c.tint, c.tint_buffer, m, k, n, None, weight_bits, label, src=src, dst=dst
            )
            task = self.add(label, _kernel(label, c.tint_unit, tiles.runs), deps, "matrix", idx)
            return [task], tiles
        # split by columns in proportion to the engines' rates on this shape
        cols = GEMM_TILE_COLS
        n_tiles = math.ceil(n / cols)
        probe = TileShape(min(m, 64), k, cols)
        rate_t = cols / self._tile_seconds(c.tint, c.tint_buffer, probe, None) * c.tint_units
        rate_b = cols / self._tile_seconds(c.booth, c.booth_buffer, probe, "ternary_int8")
        if c.booth_buffer is not None and c.booth_buffer.capacity_bytes < k:
            rate_b = 0.0  # one activation row does not fit its buffer: TINT alone
        to_booth = round(n_tiles * rate_b / (rate_t + rate_b))
        to_booth = min(max(to_booth, 0), n_tiles - 1)
        n_b = min(n, to_booth * cols)
        n_t = n - n_b
        self.notes.setdefault(idx, {})["booth_share"] = round(n_b / n, 4)
        out: list[int] = []
        both = _Tiles()
        if n_t:
            tiles = self._col_tiles(
                c.tint, c.tint_buffer, m, k, n_t, None, weight_bits, label, src=src, dst=dst
            )
            out.append(
                self.add(
                    f"{label} (tint)", _kernel(label, c.tint_unit, tiles.runs), deps, "matrix", idx
                )
            )
            both.add(tiles)
        if n_b:
            tiles = self._col_tiles(
                c.booth,
                c.booth_buffer,
                m,
                k,
                n_b,
                "ternary_int8",
                weight_bits,
                label,
                src=src,
                dst=dst,
            )
            out.append(
                self.add(
                    f"{label} (boothflex)",
                    _kernel(label, c.unit_of(c.booth), tiles.runs),
                    deps,
                    "matrix",
                    idx,
                )
            )
            both.add(tiles)
        return out, both

    def _tile_seconds(
        self, b: UnitBinding, buffer: MemoryLevel | None, tile: TileShape, mode: str | None
    ) -> float:
        """Seconds of one projection tile on ``b``, its activation port included."""
        cost = b.cost(tile, mode)
        t = _Bytes()
        self.operand(t, buffer, self.c.sram, tile.m * tile.k, cost.port_bytes.get("act_in", 0.0))
        return t.bound(b.seconds(cost))

    def _col_tiles(
        self,
        b: UnitBinding,
        buffer: MemoryLevel | None,
        m: int,
        k: int,
        n: int,
        mode: str | None,
        weight_bits: float,
        label: str,
        stored_bits: float | None = None,
        src: MemoryLevel | None = None,
        dst: MemoryLevel | None = None,
    ) -> _Tiles:
        """Column tiles of :data:`GEMM_TILE_COLS` (and one narrower tail)."""
        full, tail = divmod(n, GEMM_TILE_COLS)
        out = _Tiles()
        for width, count in ((GEMM_TILE_COLS, full), (tail, 1 if tail else 0)):
            if count:
                block = self._proj_tiles(
                    b, buffer, m, k, width, mode, weight_bits, label, stored_bits, src, dst
                )
                out.add(block, count)
        return out

    # -- nonlinear work ---------------------------------------------------------------------
    def vector_task(
        self,
        label: str,
        idx: int,
        vector_ops: float,
        deps: Sequence[int],
        *,
        act_in: Sequence[tuple[MemoryLevel, float]] = (),
        act_out: tuple[MemoryLevel, float] | None = None,
        dram_in: float = 0.0,
        dram_out: float = 0.0,
        role: str = "nonlinear",
        flops: float = 0.0,
    ) -> int:
        """A task on the NLU at its vector rate (energy per op from the target): it reads
        its activation inputs (``act_in``: level and bytes of each), writes its output
        (``act_out``), and reads or writes ``dram_in``/``dram_out`` bytes that live in
        DRAM in any case (weights, the KV cache)."""
        c = self.c
        seconds = vector_ops / c.nlu_vector_ops_s
        t = _Bytes()
        for level, n in act_in:
            self.act_read(t, level, n)
        if act_out is not None:
            self.act_write(t, *act_out)
        t.read(c.dram, dram_in)
        t.write(c.dram, dram_out)
        self.note_spill(idx, t.spill)
        tile = TileClass(
            name=label,
            engine_s={c.nlu.engine: seconds},
            compute_s=seconds,
            read_bytes=t.reads,
            write_bytes=t.writes,
            ops={("vector", NLU_PRECISION): vector_ops} if vector_ops else {},
            flops=flops,
        )
        return self.add(label, _kernel(label, c.unit_of(c.nlu), [(tile, 1)]), deps, role, idx)

    def unit_task(
        self,
        label: str,
        idx: int,
        b: UnitBinding,
        cost: UnitCost,
        traffic: _Bytes,
        deps: Sequence[int],
        role: str,
        *,
        flops: float = 0.0,
    ) -> int:
        self.note_spill(idx, traffic.spill)
        tile = _unit_tile(label, b, cost, traffic, flops=flops)
        return self.add(label, _kernel(label, self.c.unit_of(b), [(tile, 1)]), deps, role, idx)


# ---- dataflow -------------------------------------------------------------------------------
def _out_elems(op: Op) -> float:
    if isinstance(op, GemmOp):
        return float(op.batch * op.m * op.n)
    if isinstance(op, AttentionOp):
        s = op.spec
        return float(s.batch * s.q_len * s.q_heads * s.head_dim_v)
    if isinstance(op, ElementwiseOp):
        return float(op.numel)
    if isinstance(op, NormOp | SoftmaxOp):
        return float(op.rows * op.cols)
    if isinstance(op, EmbeddingOp):
        return float(op.num_tokens * op.dim)
    if isinstance(op, UnknownOp):
        return op.output_bytes / max(nbytes(op.dtype, 1), 1e-9)
    return -1.0


def _is_weight_gemm(op: Op) -> bool:
    return isinstance(op, GemmOp) and op.weight_operand is not None


def _projection_shape(op: GemmOp) -> tuple[int, int]:
    """(activation rows, weight columns) of ``op`` as a projection ``X @ W``: with the
    weight as operand A (``C = W @ X``) the array runs ``C^T = X^T @ W^T``, so the
    weight's ``m`` rows are the outputs and every batch entry's ``n`` columns of ``X``
    are activation rows (the weight, shared by the batch, is streamed once per chunk)."""
    if op.weight_operand == "a":
        return op.batch * op.n, op.m
    return op.batch * op.m, op.n


def producers(ops: Sequence[Op]) -> list[list[int]]:
    """The ops (indices) each op reads, by the rule of the module docstring (V-A3)."""
    out: list[list[int]] = []
    for i, op in enumerate(ops):
        deps: list[int] = []
        if _is_weight_gemm(op):
            assert isinstance(op, GemmOp)
            rows, _ = _projection_shape(op)
            want = float(rows * op.k)  # the activation operand's elements
            for j in range(i - 1, -1, -1):
                if not _is_weight_gemm(ops[j]) and _out_elems(ops[j]) == want:
                    deps.append(j)
                    break
            else:
                if i:
                    deps.append(i - 1)
        elif i:
            deps.append(i - 1)
            if isinstance(op, ElementwiseOp) and op.n_inputs >= 2:
                for j in range(i - 2, -1, -1):
                    if _out_elems(ops[j]) == float(op.numel):
                        deps.append(j)
                        break
        out.append(deps)
    return out


@dataclass(frozen=True)
class _Heads:
    """How the block's tensors split by head (from its attention op)."""

    q_heads: int
    kv_heads: int
    head_dim: int
    rows: int  # tokens x batch

    def parts(self, op: Op) -> int:
        """Heads ``op`` splits into (1: it does not split)."""
        if isinstance(op, AttentionOp):
            return op.spec.kv_heads
        full = {self.rows * self.q_heads * self.head_dim: self.q_heads}
        full[self.rows * self.kv_heads * self.head_dim] = self.kv_heads
        if isinstance(op, GemmOp) and op.weight_operand is not None:
            return full.get(op.batch * op.m * op.n, 1)
        if isinstance(op, ElementwiseOp | UnknownOp):
            n = _out_elems(op)
            for size, p in list(full.items()):
                if n in (size, size / 2):
                    return p
        return 1


def _heads(block: Block) -> _Heads | None:
    for op in block.ops:
        if isinstance(op, AttentionOp):
            s = op.spec
            return _Heads(s.q_heads, s.kv_heads, s.head_dim_qk, s.batch * s.q_len)
    return None


def _map_parts(producer: list[list[int]], p: int, consumer_parts: int, part: int) -> list[int]:
    """The tasks of a producer split into ``p`` parts (one per head, or one; lowered head
    by head, so only the parts so far are in ``producer``) that part ``part`` of a
    consumer split into ``consumer_parts`` waits for."""
    if p == consumer_parts:
        chosen = [producer[part]]
    elif p > 1 and consumer_parts > 1 and p % consumer_parts == 0:  # q heads -> kv groups
        g = p // consumer_parts
        chosen = producer[part * g : (part + 1) * g]
    elif p > 1 and consumer_parts > 1 and consumer_parts % p == 0:
        chosen = [producer[part // (consumer_parts // p)]]
    else:
        chosen = producer
    return [t for tasks in chosen for t in tasks]


# ---- lowering ---------------------------------------------------------------------------------
def _acc_bytes(b: UnitBinding) -> float:
    """Bytes per output element engine ``b`` writes (its accumulators' width)."""
    return float(getattr(b.params, "acc_bits", 32)) / 8.0


def _weight_bits(op: GemmOp) -> float:
    return nbytes(op.weight_dtype or op.dtype, 1) * 8.0


def _gemm_engines(op: GemmOp, bld: _Builder, idx: int) -> str:
    if op.weight_dtype == "ternary":
        return "tint"
    if op.dtype != "int8" or (op.weight_dtype not in (None, "int8")):
        bld.fallback(
            idx,
            f"{op.dtype} x {op.weight_dtype or op.dtype} matmul ran as int8 x int8 on "
            f"{bld.c.booth.engine} (weights read as stored and absmax-quantised to int8 on "
            f"chip; no engine runs "
            f"{op.weight_dtype or op.dtype} matmul)",
        )
    return "booth-int8"


def _lop_fetch(c: VitaChip, n_keys: int, head_dim: int, queries: int) -> tuple[int, float]:
    """(keys kept K, fetched payload fraction) for one attention tile."""
    if c.lop is None:
        return n_keys, 1.0
    assert isinstance(c.lop.params, LopParams)
    keep = c.lop.params.keep
    if keep >= n_keys:
        return n_keys, 1.0
    extra = c.lop.extra
    dist = QKDistribution(
        str(extra.get("fetch_distribution", "correlated")),  # type: ignore[arg-type]
        float(extra.get("fetch_rho_max", 0.5)),
    )
    stats = _fetch_stats(
        n_keys,
        keep,
        head_dim,
        dist,
        int(extra.get("fetch_seed", 2026)),
        queries,
        int(extra.get("fetch_trials", 8)),
        c.lop.params,
    )
    return keep, stats


@cache
def _fetch_stats(
    n_keys: int,
    keep: int,
    head_dim: int,
    dist: QKDistribution,
    seed: int,
    queries: int,
    trials: int,
    params: LopParams,
) -> float:
    return lop_fetch_stats(
        n_keys, keep, head_dim, dist, seed, queries=queries, trials=trials, params=params
    ).payload_fraction


def _int8_mode(c: VitaChip) -> str:
    """BoothFlex's mode for INT8 x INT8 work: the engine's ``mode`` param (``int8``, or
    ``bitserial_int8`` for BoothFlex-BS [V1]); ternary work always uses ``ternary_int8``."""
    mode = c.booth.mode or "int8"
    return "int8" if mode == "ternary_int8" else mode


def _attention_head(bld: _Builder, op: AttentionOp, idx: int, h: int, deps: list[int]) -> list[int]:
    """KV head ``h``: per query block, [LOP] -> Q K^T (BoothFlex) -> softmax (NLU) -> P V
    (BoothFlex). Returns the head's last tasks."""
    c = bld.c
    s = op.spec
    if op.dtype != "int8":
        bld.fallback(
            idx,
            f"{op.dtype} attention ran as int8 x int8 on {c.booth.engine} (Q, K, V "
            f"absmax-quantised to int8 per token)",
        )
    group = max(1, s.q_heads // s.kv_heads)
    d_qk, d_v = s.head_dim_qk, s.head_dim_v
    rows_total = s.batch * s.q_len * group  # query rows sharing one KV head
    block_q = max(1, min(rows_total, int(getattr(c.booth.params, "acc_depth", 64))))
    # live keys per query block (partially live key blocks computed in full)
    live = s.mask.tile_liveness(s.q_len, s.kv_len, max(1, block_q // group), ATTENTION_BLOCK_K)
    note = bld.notes.setdefault(idx, {})
    # where the head's Q, each tile's scores and probabilities, and the op's output live
    # (V-A6): the output is read whole by the O projection unless its reader is split too
    q_home = bld.home(("queries", idx), float(rows_total * d_qk))
    out_bytes = rows_total * d_v * _acc_bytes(c.booth)
    out_home = bld.place(idx, float(rows_total * d_qk), bld.live(idx, out_bytes))
    ends: list[int] = []
    for qb in range(live.shape[0]):
        nb = int((live[qb] > 0).sum())
        if nb == 0:
            continue
        m_keys = min(s.kv_len, nb * ATTENTION_BLOCK_K)
        q_rows = min(block_q, rows_total - qb * block_q)
        keep, frac = _lop_fetch(c, m_keys, d_qk, q_rows)
        n_keys = max(1, min(m_keys, round(frac * m_keys))) if keep < m_keys else m_keys
        prune = keep < m_keys and c.lop is not None and n_keys < m_keys
        prev = list(deps)
        label = f"{op.name} h{h} q{qb}"
        if prune and c.lop is not None:  # (a tile whose queries keep every key bypasses it)
            cost = c.lop.cost(TileShape(q_rows, d_qk, m_keys))
            t = _Bytes()
            t.read(c.dram, cost.port_bytes.get("lo_codes_in", 0.0))
            bld.act_read(t, q_home, cost.port_bytes.get("query_in", 0.0))
            t.write(c.sram, cost.port_bytes.get("index_out", 0.0))
            prev = [bld.unit_task(f"lop {label}", idx, c.lop, cost, t, prev, "matrix")]
        # Q K^T: A = Q (Booth-recoded), B = K^T of the fetched keys
        qk = c.booth.cost(TileShape(q_rows, d_qk, n_keys), _int8_mode(c))
        t = _Bytes()
        t.read(c.dram, n_keys * d_qk * s.batch)  # int8 K
        bld.operand(t, c.booth_buffer, q_home, q_rows * d_qk, qk.port_bytes.get("act_in", 0.0))
        scores = qk.port_bytes.get("out", 0.0)
        s_home = bld.place(("scores", idx, h, qb), q_rows * d_qk, scores)
        bld.act_write(t, s_home, scores)
        flops = 2.0 * q_rows * d_qk * n_keys
        prev = [bld.unit_task(f"qk {label}", idx, c.booth, qk, t, prev, "matrix", flops=flops)]
        sm = c.nlu.cost(TileShape(q_rows, 1, n_keys))
        t = _Bytes()
        bld.act_read(t, s_home, sm.port_bytes.get("score_in", 0.0))
        probs = sm.port_bytes.get("prob_out", 0.0) + sm.port_bytes.get("scale_out", 0.0)
        p_home = bld.place(("probs", idx, h, qb), scores, probs)
        bld.act_write(t, p_home, probs)
        prev = [bld.unit_task(f"softmax {label}", idx, c.nlu, sm, t, prev, "nonlinear")]
        pv = c.booth.cost(TileShape(q_rows, n_keys, d_v), _int8_mode(c))
        t = _Bytes()
        t.read(c.dram, n_keys * d_v * s.batch)  # int8 V
        bld.operand(t, c.booth_buffer, p_home, q_rows * n_keys, pv.port_bytes.get("act_in", 0.0))
        bld.act_write(t, out_home, pv.port_bytes.get("out", 0.0))
        flops = 2.0 * q_rows * n_keys * d_v
        ends.append(bld.unit_task(f"pv {label}", idx, c.booth, pv, t, prev, "matrix", flops=flops))
        # running mean of the fetched K/V fraction over the op's query blocks
        seen = float(note.get("attention_tiles", 0))
        mean = float(note.get("kv_fetched_fraction", 0.0))
        note["kv_fetched_fraction"] = round((mean * seen + n_keys / m_keys) / (seen + 1), 4)
        note["attention_tiles"] = int(seen) + 1
        note["lop"] = "on" if prune else note.get("lop", "off")
    return ends or list(deps)


def _nonlinear(
    bld: _Builder, op: Op, idx: int, deps: list[int], label: str, parts: int, part: int
) -> int:
    """One part of a nonlinear op on the NLU."""
    if op.dtype not in ("int8", "int32", "int64", "bool"):
        bld.fallback(idx, f"{op.dtype} {op.kind} ran in fixed point on {bld.c.nlu.engine}")
    io = op.io_bytes()
    scale = 1.0 / parts
    if isinstance(op, NormOp):
        ops = VECTOR_OPS_PER_ELEMENT.get(op.norm, 6.0) * op.rows * op.cols
    elif isinstance(op, SoftmaxOp):
        # a standalone softmax op: the softmax unit, row by row
        cost = bld.c.nlu.cost(TileShape(op.rows, 1, op.cols))
        t = _Bytes()
        for level, n in bld.inputs(idx, io.inputs):
            bld.act_read(t, level, n)
        dst = bld.place(idx, io.inputs, bld.live(idx, io.outputs))
        bld.act_write(t, dst, io.outputs)
        return bld.unit_task(label, idx, bld.c.nlu, cost, t, deps, "nonlinear")
    elif isinstance(op, ElementwiseOp):
        ops = op.flops()
    else:
        ops = 0.0
    if isinstance(op, EmbeddingOp):  # a gather of rows from DRAM
        dst = bld.place(idx, 0.0, bld.live(idx, io.outputs * scale))
        return bld.vector_task(
            label,
            idx,
            0.0,
            deps,
            dram_in=io.weights,
            act_out=(dst, io.outputs * scale),
            role="transfer",
        )
    if isinstance(op, UnknownOp) and op.aten == "kv_cache_append":
        # int8 K or V of the new tokens to DRAM (+ the LO plane beside K with LOP)
        elems = _out_elems(op) * scale
        lo = elems / 2.0 if bld.lop_active and _is_key_append(bld, idx) else 0.0
        return bld.vector_task(
            label,
            idx,
            QUANT_OPS_PER_ELEMENT * elems,
            deps,
            act_in=bld.inputs(idx, io.inputs * scale),
            dram_out=elems + lo,
            role="transfer",
        )
    dst = bld.place(idx, io.inputs * scale, bld.live(idx, io.outputs * scale))
    return bld.vector_task(
        label,
        idx,
        ops * scale,
        deps,
        act_in=bld.inputs(idx, io.inputs * scale),
        act_out=(dst, io.outputs * scale),
        dram_in=io.weights * scale,  # a norm's gain and bias come from DRAM once
        flops=op.flops() * scale,
    )


def _is_key_append(bld: _Builder, idx: int) -> bool:
    """The first append of each K/V pair (HF's cache appends keys, then values)."""
    return bld.notes.setdefault(idx, {}).get("append", "key") == "key"


def lower_block(block: Block, view: TargetView, options: LoweringOptions) -> BlockTasks:
    """One instance of ``block`` as a task graph over the VitaLLM engines, in the loop
    order that moves the fewest DRAM bytes (V-A7): weights streamed once per row chunk
    with every activation that fits in the SRAM (``reserve`` 0), or the weight tiles up
    to a size kept in the SRAM across the chunks (larger ones split along ``k`` to fit),
    the activations in what is left. Each candidate reserve is one of the block's
    weight-tile sizes, or the whole SRAM; with more SRAM every candidate moves no more
    DRAM bytes and more candidates fit, so the chosen order's DRAM bytes never grow with
    the SRAM."""
    del options
    c = chip(view)
    best, bld = _lower_plan(block, view, c, 0.0)
    if not bld.restreams:  # one pass over every weight already: nothing to keep
        return best
    best_cost = _plan_cost(best, c)
    capacity = c.sram.capacity_bytes
    for reserve in sorted({t for t in bld.weight_tiles if t <= capacity} | {capacity}):
        plan, _ = _lower_plan(block, view, c, reserve)
        cost = _plan_cost(plan, c)
        if cost[0] < best_cost[0] * (1 - 1e-9) or (
            cost[0] <= best_cost[0] * (1 + 1e-9) and cost[1] < best_cost[1] * (1 - 1e-9)
        ):
            best, best_cost = plan, cost
    return best


def _plan_cost(lowered: BlockTasks, c: VitaChip) -> tuple[float, float]:
    """(bytes ``lowered`` moves to and from DRAM, engine-seconds of its tiles): the loop
    order's DRAM traffic first, its engines' busy time to break ties."""
    name = c.dram.name
    dram = busy = 0.0
    for task in lowered.graph.tasks:
        for tile, n in task.kernel.runs:
            dram += (tile.read_bytes.get(name, 0.0) + tile.write_bytes.get(name, 0.0)) * n
            busy += tile.compute_s * n
    return dram, busy


def _lower_plan(
    block: Block, view: TargetView, c: VitaChip, reserve: float
) -> tuple[BlockTasks, _Builder]:
    """``block`` lowered with ``reserve`` SRAM bytes kept for resident weight tiles."""
    bld = _Builder(view, c, reserve=reserve)
    ops = block.ops
    reads = producers(ops)
    heads = _heads(block)
    parts = [heads.parts(op) if heads is not None else 1 for op in ops]
    for i, op in enumerate(ops):
        # a projection of the attention output (O) mixes every head: it does not split
        if _is_weight_gemm(op) and any(isinstance(ops[p], AttentionOp) for p in reads[i]):
            parts[i] = 1
    if c.lop is not None:
        keep = getattr(c.lop.params, "keep", 0)
        bld.lop_active = any(isinstance(op, AttentionOp) and op.spec.kv_len > keep for op in ops)
    bld.reads, bld.parts = reads, parts
    out_tasks: list[list[list[int]]] = [[] for _ in ops]  # per op, per part: task ids
    quantised: dict[int, int] = {}  # producer op -> its absmax quantisation task
    appends = 0
    # head-major emission of runs of consecutive head-split ops
    i = 0
    while i < len(ops):
        j = i
        if parts[i] > 1:
            while j + 1 < len(ops) and parts[j + 1] > 1:
                j += 1
        run = list(range(i, j + 1))
        for idx in run:
            op = ops[idx]
            if isinstance(op, UnknownOp) and op.aten == "kv_cache_append":
                bld.notes.setdefault(idx, {})["append"] = "key" if appends % 2 == 0 else "value"
                appends += 1
        n_parts = max(parts[idx] for idx in run)
        for part in range(n_parts):
            for idx in run:
                if part >= parts[idx]:
                    continue
                _lower_part(bld, ops, idx, part, parts, reads, out_tasks, quantised)
        i = j + 1
    notes = {k: dict(v) for k, v in bld.notes.items()}
    return BlockTasks(family=FAMILY, graph=TaskGraph(tuple(bld.tasks)), notes=notes), bld


def _deps_for(
    idx: int, part: int, parts: list[int], reads: list[list[int]], out_tasks: list[list[list[int]]]
) -> list[int]:
    deps: list[int] = []
    for p in reads[idx]:
        if out_tasks[p]:
            deps.extend(_map_parts(out_tasks[p], parts[p], parts[idx], part))
    return deps


def _lower_part(
    bld: _Builder,
    ops: Sequence[Op],
    idx: int,
    part: int,
    parts: list[int],
    reads: list[list[int]],
    out_tasks: list[list[list[int]]],
    quantised: dict[int, int],
) -> None:
    op = ops[idx]
    n_parts = parts[idx]
    label = op.name if n_parts == 1 else f"{op.name} h{part}"
    if isinstance(op, GemmOp):
        engines = _gemm_engines(op, bld, idx)
        rows, cols = _projection_shape(op)
        in_bytes = float(rows * op.k)  # int8 activation rows
        act_src: MemoryLevel | None = None
        deps: list[int] = []
        for p in reads[idx]:
            src = out_tasks[p]
            if not src:
                continue
            if _is_weight_gemm(op) and not isinstance(ops[p], GemmOp):
                # absmax quantisation barrier: one per producer, over the whole vector
                if p not in quantised:
                    elems = _out_elems(ops[p])
                    # read whole (the absmax needs every element), written int8
                    home = bld.place(("quantised", p), elems * 2.0, elems)
                    quantised[p] = bld.vector_task(
                        f"quantise {ops[p].name}",
                        p,
                        QUANT_OPS_PER_ELEMENT * elems,
                        [t for tasks in src for t in tasks],
                        act_in=[(bld.home(p, elems * 2.0), elems * 2.0)],
                        act_out=(home, elems),
                    )
                deps.append(quantised[p])
                act_src = bld.homes[("quantised", p)]
            else:
                deps.extend(_map_parts(src, parts[p], n_parts, part))
                act_src = bld.home(p, in_bytes)
        if act_src is None:  # the block's input
            act_src = bld.home(("input", idx), in_bytes)
        n = cols // n_parts
        if engines == "tint" and n_parts == 1:
            engines = "split"
        out_bytes = rows * n * _acc_bytes(bld.c.booth if engines == "booth-int8" else bld.c.tint)
        act_dst = bld.place(idx, in_bytes, bld.live(idx, out_bytes))
        made = bld.projection(
            _Projection(
                idx, rows, op.k, n, tuple(deps), engines, _weight_bits(op), label, act_src, act_dst
            )
        )
        out_tasks[idx].append(made)
        return
    if isinstance(op, AttentionOp):
        deps = _deps_for(idx, part, parts, reads, out_tasks)
        out_tasks[idx].append(_attention_head(bld, op, idx, part, deps))
        return
    deps = _deps_for(idx, part, parts, reads, out_tasks)
    out_tasks[idx].append([_nonlinear(bld, op, idx, deps, label, n_parts, part)])


def lower_op(op: Op, view: TargetView, options: LoweringOptions) -> OpTasks:
    """One op alone (a block of one op), its tasks in graph order as a chain."""
    lowered = lower_block(Block(op.name, (op,), 1), view, options)
    return OpTasks(
        family=FAMILY,
        kernels=tuple(t.kernel for t in lowered.graph.tasks),
        notes=dict(lowered.notes.get(0, {})),
    )


register_family(
    LoweringFamily(
        name=FAMILY,
        op_kinds=frozenset(
            {"gemm", "attention", "norm", "elementwise", "softmax", "embedding", "unknown"}
        ),
        lower=lower_op,
        description="VitaLLM: ternary projections on TINT, int8 attention on BoothFlex with "
        "LOP pruning, nonlinear ops on the NLU, head-level pipelining (one task graph per block)",
        lower_block=lower_block,
    )
)
