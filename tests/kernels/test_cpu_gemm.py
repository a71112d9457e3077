"""The tiled GEMM against numpy."""

from __future__ import annotations

import numpy as np
import pytest
from attnsim.kernels.cpu import gemm
from hypothesis import given, settings
from hypothesis import strategies as st


@settings(max_examples=25, deadline=None, derandomize=True)
@given(
    m=st.integers(1, 150),
    n=st.integers(1, 150),
    k=st.integers(1, 150),
    block=st.sampled_from([1, 7, 32, 64, 256]),
)
def test_gemm_matches_numpy(m, n, k, block):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(m * 10007 + n * 101 + k)
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((k, n), dtype=np.float32)
    np.testing.assert_allclose(gemm(a, b, block=block), a @ b, atol=1e-4 * k, rtol=1e-4)


def test_gemm_edge_cases() -> None:
    assert gemm(np.zeros((0, 3)), np.zeros((3, 4))).shape == (0, 4)
    np.testing.assert_array_equal(gemm(np.zeros((2, 0)), np.zeros((0, 3))), np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"gemm needs \(m, k\) @ \(k, n\)"):
        gemm(np.zeros((2, 3)), np.zeros((4, 3)))
    with pytest.raises(ValueError, match="block must be >= 1, got 0"):
        gemm(np.zeros((2, 3)), np.zeros((3, 3)), block=0)


def test_default_gemm_block() -> None:
    from attnsim.kernels.cpu.flash import gemm_block

    assert gemm_block(2048, 2048, 2) == 704
    assert gemm_block(64, 64, 2) == 128
    assert gemm_block(100_000, 100_000, 1) == 1024
    a = np.ones((300, 20), np.float32)
    np.testing.assert_allclose(gemm(a, a.T), np.full((300, 300), 20.0))
