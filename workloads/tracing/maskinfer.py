"""Turning attention masks seen during a trace into IR mask patterns.

Under ``FakeTensorMode`` a mask tensor has a shape and a dtype but no values.  The
recorder therefore keeps *shadow values*: exact real copies of the small tensors whose
values follow from constants alone (``arange``, ``ones``, ``full``, comparisons,
``tril``, ``where``, indexing with such tensors, real tensors passed as inputs…).  A mask
built that way — which is how transformers, timm and most hand-written models build
causal, sliding-window and block masks — keeps its values and is classified here.

What is and is not recoverable:

* ``is_causal=True`` (any size): exact (``CausalMask``; ``q_len != kv_len`` is
  torch's top-left alignment and becomes a ``BlockSparseMask``).
* A boolean or additive float mask whose values follow from constants and whose
  broadcast size is at most :data:`SHADOW_LIMIT` elements: exact.  It is recognised as
  full, causal (bottom-right aligned) or a sliding window when it is exactly one of those;
  anything else becomes a ``BlockSparseMask`` at the largest power-of-two block size
  ``<= 128`` at which every block is uniformly live or dead (so the layout is exact), or a
  ``CausalBlockMask`` at the largest block size at which the blocks below the diagonal
  are uniform and the diagonal blocks exactly causal (PowerAttention, top-k, ...), or,
  when no such block size gives at most :data:`MAX_LAYOUT_BLOCKS` blocks, at
  :data:`FALLBACK_BLOCK` with every block holding a live pair marked live (the work a
  block-sparse kernel does; the exact density is kept in the workload ``meta``).
* Masks that differ between batch items or heads (padding): the union over them.
* Masks derived from data (token ids, random numbers, model activations) or larger than
  the shadow limit: not recoverable.  The attention is recorded with ``FullMask`` (an
  upper bound on the work) and counted in ``meta["unrecovered_masks"]``.  Prefer
  ``is_causal``, a FlexAttention block mask built outside the fake mode, or a custom op
  that carries the pattern as arguments (:mod:`workloads.custom_ops`).
* Float masks: an entry is live when it is greater than half the dtype's most negative
  finite value (so ``-inf`` and ``finfo.min`` mask a pair, an ALiBi bias does not).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from attnsim.workloads.masks import (
    BlockSparseMask,
    CausalMask,
    FullMask,
    MaskPattern,
    SlidingWindowMask,
)
from attnsim.workloads.masks_sparse import CausalBlockMask

__all__ = [
    "FALLBACK_BLOCK",
    "MAX_LAYOUT_BLOCKS",
    "SHADOW_LIMIT",
    "classify_dense",
    "live_from_tensor",
    "top_left_causal",
]

#: Largest tensor (elements) for which the recorder keeps exact shadow values.
SHADOW_LIMIT = 1 << 24
#: Most blocks an exact ``BlockSparseMask`` layout may have before falling back.
MAX_LAYOUT_BLOCKS = 1 << 16
#: Block size of the conservative layout used when no exact one is small enough.
FALLBACK_BLOCK = 64


def live_from_tensor(mask: torch.Tensor, q_len: int, kv_len: int) -> tuple[np.ndarray, bool]:
    """The ``(q_len, kv_len)`` boolean liveness of a real SDPA mask.

    Returns ``(live, uniform)``: the union over leading (batch/head) dimensions and whether
    every leading slice was the same.
    """
    m = mask
    if m.dtype != torch.bool:
        floor = torch.finfo(m.dtype).min / 2 if m.is_floating_point() else 0
        m = m > floor
    m = m.broadcast_to((*m.shape[:-2], q_len, kv_len)) if m.dim() >= 2 else m.expand(q_len, kv_len)
    flat = m.reshape(-1, q_len, kv_len)
    union = flat.any(dim=0)
    uniform = bool((flat == union).all()) if flat.shape[0] > 1 else True
    return union.numpy().astype(bool), uniform


def _sliding(q_len: int, kv_len: int, left: int, right: int) -> np.ndarray:
    pos = np.arange(q_len)[:, None] + (kv_len - q_len)
    key = np.arange(kv_len)[None, :]
    return (key >= pos - left) & (key <= pos + right)


def top_left_causal(q_len: int, kv_len: int) -> MaskPattern:
    """torch's ``is_causal`` when ``q_len != kv_len``: query ``i`` sees keys ``0..i``."""
    if q_len == kv_len:
        return CausalMask()
    q_idx = np.arange(q_len)[:, None]
    k_idx = np.arange(kv_len)[None, :]
    if q_len * kv_len <= SHADOW_LIMIT:
        return classify_dense(k_idx <= q_idx)[0]
    block = FALLBACK_BLOCK
    while math.ceil(q_len / block) * math.ceil(kv_len / block) > MAX_LAYOUT_BLOCKS:
        block *= 2
    qb = np.arange(math.ceil(q_len / block))[:, None]
    kb = np.arange(math.ceil(kv_len / block))[None, :]
    layout = kb <= qb  # exact at any block size: the diagonal blocks are the partial ones
    return _block_sparse(layout, block)


def _block_sparse(layout: np.ndarray, block: int) -> MaskPattern:
    rows = tuple(tuple(bool(x) for x in row) for row in layout)
    return BlockSparseMask(block_q=block, block_k=block, layout=rows)


def _layout_at(live: np.ndarray, block: int) -> tuple[np.ndarray, bool]:
    """Block layout (any live pair) and whether every block is uniformly live or dead."""
    q_len, kv_len = live.shape
    nq, nk = math.ceil(q_len / block), math.ceil(kv_len / block)
    padded_any = np.zeros((nq * block, nk * block), dtype=bool)
    padded_any[:q_len, :kv_len] = live
    padded_all = np.ones((nq * block, nk * block), dtype=bool)
    padded_all[:q_len, :kv_len] = live
    blocks_any = padded_any.reshape(nq, block, nk, block).any(axis=(1, 3))
    blocks_all = padded_all.reshape(nq, block, nk, block).all(axis=(1, 3))
    return np.asarray(blocks_any, dtype=bool), bool((blocks_any == blocks_all).all())


def _causal_block(live: np.ndarray, block: int) -> MaskPattern | None:
    """A :class:`CausalBlockMask` equal to ``live`` (square, prefill), or None: blocks below
    the diagonal uniformly live or dead, diagonal blocks exactly causal, none above."""
    q_len, kv_len = live.shape
    if q_len != kv_len:
        return None
    nb = math.ceil(kv_len / block)
    blocks_any, _ = _layout_at(live, block)
    lower = np.tril(blocks_any, k=-1)
    candidate = CausalBlockMask(block, tuple(tuple(bool(x) for x in row) for row in lower))
    if np.triu(blocks_any, k=1).any() or not np.array_equal(candidate.dense(q_len, kv_len), live):
        return None
    del nb
    return candidate


def classify_dense(live: np.ndarray) -> tuple[MaskPattern, bool]:
    """Classify a ``(q_len, kv_len)`` boolean liveness matrix.

    Returns ``(pattern, exact)``; ``exact`` is False only for the conservative
    block-sparse fallback (see the module docstring).
    """
    q_len, kv_len = live.shape
    if live.all():
        return FullMask(), True
    rows_live = live.any(axis=1)
    if rows_live.all():
        pos = np.arange(q_len) + (kv_len - q_len)
        first = live.argmax(axis=1)
        last = kv_len - 1 - live[:, ::-1].argmax(axis=1)
        left = int(max(0, (pos - first).max()))
        right = int((last - pos).max())
        if right >= 0 and np.array_equal(live, _sliding(q_len, kv_len, left, right)):
            if right == 0 and left >= kv_len - 1:
                return CausalMask(), True
            return SlidingWindowMask(left=left, right=right), True
    for block in (128, 64, 32, 16, 8, 4, 2, 1):
        if math.ceil(q_len / block) * math.ceil(kv_len / block) > MAX_LAYOUT_BLOCKS:
            continue
        layout, uniform = _layout_at(live, block)
        if uniform:
            return _block_sparse(layout, block), True
        causal = _causal_block(live, block)
        if causal is not None:
            return causal, True
    block = FALLBACK_BLOCK
    while math.ceil(q_len / block) * math.ceil(kv_len / block) > MAX_LAYOUT_BLOCKS:
        block *= 2
    layout, _ = _layout_at(live, block)
    return _block_sparse(layout, block), False
