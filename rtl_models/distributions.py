"""Stated distributions of int8 operands, for expected costs and synthetic measurements.

A bit-serial unit's cycles depend on its operands' bits, but a simulator predicting a
whole model has no operands: it asks for the *expected* cost under a stated operand
distribution. :class:`Int8Distribution` is such a statement: a continuous distribution in
units of one int8 step (LSB), rounded to the nearest integer and clipped to a range. Its
probability of every int8 value is computed exactly (:meth:`Int8Distribution.pmf`) and
samples drawn from a seeded generator follow it exactly (:meth:`Int8Distribution.sample`).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from .cost import RtlModelError, raise_problems

__all__ = ["Int8Distribution", "INT8_VALUES", "absmax_gaussian_sigma"]

#: Every int8 value, in order (index ``i`` holds ``i - 128``).
INT8_VALUES = np.arange(-128, 128, dtype=np.int64)

_KINDS = ("gaussian", "laplace", "uniform")


def absmax_gaussian_sigma(n: int) -> float:
    """Standard deviation, in LSB, of a Gaussian vector of ``n`` elements quantised to
    int8 by per-vector absmax (its largest magnitude maps to 127), as BitNet b1.58
    quantises activations per token (Ma et al., arXiv:2402.17764, "absmax" to
    [-Qb, Qb], Qb = 127 for 8 bits). The expected largest magnitude of ``n`` Gaussian
    samples is close to ``sigma * sqrt(2 ln(2n))`` (extreme-value approximation), so
    ``sigma = 127 / sqrt(2 ln(2n))``: about 32.5 LSB for n = 3200."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise RtlModelError(f"rtl_models: absmax_gaussian_sigma.n: got {n!r}; expected >= 1")
    return 127.0 / math.sqrt(2.0 * math.log(2.0 * n))


def _cdf(kind: str, scale: float, x: np.ndarray) -> np.ndarray:
    """CDF at ``x`` of the zero-mean continuous distribution ``kind`` with ``scale``."""
    if kind == "gaussian":
        return np.array([0.5 * (1.0 + math.erf(v / (scale * math.sqrt(2.0)))) for v in x])
    if kind == "laplace":
        return np.where(x < 0, 0.5 * np.exp(x / scale), 1.0 - 0.5 * np.exp(-x / scale))
    # uniform on [-scale, scale]
    return np.clip((x + scale) / (2.0 * scale), 0.0, 1.0)


@dataclass(frozen=True)
class Int8Distribution:
    """A zero-mean continuous distribution in LSB units, rounded to the nearest integer
    and clipped to ``[lo, hi]``.

    Attributes:
        kind: ``"gaussian"`` (``scale`` = standard deviation), ``"laplace"`` (``scale`` =
            the Laplace scale b; heavier tails, closer to LLM activations) or
            ``"uniform"`` (on ``[-scale, scale]``).
        scale: in LSB (int8 steps).
        lo, hi: the clip range; ``[-127, 127]`` is symmetric absmax quantisation.
    """

    kind: Literal["gaussian", "laplace", "uniform"] = "gaussian"
    scale: float = 32.0
    lo: int = -127
    hi: int = 127

    def __post_init__(self) -> None:
        problems: list[str] = []
        if self.kind not in _KINDS:
            problems.append(
                f"rtl_models: distribution.kind: unknown kind {self.kind!r}; "
                f"expected one of {', '.join(_KINDS)}"
            )
        if not (isinstance(self.scale, int | float) and math.isfinite(self.scale)) or not (
            self.scale > 0
        ):
            problems.append(
                f"rtl_models: distribution.scale: got {self.scale!r}; expected a finite "
                "number of LSB > 0"
            )
        ok_range = all(isinstance(v, int) and not isinstance(v, bool) for v in (self.lo, self.hi))
        if not ok_range or not (-128 <= self.lo < self.hi <= 127):
            problems.append(
                f"rtl_models: distribution.lo/hi: got [{self.lo!r}, {self.hi!r}]; expected "
                "integers with -128 <= lo < hi <= 127"
            )
        raise_problems(problems)

    def pmf(self) -> np.ndarray:
        """Probability of each int8 value ``-128..127`` (float64, 256 entries, sums to 1,
        read-only): the continuous mass of ``[v - 0.5, v + 0.5)``, with the tails beyond
        the clip range added to ``lo`` and ``hi``."""
        return _pmf(self)

    def _pmf_uncached(self) -> np.ndarray:
        edges = np.arange(-128.5, 128.0, 1.0)  # 257 edges
        cdf = _cdf(self.kind, float(self.scale), edges)
        p = np.diff(cdf)
        p[INT8_VALUES < self.lo] = 0.0
        p[INT8_VALUES > self.hi] = 0.0
        p[self.lo + 128] += float(_cdf(self.kind, float(self.scale), np.array([self.lo - 0.5]))[0])
        p[self.hi + 128] += 1.0 - float(
            _cdf(self.kind, float(self.scale), np.array([self.hi + 0.5]))[0]
        )
        p = p / p.sum()
        p.setflags(write=False)
        return p

    def sample(self, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        """int8 samples of ``shape`` from ``rng`` (deterministic under its seed)."""
        s = float(self.scale)
        if self.kind == "gaussian":
            x = rng.normal(0.0, s, size=shape)
        elif self.kind == "laplace":
            x = rng.laplace(0.0, s, size=shape)
        else:
            x = rng.uniform(-s, s, size=shape)
        return np.clip(np.floor(x + 0.5), self.lo, self.hi).astype(np.int8)

    def expect(self, values: np.ndarray) -> float:
        """Expectation of a per-value quantity (``values[i]`` for int8 value ``i - 128``)."""
        v = np.asarray(values, dtype=np.float64)
        if v.shape != (256,):
            raise RtlModelError(
                f"rtl_models: distribution.expect: got shape {v.shape}; expected (256,)"
            )
        return float(self.pmf() @ v)

    def label(self) -> str:
        """A short text for tables ("gaussian(sigma=32 LSB) in [-127, 127]")."""
        name = {"gaussian": "sigma", "laplace": "b", "uniform": "half-width"}[self.kind]
        return f"{self.kind}({name}={self.scale:g} LSB) in [{self.lo}, {self.hi}]"


@functools.lru_cache(maxsize=256)
def _pmf(dist: Int8Distribution) -> np.ndarray:
    return dist._pmf_uncached()
