"""The pipes of one GPU SM that attention and GEMM kernels keep busy, per unit instance.

An SM has separate pipes that run at the same time: the tensor cores (MMA), the
special-function unit (MUFU: ``exp2``), the FP32/ALU lanes (max, add, FMA, converts,
mask compares) and the shared-memory port the tensor cores read their operands through.
A kernel family's overlap rule says which of them run concurrently; this module only
says how fast each one is on one unit, from the target:

* **MMA**: the tensor engine's per-unit peak times ``tensor_sustained_fraction``
  (fitted to a large GEMM) for the asynchronous warpgroup/CTA-level instructions
  (``wgmma`` on Hopper, ``tcgen05.mma`` on Blackwell). Warp-level ``mma.sync`` (the
  Ampere instruction FlashAttention-2 uses everywhere) reaches only
  ``mma_sync_sustained_fraction`` of the peak on a part whose peak needs the
  asynchronous instructions; a target without that constant runs ``mma.sync`` natively
  (Ampere, Ada), at the sustained rate.
* **SFU**: the ``exp`` rate of the ``sfu`` engine (16 ``MUFU.EX2`` results per clock per
  SM on Ampere, Hopper and Blackwell: CUDA C++ Programming Guide, arithmetic
  instructions; FlashAttention-4 (Zadouri et al. 2026) Sec. 2: unchanged on Blackwell).
* **FP32 lanes**: instructions per second, the ``vector fp32`` peak halved (the peak
  counts an FMA as two operations; a max, an add, a convert or a compare is one
  instruction of one lane, 128 lanes per SM on Hopper and Blackwell, 64 on A100).
* **Operand port**: the per-unit bandwidth of the scratchpad level (shared memory, 128
  B/clk/SM: CUDA C++ Programming Guide, 32 banks of 4 bytes; FlashAttention-4 Sec. 2).
"""

from __future__ import annotations

from dataclasses import dataclass

from attnsim.sim.lowering.target import LoweringError, TargetView


@dataclass(frozen=True)
class SmPipes:
    """Per-unit rates of the pipes of one SM (SI units).

    Attributes:
        mma_engine / mma_precision: the tensor engine and precision MMAs run in.
        mma_async_ops_s: ops/s of the asynchronous MMA instructions (wgmma, tcgen05).
        mma_sync_ops_s: ops/s of warp-level ``mma.sync``.
        sfu_engine: engine that computes ``exp``; sfu_exp_s: exps per second.
        fp32_engine: engine of the FP32 lanes; fp32_instr_s: FP32 lane instructions/s.
        operand_bytes_s: bytes/s the tensor cores can read from shared memory.
    """

    mma_engine: str
    mma_precision: str
    mma_async_ops_s: float
    mma_sync_ops_s: float
    sfu_engine: str
    sfu_exp_s: float
    fp32_engine: str
    fp32_instr_s: float
    operand_bytes_s: float


def sm_pipes(view: TargetView, dtype: str) -> SmPipes:
    """The pipes of one unit of ``view``'s target for MMAs in ``dtype``."""
    mm = view.rate("matmul", dtype)
    ex = view.rate("exp", "fp32")
    vec = view.rate("vector", "fp32")
    engine = view.unit_engines.get(mm.engine)
    if engine is None:  # pragma: no cover - rate() only returns unit engines
        raise LoweringError(f"{view.hw.name}: no engine {mm.engine!r} on {view.unit}")
    peak = engine.per_unit("matmul", mm.precision) * (engine.count / view.units)
    sync_fraction = view.hw.calibration.get("mma_sync_sustained_fraction")
    sync = mm.per_unit_ops_s if sync_fraction is None or peak <= 0 else peak * sync_fraction
    return SmPipes(
        mma_engine=mm.engine,
        mma_precision=mm.precision,
        mma_async_ops_s=mm.per_unit_ops_s,
        mma_sync_ops_s=min(sync, mm.per_unit_ops_s) if sync_fraction is None else sync,
        sfu_engine=ex.engine,
        sfu_exp_s=ex.per_unit_ops_s,
        fp32_engine=vec.engine,
        fp32_instr_s=vec.per_unit_ops_s / 2.0,
        operand_bytes_s=view.scratchpad.bandwidth_bytes_per_s,
    )
