"""The tile schedule the CPU kernel runs: dead tiles never visited, counts exposed."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernels.cpu import kernel_schedule, mask_plan
from kernels.cpu.schedule import FULL, MODE_BITMAP, MODE_NONE, MODE_RANGE, balance_tasks
from workloads.masks import CausalMask, FullMask, NeighborhoodMask, SlidingWindowMask


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
