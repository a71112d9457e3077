"""Shared helpers of the kernel tests: the torch SDPA reference and random problems.

(A plain module with a unique name rather than ``conftest.py``: test modules import it.)
"""

from __future__ import annotations

import numpy as np
import torch
from attnsim.workloads.masks import MaskPattern


def sdpa_reference(
    q: np.ndarray, k: np.ndarray, v: np.ndarray, mask: MaskPattern, scale: float | None = None
) -> np.ndarray:
    """``torch.nn.functional.scaled_dot_product_attention`` with ``mask.dense`` as a bool
    mask (float64 for a tight reference); rows with no live key are defined as zeros."""
    live = torch.from_numpy(mask.dense(q.shape[2], k.shape[2]))
    out = torch.nn.functional.scaled_dot_product_attention(
        torch.from_numpy(q).double(),
        torch.from_numpy(k).double(),
        torch.from_numpy(v).double(),
        attn_mask=live,
        scale=scale,
        enable_gqa=q.shape[1] != k.shape[1],
    ).numpy()
    out = out.copy()
    out[:, :, ~live.numpy().any(axis=1)] = 0.0
    return out.astype(np.float32)


def random_qkv(
    seed: int, batch: int, q_heads: int, kv_heads: int, q_len: int, kv_len: int, d: int, dv: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """float32 standard-normal q, k, v of the given shapes."""
    rng = np.random.default_rng(seed)
    q = rng.standard_normal((batch, q_heads, q_len, d), dtype=np.float32)
    k = rng.standard_normal((batch, kv_heads, kv_len, d), dtype=np.float32)
    v = rng.standard_normal((batch, kv_heads, kv_len, dv), dtype=np.float32)
    return q, k, v
