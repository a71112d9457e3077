"""CPU attention kernels (numba): tiled online-softmax forward, split-KV decode, tiled GEMM.

FlashAttention-2 structure on a CPU: each task owns one query block of one (batch,
head), keeps its running max / sum / output accumulator in thread-local buffers and
walks only the live key blocks of :func:`~kernels.cpu.schedule.kernel_schedule`. Full
tiles run without a predicate; partial tiles are masked per element (an interval per
row for causal / sliding window, a precomputed bool block per tile for neighborhood,
block-sparse and other masks). Both products of a tile are OpenBLAS ``sgemm`` calls on
contiguous blocks. A query row with no live key returns zeros.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from attnsim.kernels.cpu import _flash_nb as nb
from attnsim.kernels.cpu._blas import single_threaded_blas
from attnsim.kernels.cpu._fastmath import LOG2E
from attnsim.kernels.cpu.schedule import (
    kernel_schedule,
    mask_plan,
    thread_assignment,
)
from attnsim.workloads.masks import MaskPattern

__all__ = [
    "attention_forward",
    "decode_forward",
    "gemm",
    "gemm_block",
    "decode_splits",
    "DEFAULT_BLOCK_Q",
    "DEFAULT_BLOCK_K",
    "DEFAULT_DECODE_BLOCK_K",
]

DEFAULT_BLOCK_Q = 64
DEFAULT_BLOCK_K = 64
DEFAULT_DECODE_BLOCK_K = 128


def _as_f32(name: str, x: np.ndarray) -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim != 4:
        raise ValueError(f"{name} must be 4-D (batch, heads, seq, dim), got shape {arr.shape}")
    return np.ascontiguousarray(arr, dtype=np.float32)


def _check_qkv(q: np.ndarray, k: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, ...]:
    q, k, v = _as_f32("q", q), _as_f32("k", k), _as_f32("v", v)
    if q.shape[0] != k.shape[0] or k.shape[:3] != v.shape[:3]:
        raise ValueError(
            f"q {q.shape}, k {k.shape}, v {v.shape}: batch must match and k, v must agree "
            "on (batch, kv_heads, kv_len)"
        )
    if q.shape[3] != k.shape[3]:
        raise ValueError(f"head dims of q ({q.shape[3]}) and k ({k.shape[3]}) must match")
    if k.shape[1] < 1 or q.shape[1] % k.shape[1] != 0:
        raise ValueError(
            f"query heads ({q.shape[1]}) must be a multiple of kv heads ({k.shape[1]}) (GQA)"
        )
    if min(q.shape) < 1 or min(k.shape) < 1 or min(v.shape) < 1:
        raise ValueError(f"empty input: q {q.shape}, k {k.shape}, v {v.shape}")
    return q, k, v


def _check_block(name: str, value: int) -> int:
    if int(value) < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")
    return int(value)


def _qscale(scale: float | None, head_dim: int) -> np.float32:
    s = 1.0 / math.sqrt(head_dim) if scale is None else float(scale)
    return np.float32(s * LOG2E)


def attention_forward(
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    mask: MaskPattern,
    *,
    block_q: int = DEFAULT_BLOCK_Q,
    block_k: int = DEFAULT_BLOCK_K,
    scale: float | None = None,
    tiling: str = "auto",
) -> np.ndarray:
    """Fused attention forward ``softmax(q k^T * scale + mask) v`` on the CPU.

    Args:
        q: float32 ``(batch, q_heads, q_len, head_dim)``.
        k: float32 ``(batch, kv_heads, kv_len, head_dim)``; ``q_heads % kv_heads == 0``
            (grouped-query attention: query head ``h`` reads kv head ``h // group``).
        v: float32 ``(batch, kv_heads, kv_len, head_dim_v)``.
        mask: a ``workloads.masks.MaskPattern``; causal masks are bottom-right aligned.
        block_q, block_k: tile sizes (tokens).
        scale: score scale; ``1/sqrt(head_dim)`` when ``None``.
        tiling: ``"auto"`` tiles a multi-axis neighborhood mask by patches of the token
            grid (tokens are gathered into patch order and scattered back; see
            :func:`~kernels.cpu.schedule.kernel_schedule`); ``"row-major"`` never does.

    Returns:
        float32 ``(batch, q_heads, q_len, head_dim_v)``; rows with no live key are zero.
    """
    q, k, v = _check_qkv(q, k, v)
    block_q = _check_block("block_q", block_q)
    block_k = _check_block("block_k", block_k)
    n_b, n_hq, sq, d = q.shape
    sk = k.shape[2]
    sched = kernel_schedule(mask, sq, sk, block_q, block_k, tiling=tiling)
    plan = mask_plan(mask, sq, sk, block_q, block_k, tiling=tiling)
    worker_ptr, order = thread_assignment(sched, n_b * n_hq, numba.get_num_threads())
    perm = sched.token_order
    if perm is not None:  # patch tiles: gather tokens into patch order
        q, k, v = (np.take(x, perm, axis=2) for x in (q, k, v))
    out = np.empty((n_b, n_hq, sq, v.shape[3]), np.float32)
    with single_threaded_blas():
        nb.flash_prefill(
            q, k, v, out, _qscale(scale, d), sched.block_q, sched.block_k,
            sched.row_ptr, sched.col_block, sched.col_kind,
            plan.mode, plan.offset, plan.left, plan.right, plan.tile_bitmap, plan.bitmaps,
            worker_ptr, order,
        )  # fmt: skip
    if perm is not None:
        scattered = np.empty_like(out)
        scattered[:, :, perm] = out
        return scattered
    return out


def decode_splits(live_tiles: int, tasks_without_split: int, workers: int) -> int:
    """Number of KV splits of the decode kernel: enough tasks for ~4 per worker thread,
    never more splits than live key tiles."""
    if live_tiles <= 0:
        return 1
    want = max(1, math.ceil(4 * workers / max(1, tasks_without_split)))
    return int(min(live_tiles, want))


def decode_forward(
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    mask: MaskPattern,
    *,
    block_k: int = DEFAULT_DECODE_BLOCK_K,
    num_splits: int | None = None,
    scale: float | None = None,
) -> np.ndarray:
    """Attention of a few new queries against a KV cache (flash-decoding).

    The live key blocks are split into ``num_splits`` contiguous chunks; each (batch, kv
    head, chunk) is one parallel task that stacks the ``group * q_len`` query rows sharing
    the kv head, and a second pass merges the chunks' partial softmax statistics.

    Args:
        q: float32 ``(batch, q_heads, q_len, head_dim)`` with ``q_len <= block_k``
            (typically 1); query ``i`` sits at position ``kv_len - q_len + i``.
        k, v: the cache, ``(batch, kv_heads, kv_len, head_dim[_v])``.
        mask: the mask over (q_len, kv_len).
        block_k: key tile size (tokens).
        num_splits: KV chunks; chosen from the thread count when ``None``.
        scale: score scale; ``1/sqrt(head_dim)`` when ``None``.

    Returns:
        float32 ``(batch, q_heads, q_len, head_dim_v)``.
    """
    q, k, v = _check_qkv(q, k, v)
    block_k = _check_block("block_k", block_k)
    n_b, n_hq, sq, d = q.shape
    n_hkv, sk, dv = k.shape[1], k.shape[2], v.shape[3]
    if sq > block_k:
        raise ValueError(
            f"decode_forward takes q_len <= block_k ({block_k}), got q_len {sq}; "
            "use attention_forward for prefill"
        )
    sched = kernel_schedule(mask, sq, sk, sq, block_k, tiling="row-major")
    plan = mask_plan(mask, sq, sk, sq, block_k, tiling="row-major")
    live = sched.live_tiles
    if num_splits is None:
        splits = decode_splits(live, n_b * n_hkv, numba.get_num_threads())
    else:
        splits = _check_block("num_splits", num_splits)
        splits = max(1, min(splits, max(1, live)))
    split_ptr = np.linspace(0, live, splits + 1).round().astype(np.int64)
    rows = (n_hq // n_hkv) * sq
    part_m = np.empty((n_b, n_hkv, splits, rows), np.float32)
    part_l = np.empty((n_b, n_hkv, splits, rows), np.float32)
    part_acc = np.empty((n_b, n_hkv, splits, rows, dv), np.float32)
    out = np.empty((n_b, n_hq, sq, dv), np.float32)
    with single_threaded_blas():
        nb.flash_decode_partial(
            q, k, v, _qscale(scale, d), block_k, split_ptr, sched.col_block, sched.col_kind,
            plan.mode, plan.offset, plan.left, plan.right, plan.tile_bitmap, plan.bitmaps,
            part_m, part_l, part_acc,
        )  # fmt: skip
        nb.flash_decode_reduce(part_m, part_l, part_acc, out)
    return out


def gemm_block(m: int, n: int, workers: int) -> int:
    """Default output tile of :func:`gemm`: about four tiles per worker thread, a multiple
    of 64 between 128 and 1024 (larger tiles run OpenBLAS more efficiently)."""
    side = math.sqrt(max(1, m * n) / (4 * max(1, workers)))
    return int(min(1024, max(128, round(side / 64) * 64)))


def gemm(a: np.ndarray, b: np.ndarray, *, block: int | None = None) -> np.ndarray:
    """float32 ``a @ b`` tiled into ``block x block`` output tiles computed in parallel
    (one single-threaded OpenBLAS call per tile, over the whole inner dimension);
    ``block`` defaults to :func:`gemm_block`."""
    a = np.ascontiguousarray(a, dtype=np.float32)
    b = np.ascontiguousarray(b, dtype=np.float32)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
        raise ValueError(f"gemm needs (m, k) @ (k, n), got {a.shape} @ {b.shape}")
    if block is None:
        block = gemm_block(a.shape[0], b.shape[1], numba.get_num_threads())
    block = _check_block("block", block)
    c = np.empty((a.shape[0], b.shape[1]), np.float32)
    if c.size == 0:
        return c
    if a.shape[1] == 0:
        c[:] = 0.0
        return c
    with single_threaded_blas():
        nb.gemm_tiles(a, b, c, block, block)
    return c
