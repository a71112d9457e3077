"""Shared hypothesis strategies and torch references for the rtl_models tests."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp


@st.composite
def int8_matrix(draw, rows: int, cols: int, lo: int = -128, hi: int = 127) -> np.ndarray:
    """An int8 (rows, cols) matrix with values in [lo, hi]; edges (lo, hi, 0) are likely."""
    return draw(
        hnp.arrays(
            np.int8,
            (rows, cols),
            elements=st.one_of(st.integers(lo, hi), st.sampled_from([lo, hi, 0, -1, 1])),
        )
    )


@st.composite
def matmul_operands(draw, b_lo: int = -128, b_hi: int = 127, max_k: int = 80):
    """(a (m, k) int8, b (k, n) in [b_lo, b_hi]) with small random shapes."""
    m = draw(st.integers(1, 5))
    k = draw(st.integers(1, max_k))
    n = draw(st.integers(1, 12))
    a = draw(int8_matrix(m, k))
    b = draw(int8_matrix(k, n, b_lo, b_hi))
    return a, b


def torch_int_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The torch integer reference: int64 matmul."""
    return (torch.from_numpy(a.astype(np.int64)) @ torch.from_numpy(b.astype(np.int64))).numpy()


def torch_wrap(x: np.ndarray, bits: int) -> np.ndarray:
    """Two's-complement wrap to ``bits`` in torch (independent of rtl_models.intmath)."""
    t = torch.from_numpy(x.astype(np.int64))
    half = 1 << (bits - 1)
    return (torch.remainder(t + half, 1 << bits) - half).numpy()
