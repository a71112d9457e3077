"""Triton attention kernels (imported lazily by :mod:`kernels.gpu`; needs Triton + CUDA).

``flash_attention``: FlashAttention-2 forward. One program per (query block, batch x
query head); it walks the live key blocks of its query block from a CSR list built from
the mask's ``tile_liveness`` (the same schedule as the CPU kernel, at the GPU's tile
sizes), so dead blocks cost nothing. Full blocks run unmasked; partial blocks apply an
interval predicate (causal, sliding window) or a precomputed bool block (neighborhood,
block-sparse with other tiles, any other mask). Scores are kept in base 2 (queries
scaled by ``scale * log2(e)``, ``exp2``). GQA: query head ``h`` reads kv head
``h // group``. A query row with no live key returns zeros.

``decode_attention``: flash-decoding. Grid (KV split, batch x kv head): each program
stacks the ``group * q_len`` query rows of one kv head, runs the online softmax over
its share of the live key blocks, and writes (max, sum, unnormalised output); a second
kernel merges the splits.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np
import torch
import triton
import triton.language as tl
from attnsim.kernels.cpu.schedule import MODE_BITMAP, MODE_RANGE, kernel_schedule, mask_plan
from attnsim.workloads.masks import MaskPattern

__all__ = ["flash_attention", "decode_attention", "DEFAULT_BLOCK_M", "DEFAULT_BLOCK_N"]

DEFAULT_BLOCK_M = 128
DEFAULT_BLOCK_N = 64
DEFAULT_DECODE_BLOCK_N = 128
_LOG2E = 1.4426950408889634


@triton.jit
def _tile_update(
    q, k_ptrs, v_ptrs, cols, rows_q, e, kind, Sk, off, left, right, tile_bitmap, bitmaps,
    m_i, l_i, acc, qk_scale, k_mask_d, v_mask_d,
    MODE: tl.constexpr, BLOCK_R: tl.constexpr, BLOCK_N: tl.constexpr, BM_ROWS: tl.constexpr,
):  # fmt: skip
    """One (query rows x key block) step of the online softmax; returns (m, l, acc)."""
    in_k = cols < Sk
    k = tl.load(k_ptrs, mask=in_k[None, :] & k_mask_d, other=0.0)
    qk = tl.dot(q, k) * qk_scale
    live = tl.broadcast_to(in_k[None, :], (BLOCK_R, BLOCK_N))
    if kind == 1:
        if MODE == 1:
            pos = rows_q[:, None] + off
            live = live & (cols[None, :] >= pos - left) & (cols[None, :] <= pos + right)
        if MODE == 2:
            slot = tl.load(tile_bitmap + e)
            bm = tl.load(
                bitmaps
                + slot * BM_ROWS * BLOCK_N
                + rows_q[:, None] % BM_ROWS * BLOCK_N
                + tl.arange(0, BLOCK_N)[None, :]
            )
            live = live & (bm != 0)
    qk = tl.where(live, qk, float("-inf"))
    m_new = tl.maximum(m_i, tl.max(qk, 1))
    m_safe = tl.where(m_new == float("-inf"), 0.0, m_new)
    p = tl.math.exp2(qk - m_safe[:, None])
    alpha = tl.math.exp2(m_i - m_safe)
    l_i = l_i * alpha + tl.sum(p, 1)
    v = tl.load(v_ptrs, mask=in_k[:, None] & v_mask_d, other=0.0)
    acc = acc * alpha[:, None]
    acc = tl.dot(p.to(v.dtype), v, acc)
    return m_new, l_i, acc


@triton.jit
def _flash_fwd(
    Q, K, V, Out, row_ptr, col_block, col_kind, tile_bitmap, bitmaps,
    qk_scale, Hq, group, Sq, Sk, D, DV, off, left, right,
    sqb, sqh, sqm, sqd, skb, skh, skn, skd, svb, svh, svn, svd, sob, soh, som, sod,
    MODE: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
    HEAD_D: tl.constexpr, HEAD_DV: tl.constexpr,
):  # fmt: skip
    pid_m = tl.program_id(0)
    pid_bh = tl.program_id(1)
    b = pid_bh // Hq
    h = pid_bh % Hq
    hk = h // group
    rows = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = tl.arange(0, BLOCK_N)
    offs_d = tl.arange(0, HEAD_D)
    offs_dv = tl.arange(0, HEAD_DV)
    q_ptrs = Q + b * sqb + h * sqh + rows[:, None] * sqm + offs_d[None, :] * sqd
    q = tl.load(q_ptrs, mask=(rows[:, None] < Sq) & (offs_d[None, :] < D), other=0.0)
    m_i = tl.full([BLOCK_M], float("-inf"), tl.float32)
    l_i = tl.zeros([BLOCK_M], tl.float32)
    acc = tl.zeros([BLOCK_M, HEAD_DV], tl.float32)
    k_base = K + b * skb + hk * skh
    v_base = V + b * svb + hk * svh
    k_mask_d = offs_d[:, None] < D
    v_mask_d = offs_dv[None, :] < DV
    start = tl.load(row_ptr + pid_m)
    end = tl.load(row_ptr + pid_m + 1)
    for e in range(start, end):
        kb = tl.load(col_block + e)
        kind = tl.load(col_kind + e)
        cols = kb * BLOCK_N + offs_n
        k_ptrs = k_base + cols[None, :] * skn + offs_d[:, None] * skd
        v_ptrs = v_base + cols[:, None] * svn + offs_dv[None, :] * svd
        m_i, l_i, acc = _tile_update(
            q, k_ptrs, v_ptrs, cols, rows, e, kind, Sk, off, left, right, tile_bitmap,
            bitmaps, m_i, l_i, acc, qk_scale, k_mask_d, v_mask_d,
            MODE, BLOCK_M, BLOCK_N, BLOCK_M,
        )  # fmt: skip
    out = acc / tl.where(l_i > 0.0, l_i, 1.0)[:, None]
    o_ptrs = Out + b * sob + h * soh + rows[:, None] * som + offs_dv[None, :] * sod
    tl.store(o_ptrs, out.to(Out.dtype.element_ty), mask=(rows[:, None] < Sq) & v_mask_d)


@triton.jit
def _decode_partial(
    Q, K, V, PM, PL, PACC, split_ptr, col_block, col_kind, tile_bitmap, bitmaps,
    qk_scale, Hkv, group, Sq, Sk, D, DV, off, left, right, n_split,
    sqb, sqh, sqm, sqd, skb, skh, skn, skd, svb, svh, svn, svd,
    MODE: tl.constexpr, BLOCK_R: tl.constexpr, BLOCK_N: tl.constexpr,
    HEAD_D: tl.constexpr, HEAD_DV: tl.constexpr, BM_ROWS: tl.constexpr,
):  # fmt: skip
    sp = tl.program_id(0)
    pid_bh = tl.program_id(1)
    b = pid_bh // Hkv
    hk = pid_bh % Hkv
    r = tl.arange(0, BLOCK_R)
    n_rows = group * Sq
    head = hk * group + r // Sq
    qi = r % Sq
    offs_n = tl.arange(0, BLOCK_N)
    offs_d = tl.arange(0, HEAD_D)
    offs_dv = tl.arange(0, HEAD_DV)
    q_ptrs = Q + b * sqb + head[:, None] * sqh + qi[:, None] * sqm + offs_d[None, :] * sqd
    q = tl.load(q_ptrs, mask=(r[:, None] < n_rows) & (offs_d[None, :] < D), other=0.0)
    m_i = tl.full([BLOCK_R], float("-inf"), tl.float32)
    l_i = tl.zeros([BLOCK_R], tl.float32)
    acc = tl.zeros([BLOCK_R, HEAD_DV], tl.float32)
    k_base = K + b * skb + hk * skh
    v_base = V + b * svb + hk * svh
    k_mask_d = offs_d[:, None] < D
    v_mask_d = offs_dv[None, :] < DV
    start = tl.load(split_ptr + sp)
    end = tl.load(split_ptr + sp + 1)
    for e in range(start, end):
        kb = tl.load(col_block + e)
        kind = tl.load(col_kind + e)
        cols = kb * BLOCK_N + offs_n
        k_ptrs = k_base + cols[None, :] * skn + offs_d[:, None] * skd
        v_ptrs = v_base + cols[:, None] * svn + offs_dv[None, :] * svd
        m_i, l_i, acc = _tile_update(
            q, k_ptrs, v_ptrs, cols, qi, e, kind, Sk, off, left, right, tile_bitmap,
            bitmaps, m_i, l_i, acc, qk_scale, k_mask_d, v_mask_d,
            MODE, BLOCK_R, BLOCK_N, BM_ROWS,
        )  # fmt: skip
    base = (pid_bh * n_split + sp) * BLOCK_R
    tl.store(PM + base + r, m_i)
    tl.store(PL + base + r, l_i)
    tl.store(PACC + (base + r[:, None]) * HEAD_DV + offs_dv[None, :], acc)


@triton.jit
def _decode_reduce(
    PM, PL, PACC, Out, Hkv, group, Sq, DV, n_split, sob, soh, som, sod,
    BLOCK_R: tl.constexpr, BLOCK_S: tl.constexpr, HEAD_DV: tl.constexpr,
):  # fmt: skip
    pid_bh = tl.program_id(0)
    r = tl.program_id(1)
    b = pid_bh // Hkv
    hk = pid_bh % Hkv
    s = tl.arange(0, BLOCK_S)
    offs_dv = tl.arange(0, HEAD_DV)
    in_s = s < n_split
    idx = (pid_bh * n_split + s) * BLOCK_R + r
    m = tl.load(PM + idx, mask=in_s, other=float("-inf"))
    lsum = tl.load(PL + idx, mask=in_s, other=0.0)
    m_max = tl.max(m, 0)
    m_safe = tl.where(m_max == float("-inf"), 0.0, m_max)
    w = tl.math.exp2(m - m_safe)
    total = tl.sum(w * lsum, 0)
    acc = tl.load(PACC + idx[:, None] * HEAD_DV + offs_dv[None, :], mask=in_s[:, None], other=0.0)
    out = tl.sum(acc * w[:, None], 0) / tl.where(total > 0.0, total, 1.0)
    head = hk * group + r // Sq
    o_ptrs = Out + b * sob + head * soh + (r % Sq) * som + offs_dv * sod
    tl.store(o_ptrs, out.to(Out.dtype.element_ty), mask=offs_dv < DV)


def _check(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> None:
    if q.dim() != 4 or k.dim() != 4 or v.dim() != 4:
        raise ValueError("q, k, v must be 4-D (batch, heads, seq, dim)")
    if not (q.is_cuda and k.is_cuda and v.is_cuda) and os.environ.get("TRITON_INTERPRET") != "1":
        raise ValueError("q, k, v must be CUDA tensors (or run with TRITON_INTERPRET=1)")
    if q.shape[0] != k.shape[0] or k.shape[:3] != v.shape[:3] or q.shape[3] != k.shape[3]:
        raise ValueError(
            f"incompatible shapes q {tuple(q.shape)} k {tuple(k.shape)} v {tuple(v.shape)}"
        )
    if q.shape[1] % k.shape[1]:
        raise ValueError(
            f"query heads ({q.shape[1]}) must be a multiple of kv heads ({k.shape[1]})"
        )


def _device_arrays(
    mask: MaskPattern, sq: int, sk: int, bq: int, bk: int, device: torch.device
) -> tuple[Any, ...]:
    # the Triton kernels run tiles of consecutive tokens (no patch reordering)
    sched = kernel_schedule(mask, sq, sk, bq, bk, tiling="row-major")
    plan = mask_plan(mask, sq, sk, bq, bk, tiling="row-major")

    def to(a: np.ndarray, dt: torch.dtype) -> torch.Tensor:
        return torch.from_numpy(np.array(a, copy=True)).to(dtype=dt, device=device)

    bitmaps = plan.bitmaps if plan.bitmaps.size else np.zeros((1, bq, bk), np.uint8)
    return (
        sched,
        plan,
        to(sched.row_ptr, torch.int32),
        to(sched.col_block, torch.int32),
        to(sched.col_kind, torch.int32),
        to(np.maximum(plan.tile_bitmap, 0), torch.int32),
        to(bitmaps, torch.uint8),
    )


_CACHE: dict[tuple[Any, ...], tuple[Any, ...]] = {}


def _cached_arrays(
    mask: MaskPattern, sq: int, sk: int, bq: int, bk: int, device: torch.device
) -> tuple[Any, ...]:
    key = (mask, sq, sk, bq, bk, str(device))
    if key not in _CACHE:
        if len(_CACHE) > 64:
            _CACHE.clear()
        _CACHE[key] = _device_arrays(mask, sq, sk, bq, bk, device)
    return _CACHE[key]


def _mode(plan: Any) -> int:
    return int(plan.mode) if plan.mode in (MODE_RANGE, MODE_BITMAP) else 0


def _head_pad(d: int) -> int:
    return max(16, triton.next_power_of_2(d))


def flash_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: MaskPattern,
    *,
    block_m: int = DEFAULT_BLOCK_M,
    block_n: int = DEFAULT_BLOCK_N,
    scale: float | None = None,
    num_warps: int | None = None,
    num_stages: int = 2,
) -> torch.Tensor:
    """Attention forward on CUDA tensors (fp16, bf16 or fp32 -- fp32 runs tf32 dots).

    Shapes as the CPU kernel: q ``(B, Hq, Sq, D)``, k ``(B, Hkv, Sk, D)``, v ``(B, Hkv,
    Sk, Dv)``; returns ``(B, Hq, Sq, Dv)`` in q's dtype. Block sizes are powers of two >= 16.
    """
    _check(q, k, v)
    n_b, n_hq, sq, d = q.shape
    sk, dv = k.shape[2], v.shape[3]
    _, plan, row_ptr, col_block, col_kind, tile_bitmap, bitmaps = _cached_arrays(
        mask, sq, sk, block_m, block_n, q.device
    )
    out = torch.empty((n_b, n_hq, sq, dv), dtype=q.dtype, device=q.device)
    qk_scale = (1.0 / math.sqrt(d) if scale is None else float(scale)) * _LOG2E
    grid = (triton.cdiv(sq, block_m), n_b * n_hq)
    _flash_fwd[grid](
        q, k, v, out, row_ptr, col_block, col_kind, tile_bitmap, bitmaps,
        qk_scale, n_hq, n_hq // k.shape[1], sq, sk, d, dv, plan.offset, plan.left, plan.right,
        *q.stride(), *k.stride(), *v.stride(), *out.stride(),
        MODE=_mode(plan), BLOCK_M=block_m, BLOCK_N=block_n,
        HEAD_D=_head_pad(d), HEAD_DV=_head_pad(dv),
        num_warps=num_warps or (8 if max(d, dv) > 64 else 4), num_stages=num_stages,
    )  # fmt: skip
    return out


def decode_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: MaskPattern,
    *,
    block_n: int = DEFAULT_DECODE_BLOCK_N,
    num_splits: int | None = None,
    scale: float | None = None,
) -> torch.Tensor:
    """Flash-decoding on CUDA tensors: ``q_len * group <= 128`` query rows per kv head.

    The live key blocks are split into ``num_splits`` chunks (by default enough programs
    to fill the GPU twice); partial results are merged by a second kernel.
    """
    _check(q, k, v)
    n_b, n_hq, sq, d = q.shape
    n_hkv, sk, dv = k.shape[1], k.shape[2], v.shape[3]
    group = n_hq // n_hkv
    rows = group * sq
    if rows > 128:
        raise ValueError(f"decode_attention: group * q_len = {rows} rows exceed 128")
    sched, plan, _, col_block, col_kind, tile_bitmap, bitmaps = _cached_arrays(
        mask, sq, sk, sq, block_n, q.device
    )
    live = sched.live_tiles
    if num_splits is None:
        sms = torch.cuda.get_device_properties(q.device).multi_processor_count if q.is_cuda else 4
        num_splits = max(1, min(live, math.ceil(2 * sms / (n_b * n_hkv))))
    num_splits = max(1, min(int(num_splits), max(1, live)))
    split_ptr = torch.as_tensor(
        np.linspace(0, live, num_splits + 1).round().astype(np.int32), device=q.device
    )
    block_r = max(16, triton.next_power_of_2(rows))
    head_dv = _head_pad(dv)
    pm = torch.empty((n_b * n_hkv, num_splits, block_r), dtype=torch.float32, device=q.device)
    pl = torch.empty_like(pm)
    pacc = torch.empty(
        (n_b * n_hkv, num_splits, block_r, head_dv), dtype=torch.float32, device=q.device
    )
    qk_scale = (1.0 / math.sqrt(d) if scale is None else float(scale)) * _LOG2E
    _decode_partial[(num_splits, n_b * n_hkv)](
        q, k, v, pm, pl, pacc, split_ptr, col_block, col_kind, tile_bitmap, bitmaps,
        qk_scale, n_hkv, group, sq, sk, d, dv, plan.offset, plan.left, plan.right, num_splits,
        *q.stride(), *k.stride(), *v.stride(),
        MODE=_mode(plan), BLOCK_R=block_r, BLOCK_N=block_n,
        HEAD_D=_head_pad(d), HEAD_DV=head_dv, BM_ROWS=sq, num_warps=4, num_stages=2,
    )  # fmt: skip
    out = torch.empty((n_b, n_hq, sq, dv), dtype=q.dtype, device=q.device)
    _decode_reduce[(n_b * n_hkv, rows)](
        pm, pl, pacc, out, n_hkv, group, sq, dv, num_splits, *out.stride(),
        BLOCK_R=block_r, BLOCK_S=max(2, triton.next_power_of_2(num_splits)), HEAD_DV=head_dv,
        num_warps=4,
    )  # fmt: skip
    return out
