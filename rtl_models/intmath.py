"""Exact integer arithmetic helpers shared by the unit models (vectorised numpy).

Integer matrix products go through float32 BLAS in blocks of the reduction dimension
small enough that every partial sum is an integer below 2**24 in magnitude, where
float32 is exact; the blocks are added in int64. This is exact and ~100x faster than
numpy's integer matmul on this host.
"""

from __future__ import annotations

import numpy as np

from .cost import RtlModelError

__all__ = ["int_matmul", "wrap_signed", "as_int_array"]

_F32_EXACT = 1 << 24


def as_int_array(name: str, x: object, *, ndim: int, lo: int, hi: int, where: str) -> np.ndarray:
    """``x`` as an integer array (its own integer dtype, not copied) of ``ndim``
    dimensions with values in ``[lo, hi]``, or an :class:`RtlModelError` naming
    ``where.name``."""
    arr = np.asarray(x)
    if arr.ndim != ndim or arr.size == 0:
        raise RtlModelError(
            f"rtl_models: {where}.{name}: got shape {arr.shape}; expected a non-empty "
            f"{ndim}-d array"
        )
    if not np.issubdtype(arr.dtype, np.integer):
        raise RtlModelError(
            f"rtl_models: {where}.{name}: got dtype {arr.dtype}; expected an integer array"
        )
    amin, amax = int(arr.min()), int(arr.max())
    if amin < lo or amax > hi:
        raise RtlModelError(
            f"rtl_models: {where}.{name}: values span [{amin}, {amax}]; "
            f"expected values in [{lo}, {hi}]"
        )
    return arr


def int_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Exact ``a @ b`` of integer matrices (int64 result)."""
    a = np.asarray(a)
    b = np.asarray(b)
    k = a.shape[-1]
    amax = max(abs(int(a.min(initial=0))), abs(int(a.max(initial=0))))
    bmax = max(abs(int(b.min(initial=0))), abs(int(b.max(initial=0))))
    if amax == 0 or bmax == 0:
        return np.zeros((a.shape[0], b.shape[1]), dtype=np.int64)
    chunk = (_F32_EXACT - 1) // (amax * bmax)
    if chunk < 1:
        return a.astype(np.int64) @ b.astype(
            np.int64
        )  # operands too wide for float32 blocks: plain integer matmul
    af = a.astype(np.float32)
    bf = b.astype(np.float32)
    out = np.zeros((a.shape[0], b.shape[1]), dtype=np.int64)
    for s in range(0, k, chunk):
        out += (af[:, s : s + chunk] @ bf[s : s + chunk, :]).astype(np.int64)
    return out


def wrap_signed(x: np.ndarray, bits: int) -> np.ndarray:
    """Two's-complement wrap of int64 ``x`` to ``bits`` bits (what a ``bits``-wide
    register holds after an overflowing add)."""
    half = 1 << (bits - 1)
    return ((np.asarray(x, dtype=np.int64) + half) % (1 << bits)) - half
