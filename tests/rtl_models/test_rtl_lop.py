"""LOP pruner: leading-one codes and estimates bit-exact against torch, the kept keys
equal a torch stable top-K and an explicit comparison-free radix select, the tile cost,
the measured fetch fraction and recall (deterministic under the seed), and errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from attnsim.rtl_models import UNIT_MODELS, RtlModelError, TileShape
from attnsim.rtl_models.lop import (
    LOP_PRUNER,
    LopParams,
    QKDistribution,
    lo_codes,
    lo_plane_bytes,
    lo_values,
    lop_fetch_stats,
    lop_run,
    lop_select,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from rtlkit import int8_matrix

ALL = np.arange(-128, 128)


def torch_lo_values(x: torch.Tensor) -> torch.Tensor:
    """sign(x) * 2**(min(bit_length|x|, 7) - 1) via frexp (|x| = m 2**e, m in [0.5, 1))."""
    _, e = torch.frexp(x.abs().to(torch.float64))
    field = torch.clamp(e, max=7).to(torch.int64)
    mag = torch.where(x != 0, torch.bitwise_left_shift(torch.ones_like(field), field - 1), 0)
    return torch.where(x < 0, -mag, mag)


def torch_kept(est: torch.Tensor, keep: int) -> np.ndarray:
    order = torch.sort(est, dim=1, descending=True, stable=True).indices[:, :keep]
    return torch.sort(order, dim=1).values.numpy()


def test_codes_for_every_int8_value():
    sign, field = lo_codes(ALL)
    assert sign.tolist() == (ALL < 0).astype(int).tolist()
    assert field[128] == 0 and field[129] == 1 and field[128 + 64] == 7 and field[0] == 7
    v = lo_values(ALL)
    np.testing.assert_array_equal(v, torch_lo_values(torch.from_numpy(ALL)).numpy())
    nz = ALL != 0
    # the code keeps the sign and under-estimates the magnitude by less than 2x (below 64)
    assert (np.sign(v) == np.sign(ALL)).all()
    small = nz & (np.abs(ALL) < 64)
    assert (
        (np.abs(v[small]) <= np.abs(ALL[small])) & (2 * np.abs(v[small]) > np.abs(ALL[small]))
    ).all()


@st.composite
def lop_case(draw):
    m = draw(st.integers(1, 3))
    d = draw(st.integers(1, 48))
    n_keys = draw(st.integers(1, 150))
    keep = draw(st.integers(1, n_keys + 5))
    q = draw(int8_matrix(m, d))
    k = draw(int8_matrix(n_keys, d))
    estimate = draw(st.sampled_from(["lo_both", "lo_key"]))
    return q, k, LopParams(keep=keep, estimate=estimate)


def radix_select(scores: np.ndarray, keep: int, bits: int, radix: int) -> np.ndarray:
    """The comparison-free selector, pass by pass: histograms of offset-binary digits,
    most significant first; ties in the final bin go in index order."""
    u = scores.astype(np.int64) + (1 << (bits - 1))  # offset binary, >= 0
    passes = -(-bits // radix)
    prefix_ok = np.ones(u.shape, dtype=bool)
    need = keep
    above = np.zeros(u.shape, dtype=bool)
    for p in range(passes):
        shift = (passes - 1 - p) * radix
        digit = (u >> shift) & ((1 << radix) - 1)
        hist = np.bincount(digit[prefix_ok], minlength=1 << radix)
        acc = 0
        for b in range((1 << radix) - 1, -1, -1):  # scan bins from the top
            if acc + hist[b] >= need:
                above |= prefix_ok & (digit > b)
                prefix_ok &= digit == b
                need -= acc
                break
            acc += hist[b]
    ties = np.flatnonzero(prefix_ok)[:need]
    kept = above.copy()
    kept[ties] = True
    return np.flatnonzero(kept)


@settings(max_examples=80, deadline=None)
@given(case=lop_case())
def test_estimates_and_kept_keys_match_torch_and_the_radix_select(case):
    q, k, params = case
    res, cost = lop_run(q, k, params)
    qv = torch.from_numpy(q.astype(np.int64))
    if params.estimate == "lo_both":
        qv = torch_lo_values(qv)
    est = qv @ torch_lo_values(torch.from_numpy(k.astype(np.int64))).T
    np.testing.assert_array_equal(res.estimates, est.numpy())
    keep = min(params.keep, k.shape[0])
    np.testing.assert_array_equal(res.kept, torch_kept(est, keep))
    assert np.abs(res.estimates).max(initial=0) < 1 << (params.score_bits(q.shape[1]) - 1)
    for row in range(q.shape[0]):
        np.testing.assert_array_equal(
            res.kept[row],
            radix_select(
                res.estimates[row], keep, params.score_bits(q.shape[1]), params.radix_bits
            ),
        )
    assert cost == LOP_PRUNER.tile_cost(params, TileShape(*q.shape, k.shape[0]))


def test_tile_cost_formula_bypass_and_bytes():
    p = LopParams(keep=64, est_lanes=64, sel_lanes=8, radix_bits=4, depth=8)
    assert p.score_bits(128) == 21 and p.passes(128) == 6
    c = LOP_PRUNER.tile_cost(p, TileShape(1, 128, 1024))
    assert c.cycles == 1024 * 128 // 64 + 6 * (128 + 16) + 128 + 8
    assert c.port_bytes["lo_codes_in"] == 1024 * 128 / 2  # a quarter of the K and V bytes
    assert c.port_bytes["index_out"] == 64 * 10 / 8
    assert c.events["lop.hist"] == 6 * 1024
    assert LOP_PRUNER.tile_cost(p, TileShape(1, 128, 64)).cycles == 0  # nothing to prune
    assert LOP_PRUNER.tile_cost(p, TileShape(1, 128, 64)).total_bytes() == 0
    assert UNIT_MODELS.lookup("lop_pruner") is LOP_PRUNER
    assert lo_plane_bytes(10, 128) == 640


def test_lop_select_breaks_ties_by_index():
    s = np.array([[5, 7, 7, 1, 7, 5]])
    np.testing.assert_array_equal(lop_select(s, 2), [[1, 2]])
    np.testing.assert_array_equal(lop_select(s, 4), [[0, 1, 2, 4]])
    np.testing.assert_array_equal(lop_select(s, 9), [[0, 1, 2, 3, 4, 5]])


def test_fetch_stats_are_deterministic_under_the_seed_and_plausible():
    dist = QKDistribution("correlated", 0.5)
    a = lop_fetch_stats(512, 32, 64, dist, 11, trials=4)
    assert a == lop_fetch_stats(512, 32, 64, dist, 11, trials=4)
    assert a != lop_fetch_stats(512, 32, 64, dist, 12, trials=4)
    assert a.payload_fraction == pytest.approx(32 / 512)
    assert a.lo_overhead_fraction == 0.25 and a.fetched_fraction == pytest.approx(0.25 + 1 / 16)
    assert 32 / 512 < a.recall <= 1 and a.min_recall <= a.recall
    assert a.mass_recall <= a.exact_mass + 1e-12
    # a GQA group fetches the union of its queries' keys
    g = lop_fetch_stats(512, 32, 64, dist, 11, trials=4, queries=4)
    assert 32 / 512 <= g.payload_fraction <= 4 * 32 / 512
    # keeping everything: nothing pruned, nothing extra read, perfect recall
    full = lop_fetch_stats(100, 100, 16, QKDistribution("iid_laplace"), 0, trials=2)
    assert (full.payload_fraction, full.lo_overhead_fraction, full.recall) == (1.0, 0.0, 1.0)


def test_error_messages():
    with pytest.raises(RtlModelError, match=r"lop_pruner.keep: got 0; expected an integer >= 1"):
        LopParams(keep=0)
    with pytest.raises(RtlModelError, match=r"lop_pruner.estimate: unknown estimate 'exact'"):
        LopParams(estimate="exact")  # type: ignore[arg-type]
    with pytest.raises(
        RtlModelError, match=r"lop_pruner.radix_bits: got 9; expected an integer in \[1, 8\]"
    ):
        LopParams(radix_bits=9)
    with pytest.raises(RtlModelError, match=r"lop_run.keys: got head dim 3; expected 4"):
        lop_run(np.zeros((1, 4), np.int8), np.zeros((5, 3), np.int8))
    with pytest.raises(RtlModelError, match=r"qk_distribution.kind: unknown kind 'zipf'"):
        QKDistribution("zipf")  # type: ignore[arg-type]
    with pytest.raises(
        RtlModelError, match=r"qk_distribution.rho_max: got 2; expected a number in \[0, 1\]"
    ):
        QKDistribution("correlated", 2)
    with pytest.raises(
        RtlModelError, match=r"lop_fetch_stats.n_keys: got 0.*\n.*lop_fetch_stats.seed: got -1"
    ):
        lop_fetch_stats(0, 1, 1, QKDistribution(), -1)


@settings(max_examples=100, deadline=None)
@given(
    m=st.integers(1, 8),
    d=st.integers(1, 256),
    n_keys=st.integers(1, 20000),
    keep=st.integers(1, 512),
    est=st.integers(1, 128),
    sel=st.integers(1, 32),
)
def test_tile_cost_physics(m, d, n_keys, keep, est, sel):
    p = LopParams(keep=keep, est_lanes=est, sel_lanes=sel)
    c = LOP_PRUNER.tile_cost(p, TileShape(m, d, n_keys))
    if keep >= n_keys:
        assert c.cycles == 0 and c.total_bytes() == 0
        return
    # it reads every key's code once and less than the keys themselves
    assert c.port_bytes["lo_codes_in"] == n_keys * d / 2 < n_keys * d
    # never above the estimator's peak; more lanes are never slower
    assert c.events["lop.shift_add"] <= est * c.cycles
    faster = LopParams(keep=keep, est_lanes=est + 7, sel_lanes=sel * 2)
    assert LOP_PRUNER.tile_cost(faster, TileShape(m, d, n_keys)).cycles <= c.cycles
