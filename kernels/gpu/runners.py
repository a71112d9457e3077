"""Prepared calls of the Triton kernels for the timing harness (needs Triton + CUDA)."""

from __future__ import annotations

from typing import Any

import torch
from attnsim.kernels.cpu.schedule import kernel_schedule
from attnsim.kernels.gpu import triton_attention as ta
from attnsim.workloads.spec import AttentionSpec

_DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}


def inputs(spec: AttentionSpec, dtype: str, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """Seeded standard-normal q, k, v on the current CUDA device."""
    gen = torch.Generator(device="cuda").manual_seed(seed)
    dt = _DTYPES[dtype]

    def rnd(*shape: int) -> torch.Tensor:
        return torch.randn(shape, generator=gen, device="cuda", dtype=torch.float32).to(dt)

    q = rnd(spec.batch, spec.q_heads, spec.q_len, spec.head_dim_qk)
    k = rnd(spec.batch, spec.kv_heads, spec.kv_len, spec.head_dim_qk)
    v = rnd(spec.batch, spec.kv_heads, spec.kv_len, spec.head_dim_v)
    return q, k, v


def prepare(
    kind: str, spec: AttentionSpec, dtype: str, opts: dict[str, Any]
) -> tuple[Any, dict[str, int]]:
    """``(call, info)`` for ``triton-flash`` (``kind="flash"``) or ``triton-decode``."""
    q, k, v = inputs(spec, dtype, int(opts.get("seed", 0)))
    if kind == "flash":
        bm = int(opts.get("block_q") or ta.DEFAULT_BLOCK_M)
        bn = int(opts.get("block_k") or ta.DEFAULT_BLOCK_N)
        sched = kernel_schedule(spec.mask, spec.q_len, spec.kv_len, bm, bn, tiling="row-major")

        def call() -> Any:
            return ta.flash_attention(q, k, v, spec.mask, block_m=bm, block_n=bn)

    else:
        bm = spec.q_len
        bn = int(opts.get("block_k") or ta.DEFAULT_DECODE_BLOCK_N)
        sched = kernel_schedule(spec.mask, spec.q_len, spec.kv_len, bm, bn, tiling="row-major")

        def call() -> Any:
            return ta.decode_attention(q, k, v, spec.mask, block_n=bn)

    info = {
        "block_q": bm,
        "block_k": bn,
        "tiles_full": sched.full_tiles,
        "tiles_partial": sched.partial_tiles,
    }
    return call, info
