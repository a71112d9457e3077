"""Helpers for simulator tests: a small toy GPU document, one-op workloads, variants of
a target written as YAML files with ``base:`` and loaded like any user's file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from attnsim.hwconfigs import Hardware, load_hardware
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
        "units": {"sm": {"count": sms}},
        "engines": {
            "tensor": {
                "kind": "tensor",
                "unit": "sm",
                "clock": "1.83 GHz",
                "throughput": {
                    "matmul": {"fp16": f"{7.5 * sms} TFLOP/s", "bf16": f"{7.5 * sms} TFLOP/s"}
                },
            },
            "cuda": {
                "kind": "vector",
                "unit": "sm",
                "clock": "1.98 GHz",
                "throughput": {"vector": {"fp32": f"{0.5 * sms} TFLOP/s"}},
            },
            "sfu": {
                "kind": "sfu",
                "unit": "sm",
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


def write_target(folder: Path, name: str, doc: dict[str, Any]) -> Path:
    """Write a target document as ``folder/name.yaml`` (keys in the order given)."""
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def variant(
    folder: Path,
    base: str | Path,
    *,
    units: int = 1,
    dram_bw: float = 1.0,
    compute: float = 1.0,
) -> Hardware:
    """A target derived from ``base`` the way a user writes one: a YAML file with
    ``base:`` and overrides, loaded (and so validated) by the loader.

    ``units`` multiplies the count of every replicated unit (``units: {sm: {count:
    N}}``): each new unit brings its own per-unit rates and per-unit memories; shared
    levels (L2, DRAM) are unchanged. ``dram_bw`` multiplies the farthest level's
    bandwidth; ``compute`` every engine's clock (every per-unit rate).
    """
    hw = load_hardware(base)
    doc: dict[str, Any] = {
        "version": 1,
        "base": str(base),
        "name": f"{hw.name}-u{units}-bw{dram_bw:g}-c{compute:g}",
    }
    if units != 1:
        counts = {e.unit: e.count for e in hw.engines.values()}
        doc["units"] = {
            unit: {"count": {"value": count * units, "source": SRC}}
            for unit, count in counts.items()
        }
    if compute != 1.0:
        doc["engines"] = {
            name: {"clock": {"value": f"{e.clock_hz * compute!r} Hz", "source": SRC}}
            for name, e in hw.engines.items()
        }
    if dram_bw != 1.0:
        dram = hw.memory[-1]
        doc["memory"] = {
            dram.name: {
                "bandwidth": {
                    "value": f"{dram.bandwidth_bytes_per_s * dram_bw!r} B/s",
                    "source": SRC,
                }
            }
        }
    return load_hardware(write_target(folder, doc["name"], doc))
