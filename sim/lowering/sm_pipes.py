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
* **ALU pipe**: 64 lanes per SM (:data:`ALU_LANES_PER_SM`) at the clock of the FP32
  lanes. It runs comparisons, min/max (``FMNMX``), selects and the fast FP32-to-FP16
  pack-convert (``F2FP``) -- Nsight Compute Kernel Profiling Guide, pipelines: "alu ...
  On NVIDIA Ampere architecture chips, the ALU pipeline performs fast FP32-to-FP16
  conversion"; 64 INT32 lanes per SM: NVIDIA A100 and H100 architecture whitepapers (SM
  diagrams); CUDA C++ Programming Guide throughput table: compare, minimum, maximum 64
  results/clk/SM (cc 8.x, 9.0). Blackwell: labelled assumption, the same 64 lanes.
* **Issue slots**: each of an SM's 4 sub-partitions issues one warp instruction (32
  lanes) per clock (:data:`ISSUE_LANES_PER_SM` = 128 lane-instructions/clk: H100/A100
  whitepapers, one warp scheduler and dispatch unit per SM sub-partition); every
  CUDA-core instruction (FMA, ALU, MUFU) takes one.
* **Operand port**: the per-unit bandwidth of the scratchpad level (shared memory, 128
  B/clk/SM: CUDA C++ Programming Guide, 32 banks of 4 bytes; FlashAttention-4 Sec. 2).
* **Fill rate**: a unit's share of the cache level's bandwidth when every unit streams
  (the rate a producer warp's loads land in shared memory in steady state); a kernel
  with fewer tiles than units divides it among its tiles instead, so more units never
  lower it.
"""

from __future__ import annotations

from dataclasses import dataclass

from attnsim.sim.lowering.target import LoweringError, TargetView

#: Lanes of an SM's ALU pipe (INT32 cores: A100/H100 whitepapers; see module docstring).
ALU_LANES_PER_SM = 64
#: Lane-instructions an SM issues per clock: 4 sub-partitions x one 32-lane warp
#: instruction (A100/H100 whitepapers).
ISSUE_LANES_PER_SM = 128


@dataclass(frozen=True)
class SmPipes:
    """Per-unit rates of the pipes of one SM (SI units).

    Attributes:
        mma_engine / mma_precision: the tensor engine and precision MMAs run in.
        mma_async_ops_s: ops/s of the asynchronous MMA instructions (wgmma, tcgen05).
        mma_sync_ops_s: ops/s of warp-level ``mma.sync``.
        sfu_engine: engine that computes ``exp``; sfu_exp_s: exps per second.
        fp32_engine: engine of the FP32 lanes; fp32_instr_s: FP32 lane instructions/s.
        alu_instr_s: ALU-pipe lane instructions/s (compare, min/max, select, F2FP).
        issue_instr_s: lane instructions/s the warp schedulers issue.
        operand_bytes_s: bytes/s the tensor cores can read from shared memory.
        fill_bytes_s: bytes/s one unit's loads arrive at while every unit streams: the
            cache level's bandwidth (or DRAM's without one) divided among the units.
        units: the units that share it.
    """

    mma_engine: str
    mma_precision: str
    mma_async_ops_s: float
    mma_sync_ops_s: float
    sfu_engine: str
    sfu_exp_s: float
    fp32_engine: str
    fp32_instr_s: float
    alu_instr_s: float
    issue_instr_s: float
    operand_bytes_s: float
    fill_bytes_s: float
    units: int


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
    clock = view.engine(vec.engine).clock_hz
    return SmPipes(
        mma_engine=mm.engine,
        mma_precision=mm.precision,
        mma_async_ops_s=mm.per_unit_ops_s,
        mma_sync_ops_s=min(sync, mm.per_unit_ops_s) if sync_fraction is None else sync,
        sfu_engine=ex.engine,
        sfu_exp_s=ex.per_unit_ops_s,
        fp32_engine=vec.engine,
        fp32_instr_s=vec.per_unit_ops_s / 2.0,
        alu_instr_s=ALU_LANES_PER_SM * clock,
        issue_instr_s=ISSUE_LANES_PER_SM * clock,
        operand_bytes_s=view.scratchpad.bandwidth_bytes_per_s,
        fill_bytes_s=view.sustained_bandwidth(view.cache or view.dram) / view.units,
        units=view.units,
    )
