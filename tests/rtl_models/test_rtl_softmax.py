"""Softmax unit: bit-exact against a torch integer re-implementation of the stated
fixed-point algorithm, within its stated error of float64 torch.softmax, and the cycle
formula and error messages."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from attnsim.rtl_models import UNIT_MODELS, RtlModelError, TileShape
from attnsim.rtl_models.softmax_unit import (
    RECIP_FRAC_BITS,
    SOFTMAX_UNIT,
    SoftmaxParams,
    exp_lut,
    exp_relative_error,
    scale_multiplier,
    softmax_error_bound,
    softmax_run,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

params_st = st.builds(
    SoftmaxParams,
    frac_bits=st.integers(4, 10),
    exp_bits=st.integers(16, 26),
    mult_bits=st.integers(12, 26),
    lanes=st.integers(1, 8),
)


@st.composite
def score_rows(draw):
    m = draw(st.integers(1, 4))
    n = draw(st.integers(1, 300))
    span = draw(st.sampled_from([2**4, 2**12, 2**20, 2**31 - 1]))
    scores = draw(
        hnp.arrays(
            np.int32,
            (m, n),
            elements=st.integers(-span, min(span, 2**31 - 1)) | st.sampled_from([0, -span]),
        )
    )
    scale = draw(st.floats(1e-7, 4.0))
    return scores, scale


def torch_reference(scores: np.ndarray, scale: float, p: SoftmaxParams):
    """The stated algorithm in torch integer ops (independent of the module's numpy)."""
    s = torch.from_numpy(scores.astype(np.int64))
    mult, g = scale_multiplier(scale, p)
    f, e_bits = p.frac_bits, p.exp_bits
    j = torch.arange(1 << f, dtype=torch.float64)
    lut = torch.floor(torch.exp2((e_bits - 1) - j / (1 << f)) + 0.5).to(torch.int64)
    d = s.max(dim=1, keepdim=True).values - s
    prod = d * mult
    t = (
        torch.div(prod + (1 << (g - 1)), 1 << g, rounding_mode="floor")
        if g > 0
        else prod * (1 << -g)
    )
    t = torch.clamp(t, max=e_bits << f)
    e = torch.bitwise_right_shift(
        lut[torch.remainder(t, 1 << f)], torch.div(t, 1 << f, rounding_mode="floor")
    )
    qmax = (1 << (p.out_bits - 1)) - 1
    q = torch.div(e * qmax + (1 << (e_bits - 2)), 1 << (e_bits - 1), rounding_mode="floor")
    row_sum = e.sum(dim=1)
    inv = torch.div(
        torch.full_like(row_sum, 1 << (e_bits - 1 + RECIP_FRAC_BITS)),
        row_sum,
        rounding_mode="floor",
    )
    return e.numpy(), q.numpy(), row_sum.numpy(), inv.numpy()


@settings(max_examples=80, deadline=None)
@given(rows=score_rows(), params=params_st)
def test_bit_exact_against_torch_and_within_the_stated_error(rows, params):
    scores, scale = rows
    out, cost = softmax_run(scores, scale, params)
    e, q, row_sum, inv = torch_reference(scores, scale, params)
    np.testing.assert_array_equal(out.e, e)
    np.testing.assert_array_equal(out.q, q)
    np.testing.assert_array_equal(out.row_sum, row_sum)
    np.testing.assert_array_equal(out.inv_sum, inv)
    # the row maximum is exactly 1.0 and quantises to the largest q
    assert (out.e.max(axis=1) == 1 << (params.exp_bits - 1)).all()
    assert (out.q.max(axis=1) == (1 << (params.out_bits - 1)) - 1).all()
    p_true = torch.softmax(torch.from_numpy(scores.astype(np.float64)) * scale, dim=1).numpy()
    bound = softmax_error_bound(p_true, params)
    assert (np.abs(out.probabilities - p_true) <= bound).all()
    assert cost == SOFTMAX_UNIT.tile_cost(params, TileShape(scores.shape[0], 1, scores.shape[1]))


def test_default_format_error_is_small_on_attention_like_rows():
    """Scores of an int8 q . k with head dim 128 at the usual 1/sqrt(d) scale."""
    rng = np.random.default_rng(3)
    q = rng.integers(-127, 128, (8, 128))
    k = rng.integers(-127, 128, (4096, 128))
    scores = (q @ k.T).astype(np.int32)
    scale = (1 / 127) ** 2 * 4 / math.sqrt(128)  # absmax scales of |x| ~ 4 sigma
    out, _ = softmax_run(scores, scale)
    p_true = torch.softmax(torch.from_numpy(scores.astype(np.float64)) * scale, dim=1).numpy()
    err = np.abs(out.probabilities - p_true)
    eps_lo, eps_hi = exp_relative_error(SoftmaxParams())
    assert max(eps_lo, eps_hi) < 1.4e-3  # 2**-9 ln 2 of the distance's rounding, plus LUT
    assert err.max() < 1e-4
    assert abs(out.probabilities.sum(axis=1) - 1).max() < 4096 * 2**-23 + 1e-9


def test_lut_and_scale_multiplier():
    lut = exp_lut(8, 24)
    assert lut[0] == 1 << 23 and lut.shape == (256,) and (np.diff(lut) < 0).all()
    assert lut[128] == round(2**23 / math.sqrt(2))
    p = SoftmaxParams()
    for scale in (1e-6, 0.0123, 1.0, 777.0):
        m, g = scale_multiplier(scale, p)
        assert 2**23 <= m < 2**24
        assert m / 2.0 ** (p.frac_bits + g) == pytest.approx(scale * math.log2(math.e), rel=2**-24)


def test_cycle_formula_and_costs():
    p = SoftmaxParams(lanes=4, depth=6)
    # long rows: the passes dominate and the last divide is exposed
    c = SOFTMAX_UNIT.tile_cost(p, TileShape(2, 1, 1024))
    assert c.cycles == 6 + 2 * 2 * 256 + 33
    # short rows: the divider is the bottleneck
    c = SOFTMAX_UNIT.tile_cost(p, TileShape(10, 1, 8))
    assert c.cycles == 6 + 2 * 2 + 10 * 33
    assert c.events["nlu.lut_read"] == 80 and c.port_bytes["prob_out"] == 80
    assert c.port_bytes["score_in"] == 2 * 80 * 4
    assert UNIT_MODELS.lookup("softmax_unit") is SOFTMAX_UNIT
    # more lanes never slower
    for n in (1, 5, 64, 1000):
        slow = SOFTMAX_UNIT.tile_cost(SoftmaxParams(lanes=1), TileShape(3, 1, n)).cycles
        fast = SOFTMAX_UNIT.tile_cost(SoftmaxParams(lanes=8), TileShape(3, 1, n)).cycles
        assert fast <= slow


def test_error_messages():
    s = np.zeros((1, 4), np.int32)
    with pytest.raises(
        RtlModelError, match=r"softmax_run.scale: got 0.0; expected a finite number > 0"
    ):
        softmax_run(s, 0.0)
    with pytest.raises(RtlModelError, match=r"softmax_run.scale: got nan"):
        softmax_run(s, float("nan"))
    with pytest.raises(RtlModelError, match=r"scores: got rows of 65537; expected at most 65536"):
        softmax_run(np.zeros((1, 65537), np.int32), 1.0)
    with pytest.raises(RtlModelError, match=r"softmax_unit.tile.n: got 70000"):
        SOFTMAX_UNIT.tile_cost(SoftmaxParams(), TileShape(1, 1, 70000))
    with pytest.raises(
        RtlModelError, match=r"softmax_unit.frac_bits: got 0; expected an integer in \[1, 12\]"
    ):
        SoftmaxParams(frac_bits=0)
    with pytest.raises(RtlModelError, match=r"softmax_unit.lanes: got 0"):
        SoftmaxParams(lanes=0)
    with pytest.raises(
        RtlModelError, match=r"scores: got dtype float32; expected an integer array"
    ):
        softmax_run(s.astype(np.float32), 1.0)
