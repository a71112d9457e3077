"""Variant masks (workloads/masks_sparse.py): closed forms against brute force, analytic
counts written out, live keys, serialisation and bad input."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from attnsim.workloads import WorkloadError, mask_from_dict
from attnsim.workloads.masks import SlidingWindowMask
from attnsim.workloads.masks_sparse import (
    BlockTopKMask,
    CausalBlockMask,
    ClusterMask,
    PowerMask,
    RowSubsetMask,
    VerticalSlashMask,
)
from attnsim.workloads.ops import AttentionOp
from attnsim.workloads.spec import AttentionSpec
from hypothesis import given, settings
from hypothesis import strategies as st
from test_masks import check_against_dense

small = st.integers(1, 16)
tiles = st.integers(1, 5)


@st.composite
def variant_masks(draw: st.DrawFn):
    """A random variant mask and a (q_len, kv_len) it applies to."""
    k = draw(small)
    q = draw(st.integers(1, k))
    kind = draw(st.sampled_from(["power", "topk", "cluster", "vs", "rows", "causal_block"]))
    if kind == "power":
        m = PowerMask(draw(tiles), draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    elif kind == "topk":
        m = BlockTopKMask(
            draw(tiles), draw(st.integers(0, 3)), draw(st.integers(0, 9)),
            draw(st.integers(0, 2)), draw(st.integers(0, 2)),
        )  # fmt: skip
    elif kind == "cluster":
        m = ClusterMask(draw(tiles), draw(st.booleans()))
    elif kind == "vs":
        verts = draw(st.sets(st.integers(0, 20), max_size=5))
        slashes = draw(st.sets(st.integers(0, 20), max_size=5))
        m = VerticalSlashMask(tuple(verts), tuple(slashes))
    elif kind == "causal_block":
        block = draw(tiles)
        nb = -(-k // block)
        lay = tuple(tuple(draw(st.booleans()) and b < a for b in range(nb)) for a in range(nb))
        m = CausalBlockMask(block, lay)
    else:
        total = draw(st.integers(1, k))
        q = draw(st.integers(1, total))
        m = RowSubsetMask(total, draw(st.booleans()))
    return m, q, k


@settings(max_examples=300, deadline=None)
@given(case=variant_masks(), bq=tiles, bk=tiles)
def test_closed_forms_match_brute_force(case, bq: int, bk: int) -> None:
    mask, q, k = case
    check_against_dense(mask, q, k, bq, bk)
    assert mask.live_keys(q, k) == int(mask.dense(q, k).any(axis=0).sum())


@settings(max_examples=200, deadline=None)
@given(
    left=st.integers(-4, 20), right=st.integers(0, 20), q=st.integers(1, 20), k=st.integers(1, 20)
)
def test_sliding_window_live_keys_is_the_union_of_windows(left, right, q, k) -> None:
    if left + right < 0:
        return
    m = SlidingWindowMask(left=left, right=right)
    assert m.live_keys(q, k) == int(m.dense(q, k).any(axis=0).sum())


# ------------------------------------------------------------------ analytic counts


def test_power_mask_pairs_written_out() -> None:
    # 16 tokens in 8 blocks of 2, no sink, no window: query block a sees the blocks at
    # distances 1, 2, 4 below it (floor(log2 a) + 1 of them, 4 pairs each) and its own
    # block causally (3 pairs).
    m = PowerMask(block=2, sink_blocks=0, local_blocks=0)
    full_blocks = sum(int(np.floor(np.log2(a))) + 1 for a in range(1, 8))
    assert full_blocks == 17
    assert m.live_pairs(16, 16) == 4 * full_blocks + 8 * 3


def test_power_mask_grows_logarithmically() -> None:
    # a query block sees O(log n) blocks: density falls ~ log(n)/n
    m = PowerMask(block=64)
    d1, d2 = m.density(8192, 8192), m.density(65536, 65536)
    assert d2 < d1 / 4


def test_vertical_slash_pairs_written_out() -> None:
    # key 0 for every query (n pairs) + the diagonal (n pairs) - their crossing at (0, 0)
    n = 1000
    assert VerticalSlashMask((0,), (0,)).live_pairs(n, n) == 2 * n - 1
    # a causal local window of w = 4 diagonals: n*w - w*(w-1)/2
    assert VerticalSlashMask((), (0, 1, 2, 3)).live_pairs(n, n) == n * 4 - 6


def test_cluster_mask_pairs_written_out() -> None:
    n, c = 4096, 512
    assert ClusterMask(c, causal=True).live_pairs(n, n) == (n // c) * c * (c + 1) // 2
    assert ClusterMask(c, causal=False).live_pairs(n, n) == (n // c) * c * c


def test_row_subset_pairs_written_out() -> None:
    # half of the rows of a causal n x n mask, every other row: sum_{i<n/2} (2i + 1) = (n/2)^2
    n = 4096
    assert RowSubsetMask(total_rows=n, causal=True).live_pairs(n // 2, n) == (n // 2) ** 2
    assert RowSubsetMask(total_rows=n, causal=False).live_pairs(n // 4, n) == n // 4 * n


def test_block_topk_pairs_written_out() -> None:
    # 8 blocks of 4, k = 2, one sink, one local: block a >= 3 sees sink + local + min(2, a-2)
    # selected full blocks; blocks 1, 2 see what exists; every block its diagonal (10 pairs)
    m = BlockTopKMask(block=4, k=2, seed=3, sink_blocks=1, local_blocks=1)
    full = {1: 1, 2: 2, 3: 3, 4: 4, 5: 4, 6: 4, 7: 4}
    assert m.live_pairs(32, 32) == 16 * sum(full.values()) + 8 * 10


def test_block_topk_is_deterministic_from_its_seed() -> None:
    a = BlockTopKMask(block=16, k=3, seed=1)
    b = BlockTopKMask(block=16, k=3, seed=1)
    c = BlockTopKMask(block=16, k=3, seed=2)
    assert np.array_equal(a.block_layout(1024), b.block_layout(1024))
    assert not np.array_equal(a.block_layout(1024), c.block_layout(1024))


def test_decode_with_a_window_reads_only_the_window() -> None:
    # the compulsory K/V bytes of a windowed decode step are the window's, not the cache's
    spec = AttentionSpec(1, 8, 8, 1, 32768, 128, 128, "decode", SlidingWindowMask(left=4095))
    op = AttentionOp(name="d", dtype="bf16", spec=spec)
    assert spec.live_keys == 4096
    q = o = 8 * 128 * 2
    assert op.io_bytes().inputs == q + 8 * 4096 * 256 * 2
    assert op.io_bytes().outputs == o


def test_masks_answer_128k_without_the_dense_matrix() -> None:
    n = 131072
    tracemalloc.start()
    for m in (
        PowerMask(block=128),
        BlockTopKMask(block=128, k=16),
        ClusterMask(cluster=1024),
        VerticalSlashMask(tuple(range(0, n, 257)), tuple(range(0, n, 263))),
    ):
        assert m.tile_liveness(n, n, 128, 128).shape == (1024, 1024)
        assert 0 < m.density(n, n) < 0.1
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    # the dense 128k x 128k matrix would be ~17 GB: a memory bound proves it is never built
    assert peak < 512 * 2**20, f"peaked at {peak / 2**20:.0f} MiB"


# ------------------------------------------------------------------ serialisation, errors


@pytest.mark.parametrize(
    "mask",
    [
        PowerMask(block=32, sink_blocks=2, local_blocks=3),
        BlockTopKMask(block=16, k=4, seed=7),
        ClusterMask(cluster=64, causal=False),
        VerticalSlashMask((0, 5), (0, 1, 9)),
        RowSubsetMask(total_rows=100, causal=True),
        CausalBlockMask(2, ((False, False), (True, False))),
    ],
)
def test_round_trip(mask) -> None:
    assert mask_from_dict(mask.to_dict()) == mask


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: PowerMask(block=0), r"PowerMask.block: 0 is too small; expected an integer >= 1"),
        (lambda: BlockTopKMask(k=-1), r"BlockTopKMask.k: -1 is too small; expected an integer >= 0"),
        (lambda: ClusterMask(cluster=8, causal="yes"), r"ClusterMask.causal: 'yes'; expected true or false"),
        (lambda: VerticalSlashMask((1, 1), ()), r"VerticalSlashMask.verticals: has duplicates"),
        (lambda: VerticalSlashMask((-1,), ()), r"VerticalSlashMask.verticals\[0\]: -1 is too small"),
        (lambda: RowSubsetMask(total_rows=0), r"RowSubsetMask.total_rows: 0 is too small"),
        (lambda: CausalBlockMask(2, ((True, False), (True, False))), r"CausalBlockMask.layout: has blocks on or above the diagonal"),
        (lambda: CausalBlockMask(2, ((False,),)).live_pairs(8, 8), r"layout has 1 block rows; expected 4"),
        (lambda: PowerMask().live_pairs(10, 5), r"PowerMask: q_len=10 exceeds kv_len=5; expected q_len <= kv_len"),
        (lambda: RowSubsetMask(8).live_pairs(9, 8), r"expected q_len <= total_rows <= kv_len"),
        (lambda: mask_from_dict({"kind": "power", "block": 8, "blok": 2}), r"mask.blok: unknown field \(did you mean 'block'\?\)"),
    ],
)  # fmt: skip
def test_bad_masks_are_one_line_errors(build, message) -> None:
    with pytest.raises(WorkloadError, match=message):
        build()
