"""Nonlinear unit: a fixed-point, lookup-table exp and softmax over rows of int32
attention scores.

VitaLLM has a nonlinear unit whose latency dependency-aware scheduling hides behind
linear tiles, and an absmax "quantization barrier" that standardises the interfaces
between cores (arXiv:2604.27396 and arXiv:2605.00320 abstracts). The abstracts give no
number format; the design below is ASSUMPTION A-S1, a base-2 LUT exponential in the
manner of integer-only softmax designs (e.g. I-BERT, Kim et al., ICML 2021, and
Softermax, Stevens et al., DAC 2021, which also use base 2 and defer normalisation).

Per row of ``n`` int32 scores ``s`` with a real ``scale`` (natural-log units per score
LSB, e.g. ``s_q s_k / sqrt(d)``):

1. pass 1: ``mx = max(s)`` (``lanes`` compares per cycle);
2. pass 2, per element: ``t = round((mx - s) * M / 2**G)`` — the distance below the
   maximum in base-2 units with ``frac_bits`` (F) fraction bits, where
   ``M / 2**(F+G) = scale * log2(e)`` is a ``mult_bits``-wide mantissa fixed once per
   call (a register); ``e = LUT[t mod 2**F] >> (t div 2**F)`` with
   ``LUT[j] = round(2**(E-1) * 2**(-j / 2**F))``, ``E = exp_bits`` (so ``e`` is
   ``2**(-t/2**F)`` in unsigned Q1.(E-1): the row maximum gives exactly ``2**(E-1)``);
   the row sum ``S = sum(e)`` accumulates in a wide register;
3. outputs: ``q = round(127 e / 2**(E-1))`` in int8 (the absmax-quantised
   probabilities for the INT8 P x V product: the row maximum is 1.0 by construction, so
   absmax scaling needs no extra pass; ASSUMPTION A-S2) and one reciprocal per row,
   ``inv = floor(2**(E-1+32) / S)`` from an iterative divider (33 quotient bits, one a
   cycle), by which the P x V result is rescaled (normalisation deferred, as in
   FlashAttention's online softmax). The probability the unit represents is
   ``p = e * inv / 2**(E-1+32)``.

Error bound (derived in docs/RTL_MODELS.md; tested on hypothesis-chosen rows against
float64 ``torch.softmax``): with ``u`` the true distance in base-2 units,
``|delta_t| <= 2**-(F+1) + u * 2**-mult_bits`` and LUT rounding
``<= 2**-(E-1)`` relative, every element satisfies
``|p_hw - p| <= p * ((1 + eps_hi) / (1 - eps_lo - n 2**-(E-1)) - 1) + 2**-(E-1) + 2**-32``
where ``eps_lo, eps_hi`` bound the relative error of one exp (:func:`exp_relative_error`);
for F = 8, E = 24 that is about 0.14% of ``p`` plus ``n x 1.2e-7`` of ``p`` plus 1.2e-7.

Cycles (ASSUMPTION A-S3): pass 1 and pass 2 each take ``c = ceil(n / lanes)`` cycles;
the divider of row r overlaps the passes of row r+1;
``cycles = depth + max(m * 2c + div, 2c + m * div)`` with ``div = 33`` and ``depth``
the exp pipeline's stages.

Events: ``nlu.cmp`` (max compares), ``nlu.mul`` (multiplies: by M, and by 127 for q),
``nlu.lut_read``, ``nlu.add`` (subtracts and sum adds), ``nlu.div_cycle`` (divider
cycles). Ports: ``score_in`` (int32 scores, read in both passes), ``prob_out`` (int8
q), ``scale_out`` (one 33-bit reciprocal per row, 5 bytes).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from .cost import RtlModelError, TileShape, UnitCost, check_positive_int, raise_problems
from .intmath import as_int_array
from .unit import UNIT_MODELS, UnitModelBase, UnitParams

__all__ = [
    "SoftmaxParams",
    "SoftmaxUnit",
    "SOFTMAX_UNIT",
    "SoftmaxResult",
    "softmax_run",
    "exp_lut",
    "scale_multiplier",
    "exp_relative_error",
    "softmax_error_bound",
    "RECIP_FRAC_BITS",
]

#: Fraction bits of the per-row reciprocal beyond the exp format.
RECIP_FRAC_BITS = 32
#: Largest row the unit accepts (the row sum fits its accumulator).
MAX_ROW = 1 << 16


@dataclass(frozen=True)
class SoftmaxParams(UnitParams):
    """Configuration of the nonlinear (softmax) unit.

    Attributes:
        lanes: elements per cycle in each pass (ASSUMPTION A-S4: 4).
        frac_bits: F, fraction bits of the base-2 distance; the LUT has ``2**F`` entries.
        exp_bits: E, width of the LUT entries and of ``e`` (unsigned Q1.(E-1)).
        mult_bits: width of the scale mantissa M.
        depth: pipeline stages of pass 2 (subtract, multiply, round, LUT, shift,
            accumulate: 6).
        out_bits: width of the quantised probabilities q (8: int8 for the Booth core).
    """

    lanes: int = 4
    frac_bits: int = 8
    exp_bits: int = 24
    mult_bits: int = 24
    depth: int = 6
    out_bits: int = 8

    def __post_init__(self) -> None:
        problems: list[str] = []
        check_positive_int("softmax_unit.lanes", self.lanes, problems)
        check_positive_int("softmax_unit.depth", self.depth, problems)
        for name, lo, hi in (
            ("frac_bits", 1, 12),
            ("exp_bits", 8, 30),
            ("mult_bits", 8, 30),
            ("out_bits", 2, 16),
        ):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or not (lo <= v <= hi):
                problems.append(
                    f"rtl_models: softmax_unit.{name}: got {v!r}; expected an integer in "
                    f"[{lo}, {hi}]"
                )
        raise_problems(problems)

    @property
    def div_cycles(self) -> int:
        """Cycles of the iterative divider: one per quotient bit (33)."""
        return RECIP_FRAC_BITS + 1


@functools.lru_cache(maxsize=64)
def exp_lut(frac_bits: int, exp_bits: int) -> np.ndarray:
    """The exp LUT: ``round(2**(E-1) * 2**(-j / 2**F))`` for ``j < 2**F`` (int64)."""
    j = np.arange(1 << frac_bits, dtype=np.float64)
    lut = np.floor(np.exp2(exp_bits - 1 - j / (1 << frac_bits)) + 0.5).astype(np.int64)
    lut.setflags(write=False)
    return lut


def scale_multiplier(scale: float, params: SoftmaxParams) -> tuple[int, int]:
    """``(M, G)`` with ``M / 2**(F + G)`` the nearest ``mult_bits``-bit mantissa to
    ``scale * log2(e)`` (``2**(mult_bits-1) <= M < 2**mult_bits``); ``G`` may be
    negative (a left shift)."""
    if not (isinstance(scale, int | float) and math.isfinite(scale) and scale > 0):
        raise RtlModelError(
            f"rtl_models: softmax_run.scale: got {scale!r}; expected a finite number > 0"
        )
    c = float(scale) * math.log2(math.e)
    _, ex = math.frexp(c)  # c = f * 2**ex, 0.5 <= f < 1
    g = params.mult_bits - params.frac_bits - ex
    m = int(math.floor(c * 2.0 ** (params.frac_bits + g) + 0.5))
    if m >= 1 << params.mult_bits:  # rounding carried out of the mantissa
        g -= 1
        m = int(math.floor(c * 2.0 ** (params.frac_bits + g) + 0.5))
    return m, g


@dataclass(frozen=True)
class SoftmaxResult:
    """What the unit produces for ``m`` rows of ``n`` scores.

    Attributes:
        e: int64 (m, n), ``2**(-t/2**F)`` in Q1.(E-1).
        q: int8 (m, n), ``round(127 e / 2**(E-1))``: probabilities scaled by the row max.
        row_sum: int64 (m,), ``sum(e)``.
        inv_sum: int64 (m,), ``floor(2**(E-1+32) / row_sum)``.
        probabilities: float64 (m, n), ``e * inv_sum / 2**(E-1+32)``.
    """

    e: np.ndarray
    q: np.ndarray
    row_sum: np.ndarray
    inv_sum: np.ndarray
    probabilities: np.ndarray


def _cost(params: SoftmaxParams, tile: TileShape) -> UnitCost:
    m, n = tile.m, tile.n
    c = -(-n // params.lanes)
    div = params.div_cycles
    cycles = params.depth + max(m * 2 * c + div, 2 * c + m * div)
    mn = float(m * n)
    return UnitCost(
        cycles=cycles,
        ops={("exp", f"fixed{params.exp_bits}"): mn, ("vector", "int32"): 2.0 * mn},
        events={
            "nlu.cmp": mn,
            "nlu.mul": 2.0 * mn,
            "nlu.lut_read": mn,
            "nlu.add": 2.0 * mn,
            "nlu.div_cycle": float(m * div),
        },
        port_bytes={
            "score_in": 2.0 * mn * 4.0,
            "prob_out": mn * params.out_bits / 8.0,
            "scale_out": m * math.ceil(div / 8) * 1.0,
        },
    )


class SoftmaxUnit(UnitModelBase[SoftmaxParams]):
    """The softmax unit as a unit model (mode ``"softmax"``); the tile is ``m`` rows of
    ``n`` scores (``k`` is ignored)."""

    name = "softmax_unit"
    modes = ("softmax",)
    params_type = SoftmaxParams

    def peak_ops_per_cycle(self, params: SoftmaxParams) -> dict[tuple[str, str], float]:
        """Each of the ``lanes`` takes one score a cycle: an exp (a LUT read) and two
        fixed-point ops (multiply and add) per score at most."""
        return {
            ("exp", f"fixed{params.exp_bits}"): float(params.lanes),
            ("vector", "int32"): 2.0 * params.lanes,
        }

    def _cost(self, params: SoftmaxParams, tile: TileShape, mode: str) -> UnitCost:
        if tile.n > MAX_ROW:
            raise RtlModelError(
                f"rtl_models: softmax_unit.tile.n: got {tile.n}; expected rows of at most "
                f"{MAX_ROW} scores"
            )
        return _cost(params, tile)


SOFTMAX_UNIT = SoftmaxUnit()
UNIT_MODELS.register("softmax_unit", SOFTMAX_UNIT)


def softmax_run(
    scores: np.ndarray, scale: float, params: SoftmaxParams | None = None
) -> tuple[SoftmaxResult, UnitCost]:
    """Bit-exact softmax of int32 ``scores`` (m, n) with real ``scale`` per LSB, and its
    cost (data-independent)."""
    params = params or SoftmaxParams()
    s = as_int_array(
        "scores", scores, ndim=2, lo=-(1 << 31), hi=(1 << 31) - 1, where="softmax_run"
    ).astype(np.int64)
    if s.shape[1] > MAX_ROW:
        raise RtlModelError(
            f"rtl_models: softmax_run.scores: got rows of {s.shape[1]}; expected at most "
            f"{MAX_ROW} scores per row"
        )
    mult, g = scale_multiplier(scale, params)
    f_bits, e_bits = params.frac_bits, params.exp_bits
    d = s.max(axis=1, keepdims=True) - s  # >= 0, < 2**32
    prod = d * mult  # < 2**(32 + mult_bits) <= 2**62
    t = (prod + (1 << (g - 1))) >> g if g > 0 else prod << (-g)
    # saturate: any t with an integer part >= E gives e = 0
    t = np.minimum(t, e_bits << f_bits)
    lut = exp_lut(f_bits, e_bits)
    e = lut[t & ((1 << f_bits) - 1)] >> (t >> f_bits)
    qmax = (1 << (params.out_bits - 1)) - 1
    half = 1 << (e_bits - 2)
    q = ((e * qmax + half) >> (e_bits - 1)).astype(np.int8 if params.out_bits <= 8 else np.int16)
    row_sum = e.sum(axis=1)
    inv = (1 << (e_bits - 1 + RECIP_FRAC_BITS)) // row_sum
    prob = (e * inv[:, None]).astype(np.float64) / float(1 << (e_bits - 1 + RECIP_FRAC_BITS))
    result = SoftmaxResult(e=e, q=q, row_sum=row_sum, inv_sum=inv, probabilities=prob)
    return result, SOFTMAX_UNIT.tile_cost(params, TileShape(s.shape[0], 1, s.shape[1]))


def exp_relative_error(params: SoftmaxParams) -> tuple[float, float]:
    """``(eps_lo, eps_hi)``: one exp's value lies in ``[(1-eps_lo), (1+eps_hi)]`` times
    the true ``2**-u`` (before the final right shift's truncation), for every ``u`` at
    which ``e`` is not flushed to zero (``u < E``)."""
    f_bits, e_bits = params.frac_bits, params.exp_bits
    # t / 2**F - u lies within +-(2**-(F+1) + u mu): the rounding of t, plus the
    # mantissa's relative error mu <= 2**-mult_bits (M >= 2**(mult_bits-1)) over the
    # distances that are not flushed to zero (u < E + 1)
    du = 2.0 ** -(f_bits + 1) + (e_bits + 1) * 2.0**-(params.mult_bits)
    lut_rel = 2.0 ** -(e_bits - 1)  # 0.5 LSB over entries >= 2**(E-2)
    eps_lo = 1.0 - 2.0**-du * (1.0 - lut_rel)
    eps_hi = 2.0**du * (1.0 + lut_rel) - 1.0
    return eps_lo, eps_hi


def softmax_error_bound(p_true: np.ndarray, params: SoftmaxParams) -> np.ndarray:
    """Per-element bound on ``|probabilities - p_true|`` for rows of ``p_true`` (float
    softmax of the same scores), from :func:`exp_relative_error` and the truncations."""
    p = np.asarray(p_true, dtype=np.float64)
    n = p.shape[-1]
    eps_lo, eps_hi = exp_relative_error(params)
    ulp = 2.0 ** -(params.exp_bits - 1)
    rel = (1.0 + eps_hi) / (1.0 - eps_lo - n * ulp) - 1.0
    return p * rel + ulp + 2.0**-RECIP_FRAC_BITS
