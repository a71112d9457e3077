"""The tile schedule the CPU kernel runs: dead tiles never visited, counts exposed."""

from __future__ import annotations

import numpy as np
import pytest
from attnsim.kernels.cpu import kernel_schedule, mask_plan
from attnsim.kernels.cpu.schedule import FULL, MODE_BITMAP, MODE_NONE, MODE_RANGE, balance_tasks
from attnsim.workloads.masks import CausalMask, FullMask, NeighborhoodMask, SlidingWindowMask
from hypothesis import given, settings
from hypothesis import strategies as st


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    q_len=st.integers(1, 300),
    kv_len=st.integers(1, 300),
    left=st.integers(0, 300),
    bq=st.sampled_from([8, 16, 64]),
    bk=st.sampled_from([8, 16, 64]),
)
def test_schedule_matches_liveness(q_len, kv_len, left, bq, bk):  # type: ignore[no-untyped-def]
    mask = SlidingWindowMask(left)
    sched = kernel_schedule(mask, q_len, kv_len, bq, bk)
    live = mask.tile_liveness(q_len, kv_len, bq, bk)
    assert sched.live_tiles == int(np.count_nonzero(live))
    assert sched.full_tiles + sched.partial_tiles + sched.dead_tiles == live.size
    rows = np.repeat(np.arange(live.shape[0]), sched.tiles_per_q_block())
    np.testing.assert_array_equal(live[rows, sched.col_block], sched.col_kind)
    assert np.all(sched.col_kind > 0)  # dead tiles are never listed
    # a wider window never visits fewer tiles (sparser mask, never more work)
    wider = kernel_schedule(SlidingWindowMask(left + 17), q_len, kv_len, bq, bk)
    assert wider.live_tiles >= sched.live_tiles


def test_counts_of_causal_square() -> None:
    counts = kernel_schedule(CausalMask(), 256, 256, 64, 64).counts()
    assert counts == {
        "block_q": 64,
        "block_k": 64,
        "q_blocks": 4,
        "k_blocks": 4,
        "full": 6,
        "partial": 4,
        "dead": 6,
        "live": 10,
        "total": 16,
        "patch_tokens": 0,
    }


def test_mask_plans() -> None:
    assert mask_plan(FullMask(), 100, 100, 32, 32).mode == MODE_NONE
    plan = mask_plan(CausalMask(), 10, 100, 8, 8)
    assert (plan.mode, plan.offset, plan.right) == (MODE_RANGE, 90, 0)
    na = NeighborhoodMask((8, 8), (3, 3))
    plan = mask_plan(na, 64, 64, 16, 16)
    sched = kernel_schedule(na, 64, 64, 16, 16)
    assert plan.mode == MODE_BITMAP
    assert plan.bitmaps.shape == (sched.partial_tiles, 16, 16)
    assert np.all(plan.tile_bitmap[sched.col_kind == FULL] == -1)


def test_balance_tasks_is_lpt_and_complete() -> None:
    costs = np.array([5.0, 1.0, 4.0, 3.0, 3.0])
    ptr, order = balance_tasks(costs, 2)
    loads = [costs[order[ptr[w] : ptr[w + 1]]].sum() for w in range(2)]
    assert sorted(order.tolist()) == [0, 1, 2, 3, 4]
    assert sorted(loads) == [8.0, 8.0]


def test_schedule_refuses_bad_sizes() -> None:
    with pytest.raises(ValueError, match="block_k must be >= 1, got -1"):
        kernel_schedule(FullMask(), 8, 8, 8, -1)
    with pytest.raises(ValueError, match="q_len must be >= 1, got 0"):
        kernel_schedule(FullMask(), 0, 8)


PATCH_CASES = [
    (NeighborhoodMask((16, 16), (5, 5)), 64, (8, 8)),
    (NeighborhoodMask((12, 20), (5, 3), (2, 3)), 16, (4, 4)),
    (NeighborhoodMask((8, 12), (3, 5), (1, 2), (3, 2), (True, False)), 32, (4, 6)),
    (
        NeighborhoodMask((4, 6, 8), (3, 3, 5), (1, 2, 1), (1, 1, 1), (False, False, True)),
        16,
        (2, 2, 4),
    ),
]


@pytest.mark.parametrize(("mask", "block", "patch"), PATCH_CASES)
def test_neighborhood_patch_schedule_is_exact(mask, block, patch):  # type: ignore[no-untyped-def]
    """Patch tiles: the liveness of every (query patch, key patch) block, and every
    partial-tile bitmap, equal the brute-force mask gathered into patch order."""
    n = mask.tokens
    sched = kernel_schedule(mask, n, n, block, block)
    assert sched.patch == patch and sched.block_q == sched.block_k == int(np.prod(patch))
    order = sched.token_order
    assert sorted(order.tolist()) == list(range(n))
    dense = mask.dense(n, n)[np.ix_(order, order)]
    b = sched.block_q
    tiles = dense.reshape(n // b, b, n // b, b).transpose(0, 2, 1, 3)
    expect = np.where(~tiles.any(axis=(2, 3)), 0, np.where(tiles.all(axis=(2, 3)), 2, 1))
    np.testing.assert_array_equal(sched.liveness, expect)
    plan = mask_plan(mask, n, n, block, block)
    rows = np.repeat(np.arange(sched.num_q_blocks), sched.tiles_per_q_block())
    for e in np.flatnonzero(sched.col_kind == 1):
        bm = plan.bitmaps[plan.tile_bitmap[e]].astype(bool)
        np.testing.assert_array_equal(bm, tiles[rows[e], sched.col_block[e]])


def test_patch_tiles_skip_more_than_row_major() -> None:
    mask = NeighborhoodMask((64, 64), (13, 13))
    patch = kernel_schedule(mask, 4096, 4096, 64, 64)
    rows = kernel_schedule(mask, 4096, 4096, 64, 64, tiling="row-major")
    assert patch.patch == (8, 8) and rows.patch is None
    assert patch.live_tiles < 0.6 * rows.live_tiles  # 484 vs 832
    with pytest.raises(ValueError, match="tiling must be one of auto, row-major"):
        kernel_schedule(mask, 4096, 4096, tiling="2d")


def test_patch_choice() -> None:
    from attnsim.kernels.cpu.schedule import neighborhood_patch

    assert neighborhood_patch((64, 64), 64) == (8, 8)
    assert neighborhood_patch((32, 64), 128) == (8, 16)
    assert neighborhood_patch((8, 16, 16), 64) == (4, 4, 4)
    assert neighborhood_patch((13, 13), 64) is None  # best patch (1, 13) is too small
    assert neighborhood_patch((1024,), 64) is None  # 1-D: consecutive tokens already are patches


def test_thread_assignment_covers_every_task_once() -> None:
    from attnsim.kernels.cpu import thread_assignment

    sched = kernel_schedule(CausalMask(), 1000, 1000, 64, 64)
    ptr, order = thread_assignment(sched, 6, 4)
    assert ptr.shape == (5,) and sorted(order.tolist()) == list(range(6 * sched.num_q_blocks))
    cost = np.tile(sched.tiles_per_q_block() + 0.25, 6)
    loads = [cost[order[ptr[w] : ptr[w + 1]]].sum() for w in range(4)]
    assert max(loads) - min(loads) <= cost.max()  # LPT bound
