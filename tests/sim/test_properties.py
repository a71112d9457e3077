"""Properties of the simulator (hypothesis): monotonicity, masks, batch scaling,
determinism. Shapes are kept small so each example simulates in milliseconds."""

from __future__ import annotations

import numpy as np
import pytest
from attnsim.sim import simulate
from attnsim.workloads import (
    BlockSparseMask,
    CausalMask,
    FullMask,
    GemmOp,
    NeighborhoodMask,
    SlidingWindowMask,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from simkit import attention, one_op, scaled

#: Greedy list scheduling is not monotone (Graham 1969: shorter or fewer tasks can give a
#: longer makespan; real GPU block schedulers share this), so monotonicity holds up to
#: this slack, which pins the worst cases measured on toy-GPU grids so a model change that
#: breaks them by more is caught:
#:  * more units: 5.1% (2 heads x 1024 causal, FA3, 8 -> 16 units: all 16 tiles start at
#:    once and share DRAM fairly, so the longest tile is slowed as much as the short ones);
#:  * dropping blocks of a block-sparse layout: 5.1% (FA2's grid order is not
#:    longest-first, so a shorter tile can move a long one into the tail; 300 layouts);
#:  * more bandwidth, tile-aligned narrower windows: 0% on the grids.
SCHEDULING_SLACK = 0.06

SETTINGS = settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

masks = st.one_of(
    st.just(FullMask()),
    st.just(CausalMask()),
    st.integers(16, 2048).map(lambda w: SlidingWindowMask(left=w)),
)
families = st.sampled_from(["flash-attention-3", "flash-attention-2", "triton-bundled"])


@SETTINGS
@given(
    batch=st.integers(1, 3),
    heads=st.sampled_from([2, 4, 8]),
    seq=st.sampled_from([512, 1024, 2048, 3000]),
    head_dim=st.sampled_from([64, 128]),
    mask=masks,
    family=families,
    factor=st.sampled_from([1.5, 2.0, 4.0]),
)
def test_more_bandwidth_is_never_slower(toy_gpu, batch, heads, seq, head_dim, mask, family, factor):
    w = one_op(attention(batch=batch, heads=heads, seq=seq, head_dim=head_dim, mask=mask))
    base = simulate(toy_gpu, w, family=family).latency_s
    faster = simulate(scaled(toy_gpu, dram_bw=factor), w, family=family).latency_s
    assert faster <= base * (1 + SCHEDULING_SLACK)


@SETTINGS
@given(
    heads=st.sampled_from([2, 4, 8]),
    seq=st.sampled_from([512, 1024, 2048]),
    mask=masks,
    units=st.sampled_from([2, 3]),
    family=families,
)
def test_more_compute_units_are_never_slower(toy_gpu, heads, seq, mask, units, family):
    w = one_op(attention(heads=heads, seq=seq, mask=mask))
    base = simulate(toy_gpu, w, family=family).latency_s
    bigger = simulate(scaled(toy_gpu, units=units), w, family=family).latency_s
    assert bigger <= base * (1 + SCHEDULING_SLACK)


@SETTINGS
@given(
    m=st.sampled_from([1, 64, 512, 2048]),
    n=st.sampled_from([256, 4096]),
    k=st.sampled_from([256, 4096]),
)
def test_more_compute_never_slows_a_gemm(toy_gpu, m, n, k):
    w = one_op(GemmOp("g", "fp16", m=m, n=n, k=k, weight_operand="b"))
    assert simulate(scaled(toy_gpu, compute=2.0), w).latency_s <= simulate(toy_gpu, w).latency_s * (
        1 + SCHEDULING_SLACK
    )


@SETTINGS
@given(
    seq=st.sampled_from([1024, 2048, 4096]),
    narrow_blocks=st.integers(1, 8),
    extra_blocks=st.integers(0, 8),
    family=families,
)
def test_a_sparser_window_never_costs_more(toy_gpu, seq, narrow_blocks, extra_blocks, family):
    """Windows aligned to 128 tokens, so the narrower window's live tiles are a subset of
    the wider one's. (A misaligned narrower window can cost more — it cuts more key
    blocks partially, and a partial block costs a full block plus the mask, in real
    kernels too.)"""
    narrow, wide = 128 * narrow_blocks, 128 * (narrow_blocks + extra_blocks)
    sparse = simulate(
        toy_gpu,
        one_op(attention(heads=4, seq=seq, mask=SlidingWindowMask(left=narrow))),
        family=family,
    )
    dense = simulate(
        toy_gpu,
        one_op(attention(heads=4, seq=seq, mask=SlidingWindowMask(left=wide))),
        family=family,
    )
    assert sparse.latency_s <= dense.latency_s * (1 + SCHEDULING_SLACK)
    assert sparse.flops <= dense.flops


@SETTINGS
@given(
    seed=st.integers(0, 2**32 - 1),
    density=st.floats(0.1, 0.9),
    keep=st.floats(0.3, 1.0),
    family=families,
)
def test_dropping_blocks_never_costs_more(toy_gpu, seed, density, keep, family):
    """A block-sparse layout that is a subset of another never costs more."""
    rng = np.random.default_rng(seed)
    denser = rng.random((16, 16)) < density
    sparser = denser & (rng.random((16, 16)) < keep)
    denser[0, 0] = sparser[0, 0] = True  # at least one live block
    masks = [
        BlockSparseMask(128, 128, tuple(map(tuple, lay.tolist()))) for lay in (sparser, denser)
    ]
    t_sparse, t_dense = (
        simulate(toy_gpu, one_op(attention(heads=4, seq=2048, mask=m)), family=family).latency_s
        for m in masks
    )
    assert t_sparse <= t_dense * (1 + SCHEDULING_SLACK)


@pytest.mark.parametrize("family", ["flash-attention-3", "flash-attention-2"])
def test_causal_costs_about_half_of_dense_at_long_sequence(h100, family):
    dense = simulate(h100, one_op(attention(batch=2, heads=16, seq=16384)), family=family).latency_s
    causal = simulate(
        h100, one_op(attention(batch=2, heads=16, seq=16384, mask=CausalMask())), family=family
    ).latency_s
    assert 0.45 <= causal / dense <= 0.6


@SETTINGS
@given(
    side=st.sampled_from([32, 48, 64]),
    window=st.sampled_from([3, 5, 7, 13]),
    dilation=st.sampled_from([1, 2]),
)
def test_neighborhood_speedup_never_exceeds_its_density_bound(toy_gpu, side, window, dilation):
    if window * dilation > side:
        return
    mask = NeighborhoodMask(
        spatial=(side, side),
        window=(window, window),
        dilation=(dilation, dilation),
        stride=(1, 1),
        causal=(False, False),
    )
    n = side * side
    na = simulate(toy_gpu, one_op(attention(heads=4, seq=n, head_dim=64, mask=mask))).latency_s
    dense = simulate(toy_gpu, one_op(attention(heads=4, seq=n, head_dim=64))).latency_s
    density = mask.density(n, n)
    assert dense / na <= 1.0 / density + 1e-9


def test_doubling_batch_at_saturation_about_doubles_time(h100):
    one = simulate(h100, one_op(attention(batch=4, heads=16, seq=8192))).latency_s
    two = simulate(h100, one_op(attention(batch=8, heads=16, seq=8192))).latency_s
    assert two / one == pytest.approx(2.0, rel=0.05)


@SETTINGS
@given(seq=st.sampled_from([512, 2048]), mask=masks, family=families)
def test_simulation_is_deterministic(toy_gpu, seq, mask, family):
    w = one_op(attention(heads=4, seq=seq, mask=mask))
    a = simulate(toy_gpu, w, family=family, timeline=True)
    b = simulate(toy_gpu, w, family=family, timeline=True)
    assert a == b
