"""Stated operand distributions: exact probabilities, samples that follow them, errors."""

from __future__ import annotations

import numpy as np
import pytest
from attnsim.rtl_models import Int8Distribution, RtlModelError, absmax_gaussian_sigma


@pytest.mark.parametrize(
    "dist",
    [
        Int8Distribution("gaussian", 30.0),
        Int8Distribution("laplace", 8.0, lo=-128, hi=127),
        Int8Distribution("uniform", 3.5),
        Int8Distribution("gaussian", 200.0),  # heavy clipping
    ],
)
def test_samples_follow_the_pmf(dist):
    p = dist.pmf()
    assert p.shape == (256,) and p.sum() == pytest.approx(1.0) and (p >= 0).all()
    assert p[: dist.lo + 128].sum() == 0 and p[dist.hi + 129 :].sum() == 0
    x = dist.sample(np.random.default_rng(7), (400_000,))
    assert x.dtype == np.int8 and x.min() >= dist.lo and x.max() <= dist.hi
    freq = np.bincount(x.astype(np.int64) + 128, minlength=256) / x.size
    assert np.abs(freq - p).max() < 4e-3
    # determinism under the seed
    np.testing.assert_array_equal(x[:100], dist.sample(np.random.default_rng(7), (400_000,))[:100])


def test_expectation_and_label():
    d = Int8Distribution("uniform", 2.5)  # values -2..2 equally likely
    assert d.expect(np.arange(-128, 128) ** 2) == pytest.approx((4 + 1 + 0 + 1 + 4) / 5)
    assert d.label() == "uniform(half-width=2.5 LSB) in [-127, 127]"
    assert absmax_gaussian_sigma(3200) == pytest.approx(127 / np.sqrt(2 * np.log(6400)))


def test_error_messages():
    with pytest.raises(
        RtlModelError, match=r"distribution.kind: unknown kind 'cauchy'; expected one of gaussian"
    ):
        Int8Distribution("cauchy")  # type: ignore[arg-type]
    with pytest.raises(
        RtlModelError, match=r"distribution.scale: got 0.0; expected a finite number"
    ):
        Int8Distribution("gaussian", 0.0)
    with pytest.raises(RtlModelError, match=r"distribution.lo/hi: got \[5, 5\]"):
        Int8Distribution("gaussian", 1.0, lo=5, hi=5)
    with pytest.raises(RtlModelError, match=r"expect: got shape \(3,\); expected \(256,\)"):
        Int8Distribution().expect(np.zeros(3))
    with pytest.raises(RtlModelError, match=r"absmax_gaussian_sigma.n: got 0"):
        absmax_gaussian_sigma(0)
