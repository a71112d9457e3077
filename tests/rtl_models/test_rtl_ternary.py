"""Ternary MAC array: bit-exact against torch, exact cost vs the tile-cost formula,
physics properties, the column's cycle model, and every error message."""

from __future__ import annotations

import math

import numpy as np
import pytest
from attnsim.rtl_models import (
    TERNARY_MAC_ARRAY,
    UNIT_MODELS,
    RtlModelError,
    TernaryColumnModel,
    TernaryMacParams,
    TileShape,
    absmean_zero_fraction,
    ternary_mac_run,
)
from attnsim.rtl_models.ternary_mac import pipeline_depth
from hypothesis import given, settings
from hypothesis import strategies as st
from rtlkit import matmul_operands, torch_int_matmul, torch_wrap

params_st = st.builds(
    TernaryMacParams,
    rows=st.integers(1, 40),
    cols=st.integers(1, 12),
    acc_depth=st.integers(1, 8),
)


@settings(max_examples=60, deadline=None)
@given(ops=matmul_operands(b_lo=-1, b_hi=1), params=params_st)
def test_outputs_match_torch_and_exact_cost_matches_tile_cost(ops, params):
    a, w = ops
    out, cost = ternary_mac_run(a, w, params)
    assert out.dtype == np.int32
    np.testing.assert_array_equal(out, torch_int_matmul(a, w))
    m, k = a.shape
    n = w.shape[1]
    expected = TERNARY_MAC_ARRAY.tile_cost(params, TileShape(m, k, n))
    assert cost.cycles == expected.cycles
    assert cost.ops == expected.ops
    assert cost.port_bytes == expected.port_bytes
    nnz = np.count_nonzero(w)
    assert cost.events["tint.add"] == m * nnz
    assert cost.events["tint.zero_gated"] == m * (k * n - nnz)
    for e in ("tint.idle_lane", "tint.acc", "tint.weight_load"):
        assert cost.events[e] == expected.events[e]


@settings(max_examples=40, deadline=None)
@given(ops=matmul_operands(b_lo=-1, b_hi=1, max_k=300), bits=st.integers(12, 20))
def test_accumulator_wraps_like_a_register_of_acc_bits(ops, bits):
    a, w = ops
    out, _ = ternary_mac_run(a, w, TernaryMacParams(acc_bits=bits))
    np.testing.assert_array_equal(out, torch_wrap(torch_int_matmul(a, w), bits))


def test_cycle_formula_on_a_decode_and_a_prefill_tile():
    p = TernaryMacParams(rows=32, cols=8)
    # decode GEMV 1 x 3200 x 3200: ceil(3200/8) * ceil(3200/32) issue cycles + L - 1
    c = TERNARY_MAC_ARRAY.tile_cost(p, TileShape(1, 3200, 3200))
    assert pipeline_depth(32) == 7
    assert c.cycles == 400 * 100 + 6
    # prefill 64 x 3200 x 3200: the MAC count over 256 MACs/cycle, plus the fill
    c = TERNARY_MAC_ARRAY.tile_cost(p, TileShape(64, 3200, 3200))
    assert c.cycles == 64 * 3200 * 3200 // 256 + 6
    assert c.ops[("matmul", "ternary")] == 2 * 64 * 3200 * 3200


@settings(max_examples=100, deadline=None)
@given(
    m=st.integers(1, 200),
    k=st.integers(1, 5000),
    n=st.integers(1, 5000),
    params=params_st,
)
def test_physics_peak_compulsory_bytes_and_resources(m, k, n, params):
    tile = TileShape(m, k, n)
    c = TERNARY_MAC_ARRAY.tile_cost(params, tile)
    # never above peak: 2 ops per MAC lane per cycle
    assert c.total_ops() <= 2 * params.rows * params.cols * c.cycles
    # never fewer bytes than the operands and the result
    assert c.port_bytes["weight_in"] >= k * n * params.weight_bits / 8 - 1e-9
    assert c.port_bytes["act_in"] >= m * k
    assert c.port_bytes["out"] == m * n * 4
    # more rows or columns never issue more cycles; the total grows at most by the
    # longer pipeline of a wider tree
    for bigger in (
        TernaryMacParams(rows=params.rows * 2, cols=params.cols, acc_depth=params.acc_depth),
        TernaryMacParams(rows=params.rows, cols=params.cols + 1, acc_depth=params.acc_depth),
    ):
        c2 = TERNARY_MAC_ARRAY.tile_cost(bigger, tile)
        deeper = pipeline_depth(bigger.rows) - pipeline_depth(params.rows)
        assert c2.cycles <= c.cycles + deeper
    # a deeper accumulator bank never reads weights more often
    deeper_acc = TernaryMacParams(
        rows=params.rows, cols=params.cols, acc_depth=params.acc_depth + 5
    )
    assert (
        TERNARY_MAC_ARRAY.tile_cost(deeper_acc, tile).port_bytes["weight_in"]
        <= c.port_bytes["weight_in"]
    )


def test_expected_events_use_the_stated_zero_fraction():
    assert absmean_zero_fraction() == pytest.approx(0.3101, abs=1e-4)
    p = TernaryMacParams(weight_zero_fraction=0.25)
    c = TERNARY_MAC_ARRAY.tile_cost(p, TileShape(2, 100, 10))
    assert c.events["tint.add"] == pytest.approx(2 * 100 * 10 * 0.75)
    assert c.events["tint.zero_gated"] == pytest.approx(2 * 100 * 10 * 0.25)


def test_tile_cost_is_cached_and_registered():
    assert UNIT_MODELS.lookup("ternary_mac_array") is TERNARY_MAC_ARRAY
    p = TernaryMacParams(rows=7, cols=3)
    t = TileShape(5, 77, 33)
    first = TERNARY_MAC_ARRAY.tile_cost(p, t)
    hits = TERNARY_MAC_ARRAY.cache_info().hits
    assert TERNARY_MAC_ARRAY.tile_cost(p, t, "ternary_int8") is first
    assert TERNARY_MAC_ARRAY.cache_info().hits == hits + 1


@settings(max_examples=30, deadline=None)
@given(rows=st.integers(1, 9), data=st.data())
def test_column_cycle_model_latency_and_sums(rows, data):
    """Issue a stream of outputs (each ``blocks`` R-slices, sometimes with bubbles); each
    result is in the accumulator ``pipeline_depth - 1`` edges after its last slice and
    equals its dot product."""
    blocks = data.draw(st.integers(1, 4))
    outputs = data.draw(st.integers(1, 3))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**31)))
    col = TernaryColumnModel(rows)
    depth = pipeline_depth(rows)
    expected_at: dict[int, int] = {}
    history: list[tuple[int, bool]] = []
    for _ in range(outputs):
        total = 0
        for b in range(blocks):
            if rng.random() < 0.3:  # a bubble: nothing valid this cycle
                col.step(False, False, [0] * rows, [0] * rows)
                history.append((col.acc, col.acc_valid))
            a = rng.integers(-128, 128, rows).tolist()
            w = rng.integers(-1, 2, rows).tolist()
            total += sum(x * y for x, y in zip(a, w, strict=True))
            col.step(True, b == 0, a, w)
            history.append((col.acc, col.acc_valid))
        expected_at[len(history) - 1 + depth - 1] = total
    for _ in range(depth):
        col.step(False, False, [0] * rows, [0] * rows)
        history.append((col.acc, col.acc_valid))
    for t, total in expected_at.items():
        assert history[t] == (total, True)


def test_error_messages():
    with pytest.raises(
        RtlModelError, match=r"ternary_mac_array.rows: got 0; expected an integer >= 1"
    ):
        TernaryMacParams(rows=0)
    with pytest.raises(RtlModelError, match=r"weight_zero_fraction: got 1.5; expected a fraction"):
        TernaryMacParams(weight_zero_fraction=1.5)
    with pytest.raises(RtlModelError, match=r"weight_bits: got 1; expected bits per ternary"):
        TernaryMacParams(weight_bits=1)
    with pytest.raises(RtlModelError, match=r"acc_bits: got 8; expected an integer >= 12"):
        TernaryMacParams(acc_bits=8)
    a = np.zeros((2, 3), np.int8)
    with pytest.raises(
        RtlModelError, match=r"weights: values span \[-1, 2\]; expected values in \[-1, 1\]"
    ):
        ternary_mac_run(a, np.array([[2], [-1], [0]]))
    with pytest.raises(RtlModelError, match=r"weights: got 4 rows; expected 3"):
        ternary_mac_run(a, np.zeros((4, 1), np.int8))
    with pytest.raises(RtlModelError, match=r"acts: got dtype float64; expected an integer array"):
        ternary_mac_run(a.astype(float), np.zeros((3, 1), np.int8))
    with pytest.raises(RtlModelError, match=r"acts: got shape \(3,\); expected a non-empty 2-d"):
        ternary_mac_run(np.zeros(3, np.int8), np.zeros((3, 1), np.int8))
    with pytest.raises(RtlModelError, match=r"tile.k: got 0; expected an integer >= 1"):
        TileShape(1, 0, 1)
    with pytest.raises(RtlModelError, match=r"ternary_mac_array.mode: unknown mode 'int8'"):
        TERNARY_MAC_ARRAY.tile_cost(TernaryMacParams(), TileShape(1, 1, 1), "int8")
    with pytest.raises(RtlModelError, match=r"ternary_mac_array.params: got BoothArrayParams"):
        from attnsim.rtl_models import BoothArrayParams

        TERNARY_MAC_ARRAY.tile_cost(BoothArrayParams(), TileShape(1, 1, 1))
    with pytest.raises(
        RtlModelError, match=r"ternary_mac_array.tile: got tuple; expected TileShape"
    ):
        TERNARY_MAC_ARRAY.tile_cost(TernaryMacParams(), (1, 1, 1))
    with pytest.raises(RtlModelError, match=r"TernaryColumnModel.rows: got 0"):
        TernaryColumnModel(0)
    assert math.isfinite(
        TERNARY_MAC_ARRAY.tile_cost(TernaryMacParams(), TileShape(1, 1, 1)).total_bytes()
    )
