"""Leading-one prediction (LOP) KV pruning: estimate every cached key's attention score
from leading-one codes, keep the top K of M, and fetch only those keys and values.

Source: VitaLLM's "predictive sparse attention mechanism employs a leading-one (LO)
surrogate with a comparison-free top-K selector to prune key/value (KV) fetches by
roughly 1 - K/M for M cached tokens, confining exact attention to K candidates"
(arXiv:2605.00320 abstract; "Leading One Prediction (LOP)", arXiv:2604.27396 abstract).
Log-domain leading-one estimates of products: J. N. Mitchell, "Computer multiplication
and division using binary logarithms", IRE Trans. Electron. Comput., 1962; for attention,
LAPA (log-domain prediction with leading-one computing, 2025) and, for the top-k idea,
A3 (Ham et al., HPCA 2020), SpAtten (Wang et al., HPCA 2021), ELSA (Ham et al., ISCA
2021). The abstracts give no code format or selector design; what follows is ASSUMPTION
A-L1..A-L5, each with its reason.

* LO code (A-L1): each int8 element becomes 4 bits, a sign and a 3-bit field
  ``f = min(bit_length(|x|), 7)`` (``f = 0`` for zero), standing for ``sign * 2**(f-1)``
  (``|x| >= 64`` saturates at 64). Four bits is the smallest code that keeps a sign, a
  zero and seven octaves; the key codes are written beside the KV cache when a key is
  appended (an "LO plane", ``head_dim / 2`` bytes per token per head), so pruning reads
  4 bits per key element instead of 8.
* Estimate (A-L2): ``"lo_both"`` (default; the query's elements are leading-one coded
  too, so every term is a sign and a shift by ``fq + fk - 2``: no multiplier) or
  ``"lo_key"`` (the on-chip int8 query is kept exact and shifted by the key's ``fk - 1``,
  as LAPA's asymmetric leading-one computing). Scores are exact integers of
  ``score_bits`` bits.
* Selector (A-L3): comparison-free radix select: ``ceil(score_bits / radix_bits)`` passes
  each histogram the next ``radix_bits``-bit digit (offset binary) of the scores still
  matching the threshold prefix and scan the ``2**radix_bits`` bins for the bin holding
  the K-th largest; a last pass emits the kept indices in index order. It returns
  exactly the top K by (estimate descending, index ascending); the passes always all
  run (A-L4: a fixed schedule).
* Schedule (A-L5): the queries of a tile are estimated together against each streamed
  key's codes (codes read once per tile), ``est_lanes`` shift-add terms per cycle; then
  each query's selection runs, one after another, on its own score buffer.

``cycles = ceil(m M d / est_lanes) + m (P (ceil(M / sel_lanes) + 2**r) + ceil(M / sel_lanes)) + depth``
with ``P`` passes and ``r = radix_bits``; with ``keep >= M`` nothing is pruned and the
unit is bypassed (zero cost).

Events: ``lop.lod`` (leading-one detections of query elements), ``lop.shift_add`` (terms
of the estimates), ``lop.score_write``, ``lop.hist`` (histogram increments),
``lop.bin_scan``, ``lop.gather`` (scores checked in the last pass). Ports: ``query_in``
(int8), ``lo_codes_in`` (the LO plane), ``index_out`` (kept indices,
``ceil(log2 M)`` bits each). The K/V bytes that pruning saves are the attention's, not
the pruner's: :func:`lop_fetch_stats` measures them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from .cost import RtlModelError, TileShape, UnitCost, check_positive_int, raise_problems
from .intmath import as_int_array, int_matmul
from .unit import UNIT_MODELS, UnitModelBase, UnitParams

__all__ = [
    "LO_CODE_BITS",
    "LopParams",
    "LopPruner",
    "LOP_PRUNER",
    "LopResult",
    "lo_codes",
    "lo_values",
    "lop_run",
    "lop_select",
    "QKDistribution",
    "LopFetchStats",
    "lop_fetch_stats",
    "lo_plane_bytes",
]

#: Bits of one element's leading-one code (sign + 3-bit field).
LO_CODE_BITS = 4
#: Largest leading-one field (|x| >= 2**(LO_FIELD_MAX - 1) saturates).
LO_FIELD_MAX = 7

_ESTIMATES = ("lo_both", "lo_key")


def lo_codes(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sign, field) of int8 values: sign 1 for negative, field
    ``min(bit_length(|x|), 7)`` (0 for zero). Both uint8."""
    idx = np.asarray(x).astype(np.int16) + 128
    return _SIGN_TABLE[idx], _FIELD_TABLE[idx]


def lo_values(x: np.ndarray) -> np.ndarray:
    """The value each LO code stands for, ``sign * 2**(field-1)`` (0 for zero), int64."""
    return _VALUE_TABLE[np.asarray(x).astype(np.int16) + 128]


def _build_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    v = np.arange(-128, 128, dtype=np.int64)
    field = np.array([min(abs(int(x)).bit_length(), LO_FIELD_MAX) for x in v], dtype=np.uint8)
    sign = (v < 0).astype(np.uint8)
    mag = np.where(field > 0, np.left_shift(1, field.astype(np.int64) - 1), 0)
    value = np.where(sign == 1, -mag, mag).astype(np.int64)
    for t in (sign, field, value):
        t.setflags(write=False)
    return sign, field, value


_SIGN_TABLE, _FIELD_TABLE, _VALUE_TABLE = _build_tables()


@dataclass(frozen=True)
class LopParams(UnitParams):
    """Configuration of the LOP pruner.

    Attributes:
        keep: K, keys kept per query.
        estimate: ``"lo_both"`` or ``"lo_key"`` (see the module docstring, A-L2).
        est_lanes: shift-add terms per cycle of the estimator (ASSUMPTION: 64, half a
            128-dim key per cycle).
        sel_lanes: scores per cycle in each selector pass (ASSUMPTION: 8).
        radix_bits: digit width of the radix select (16-bin histograms).
        depth: pipeline stages (LOD, shift, adder tree levels, score write; 8).
    """

    keep: int = 64
    estimate: Literal["lo_both", "lo_key"] = "lo_both"
    est_lanes: int = 64
    sel_lanes: int = 8
    radix_bits: int = 4
    depth: int = 8

    def __post_init__(self) -> None:
        problems: list[str] = []
        for name in ("keep", "est_lanes", "sel_lanes", "depth"):
            check_positive_int(f"lop_pruner.{name}", getattr(self, name), problems)
        rb = self.radix_bits
        if isinstance(rb, bool) or not isinstance(rb, int) or not (1 <= rb <= 8):
            problems.append(
                f"rtl_models: lop_pruner.radix_bits: got {rb!r}; expected an integer in [1, 8]"
            )
        if self.estimate not in _ESTIMATES:
            problems.append(
                f"rtl_models: lop_pruner.estimate: unknown estimate {self.estimate!r}; "
                f"expected one of {', '.join(_ESTIMATES)}"
            )
        raise_problems(problems)

    def score_bits(self, head_dim: int) -> int:
        """Bits of a signed estimate for ``head_dim`` terms."""
        term = (1 << 12) if self.estimate == "lo_both" else 128 << (LO_FIELD_MAX - 1)
        return (head_dim * term).bit_length() + 1

    def passes(self, head_dim: int) -> int:
        """Histogram passes of the radix select."""
        return -(-self.score_bits(head_dim) // self.radix_bits)


def _cost(params: LopParams, tile: TileShape) -> UnitCost:
    m, d, n_keys = tile.m, tile.k, tile.n
    if params.keep >= n_keys:
        return UnitCost(cycles=0)
    passes = params.passes(d)
    scan = -(-n_keys // params.sel_lanes)
    bins = 1 << params.radix_bits
    select = passes * (scan + bins) + scan
    est = -(-(m * n_keys * d) // params.est_lanes)
    index_bits = max(1, (n_keys - 1).bit_length())
    terms = float(m * n_keys * d)
    return UnitCost(
        cycles=est + m * select + params.depth,
        ops={("vector", "int4"): 2.0 * terms},
        events={
            "lop.lod": float(m * d),
            "lop.shift_add": terms,
            "lop.score_write": float(m * n_keys),
            "lop.hist": float(m * n_keys * passes),
            "lop.bin_scan": float(m * passes * bins),
            "lop.gather": float(m * n_keys),
        },
        port_bytes={
            "query_in": float(m * d),
            "lo_codes_in": n_keys * d * LO_CODE_BITS / 8.0,
            "index_out": m * params.keep * index_bits / 8.0,
        },
    )


class LopPruner(UnitModelBase[LopParams]):
    """The LOP pruner as a unit model (mode ``"topk"``); the tile is ``m`` queries of
    head dimension ``k`` against ``n`` cached keys (M)."""

    name = "lop_pruner"
    modes = ("topk",)
    params_type = LopParams

    def peak_ops_per_cycle(self, params: LopParams) -> dict[tuple[str, str], float]:
        """``est_lanes`` shift-add terms a cycle (2 ops each, as its tiles count them)."""
        return {("vector", "int4"): 2.0 * params.est_lanes}

    def _cost(self, params: LopParams, tile: TileShape, mode: str) -> UnitCost:
        return _cost(params, tile)


LOP_PRUNER = LopPruner()
UNIT_MODELS.register("lop_pruner", LOP_PRUNER)


def lop_select(scores: np.ndarray, keep: int) -> np.ndarray:
    """Kept key indices per row of ``scores`` (m, M): the top ``keep`` by (score
    descending, index ascending), returned in ascending index order, shape (m, keep)
    (all indices when ``keep >= M``)."""
    s = np.asarray(scores)
    n_keys = s.shape[1]
    if keep >= n_keys:
        return np.broadcast_to(np.arange(n_keys), s.shape).copy()
    order = np.argsort(-s.astype(np.int64), axis=1, kind="stable")[:, :keep]
    return np.sort(order, axis=1)


@dataclass(frozen=True)
class LopResult:
    """What the pruner decides for ``m`` queries.

    Attributes:
        estimates: int64 (m, M) leading-one score estimates.
        kept: int64 (m, min(K, M)) kept key indices per query, ascending.
    """

    estimates: np.ndarray
    kept: np.ndarray


def lop_run(
    queries: np.ndarray, keys: np.ndarray, params: LopParams | None = None
) -> tuple[LopResult, UnitCost]:
    """Bit-exact estimates and kept indices for int8 ``queries`` (m, d) against cached
    int8 ``keys`` (M, d), and the tile's cost (data-independent)."""
    params = params or LopParams()
    q = as_int_array("queries", queries, ndim=2, lo=-128, hi=127, where="lop_run")
    k = as_int_array("keys", keys, ndim=2, lo=-128, hi=127, where="lop_run")
    if q.shape[1] != k.shape[1]:
        raise RtlModelError(
            f"rtl_models: lop_run.keys: got head dim {k.shape[1]}; expected {q.shape[1]} "
            "(the queries' head dim)"
        )
    qv = lo_values(q) if params.estimate == "lo_both" else q.astype(np.int64)
    est = int_matmul(qv, lo_values(k).T)
    result = LopResult(estimates=est, kept=lop_select(est, params.keep))
    return result, LOP_PRUNER.tile_cost(params, TileShape(q.shape[0], q.shape[1], k.shape[0]))


def lo_plane_bytes(tokens: int, head_dim: int) -> float:
    """Bytes of LO codes written beside the KV cache for ``tokens`` new keys of one head
    (the encoder runs when a key is appended)."""
    return tokens * head_dim * LO_CODE_BITS / 8.0


# ----------------------------------------------------------------------------------------
# Measured skip rate and recall on stated synthetic distributions
# ----------------------------------------------------------------------------------------

_QK_KINDS = ("iid_gaussian", "iid_laplace", "correlated")


@dataclass(frozen=True)
class QKDistribution:
    """A stated synthetic distribution of queries and cached keys.

    Real-valued vectors are drawn, then each is quantised to int8 by its own absmax
    (``round(127 x / max|x|)``, BitNet b1.58's per-token activation quantiser):

    * ``"iid_gaussian"`` / ``"iid_laplace"``: query and key elements i.i.d. N(0, 1) /
      Laplace(0, 1) (no key is special: the hardest case for any top-K predictor).
    * ``"correlated"``: query ``x ~ N(0, I)``; key ``j`` is
      ``rho_j sqrt(d) x / |x| + sqrt(1 - rho_j**2) z_j`` with ``z_j ~ N(0, I)`` and
      ``rho_j ~ U(0, rho_max)``: keys aligned with the query to varying degrees, so that
      a few keys dominate the attention, as in trained LLMs (with several queries, ``x``
      is the direction of their mean).
    """

    kind: Literal["iid_gaussian", "iid_laplace", "correlated"] = "correlated"
    rho_max: float = 0.5

    def __post_init__(self) -> None:
        problems: list[str] = []
        if self.kind not in _QK_KINDS:
            problems.append(
                f"rtl_models: qk_distribution.kind: unknown kind {self.kind!r}; "
                f"expected one of {', '.join(_QK_KINDS)}"
            )
        r = self.rho_max
        if not isinstance(r, int | float) or not (0.0 <= r <= 1.0):
            problems.append(
                f"rtl_models: qk_distribution.rho_max: got {r!r}; expected a number in [0, 1]"
            )
        raise_problems(problems)

    def sample(
        self, rng: np.random.Generator, queries: int, n_keys: int, head_dim: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(int8 queries (queries, d), int8 keys (M, d), query scales, key scales):
        ``real ~= int8 * scale`` per row."""
        if self.kind == "iid_laplace":
            xq = rng.laplace(size=(queries, head_dim))
            xk = rng.laplace(size=(n_keys, head_dim))
        else:
            xq = rng.normal(size=(queries, head_dim))
            xk = rng.normal(size=(n_keys, head_dim))
            if self.kind == "correlated":
                direction = xq.mean(axis=0)
                direction /= max(np.linalg.norm(direction), 1e-12)
                rho = rng.uniform(0.0, self.rho_max, size=(n_keys, 1))
                xk = rho * math.sqrt(head_dim) * direction + np.sqrt(1.0 - rho**2) * xk
        qq, sq = _absmax_int8(xq)
        kq, sk = _absmax_int8(xk)
        return qq, kq, sq, sk

    def label(self) -> str:
        """A short text for tables."""
        return f"correlated(rho_max={self.rho_max:g})" if self.kind == "correlated" else self.kind


def _absmax_int8(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    amax = np.maximum(np.abs(x).max(axis=1), 1e-12)
    scale = amax / 127.0
    return np.clip(np.floor(x / scale[:, None] + 0.5), -127, 127).astype(np.int8), scale


@dataclass(frozen=True)
class LopFetchStats:
    """What pruning fetches and how well it keeps the right keys (means over trials).

    Attributes:
        payload_fraction: K/V payload bytes fetched / all cached K/V bytes (the union of
            the kept keys of the tile's queries over M; K/M for one query).
        lo_overhead_fraction: LO-plane bytes read / all cached K/V bytes.
        fetched_fraction: the two together: bytes the attention step reads with LOP
            over the bytes it reads without.
        recall: |kept ∩ exact top-K| / K, exact top-K by the int32 scores (ties by index).
        min_recall: the worst query's recall.
        mass_recall: softmax mass (float64, scale 1/sqrt(d) on dequantised scores) of
            the kept keys.
        exact_mass: the same for the exact top-K (the most any K keys can hold).
        trials, queries, seed: how it was measured.
    """

    payload_fraction: float
    lo_overhead_fraction: float
    fetched_fraction: float
    recall: float
    min_recall: float
    mass_recall: float
    exact_mass: float
    trials: int
    queries: int
    seed: int


def lop_fetch_stats(
    n_keys: int,
    keep: int,
    head_dim: int,
    distribution: QKDistribution,
    seed: int,
    *,
    queries: int = 1,
    trials: int = 8,
    params: LopParams | None = None,
    kv_bits: int = 8,
) -> LopFetchStats:
    """Measure LOP on synthetic data: deterministic under ``seed``.

    Args:
        n_keys: M, cached keys.
        keep: K, keys kept per query (overrides ``params.keep``).
        head_dim: d.
        distribution: the stated query/key distribution.
        seed: seeds the generator (the same arguments give the same numbers).
        queries: queries sharing the keys (a GQA group, or a prefill tile); the K/V of
            the union of their kept keys is fetched.
        trials: independent draws averaged.
        params: estimator settings (default :class:`LopParams`).
        kv_bits: bits per cached K or V element (8 for int8).
    """
    problems: list[str] = []
    for name, value in (
        ("n_keys", n_keys),
        ("keep", keep),
        ("head_dim", head_dim),
        ("queries", queries),
        ("trials", trials),
        ("kv_bits", kv_bits),
    ):
        check_positive_int(f"lop_fetch_stats.{name}", value, problems)
    check_positive_int("lop_fetch_stats.seed", seed, problems, minimum=0)
    raise_problems(problems)
    base = params or LopParams()
    params = LopParams(
        keep=keep,
        estimate=base.estimate,
        est_lanes=base.est_lanes,
        sel_lanes=base.sel_lanes,
        radix_bits=base.radix_bits,
        depth=base.depth,
    )
    rng = np.random.default_rng(seed)
    payload, recalls, masses, exact_masses = [], [], [], []
    for _ in range(trials):
        q, k, sq, sk = distribution.sample(rng, queries, n_keys, head_dim)
        res, _ = lop_run(q, k, params)
        exact = int_matmul(q, k.T)
        top = lop_select(exact, keep)
        kept_mask = np.zeros((queries, n_keys), dtype=bool)
        np.put_along_axis(kept_mask, res.kept, True, axis=1)
        top_mask = np.zeros_like(kept_mask)
        np.put_along_axis(top_mask, top, True, axis=1)
        kk = min(keep, n_keys)
        recalls.extend((kept_mask & top_mask).sum(axis=1) / kk)
        logits = exact * (sq[:, None] * sk[None, :]) / math.sqrt(head_dim)
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        masses.extend((p * kept_mask).sum(axis=1))
        exact_masses.extend((p * top_mask).sum(axis=1))
        payload.append(kept_mask.any(axis=0).sum() / n_keys)
    lo_overhead = 0.0 if keep >= n_keys else LO_CODE_BITS / (2.0 * kv_bits)
    payload_fraction = float(np.mean(payload))
    return LopFetchStats(
        payload_fraction=payload_fraction,
        lo_overhead_fraction=lo_overhead,
        fetched_fraction=payload_fraction + lo_overhead,
        recall=float(np.mean(recalls)),
        min_recall=float(np.min(recalls)),
        mass_recall=float(np.mean(masses)),
        exact_mass=float(np.mean(exact_masses)),
        trials=trials,
        queries=queries,
        seed=seed,
    )
