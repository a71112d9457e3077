"""Split-KV decode against torch SDPA."""

from __future__ import annotations

import numpy as np
import pytest
from attnsim.kernels.cpu import decode_forward
from attnsim.kernels.cpu.flash import decode_splits
from attnsim.workloads.masks import CausalMask, FullMask, SlidingWindowMask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kernels_testlib import random_qkv, sdpa_reference

masks = st.one_of(
    st.just(FullMask()),
    st.just(CausalMask()),
    st.builds(SlidingWindowMask, st.integers(0, 100), st.integers(0, 3)),
)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
@given(
    mask=masks,
    kv_len=st.integers(1, 300),
    q_len=st.integers(1, 4),
    hkv=st.integers(1, 3),
    group=st.sampled_from([1, 2, 4]),
    block_k=st.sampled_from([8, 16, 32, 128]),
    splits=st.one_of(st.none(), st.integers(1, 12)),
    seed=st.integers(0, 2**16),
)
def test_decode_matches_sdpa(mask, kv_len, q_len, hkv, group, block_k, splits, seed):  # type: ignore[no-untyped-def]
    q, k, v = random_qkv(seed, 2, hkv * group, hkv, q_len, kv_len, 16, 24)
    out = decode_forward(q, k, v, mask, block_k=block_k, num_splits=splits)
    np.testing.assert_allclose(out, sdpa_reference(q, k, v, mask), atol=1e-4, rtol=1e-4)


def test_decode_window_skips_old_cache_blocks() -> None:
    from attnsim.kernels.cpu import kernel_schedule

    sched = kernel_schedule(SlidingWindowMask(63), 1, 4096, 1, 128)
    assert sched.live_tiles == 1  # positions 4032..4095 live in one 128-token tile


def test_decode_rows_without_keys_are_zero() -> None:
    q, k, v = random_qkv(0, 1, 2, 1, 4, 2, 8, 8)  # 4 queries, 2 keys, causal
    out = decode_forward(q, k, v, CausalMask(), block_k=8, num_splits=3)
    assert np.all(out[:, :, :2] == 0.0)
    np.testing.assert_allclose(out, sdpa_reference(q, k, v, CausalMask()), atol=1e-4)


def test_decode_refuses_long_queries() -> None:
    q, k, v = random_qkv(0, 1, 1, 1, 40, 64, 8, 8)
    with pytest.raises(ValueError, match="q_len <= block_k"):
        decode_forward(q, k, v, FullMask(), block_k=32)
    with pytest.raises(ValueError, match="num_splits must be >= 1, got 0"):
        decode_forward(q[:, :, :1], k, v, FullMask(), num_splits=0)


def test_decode_splits_rule() -> None:
    assert decode_splits(0, 8, 2) == 1
    assert decode_splits(100, 1, 2) == 8  # 4 tasks per worker thread
    assert decode_splits(3, 1, 16) == 3  # never more splits than tiles
    assert decode_splits(100, 64, 2) == 1


def test_decode_with_bitmap_masks() -> None:
    """Masks masked per tile by a precomputed bool block (block-sparse off the kernel's
    tiles, shared prefix) go through the same split-KV path."""
    from attnsim.workloads.masks import BlockSparseMask, SharedPrefixMask

    layout = ((True, False, True, True, False),)
    q, k, v = random_qkv(4, 2, 4, 2, 3, 70, 16, 16)
    mask = BlockSparseMask(3, 16, layout)
    out = decode_forward(q, k, v, mask, block_k=8, num_splits=4)
    np.testing.assert_allclose(out, sdpa_reference(q, k, v, mask), atol=1e-4, rtol=1e-4)
    shared = SharedPrefixMask(prefix_len=5, num_continuations=1, continuation_len=3)
    q, k, v = random_qkv(5, 1, 2, 1, 8, 8, 16, 16)  # 8 queries = the whole sequence
    out = decode_forward(q, k, v, shared, block_k=8, num_splits=2)
    np.testing.assert_allclose(out, sdpa_reference(q, k, v, shared), atol=1e-4, rtol=1e-4)
