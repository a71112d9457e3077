"""Booth array: the recoding against an independent torch recoder, products and array
outputs bit-exact against torch, exact bit-serial cycles against a brute-force count,
expected cycles against Monte Carlo, and the error messages."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from attnsim.rtl_models import (
    BOOTH_ARRAY,
    BOOTH_MODES,
    BoothArrayParams,
    Int8Distribution,
    RtlModelError,
    TileShape,
    booth_array_run,
    booth_digits,
    booth_multiply,
    booth_nonzero_digits,
    expected_serial_step_cycles,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from rtlkit import matmul_operands, torch_int_matmul, torch_wrap

ALL = np.arange(-128, 128)


def torch_booth_digits(y: torch.Tensor) -> torch.Tensor:
    """Independent radix-4 recoder: overlapping bit triplets (b[2i+1], b[2i], b[2i-1])
    looked up in the Booth table."""
    table = torch.tensor([0, 1, 1, 2, -2, -1, -1, 0])
    u = (y.to(torch.int64) & 0xFF) << 1  # append b[-1] = 0
    return torch.stack([table[(u >> (2 * i)) & 0b111] for i in range(4)], dim=-1)


def test_recoding_matches_torch_and_rebuilds_every_int8_value():
    d = booth_digits(ALL)
    np.testing.assert_array_equal(d, torch_booth_digits(torch.from_numpy(ALL)).numpy())
    assert d.min() >= -2 and d.max() <= 2
    np.testing.assert_array_equal((d * 4 ** np.arange(4)).sum(-1), ALL)
    # -128 = -2 * 4**3 has one non-zero digit; 85 = 0b01010101 needs all four
    assert booth_nonzero_digits(np.array([-128, 0, 1, -1, 85, -86])).tolist() == [1, 0, 1, 1, 4, 4]


def test_every_int8_product_is_exact():
    x, y = np.meshgrid(ALL, ALL, indexing="ij")
    expected = (torch.from_numpy(x) * torch.from_numpy(y)).numpy()
    np.testing.assert_array_equal(booth_multiply(x, y), expected)


params_st = st.builds(
    BoothArrayParams,
    rows=st.integers(1, 12),
    cols=st.integers(1, 6),
    acc_depth=st.integers(1, 8),
)


@settings(max_examples=40, deadline=None)
@given(ops=matmul_operands(), params=params_st, mode=st.sampled_from(["int8", "bitserial_int8"]))
def test_int8_modes_match_torch(ops, params, mode):
    a, b = ops
    out, cost = booth_array_run(a, b, params, mode)
    assert out.dtype == np.int32
    np.testing.assert_array_equal(out, torch_int_matmul(a, b))
    nnz = booth_nonzero_digits(a)
    assert cost.events["booth.pp"] == nnz.sum() * b.shape[1]
    tile = TileShape(a.shape[0], a.shape[1], b.shape[1])
    if mode == "int8":
        assert cost.cycles == BOOTH_ARRAY.tile_cost(params, tile, mode).cycles
    else:
        # brute force: every (row, k block) waits for its slowest lane, at least a cycle
        steps = 0
        for i in range(a.shape[0]):
            for s in range(0, a.shape[1], params.rows):
                steps += max(1, int(nnz[i, s : s + params.rows].max()))
        nb = -(-b.shape[1] // params.cols)
        assert cost.cycles == nb * steps + params.pipeline_depth(mode) - 1
    assert cost.port_bytes == BOOTH_ARRAY.tile_cost(params, tile, mode).port_bytes


@settings(max_examples=40, deadline=None)
@given(ops=matmul_operands(b_lo=-1, b_hi=1, max_k=200), params=params_st)
def test_ternary_mode_matches_torch_with_four_products_per_multiplier(ops, params):
    a, w = ops
    out, cost = booth_array_run(a, w, params, "ternary_int8")
    np.testing.assert_array_equal(out, torch_int_matmul(a, w))
    m, k = a.shape
    n = w.shape[1]
    lanes = 4 * params.rows
    issue = m * -(-k // lanes) * -(-n // params.cols)
    assert cost.cycles == issue + params.pipeline_depth("ternary_int8") - 1
    assert cost.events["booth.pp"] == m * np.count_nonzero(w)
    assert cost.ops == {("matmul", "ternary"): 2.0 * m * k * n}


@settings(max_examples=30, deadline=None)
@given(ops=matmul_operands(max_k=200), bits=st.integers(18, 22))
def test_accumulator_wraps(ops, bits):
    a, b = ops
    out, _ = booth_array_run(a, b, BoothArrayParams(acc_bits=bits), "int8")
    np.testing.assert_array_equal(out, torch_wrap(torch_int_matmul(a, b), bits))


@pytest.mark.parametrize("lanes", [1, 2, 3])
def test_expected_step_cycles_equal_brute_force_enumeration(lanes):
    dist = Int8Distribution("laplace", 12.0)
    p = dist.pmf()
    nnz = booth_nonzero_digits(ALL)
    # enumerate digit-count tuples of `lanes` independent elements
    q = np.bincount(nnz, weights=p, minlength=5)
    brute = 0.0
    for combo in itertools.product(range(5), repeat=lanes):
        brute += np.prod([q[c] for c in combo]) * max(1, max(combo))
    assert expected_serial_step_cycles(dist, lanes) == pytest.approx(brute, rel=1e-12)


@pytest.mark.parametrize(
    "dist", [Int8Distribution("gaussian", 38.0), Int8Distribution("laplace", 6.0)]
)
def test_expected_bitserial_cost_matches_the_mean_of_exact_costs(dist):
    params = BoothArrayParams(rows=8, cols=4, a_distribution=dist)
    tile = TileShape(4, 131, 9)  # a partial last k block
    expected = BOOTH_ARRAY.tile_cost(params, tile, "bitserial_int8")
    rng = np.random.default_rng(1234)
    b = rng.integers(-128, 128, (tile.k, tile.n)).astype(np.int8)
    runs = [
        booth_array_run(dist.sample(rng, (tile.m, tile.k)), b, params, "bitserial_int8")[1]
        for _ in range(300)
    ]
    mean_cycles = np.mean([c.cycles for c in runs])
    assert expected.cycles == pytest.approx(mean_cycles, rel=0.01)
    mean_pp = np.mean([c.events["booth.pp"] for c in runs])
    assert expected.events["booth.pp"] == pytest.approx(mean_pp, rel=0.02)


def test_bitserial_is_never_faster_than_parallel_and_small_values_are_cheaper():
    params = BoothArrayParams()
    tile = TileShape(1, 128, 512)
    par = BOOTH_ARRAY.tile_cost(params, tile, "int8")
    ser = BOOTH_ARRAY.tile_cost(params, tile, "bitserial_int8")
    assert par.cycles <= ser.cycles <= 4 * (par.cycles - params.pipeline_depth("int8")) + 10
    narrow = BoothArrayParams(a_distribution=Int8Distribution("uniform", 1.4))  # |x| <= 1
    assert BOOTH_ARRAY.tile_cost(narrow, tile, "bitserial_int8").cycles < ser.cycles
    # all-zero operands: one cycle per step
    _, cost = booth_array_run(
        np.zeros((2, 16), np.int8), np.ones((16, 4), np.int8), params, "bitserial_int8"
    )
    assert cost.cycles == 2 * 2 * 1 + params.pipeline_depth("bitserial_int8") - 1


@settings(max_examples=100, deadline=None)
@given(
    m=st.integers(1, 64),
    k=st.integers(1, 4096),
    n=st.integers(1, 4096),
    params=params_st,
    mode=st.sampled_from(BOOTH_MODES),
)
def test_physics_peak_and_compulsory_bytes(m, k, n, params, mode):
    c = BOOTH_ARRAY.tile_cost(params, TileShape(m, k, n), mode)
    per_cycle = params.rows * params.cols * (4 if mode == "ternary_int8" else 1)
    assert c.total_ops() <= 2 * per_cycle * c.cycles
    b_bits = params.ternary_bits if mode == "ternary_int8" else 8
    assert c.port_bytes["weight_in"] >= k * n * b_bits / 8 - 1e-9
    assert c.port_bytes["act_in"] >= m * k
    assert all(v >= 0 for v in c.events.values())


def test_error_messages():
    with pytest.raises(RtlModelError, match=r"booth_array.cols: got -1; expected an integer >= 1"):
        BoothArrayParams(cols=-1)
    with pytest.raises(
        RtlModelError, match=r"ternary_per_multiplier: got 5; expected an integer in \[1, 4\]"
    ):
        BoothArrayParams(ternary_per_multiplier=5)
    with pytest.raises(RtlModelError, match=r"a_distribution: got str; expected Int8Distribution"):
        BoothArrayParams(a_distribution="gaussian")
    with pytest.raises(RtlModelError, match=r"ternary_bits: got 0.5; expected bits per ternary"):
        BoothArrayParams(ternary_bits=0.5)
    with pytest.raises(RtlModelError, match=r"acc_bits: got 16; expected an integer >= 18"):
        BoothArrayParams(acc_bits=16)
    a = np.zeros((1, 2), np.int8)
    with pytest.raises(
        RtlModelError, match=r"booth_array.mode: unknown mode 'fp16'; expected one of int8"
    ):
        booth_array_run(a, a.T, mode="fp16")
    with pytest.raises(
        RtlModelError, match=r"b: values span \[-2, 0\]; expected values in \[-1, 1\]"
    ):
        booth_array_run(a, np.array([[-2], [0]]), mode="ternary_int8")
    with pytest.raises(RtlModelError, match=r"b: got 3 rows; expected 2"):
        booth_array_run(a, np.zeros((3, 1), np.int8))
    with pytest.raises(RtlModelError, match=r"a: values span \[0, 300\]"):
        booth_array_run(np.array([[0, 300]]), np.zeros((2, 1), np.int8))
