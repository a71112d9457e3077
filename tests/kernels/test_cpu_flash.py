"""The numba flash kernel against torch SDPA, for every mask kind, over random shapes."""

from __future__ import annotations

import numpy as np
import pytest
from attnsim.kernels.cpu import attention_forward
from attnsim.workloads.errors import WorkloadError
from attnsim.workloads.masks import (
    BlockSparseMask,
    CausalMask,
    FullMask,
    NeighborhoodMask,
    SharedPrefixMask,
    SlidingWindowMask,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kernels_testlib import random_qkv, sdpa_reference

ATOL = 1e-4
RTOL = 1e-4
SETTINGS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)

blocks = st.sampled_from([4, 8, 16, 32, 64])
heads = st.tuples(st.integers(1, 2), st.integers(1, 3))  # (kv heads, group size)
dims = st.tuples(st.sampled_from([4, 8, 16, 24, 32]), st.sampled_from([4, 8, 16, 40]))


def _check(mask, q_len, kv_len, hg, dd, bq, bk, seed, batch=1, scale=None):  # type: ignore[no-untyped-def]
    hkv, group = hg
    d, dv = dd
    q, k, v = random_qkv(seed, batch, hkv * group, hkv, q_len, kv_len, d, dv)
    out = attention_forward(q, k, v, mask, block_q=bq, block_k=bk, scale=scale)
    assert out.shape == (batch, hkv * group, q_len, dv)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, sdpa_reference(q, k, v, mask, scale), atol=ATOL, rtol=RTOL)


@SETTINGS
@given(
    q_len=st.integers(1, 90),
    kv_len=st.integers(1, 90),
    hg=heads,
    dd=dims,
    bq=blocks,
    bk=blocks,
    seed=st.integers(0, 2**16),
)
def test_dense_and_gqa(q_len, kv_len, hg, dd, bq, bk, seed):  # type: ignore[no-untyped-def]
    _check(FullMask(), q_len, kv_len, hg, dd, bq, bk, seed, batch=2)


@SETTINGS
@given(
    q_len=st.integers(1, 90),
    kv_len=st.integers(1, 90),
    hg=heads,
    dd=dims,
    bq=blocks,
    bk=blocks,
    seed=st.integers(0, 2**16),
)
def test_causal_bottom_right(q_len, kv_len, hg, dd, bq, bk, seed):  # type: ignore[no-untyped-def]
    # q_len > kv_len leaves the first rows without keys: they must come back as zeros
    _check(CausalMask(), q_len, kv_len, hg, dd, bq, bk, seed)


@SETTINGS
@given(
    q_len=st.integers(1, 90),
    kv_len=st.integers(1, 90),
    left=st.integers(0, 40),
    right=st.integers(0, 20),
    bq=blocks,
    bk=blocks,
    seed=st.integers(0, 2**16),
)
def test_sliding_window(q_len, kv_len, left, right, bq, bk, seed):  # type: ignore[no-untyped-def]
    _check(SlidingWindowMask(left, right), q_len, kv_len, (2, 2), (16, 16), bq, bk, seed)


@st.composite
def neighborhoods(draw):  # type: ignore[no-untyped-def]
    ndim = draw(st.integers(1, 3))
    spatial, window, dilation, stride, causal = [], [], [], [], []
    for _ in range(ndim):
        length = draw(st.integers(2, 12 if ndim < 3 else 5))
        dil = draw(st.integers(1, max(1, length // 2)))
        win = draw(st.integers(1, length // dil))
        spatial.append(length)
        dilation.append(dil)
        window.append(win)
        stride.append(draw(st.integers(1, win)))
        causal.append(draw(st.booleans()))
    return NeighborhoodMask(
        tuple(spatial), tuple(window), tuple(dilation), tuple(stride), tuple(causal)
    )


@SETTINGS
@given(mask=neighborhoods(), bq=blocks, bk=blocks, seed=st.integers(0, 2**16))
def test_neighborhood(mask, bq, bk, seed):  # type: ignore[no-untyped-def]
    n = mask.tokens
    _check(mask, n, n, (1, 2), (8, 8), bq, bk, seed)


@pytest.mark.parametrize("tiling", ["auto", "row-major"])
@pytest.mark.parametrize(
    "mask",
    [
        NeighborhoodMask((16, 16), (5, 5)),
        NeighborhoodMask((12, 20), (5, 3), (2, 3)),
        NeighborhoodMask((8, 12), (3, 5), (1, 2), (3, 2), (True, False)),
        NeighborhoodMask((4, 6, 8), (3, 3, 5), (1, 2, 1), (1, 1, 1), (False, False, True)),
    ],
)
def test_neighborhood_patch_tiles(mask, tiling):  # type: ignore[no-untyped-def]
    n = mask.tokens
    q, k, v = random_qkv(7, 2, 4, 2, n, n, 16, 8)
    for block in (16, 32):
        out = attention_forward(q, k, v, mask, block_q=block, block_k=block, tiling=tiling)
        np.testing.assert_allclose(out, sdpa_reference(q, k, v, mask), atol=ATOL, rtol=RTOL)


def test_neighborhood_2d_dilated_example() -> None:
    """A DiNAT-style layer: 2-D grid, window 5x5, dilation 2, tiles not aligned to rows."""
    mask = NeighborhoodMask((12, 10), (5, 5), (2, 2))
    _check(mask, 120, 120, (2, 1), (32, 32), 16, 24, seed=3)


@st.composite
def block_sparse(draw):  # type: ignore[no-untyped-def]
    mbq = draw(st.sampled_from([4, 8, 16, 32]))
    mbk = draw(st.sampled_from([4, 8, 16, 32]))
    q_len = draw(st.integers(1, 80))
    kv_len = draw(st.integers(1, 80))
    nq, nk = -(-q_len // mbq), -(-kv_len // mbk)
    rows = draw(
        st.lists(st.lists(st.booleans(), min_size=nk, max_size=nk), min_size=nq, max_size=nq)
    )
    return BlockSparseMask(mbq, mbk, tuple(tuple(r) for r in rows)), q_len, kv_len


@SETTINGS
@given(case=block_sparse(), bq=blocks, bk=blocks, seed=st.integers(0, 2**16))
def test_block_sparse_any_tiling(case, bq, bk, seed):  # type: ignore[no-untyped-def]
    # kernel tiles need not match the layout's blocks: misaligned tiles become partial
    mask, q_len, kv_len = case
    _check(mask, q_len, kv_len, (1, 2), (8, 8), bq, bk, seed)


def test_block_sparse_aligned_has_no_partial_tiles() -> None:
    from attnsim.kernels.cpu import kernel_schedule

    layout = ((True, False, True), (False, False, False), (True, True, False))
    mask = BlockSparseMask(16, 16, layout)
    sched = kernel_schedule(mask, 40, 48, 16, 16)
    assert sched.partial_tiles == 0 and sched.full_tiles == 4 and sched.dead_tiles == 5
    _check(mask, 40, 48, (1, 1), (16, 16), 16, 16, seed=0)


def test_shared_prefix_uses_the_generic_bitmap_path() -> None:
    mask = SharedPrefixMask(prefix_len=21, num_continuations=3, continuation_len=13)
    n = mask.total_len
    _check(mask, n, n, (2, 2), (16, 16), 16, 8, seed=5)


def test_rows_without_keys_are_zero() -> None:
    q, k, v = random_qkv(0, 1, 2, 2, 20, 8, 8, 8)
    out = attention_forward(q, k, v, CausalMask(), block_q=8, block_k=4)
    assert np.all(out[:, :, :12] == 0.0)  # queries before the first key (bottom-right)
    assert np.all(np.isfinite(out))
    layout = ((True,), (False,), (True,))
    out = attention_forward(q, k, v, BlockSparseMask(8, 8, layout), block_q=8, block_k=8)
    assert np.all(out[:, :, 8:16] == 0.0) and np.any(out[:, :, :8] != 0.0)


def test_scale_and_non_contiguous_float64_inputs() -> None:
    q, k, v = random_qkv(1, 1, 2, 1, 33, 45, 16, 16)
    qt = np.asfortranarray(q.astype(np.float64))
    out = attention_forward(qt, k, v, CausalMask(), block_q=16, block_k=16, scale=0.3)
    np.testing.assert_allclose(out, sdpa_reference(q, k, v, CausalMask(), 0.3), atol=ATOL)


def test_large_scores_stay_finite() -> None:
    q, k, v = random_qkv(2, 1, 1, 1, 64, 64, 32, 32)
    out = attention_forward(q * 30, k * 30, v, FullMask(), block_q=16, block_k=16)
    ref = sdpa_reference(q * 30, k * 30, v, FullMask())
    np.testing.assert_allclose(out, ref, atol=1e-3)


@pytest.mark.parametrize(
    ("shapes", "match"),
    [
        (((1, 3, 8, 8), (1, 2, 8, 8), (1, 2, 8, 8)), "multiple of kv heads"),
        (((1, 2, 8, 8), (1, 2, 8, 4), (1, 2, 8, 8)), "head dims"),
        (((1, 2, 8, 8), (1, 2, 8, 8), (1, 2, 7, 8)), "must agree"),
        (((2, 8, 8), (1, 2, 8, 8), (1, 2, 8, 8)), "must be 4-D"),
    ],
)
def test_bad_shapes_are_refused(shapes, match):  # type: ignore[no-untyped-def]
    arrays = [np.zeros(s, np.float32) for s in shapes]
    with pytest.raises(ValueError, match=match):
        attention_forward(*arrays, FullMask())


def test_bad_block_and_mask_shape_are_refused() -> None:
    q, k, v = random_qkv(0, 1, 1, 1, 8, 8, 8, 8)
    with pytest.raises(ValueError, match="block_q must be >= 1, got 0"):
        attention_forward(q, k, v, FullMask(), block_q=0)
    with pytest.raises(WorkloadError, match="do not match the grid"):
        attention_forward(q, k, v, NeighborhoodMask((3, 3), (3, 3)))
