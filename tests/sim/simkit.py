"""Helpers for simulator tests: a small toy GPU document, one-op workloads, scaled
variants of a target."""

from __future__ import annotations

import dataclasses
from typing import Any

from attnsim.hwconfigs import Hardware
from attnsim.hwconfigs.model import FrozenMap
from attnsim.workloads import AttentionOp, AttentionSpec, Block, FullMask, Op, Workload

SRC = "test fixture"


def toy_gpu_doc(sms: int = 8) -> dict[str, Any]:
    """A small GPU-like target: per-SM rates of an H100 SM, ``sms`` SMs, a 4 MiB L2."""
    return {
        "version": 1,
        "name": f"toy-gpu-{sms}",
        "kind": "gpu",
        "description": "toy GPU for tests",
        "source": SRC,
        "engines": {
            "tensor": {
                "kind": "tensor",
                "unit": "sm",
                "count": sms,
                "clock": "1.83 GHz",
                "throughput": {
                    "matmul": {"fp16": f"{7.5 * sms} TFLOP/s", "bf16": f"{7.5 * sms} TFLOP/s"}
                },
            },
            "cuda": {
                "kind": "vector",
                "unit": "sm",
                "count": sms,
                "clock": "1.98 GHz",
                "throughput": {"vector": {"fp32": f"{0.5 * sms} TFLOP/s"}},
            },
            "sfu": {
                "kind": "sfu",
                "unit": "sm",
                "count": sms,
                "clock": "1.83 GHz",
                "throughput": {"exp": {"fp32": f"{0.03 * sms} TOPS"}},
            },
        },
        "memory": {
            "rf": {
                "scope": "per_unit",
                "unit": "sm",
                "capacity": "256 KiB",
                "bandwidth": "2.8 TB/s",
                "latency": "1 ns",
                "read_energy": "0.35 pJ/B",
                "write_energy": "0.35 pJ/B",
            },
            "smem": {
                "scope": "per_unit",
                "unit": "sm",
                "capacity": "228 KiB",
                "bandwidth": "234 GB/s",
                "latency": "16 ns",
                "read_energy": "0.7 pJ/B",
                "write_energy": "0.7 pJ/B",
            },
            "l2": {
                "scope": "shared",
                "capacity": "4 MiB",
                "bandwidth": f"{0.07 * sms} TB/s",
                "latency": "150 ns",
                "read_energy": "3.5 pJ/B",
                "write_energy": "3.5 pJ/B",
            },
            "hbm": {
                "scope": "shared",
                "capacity": "16 GiB",
                "bandwidth": f"{0.025 * sms} TB/s",
                "latency": "450 ns",
                "read_energy": "30 pJ/B",
                "write_energy": "30 pJ/B",
            },
        },
        "energy": {
            "per_op": {
                "matmul": {"fp16": "0.2 pJ"},
                "vector": {"fp32": "0.6 pJ"},
                "exp": {"fp32": "5 pJ"},
            },
            "static_power": "10 W",
        },
        "kernel_families": ["flash-attention-3", "flash-attention-2", "triton-bundled", "unfused"],
        "calibration": {"launch_overhead": "2 us"},
    }


def one_op(op: Op, tokens: int | None = None) -> Workload:
    return Workload(name=op.name, blocks=(Block("b", (op,), 1),), tokens=tokens)


def attention(
    batch: int = 1,
    heads: int = 8,
    kv_heads: int | None = None,
    seq: int = 2048,
    kv_seq: int | None = None,
    head_dim: int = 128,
    mask: Any = None,
    phase: str = "prefill",
    dtype: str = "fp16",
) -> AttentionOp:
    spec = AttentionSpec(
        batch=batch,
        q_heads=heads,
        kv_heads=kv_heads or heads,
        q_len=seq,
        kv_len=kv_seq or seq,
        head_dim_qk=head_dim,
        head_dim_v=head_dim,
        phase=phase,
        mask=mask if mask is not None else FullMask(),
    )
    return AttentionOp("attn", dtype, spec)


def scaled(hw: Hardware, *, dram_bw: float = 1.0, units: int = 1, compute: float = 1.0) -> Hardware:
    """``hw`` with DRAM bandwidth x ``dram_bw``, ``units`` x the units (each with its own
    rates and cache slice, so the shared cache bandwidth scales too) and per-unit compute
    x ``compute``."""
    engines = {
        name: dataclasses.replace(
            e,
            count=e.count * units,
            ops_per_cycle=FrozenMap(
                {
                    c: FrozenMap({p: v * compute for p, v in ps.items()})
                    for c, ps in e.ops_per_cycle.items()
                }
            ),
        )
        for name, e in hw.engines.items()
    }
    memory = []
    for i, level in enumerate(hw.memory):
        bw = level.bandwidth_bytes_per_s
        if level.scope == "shared" and i < len(hw.memory) - 1:
            bw *= units
        if i == len(hw.memory) - 1:
            bw *= dram_bw
        memory.append(dataclasses.replace(level, bandwidth_bytes_per_s=bw))
    return dataclasses.replace(hw, engines=FrozenMap(engines), memory=tuple(memory))
