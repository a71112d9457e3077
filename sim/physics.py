"""Physics invariants every simulated op must satisfy; a violation is a bug in attnsim.

:func:`check_op` is called once per distinct op by :func:`attnsim.sim.simulate` (cost:
a few dictionary passes, plus one pass over the key axis of a sparse attention mask)
and by the property tests for every op of every result. It checks:

1. **Compulsory bytes.** The farthest memory level (DRAM) reads at least what the op
   must read — every input and weight byte once (:meth:`Op.io_bytes`; for attention
   only the queries and keys that some live pair uses) — and writes at least its
   outputs once.
2. **Bandwidth.** No shared memory level (L2, DRAM: the capacities the engine divides)
   moves bytes faster than its peak while the kernel runs, and no per-unit level
   (registers, shared memory, a unit's buffers) moves more bytes than all its instances
   can at their peak in that time (bytes <= per-instance bandwidth x instances x time).
3. **Engine rates.** No engine is busy more than 100% of the kernel's time, and no
   class of work (matmul, vector, exp) runs faster than the engines that can run it
   allow.
4. **Roofline.** The op takes at least ``max(compulsory bytes / peak DRAM bandwidth,
   flops / peak rate)``.

"Peak" is the datasheet figure of the target, raised by a sustained-fraction constant
above 1 where the micro-benchmark measured more than the datasheet (a part measured at
a clock above the one its datasheet peak assumes, e.g. the RTX 4090's GEMM).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

import numpy as np
from attnsim.hwconfigs.model import Hardware, MemoryLevel
from attnsim.sim.engine.kernel_sim import KernelRun
from attnsim.workloads.dtypes import nbytes
from attnsim.workloads.masks import FullMask
from attnsim.workloads.ops import AttentionOp, GemmOp, Op
from attnsim.workloads.workload import Block

#: Relative slack of every comparison (floating-point noise, not physics).
TOLERANCE = 1e-6

#: Precisions an op's dtype may run in (the fallbacks lowering uses, and wider ones).
_RUNS_IN: dict[str, tuple[str, ...]] = {
    "fp32": ("fp32", "tf32"),
    "tf32": ("tf32", "fp32"),
    "bf16": ("bf16", "fp16"),
    "fp16": ("fp16", "bf16"),
    "fp8": ("fp8", "fp16", "bf16"),
    "fp4": ("fp4", "fp8", "int8", "fp16"),
    "int4": ("int4", "int8", "fp16"),
    "ternary": ("ternary", "int8", "fp16"),
    "int8": ("int8", "fp16"),
    "fp64": ("fp64", "fp32"),
}


class PhysicsError(AssertionError):
    """A simulated op broke a physical invariant: a bug in attnsim, not bad input."""


def peak_bandwidth(hw: Hardware, level: MemoryLevel) -> float:
    """Peak bytes/s of ``level`` (one instance for per-unit levels): the datasheet's.
    Sustained fractions only lower what a lowering may charge (the schema holds them in
    (0.05, 1]), so they never raise a checked peak."""
    return level.bandwidth_bytes_per_s


def peak_rate(hw: Hardware, op_classes: Iterable[str], precisions: Iterable[str]) -> float:
    """Ops/s of the whole device for work of any of ``op_classes`` in any of
    ``precisions``: per engine the best listed rate, summed over engines (an upper bound
    on what any lowering may charge)."""
    classes, precs = tuple(op_classes), tuple(precisions)
    total = 0.0
    for engine in hw.engines.values():
        best = 0.0
        for klass in classes:
            for prec in precs:
                best = max(best, engine.throughput.get(klass, {}).get(prec, 0.0))
        total += best
    return total


def _class_peak(hw: Hardware, op_class: str, precision: str) -> float:
    """Peak ops/s for ``op_class`` work recorded in ``precision``: per engine its fastest
    listed rate of any class in a compatible precision (a family may count work on the
    class it models it as -- a CPU's sgemm as vector work, an exp emulated on FMA lanes),
    summed over engines. 0 when no engine lists one. A unit-model engine
    (``params.model``) lists its model's peak (derived by the loader from its params,
    :mod:`hwconfigs.derived`), which no tile of that model exceeds."""
    precs = _RUNS_IN.get(precision, (precision,)) + ("fp32",)
    return peak_rate(hw, ("matmul", "vector", "exp", op_class), precs)


def _live_rows_and_keys(op: AttentionOp) -> tuple[int, int]:
    """Queries with at least one live key, keys with at least one live query."""
    s = op.spec
    if isinstance(s.mask, FullMask):
        return s.q_len, s.kv_len
    per_key = s.mask.tile_counts(s.q_len, s.kv_len, s.q_len, 1)[0]
    per_query = s.mask.tile_counts(s.q_len, s.kv_len, 1, s.kv_len)[:, 0]
    return int(np.count_nonzero(per_query)), int(np.count_nonzero(per_key))


def compulsory_bytes(op: Op) -> tuple[float, float]:
    """(bytes the op must read from DRAM, bytes it must write there)."""
    io = op.io_bytes()
    if isinstance(op, AttentionOp):
        s = op.spec
        rows, keys = _live_rows_and_keys(op)
        q = nbytes(op.dtype, s.batch * s.q_heads * rows * s.head_dim_qk)
        kv = nbytes(op.dtype, s.batch * s.kv_heads * keys * (s.head_dim_qk + s.head_dim_v))
        return q + kv, io.outputs
    return io.inputs + io.weights, io.outputs


def roofline_s(hw: Hardware, op: Op) -> float:
    """Seconds no kernel can beat: compulsory DRAM bytes at peak bandwidth, or the op's
    flops at the device's peak rate for its precision."""
    reads, writes = compulsory_bytes(op)
    dram = hw.memory[-1]
    bound = (reads + writes) / peak_bandwidth(hw, dram)
    precs: tuple[str, ...] = _RUNS_IN.get(op.dtype, (op.dtype,))
    if isinstance(op, GemmOp) and op.weight_dtype:
        precs += _RUNS_IN.get(op.weight_dtype, (op.weight_dtype,))
    rate = peak_rate(hw, ("matmul", "vector", "exp"), precs + ("fp32",))
    if rate > 0 and op.flops() > 0:
        bound = max(bound, op.flops() / rate)
    return bound


def _fail(op: Op, hw: Hardware, invariant: str, numbers: str) -> PhysicsError:
    return PhysicsError(f"{op.kind} op {op.name!r} on {hw.name}: {invariant}: {numbers}")


def check_kernel(hw: Hardware, op: Op, run: KernelRun, units: int) -> None:
    """Bandwidth and engine-rate invariants of one simulated kernel of ``op``.

    Bandwidth is checked at every level: a shared level (L2, DRAM) against its peak; a
    per-unit level (registers, shared memory, a unit model's buffers), whose bandwidth
    is that of one instance, against its peak times its instances: the bytes all copies
    moved cannot exceed what they all can move while the kernel runs (a necessary
    condition: the engine does not divide per-unit levels, lowering must respect them)."""
    busy = run.time_s - run.launch_s
    moved = {k: run.read_bytes.get(k, 0.0) + run.write_bytes.get(k, 0.0) for k in run.read_bytes}
    for k, v in run.write_bytes.items():
        moved.setdefault(k, v)
    if busy <= 0:
        if any(v > 0 for v in moved.values()) or any(run.engine_busy_s.values()):
            raise _fail(op, hw, f"kernel {run.name!r} does work in no time", f"{busy} s")
        return
    for level in hw.memory:
        nbytes_moved = moved.get(level.name, 0.0)
        if nbytes_moved <= 0:
            continue
        achieved = nbytes_moved / busy
        copies = level.instances(hw.units)
        peak = peak_bandwidth(hw, level) * copies
        if achieved > peak * (1 + TOLERANCE):
            each = f" ({copies} instances)" if level.scope == "per_unit" else ""
            raise _fail(
                op,
                hw,
                f"kernel {run.name!r} moves {level.name} bytes faster than its peak{each}",
                f"{achieved:.4g} B/s > {peak:.4g} B/s ({nbytes_moved:.4g} B in {busy:.4g} s)",
            )
    for name, seconds in run.engine_busy_s.items():
        engine = hw.engines.get(name)
        count = engine.count if engine is not None else units
        used = seconds / (count * busy)
        if used > 1 + TOLERANCE:
            raise _fail(
                op,
                hw,
                f"kernel {run.name!r} keeps engine {name!r} busy more than all the time",
                f"{used:.4f} of {count} instances x {busy:.4g} s",
            )
    for (op_class, precision), n in run.ops.items():
        peak = _class_peak(hw, op_class, precision)
        achieved = n / busy
        if n > 0 and peak > 0 and achieved > peak * (1 + TOLERANCE):
            raise _fail(
                op,
                hw,
                f"kernel {run.name!r} runs {op_class} {precision} faster than the device's peak",
                f"{achieved:.4g} ops/s > {peak:.4g} ops/s",
            )


def check_op(
    hw: Hardware,
    op: Op,
    runs: Sequence[KernelRun],
    units: int,
    *,
    latency: float | None = None,
    on_chip_io: bool = False,
) -> None:
    """Every invariant for one simulated op (see module docstring); raises
    :class:`PhysicsError` naming the op, the invariant and the numbers.

    ``latency`` is the op's time (default: its kernels' times added up, one after
    another). ``on_chip_io``: the op's activations may stay on chip -- it is part of a
    block lowered as a whole, whose bytes may be charged to a neighbouring op, or it runs
    on an accelerator whose on-chip SRAM holds activations between ops: only the
    bandwidth and engine invariants apply per op, and :func:`check_block_weights`
    checks the block's DRAM reads."""
    for run in runs:
        check_kernel(hw, op, run, units)
    dram = hw.memory[-1].name
    reads: dict[str, float] = defaultdict(float)
    writes: dict[str, float] = defaultdict(float)
    for run in runs:
        for k, v in run.read_bytes.items():
            reads[k] += v
        for k, v in run.write_bytes.items():
            writes[k] += v
    if on_chip_io:
        return
    must_read, must_write = compulsory_bytes(op)
    if reads[dram] < must_read * (1 - TOLERANCE):
        raise _fail(
            op,
            hw,
            f"reads fewer {dram} bytes than its inputs and weights",
            f"{reads[dram]:.6g} B < {must_read:.6g} B",
        )
    if writes[dram] < must_write * (1 - TOLERANCE):
        raise _fail(
            op,
            hw,
            f"writes fewer {dram} bytes than its outputs",
            f"{writes[dram]:.6g} B < {must_write:.6g} B",
        )
    if latency is None:
        latency = sum(r.time_s for r in runs)
    bound = roofline_s(hw, op)
    if latency < bound * (1 - TOLERANCE):
        raise _fail(
            op,
            hw,
            "runs faster than its roofline",
            f"{latency:.6g} s < {bound:.6g} s",
        )


def check_block_weights(hw: Hardware, block: Block, dram_reads: float) -> None:
    """A block lowered as a whole reads every weight byte of its ops from DRAM at least
    once (its activations may stay on chip)."""
    weights = sum(op.io_bytes().weights for op in block.ops)
    if dram_reads < weights * (1 - TOLERANCE):
        raise PhysicsError(
            f"block {block.name!r} on {hw.name}: reads fewer {hw.memory[-1].name} bytes than "
            f"its weights: {dram_reads:.6g} B < {weights:.6g} B"
        )
