"""Masks: exact live pairs and tile liveness against brute force, closed forms, speed."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from attnsim.workloads import (
    MASKS,
    BlockSparseMask,
    CausalMask,
    FullMask,
    MaskPattern,
    NeighborhoodMask,
    SharedPrefixMask,
    SlidingWindowMask,
    WorkloadError,
    mask_from_dict,
    register_mask,
)
from hypothesis import assume, given, settings
from hypothesis import strategies as st


def brute_tiles(dense: np.ndarray, bq: int, bk: int) -> np.ndarray:
    """Tile classes straight from the dense matrix (ragged last tiles included)."""
    q, k = dense.shape
    nq, nk = -(-q // bq), -(-k // bk)
    out = np.zeros((nq, nk), dtype=np.int8)
    for a in range(nq):
        for b in range(nk):
            t = dense[a * bq : (a + 1) * bq, b * bk : (b + 1) * bk]
            out[a, b] = 0 if not t.any() else (2 if t.all() else 1)
    return out


def check_against_dense(mask: MaskPattern, q: int, k: int, bq: int, bk: int) -> None:
    d = mask.dense(q, k)
    assert d.shape == (q, k) and d.dtype == bool
    assert mask.live_pairs(q, k) == int(d.sum())
    assert mask.density(q, k) == pytest.approx(d.sum() / (q * k))
    # every prefix rectangle, i.e. the primitive itself
    g = mask.cumulative_pairs(np.arange(q + 1), np.arange(k + 1), q, k)
    ref = np.zeros((q + 1, k + 1), dtype=np.int64)
    ref[1:, 1:] = d.cumsum(0).cumsum(1)
    np.testing.assert_array_equal(g, ref)
    tl = mask.tile_liveness(q, k, bq, bk)
    assert tl.dtype == np.int8
    np.testing.assert_array_equal(tl, brute_tiles(d, bq, bk))
    counts = mask.tile_counts(q, k, bq, bk)
    assert counts.sum() == d.sum()


lengths = st.integers(1, 14)
blocks = st.integers(1, 6)


@settings(max_examples=60, deadline=None)
@given(q=lengths, k=lengths, bq=blocks, bk=blocks)
def test_full_and_causal_match_dense(q: int, k: int, bq: int, bk: int) -> None:
    check_against_dense(FullMask(), q, k, bq, bk)
    check_against_dense(CausalMask(), q, k, bq, bk)


@settings(max_examples=80, deadline=None)
@given(
    q=lengths, k=lengths, left=st.integers(-8, 16), right=st.integers(-8, 8), bq=blocks, bk=blocks
)
def test_sliding_window_matches_dense(
    q: int, k: int, left: int, right: int, bq: int, bk: int
) -> None:
    assume(left + right >= 0)  # negative offsets are allowed: any diagonal band
    check_against_dense(SlidingWindowMask(left, right), q, k, bq, bk)


def test_top_left_causal_as_a_band() -> None:
    q, k = 5, 9
    band = SlidingWindowMask(left=k, right=q - k).dense(q, k)
    np.testing.assert_array_equal(band, np.tril(np.ones((q, k), dtype=bool)))


@st.composite
def neighborhoods(draw: st.DrawFn) -> NeighborhoodMask:
    n = draw(st.integers(1, 3))
    spatial, window, dilation, stride, causal = [], [], [], [], []
    for _ in range(n):
        length = draw(st.integers(1, 8 if n < 3 else 5))
        d = draw(st.integers(1, length))
        w = draw(st.integers(1, length // d))
        spatial.append(length)
        dilation.append(d)
        window.append(w)
        stride.append(draw(st.integers(1, w)))
        causal.append(draw(st.booleans()))
    return NeighborhoodMask(
        tuple(spatial), tuple(window), tuple(dilation), tuple(stride), tuple(causal)
    )


@settings(max_examples=150, deadline=None)
@given(mask=neighborhoods(), bq=st.integers(1, 9), bk=st.integers(1, 9))
def test_neighborhood_matches_dense(mask: NeighborhoodMask, bq: int, bk: int) -> None:
    n = mask.tokens
    check_against_dense(mask, n, n, bq, bk)


@settings(max_examples=60, deadline=None)
@given(
    prefix=st.integers(0, 6),
    conts=st.integers(1, 4),
    clen=st.integers(1, 5),
    causal_prefix=st.booleans(),
    bq=blocks,
    bk=blocks,
)
def test_shared_prefix_matches_dense(
    prefix: int, conts: int, clen: int, causal_prefix: bool, bq: int, bk: int
) -> None:
    mask = SharedPrefixMask(prefix, conts, clen, causal_prefix)
    check_against_dense(mask, mask.total_len, mask.total_len, bq, bk)


@st.composite
def block_sparse_cases(draw: st.DrawFn) -> tuple[BlockSparseMask, int, int]:
    q, k = draw(lengths), draw(lengths)
    mq, mk = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    nq, nk = -(-q // mq), -(-k // mk)
    layout = tuple(tuple(draw(st.booleans()) for _ in range(nk)) for _ in range(nq))
    return BlockSparseMask(mq, mk, layout), q, k


@settings(max_examples=80, deadline=None)
@given(case=block_sparse_cases(), bq=blocks, bk=blocks)
def test_block_sparse_matches_dense(
    case: tuple[BlockSparseMask, int, int], bq: int, bk: int
) -> None:
    mask, q, k = case
    check_against_dense(mask, q, k, bq, bk)


def test_every_registered_kind_is_covered() -> None:
    assert set(MASKS) == {
        "full",
        "causal",
        "sliding_window",
        "neighborhood",
        "block_sparse",
        "shared_prefix",
        # workloads/masks_sparse.py, tested in tests/workloads/test_variant_masks.py
        "power",
        "block_topk",
        "cluster",
        "vertical_slash",
        "row_subset",
        "causal_block",
    }


# ---- closed forms ---------------------------------------------------------------------


def test_causal_square_is_triangle_and_about_half() -> None:
    for n in (1, 2, 7, 4096, 131072):
        assert CausalMask().live_pairs(n, n) == n * (n + 1) // 2
    assert CausalMask().density(8192, 8192) == pytest.approx(0.5, abs=1e-3)


def test_causal_is_bottom_right_aligned() -> None:
    # decode: one query at the last position sees the whole cache
    assert CausalMask().live_pairs(1, 1000) == 1000
    # chunked prefill: 3 queries at positions 7, 8, 9 of 10 keys
    assert CausalMask().live_pairs(3, 10) == 8 + 9 + 10
    # more queries than keys: the first ones see nothing
    assert CausalMask().dense(4, 2).sum(axis=1).tolist() == [0, 0, 1, 2]


def test_sliding_window_exact_count() -> None:
    n, w = 1000, 64
    mask = SlidingWindowMask(left=w - 1)
    # first w-1 rows are cut: 1 + 2 + ... + (w-1), then every row sees w keys
    assert mask.live_pairs(n, n) == (w - 1) * w // 2 + (n - w + 1) * w
    assert SlidingWindowMask(left=5, right=3).dense(12, 12)[6].nonzero()[0].tolist() == list(
        range(1, 10)
    )


def test_neighborhood_sees_exactly_window_keys_per_query_when_not_causal() -> None:
    mask = NeighborhoodMask((9, 10), (3, 5), (2, 1), (1, 1), (False, False))
    d = mask.dense(90, 90)
    assert (d.sum(axis=1) == 15).all()
    assert mask.live_pairs(90, 90) == 90 * 15


def test_neighborhood_window_clamped_at_borders_like_natten() -> None:
    row = NeighborhoodMask((10,), (3,)).dense(10, 10)
    assert row[0].nonzero()[0].tolist() == [0, 1, 2]  # shifted inside, not cut
    assert row[9].nonzero()[0].tolist() == [7, 8, 9]
    assert row[5].nonzero()[0].tolist() == [4, 5, 6]


def test_neighborhood_dilation_groups() -> None:
    d = NeighborhoodMask((10,), (3,), (2,)).dense(10, 10)
    assert d[4].nonzero()[0].tolist() == [2, 4, 6]  # same parity only
    assert d[1].nonzero()[0].tolist() == [1, 3, 5]  # border of the odd group


def test_neighborhood_stride_shares_windows() -> None:
    d = NeighborhoodMask((9,), (3,), (1,), (3,)).dense(9, 9)
    # queries 0,1,2 share the window of their centre query 1: keys 0..2
    for q in (0, 1, 2):
        assert d[q].nonzero()[0].tolist() == [0, 1, 2]
    for q in (3, 4, 5):
        assert d[q].nonzero()[0].tolist() == [3, 4, 5]


def test_causal_neighborhood_1d_equals_causal_sliding_window() -> None:
    n, w = 50, 7
    a = NeighborhoodMask((n,), (w,), (1,), (1,), (True,)).dense(n, n)
    b = SlidingWindowMask(left=w - 1).dense(n, n)
    np.testing.assert_array_equal(a, b)


def test_neighborhood_live_pairs_is_product_of_axes() -> None:
    m2 = NeighborhoodMask((12, 8), (5, 3), (2, 1), (1, 3), (True, False))
    a = NeighborhoodMask((12,), (5,), (2,), (1,), (True,))
    b = NeighborhoodMask((8,), (3,), (1,), (3,), (False,))
    assert m2.live_pairs(96, 96) == a.live_pairs(12, 12) * b.live_pairs(8, 8)


def test_shared_prefix_counts() -> None:
    m = SharedPrefixMask(prefix_len=100, num_continuations=4, continuation_len=10)
    expected = 100 * 101 // 2 + 4 * (10 * 100 + 10 * 11 // 2)
    assert m.live_pairs(140, 140) == expected
    full = SharedPrefixMask(100, 4, 10, causal_prefix=False)
    assert full.live_pairs(140, 140) == expected - 100 * 101 // 2 + 100 * 100


def test_ragged_tiles_shape_and_full_edge() -> None:
    tl = FullMask().tile_liveness(130, 70, 64, 64)
    assert tl.shape == (3, 2)
    assert (tl == 2).all()


# ---- speed: a 128k-token sequence with 128-sized tiles is a 1024 x 1024 grid -------------


@pytest.mark.parametrize(
    "mask",
    [
        CausalMask(),
        SlidingWindowMask(4095),
        SharedPrefixMask(4096, 64, 1984),
        NeighborhoodMask((362, 362), (17, 17), (2, 2), (2, 2), (False, True)),
        NeighborhoodMask((50, 50, 52), (7, 7, 7), (1, 2, 1), (1, 1, 2), (True, False, False)),
    ],
    ids=["causal", "window", "shared_prefix", "na2d", "na3d"],
)
def test_tile_liveness_fast_at_128k(mask: MaskPattern) -> None:
    n = 131072 if not isinstance(mask, NeighborhoodMask) else mask.tokens
    # Not a timed test: the dense matrix would be ~17 GB, so a bound on the peak memory
    # proves it is never built, however slow the machine is.
    tracemalloc.start()
    try:
        tl = mask.tile_liveness(n, n, 128, 128)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert tl.shape == (-(-n // 128),) * 2
    assert peak < 512 * 2**20, f"tile_liveness peaked at {peak / 2**20:.0f} MiB"
    assert tl.any()


def test_live_pairs_never_builds_dense_for_huge() -> None:
    n = 1 << 20  # 1e12 pairs: a dense matrix would not fit in memory
    assert CausalMask().live_pairs(n, n) == n * (n + 1) // 2
    nb = NeighborhoodMask((1024, 1024), (13, 13))
    assert nb.live_pairs(n, n) == n * 169


# ---- errors and registry ---------------------------------------------------------------


def test_shape_errors_name_the_problem() -> None:
    with pytest.raises(
        WorkloadError,
        match=r"NeighborhoodMask: q_len=10, kv_len=10 do not match the grid \(4, 4\); expected q_len = kv_len = 16",
    ):
        NeighborhoodMask((4, 4), (3, 3)).live_pairs(10, 10)
    with pytest.raises(WorkloadError, match=r"layout is 1x1 blocks; expected 2x1"):
        BlockSparseMask(4, 4, ((True,),)).live_pairs(8, 4)
    with pytest.raises(
        WorkloadError, match=r"do not match prefix 2 \+ 2 x 3; expected q_len = kv_len = 8"
    ):
        SharedPrefixMask(2, 2, 3).dense(9, 9)
    with pytest.raises(WorkloadError, match=r"q_len 0 is invalid; expected an integer >= 1"):
        CausalMask().live_pairs(0, 4)


def test_constructor_errors() -> None:
    with pytest.raises(
        WorkloadError,
        match=r"NeighborhoodMask.window\[0\]: window 5 x dilation 2 exceeds the axis size 9",
    ):
        NeighborhoodMask((9,), (5,), (2,))
    with pytest.raises(
        WorkloadError, match=r"NeighborhoodMask.stride\[0\]: 4 exceeds the window 3"
    ):
        NeighborhoodMask((9,), (3,), (1,), (4,))
    with pytest.raises(
        WorkloadError, match=r"NeighborhoodMask.window: \(3,\) has the wrong length; expected 2"
    ):
        NeighborhoodMask((9, 9), (3,))
    with pytest.raises(
        WorkloadError, match=r"SlidingWindowMask.right: left -3 \+ right 1 is negative"
    ):
        SlidingWindowMask(-3, 1)
    with pytest.raises(WorkloadError, match=r"BlockSparseMask.layout: rows have lengths \[1, 2\]"):
        BlockSparseMask(2, 2, ((True,), (True, False)))
    with pytest.raises(WorkloadError, match=r"SharedPrefixMask.num_continuations: 0 is too small"):
        SharedPrefixMask(1, 0, 1)


def test_registry_refuses_duplicates() -> None:
    with pytest.raises(ValueError, match="mask kind 'causal' is already registered"):
        register_mask(type("Again", (CausalMask,), {}))


def test_mask_dict_round_trip_and_errors() -> None:
    masks = [
        FullMask(),
        CausalMask(),
        SlidingWindowMask(3, 1),
        NeighborhoodMask((4, 6), (3, 3), (1, 2), (2, 1), (True, False)),
        BlockSparseMask(2, 3, ((True, False), (False, True))),
        SharedPrefixMask(3, 2, 4, False),
    ]
    for m in masks:
        assert mask_from_dict(m.to_dict()) == m
    with pytest.raises(
        WorkloadError, match=r"mask.kind: unknown mask kind 'diagonal'; expected one of"
    ):
        mask_from_dict({"kind": "diagonal"})
    with pytest.raises(WorkloadError, match=r"mask.lefft: unknown field \(did you mean 'left'\?\)"):
        mask_from_dict({"kind": "sliding_window", "lefft": 3})


# ---- properties: a sparser mask never does more work -----------------------------------


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 300), w1=st.integers(0, 300), w2=st.integers(0, 300), right=st.integers(0, 10)
)
def test_wider_window_never_fewer_pairs(n: int, w1: int, w2: int, right: int) -> None:
    small, big = sorted((w1, w2))
    assert SlidingWindowMask(small, right).live_pairs(n, n) <= SlidingWindowMask(
        big, right
    ).live_pairs(n, n)
    assert SlidingWindowMask(big, right).live_pairs(n, n) <= FullMask().live_pairs(n, n)
    assert CausalMask().live_pairs(n, n) <= FullMask().live_pairs(n, n)


@settings(max_examples=40, deadline=None)
@given(case=block_sparse_cases(), data=st.data())
def test_removing_blocks_never_adds_pairs(
    case: tuple[BlockSparseMask, int, int], data: st.DataObject
) -> None:
    mask, q, k = case
    fewer = tuple(tuple(v and data.draw(st.booleans()) for v in row) for row in mask.layout)
    sparser = BlockSparseMask(mask.block_q, mask.block_k, fewer)
    assert sparser.live_pairs(q, k) <= mask.live_pairs(q, k)
    # a tile dead under the denser layout stays dead under the sparser one
    dead = mask.tile_liveness(q, k, 3, 3) == 0
    assert (sparser.tile_liveness(q, k, 3, 3)[dead] == 0).all()
    assert sparser.tile_counts(q, k, 3, 3).sum() <= mask.tile_counts(q, k, 3, 3).sum()


def test_memoised_counts_do_not_change_identity() -> None:
    m = NeighborhoodMask((6, 6), (3, 3))
    assert m.live_pairs(36, 36) == 36 * 9
    assert m == NeighborhoodMask((6, 6), (3, 3)) and hash(m) == hash(
        NeighborhoodMask((6, 6), (3, 3))
    )
    assert "_live_pairs_cache" not in m.to_dict()
    assert mask_from_dict(m.to_dict()) == m
