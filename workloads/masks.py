"""Attention mask patterns: which (query, key) pairs an attention op actually computes.

A mask is data (a frozen dataclass registered by ``kind`` in :data:`MASKS`). The
simulator and the kernels ask it three questions, none of which may build the dense
``q_len x kv_len`` matrix, because a 128k-token sequence has 1.6e10 pairs:

* :meth:`MaskPattern.live_pairs` -- the exact number of computed pairs (FLOPs follow);
* :meth:`MaskPattern.tile_liveness` -- for each (query tile, key tile) whether it is
  dead (skipped), partial (computed with an element mask) or full (no mask needed);
* :meth:`MaskPattern.tile_counts` -- the exact number of live pairs in each tile.

All three are answered from one primitive, :meth:`MaskPattern.cumulative_pairs`:
``G[r, c]`` = the number of live pairs with query index < r and key index < c. Each mask
gives ``G`` in closed form (or from per-axis sums), and the count in any rectangle
follows by inclusion-exclusion, so tile questions cost O(#tiles), independent of the
sequence length. :meth:`MaskPattern.dense` is an independent brute force used by tests.

Position convention: query row ``i`` sits at sequence position ``kv_len - q_len + i``
(bottom-right alignment, as FlashAttention and PyTorch's ``causal_lower_right`` do), so
decode (``q_len = 1``) and chunked prefill (``q_len < kv_len``) need no extra field.
Key ``j`` sits at position ``j``.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import numpy as np

from attnsim.registry import Registry

from .errors import WorkloadError, coerce, unknown_key

IntArray = np.ndarray

#: Registered mask kinds: ``kind`` -> class.
MASKS: Registry[type[MaskPattern]] = Registry("mask kind", WorkloadError)

_M = TypeVar("_M", bound="type[MaskPattern]")


def register_mask(cls: _M) -> _M:
    """Class decorator adding a mask class to :data:`MASKS`; duplicate kinds are refused."""
    MASKS.register(cls.kind, cls)
    return cls


# --------------------------------------------------------------------------------------
# Closed-form helpers (vectorised, exact integer arithmetic in int64)
# --------------------------------------------------------------------------------------


def _i64(x: Any) -> IntArray:
    return np.asarray(x, dtype=np.int64)


def _sum_clip_linear(n: Any, a: Any, lo: Any, hi: Any) -> IntArray:
    """``sum_{t=0}^{n-1} clip(a + t, lo, hi)`` elementwise (broadcast), requires lo <= hi.

    The values ``a .. a+n-1`` split into those below ``lo`` (each counts ``lo``), those at
    or above ``hi`` (each counts ``hi``) and an arithmetic run in between.
    """
    n, a, lo, hi = _i64(n), _i64(a), _i64(lo), _i64(hi)
    below = np.clip(lo - a, 0, n)
    above = np.clip(a + n - hi, 0, n)
    first = np.maximum(a, lo)
    mid = np.maximum(np.minimum(a + n, hi) - first, 0)
    return below * lo + above * hi + mid * first + mid * (mid - 1) // 2


def _outer(r: Any, c: Any) -> tuple[IntArray, IntArray]:
    r = _i64(r).reshape(-1, 1)
    c = _i64(c).reshape(1, -1)
    return r, c


def _problem(cls_name: str, field: str, what: str) -> WorkloadError:
    return WorkloadError([f"{cls_name}.{field}: {what}"])


# --------------------------------------------------------------------------------------
# Base class
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MaskPattern:
    """Which (query, key) pairs are computed; subclasses are frozen and registered by kind."""

    kind: ClassVar[str] = ""

    # ---- shape rules ----------------------------------------------------------------
    def check_shape(self, q_len: int, kv_len: int) -> None:
        """Raise :class:`WorkloadError` when the mask cannot apply to ``q_len x kv_len``."""
        problems = []
        for name, value in (("q_len", q_len), ("kv_len", kv_len)):
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
                problems.append(
                    f"{type(self).__name__}: {name} {value!r} is invalid; expected an integer >= 1"
                )
        if problems:
            raise WorkloadError(problems)
        problems = self._shape_problems(int(q_len), int(kv_len))
        if problems:
            raise WorkloadError([f"{type(self).__name__}: {p}" for p in problems])

    def _shape_problems(self, q_len: int, kv_len: int) -> list[str]:
        return []

    # ---- the primitive --------------------------------------------------------------
    def cumulative_pairs(self, q_bounds: Any, kv_bounds: Any, q_len: int, kv_len: int) -> IntArray:
        """``G[a, b]`` = live pairs with query index < ``q_bounds[a]`` and key < ``kv_bounds[b]``.

        ``q_bounds`` and ``kv_bounds`` are 1-D integer arrays of bounds in ``[0, q_len]`` and
        ``[0, kv_len]``; the result is an int64 array of shape ``(len(q_bounds),
        len(kv_bounds))``. The count in a rectangle of the mask is
        ``G[r1,c1] - G[r0,c1] - G[r1,c0] + G[r0,c0]``.
        """
        self.check_shape(q_len, kv_len)
        r = np.clip(_i64(q_bounds).ravel(), 0, q_len)
        c = np.clip(_i64(kv_bounds).ravel(), 0, kv_len)
        return np.asarray(self._cumulative(r, c, q_len, kv_len), dtype=np.int64).reshape(
            r.size, c.size
        )

    def _cumulative(self, r: IntArray, c: IntArray, q_len: int, kv_len: int) -> IntArray:
        raise NotImplementedError

    # ---- questions asked by the simulator ------------------------------------------
    def dense(self, q_len: int, kv_len: int) -> np.ndarray:
        """Bool ``(q_len, kv_len)``; True = the query attends the key. Brute force, small sizes."""
        self.check_shape(q_len, kv_len)
        return np.ascontiguousarray(self._dense(q_len, kv_len), dtype=bool)

    def _dense(self, q_len: int, kv_len: int) -> np.ndarray:
        raise NotImplementedError

    def live_pairs(self, q_len: int, kv_len: int) -> int:
        """Exact number of (query, key) pairs computed, without building the dense matrix.

        Memoised per instance (masks are immutable), because ops ask for it on every
        ``flops()`` call.
        """
        cache: dict[tuple[int, int], int] = self.__dict__.setdefault("_live_pairs_cache", {})
        key = (int(q_len), int(kv_len))
        if key not in cache:
            cache[key] = int(self._live_pairs(*key))
        return cache[key]

    def _live_pairs(self, q_len: int, kv_len: int) -> int:
        return int(self.cumulative_pairs([q_len], [kv_len], q_len, kv_len)[0, 0])

    def live_keys(self, q_len: int, kv_len: int) -> int:
        """Keys that at least one query attends: the K/V rows a kernel must read.

        The base answer is every key (``kv_len``), exact for full, causal, neighborhood
        and shared-prefix masks; masks that leave keys untouched (sliding windows in
        decode, block layouts) override it exactly, so compulsory bytes follow the window.
        """
        self.check_shape(q_len, kv_len)
        return int(kv_len)

    def density(self, q_len: int, kv_len: int) -> float:
        """``live_pairs / (q_len * kv_len)``: the fraction of the full score matrix computed."""
        return self.live_pairs(q_len, kv_len) / (q_len * kv_len)

    def tile_counts(self, q_len: int, kv_len: int, block_q: int, block_k: int) -> IntArray:
        """Live pairs in each (query tile, key tile), int64 ``(ceil(q/bq), ceil(k/bk))``.

        The last tile row/column is ragged when the lengths are not multiples of the tile.
        """
        for name, value in (("block_q", block_q), ("block_k", block_k)):
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
                raise WorkloadError(
                    [
                        f"{type(self).__name__}: {name} {value!r} is invalid; expected an integer >= 1"
                    ]
                )
        nq = -(-q_len // block_q)
        nk = -(-kv_len // block_k)
        qb = np.minimum(np.arange(nq + 1, dtype=np.int64) * block_q, q_len)
        kb = np.minimum(np.arange(nk + 1, dtype=np.int64) * block_k, kv_len)
        g = self.cumulative_pairs(qb, kb, q_len, kv_len)
        return g[1:, 1:] - g[:-1, 1:] - g[1:, :-1] + g[:-1, :-1]

    def tile_liveness(self, q_len: int, kv_len: int, block_q: int, block_k: int) -> np.ndarray:
        """int8 ``(ceil(q/bq), ceil(k/bk))``: 0 dead, 1 partial, 2 full (every pair live).

        A ragged edge tile is full when every pair *inside the matrix* is live.
        """
        counts = self.tile_counts(q_len, kv_len, block_q, block_k)
        rows = np.diff(np.minimum(np.arange(counts.shape[0] + 1) * block_q, q_len))
        cols = np.diff(np.minimum(np.arange(counts.shape[1] + 1) * block_k, kv_len))
        area = rows[:, None].astype(np.int64) * cols[None, :]
        out = np.where(counts == 0, 0, np.where(counts == area, 2, 1))
        return out.astype(np.int8)

    # ---- serialisation --------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict: ``{"kind": ..., field: value, ...}`` (tuples become lists)."""
        out: dict[str, Any] = {"kind": self.kind}
        for f in dataclasses.fields(self):
            out[f.name] = _jsonable(getattr(self, f.name))
        return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    return value


def _field_annotations(cls: type) -> dict[str, str]:
    """Annotation strings of a dataclass's init fields (``from __future__`` keeps them strings)."""
    out = {}
    for f in dataclasses.fields(cls):
        ann = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
        out[f.name] = str(ann)
    return out


def build_from_fields(
    cls: type, d: Mapping[str, Any], where: str, skip: tuple[str, ...] = ("kind",)
) -> Any:
    """Typed keyword arguments for the dataclass ``cls`` from its JSON dict; every problem at once.

    Problem lines are ``where.field: what was wrong; what was expected``. Unknown keys and
    missing required keys are problems. Fields named in ``skip`` (``kind``, nested objects)
    are left to the caller. Pass the result to :func:`construct`.
    """
    problems: list[str] = []
    if not isinstance(d, Mapping):
        raise WorkloadError([f"{where}: got {type(d).__name__}; expected an object"])
    anns = _field_annotations(cls)
    kwargs: dict[str, Any] = {}
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for name, ann in anns.items():
        f = fields[name]
        if name in skip:
            continue  # nested objects, built by the caller
        if name not in d:
            has_default = (
                f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
            )
            if not has_default:
                problems.append(f"{where}.{name}: missing; expected a value of type {ann}")
            continue
        kwargs[name] = coerce(d[name], ann, f"{where}.{name}", problems)
    for key in d:
        if key not in anns and key not in skip:
            problems.append(unknown_key(f"{where}.{key}", key, anns))
    if problems:
        raise WorkloadError(problems)
    return kwargs


def construct(cls: type, kwargs: dict[str, Any], where: str) -> Any:
    """Call ``cls(**kwargs)``, re-labelling its :class:`WorkloadError` lines with ``where``."""
    try:
        return cls(**kwargs)
    except WorkloadError as exc:
        prefix = f"{cls.__name__}"
        lines = []
        for line in exc.problems:
            if line.startswith(prefix + ".") or line.startswith(prefix + ":"):
                line = where + line[len(prefix) :]
            lines.append(line)
        raise WorkloadError(lines) from None


def mask_from_dict(d: Mapping[str, Any], where: str = "mask") -> MaskPattern:
    """Inverse of :meth:`MaskPattern.to_dict`; problems name ``where`` and the field."""
    if not isinstance(d, Mapping):
        raise WorkloadError([f"{where}: got {type(d).__name__}; expected an object"])
    cls = MASKS.lookup(d.get("kind"), where=f"{where}.kind")  # type: ignore[arg-type]
    kwargs = build_from_fields(cls, d, where)
    return typing.cast(MaskPattern, construct(cls, kwargs, where))


def _check_int(cls: str, name: str, value: Any, minimum: int) -> list[str]:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        return [f"{cls}.{name}: {value!r} is not an integer; expected an integer >= {minimum}"]
    if value < minimum:
        return [f"{cls}.{name}: {value} is too small; expected an integer >= {minimum}"]
    return []


def _raise(problems: list[str]) -> None:
    if problems:
        raise WorkloadError(problems)


# --------------------------------------------------------------------------------------
# Full, causal, sliding window
# --------------------------------------------------------------------------------------


@register_mask
@dataclass(frozen=True)
class FullMask(MaskPattern):
    """Every query attends every key (bidirectional encoders, cross-attention)."""

    kind: ClassVar[str] = "full"

    def _cumulative(self, r: IntArray, c: IntArray, q_len: int, kv_len: int) -> IntArray:
        rr, cc = _outer(r, c)
        return rr * cc

    def _dense(self, q_len: int, kv_len: int) -> np.ndarray:
        return np.ones((q_len, kv_len), dtype=bool)


@register_mask
@dataclass(frozen=True)
class CausalMask(MaskPattern):
    """Query at position ``p = kv_len - q_len + i`` attends keys ``0 .. p`` (bottom-right).

    With ``q_len == kv_len`` that is ``q(q+1)/2`` pairs. With ``q_len > kv_len`` the first
    ``q_len - kv_len`` queries attend nothing (they lie before the first key).
    """

    kind: ClassVar[str] = "causal"

    def _cumulative(self, r: IntArray, c: IntArray, q_len: int, kv_len: int) -> IntArray:
        rr, cc = _outer(r, c)
        off = kv_len - q_len
        # row i covers keys [0, off+i+1) clipped to [0, kv); clipped again to [0, c).
        return _sum_clip_linear(rr, off + 1, 0, np.minimum(cc, kv_len))

    def _dense(self, q_len: int, kv_len: int) -> np.ndarray:
        pos = kv_len - q_len + np.arange(q_len)[:, None]
        return np.arange(kv_len)[None, :] <= pos


@register_mask
@dataclass(frozen=True)
class SlidingWindowMask(MaskPattern):
    """Key ``j`` is live for the query at position ``p`` iff ``p - left <= j <= p + right``.

    ``left``/``right`` are in tokens; a causal sliding window (Mistral, Gemma local layers)
    with window ``W`` tokens including the query itself is ``left = W - 1, right = 0``.
    Near the sequence ends the window is cut (not shifted), so border queries see fewer keys.

    Either offset may be negative as long as ``left + right >= 0`` (the band holds at least
    one diagonal). That expresses any diagonal band exactly, e.g. PyTorch's *top-left*
    causal mask for ``q_len != kv_len`` (query ``i`` sees keys ``0..i``) is
    ``SlidingWindowMask(left=kv_len, right=q_len - kv_len)``.
    """

    left: int
    right: int = 0
    kind: ClassVar[str] = "sliding_window"

    def __post_init__(self) -> None:
        name = "SlidingWindowMask"
        problems = _check_int(name, "left", self.left, -(2**62)) + _check_int(
            name, "right", self.right, -(2**62)
        )
        _raise(problems)
        if self.left + self.right < 0:
            problems.append(
                f"{name}.right: left {self.left} + right {self.right} is negative (an empty band); "
                f"expected left + right >= 0"
            )
        _raise(problems)
        object.__setattr__(self, "left", int(self.left))
        object.__setattr__(self, "right", int(self.right))

    def _cumulative(self, r: IntArray, c: IntArray, q_len: int, kv_len: int) -> IntArray:
        rr, cc = _outer(r, c)
        off = kv_len - q_len
        cap = np.minimum(cc, kv_len)
        hi = _sum_clip_linear(rr, off + self.right + 1, 0, cap)
        lo = _sum_clip_linear(rr, off - self.left, 0, cap)
        return hi - lo

    def live_keys(self, q_len: int, kv_len: int) -> int:
        """Keys in the union of the windows: one interval, as the windows slide by one.

        Rows with a non-empty window are the positions ``p`` in ``[max(off, -right),
        min(kv-1, kv-1+left)]``; their windows cover ``[p_lo - left, p_hi + right]``.
        """
        self.check_shape(q_len, kv_len)
        p_lo = max(kv_len - q_len, -self.right)
        p_hi = min(kv_len - 1, kv_len - 1 + self.left)
        if p_lo > p_hi:
            return 0
        return min(kv_len - 1, p_hi + self.right) - max(0, p_lo - self.left) + 1

    def _dense(self, q_len: int, kv_len: int) -> np.ndarray:
        pos = kv_len - q_len + np.arange(q_len)[:, None]
        j = np.arange(kv_len)[None, :]
        return (j >= pos - self.left) & (j <= pos + self.right)


# --------------------------------------------------------------------------------------
# Generalized neighborhood attention (NATTEN / GNA)
# --------------------------------------------------------------------------------------


class _Axis:
    """One axis of a neighborhood mask: length ``L``, window ``K``, dilation ``d``, stride ``s``.

    Definitions (all in *group coordinates*): dilation splits the axis into ``d`` groups
    of positions congruent mod ``d``; group ``g`` has ``n_g = ceil((L - g) / d)`` members
    and position ``p`` is member ``u = p // d`` of group ``p % d``. A query only sees
    keys of its own group. Stride groups consecutive members ``u`` of a group into blocks
    of ``s``; every query of a block uses the window of the block's *leader*: the centre
    member ``min(b*s + s//2, n_g - 1)`` when not causal, the last member
    ``min(b*s + s - 1, n_g - 1)`` when causal (so no query of a block loses a key that
    the block's last query needs; causality then holds at stride-block granularity).
    The window of a leader ``v`` is the member range ``[start, end)``:

    * not causal: ``start = clamp(v - K//2, 0, n_g - K)``, ``end = start + K`` -- shifted
      inside the axis at the borders so every query sees exactly ``K`` keys (NATTEN);
    * causal: ``start = max(v - K + 1, 0)``, ``end = v + 1`` -- up to ``K`` keys ending at
      the leader itself.
    """

    def __init__(self, length: int, window: int, dilation: int, stride: int, causal: bool):
        self.L, self.K, self.d, self.s, self.causal = length, window, dilation, stride, causal
        # Per distinct group length: window start/end arrays and their prefix sums.
        self._tables: dict[int, tuple[IntArray, IntArray, IntArray, IntArray]] = {}

    def group_len(self, g: Any) -> IntArray:
        return (self.L - _i64(g) + self.d - 1) // self.d

    def window(self, u: Any, n: Any) -> tuple[IntArray, IntArray]:
        """Window ``[start, end)`` in member coordinates for member ``u`` of a group of ``n``."""
        u, n = _i64(u), _i64(n)
        s = self.s
        block = u // s
        if self.causal:
            lead = np.minimum(block * s + s - 1, n - 1)
            return np.maximum(lead - self.K + 1, 0), lead + 1
        lead = np.minimum(block * s + s // 2, n - 1)
        start = np.clip(lead - self.K // 2, 0, n - self.K)
        return start, start + self.K

    def _table(self, n: int) -> tuple[IntArray, IntArray, IntArray, IntArray]:
        if n not in self._tables:
            u = np.arange(n, dtype=np.int64)
            st, en = self.window(u, n)
            pst = np.concatenate([[0], np.cumsum(st)])
            pen = np.concatenate([[0], np.cumsum(en)])
            self._tables[n] = (st, en, pst, pen)
        return self._tables[n]

    # Four counting functions; "point" arguments are positions < L, "prefix" arguments
    # are bounds in [0, L]. All broadcast and return int64.
    def member(self, p: Any, q: Any) -> IntArray:
        """1 where key position ``q`` is in the neighborhood of query position ``p``."""
        p, q = _i64(p), _i64(q)
        g = p % self.d
        st, en = self.window(p // self.d, self.group_len(g))
        v = q // self.d
        return ((q % self.d == g) & (v >= st) & (v < en)).astype(np.int64)

    def keys_below(self, p: Any, c: Any) -> IntArray:
        """Number of keys ``< c`` in the neighborhood of query position ``p``."""
        p, c = _i64(p), _i64(c)
        g = p % self.d
        st, en = self.window(p // self.d, self.group_len(g))
        x = (c - g + self.d - 1) // self.d  # members of group g below position c
        return np.clip(x, st, en) - st

    def queries_below(self, r: Any, q: Any) -> IntArray:
        """Number of query positions ``< r`` whose neighborhood contains key position ``q``."""
        r, q = np.broadcast_arrays(_i64(r), _i64(q))
        out = np.zeros(r.shape, dtype=np.int64)
        h = q % self.d
        v = q // self.d
        n = self.group_len(h)
        rows = np.clip((r - h + self.d - 1) // self.d, 0, n)  # members of group h below r
        for n_val in np.unique(n):
            sel = n == n_val
            st, en, _, _ = self._table(int(n_val))
            # starts and ends are non-decreasing in the member index, so the members whose
            # window holds v form one run [first, last).
            last = np.searchsorted(st, v[sel], side="right")
            first = np.searchsorted(en, v[sel], side="right")
            out[sel] = np.maximum(np.minimum(rows[sel], last) - first, 0)
        return out

    def pairs_below(self, r: Any, c: Any) -> IntArray:
        """Live pairs with query position ``< r`` and key position ``< c`` on this axis."""
        r, c = np.broadcast_arrays(_i64(r), _i64(c))
        total = np.zeros(r.shape, dtype=np.int64)
        for g in range(self.d):
            n = int(self.group_len(g))
            st, en, pst, pen = self._table(n)
            rows = np.clip((r - g + self.d - 1) // self.d, 0, n)
            x = (c - g + self.d - 1) // self.d
            # sum_{u<rows} |[st_u, en_u) & [0, x)| = sum min(en_u, x) - sum min(st_u, x)
            ke = np.minimum(np.searchsorted(en, x, side="left"), rows)
            ks = np.minimum(np.searchsorted(st, x, side="left"), rows)
            total += pen[ke] + x * (rows - ke) - (pst[ks] + x * (rows - ks))
        return total

    def dense(self) -> np.ndarray:
        """Brute-force ``(L, L)`` bool mask of this axis, by scalar loops over the definition."""
        out = np.zeros((self.L, self.L), dtype=bool)
        for p in range(self.L):
            g, u = p % self.d, p // self.d
            n = len(range(g, self.L, self.d))
            b = u // self.s
            if self.causal:
                lead = min(b * self.s + self.s - 1, n - 1)
                members = range(max(lead - self.K + 1, 0), lead + 1)
            else:
                lead = min(b * self.s + self.s // 2, n - 1)
                start = lead - self.K // 2
                start = max(0, min(start, n - self.K))
                members = range(start, start + self.K)
            for m in members:
                out[p, g + m * self.d] = True
        return out


@register_mask
@dataclass(frozen=True)
class NeighborhoodMask(MaskPattern):
    """Generalized neighborhood attention over an N-d token grid (NATTEN, GNA).

    Tokens of the grid ``spatial`` (e.g. ``(H, W)`` or ``(T, H, W)``) are flattened row-major
    (last axis fastest), so ``q_len == kv_len == prod(spatial)``. Query ``(i_1..i_n)``
    attends key ``(j_1..j_n)`` iff ``j_a`` is in the neighborhood of ``i_a`` on *every* axis
    ``a``: the mask is a Kronecker product of per-axis masks, so live pairs are the product
    of per-axis counts. Per axis: ``window`` keys (tokens in the window, not a radius),
    ``dilation`` (every d-th token, DiNAT), ``stride`` (blocks of ``stride`` queries share
    one window, GNA) and ``causal`` (keys up to the query only). See :class:`_Axis` for
    the exact definition. Constraints (as NATTEN's): ``window * dilation <= spatial`` and
    ``1 <= stride <= window`` per axis.
    """

    spatial: tuple[int, ...]
    window: tuple[int, ...]
    dilation: tuple[int, ...] = ()
    stride: tuple[int, ...] = ()
    causal: tuple[bool, ...] = ()
    kind: ClassVar[str] = "neighborhood"

    def __post_init__(self) -> None:
        name = "NeighborhoodMask"
        for f in ("spatial", "window", "dilation", "stride", "causal"):
            if isinstance(getattr(self, f), list):
                object.__setattr__(self, f, tuple(getattr(self, f)))
        n = len(self.spatial) if isinstance(self.spatial, tuple) else 0
        problems: list[str] = []
        if n == 0:
            raise WorkloadError(
                [f"{name}.spatial: {self.spatial!r}; expected a non-empty tuple of grid sizes"]
            )
        # empty tuples mean the defaults: dilation 1, stride 1, not causal
        if self.dilation == ():
            object.__setattr__(self, "dilation", (1,) * n)
        if self.stride == ():
            object.__setattr__(self, "stride", (1,) * n)
        if self.causal == ():
            object.__setattr__(self, "causal", (False,) * n)
        for field in ("spatial", "window", "dilation", "stride", "causal"):
            value = getattr(self, field)
            if not isinstance(value, tuple) or len(value) != n:
                problems.append(
                    f"{name}.{field}: {value!r} has the wrong length; expected {n} values, one per axis"
                )
        _raise(problems)
        for a in range(n):
            problems += _check_int(name, f"spatial[{a}]", self.spatial[a], 1)
            problems += _check_int(name, f"window[{a}]", self.window[a], 1)
            problems += _check_int(name, f"dilation[{a}]", self.dilation[a], 1)
            problems += _check_int(name, f"stride[{a}]", self.stride[a], 1)
            if not isinstance(self.causal[a], bool | np.bool_):
                problems.append(f"{name}.causal[{a}]: {self.causal[a]!r}; expected true or false")
        _raise(problems)
        for a in range(n):
            if self.window[a] * self.dilation[a] > self.spatial[a]:
                problems.append(
                    f"{name}.window[{a}]: window {self.window[a]} x dilation {self.dilation[a]} "
                    f"exceeds the axis size {self.spatial[a]}; expected window * dilation <= "
                    f"{self.spatial[a]}"
                )
            if self.stride[a] > self.window[a]:
                problems.append(
                    f"{name}.stride[{a}]: {self.stride[a]} exceeds the window {self.window[a]}; "
                    f"expected 1 <= stride <= window"
                )
        _raise(problems)
        # normalise numpy scalars so equality, hashing and JSON see plain Python values
        for f in ("spatial", "window", "dilation", "stride"):
            object.__setattr__(self, f, tuple(int(x) for x in getattr(self, f)))
        object.__setattr__(self, "causal", tuple(bool(x) for x in self.causal))

    @property
    def tokens(self) -> int:
        """Number of tokens of the grid, ``prod(spatial)``."""
        return math.prod(self.spatial)

    def _axes(self) -> list[_Axis]:
        return [
            _Axis(
                self.spatial[a],
                self.window[a],
                self.dilation[a],
                self.stride[a],
                bool(self.causal[a]),
            )
            for a in range(len(self.spatial))
        ]

    def _shape_problems(self, q_len: int, kv_len: int) -> list[str]:
        n = self.tokens
        if q_len != n or kv_len != n:
            return [
                f"q_len={q_len}, kv_len={kv_len} do not match the grid {self.spatial}; "
                f"expected q_len = kv_len = {n}"
            ]
        return []

    def _live_pairs(self, q_len: int, kv_len: int) -> int:
        """Product over axes of per-axis live pairs (the mask is a Kronecker product)."""
        self.check_shape(q_len, kv_len)
        return math.prod(int(ax.pairs_below(ax.L, ax.L)) for ax in self._axes())

    def _cumulative(self, r: IntArray, c: IntArray, q_len: int, kv_len: int) -> IntArray:
        # "index < r" in row-major order is a union over axes a of boxes
        #   {i_e = r_e for e < a, i_a < r_a, i_e free for e > a}
        # (r_e the digits of r). A pair of boxes (one for queries, one for keys) is a product
        # set, so its live count is a product of per-axis counts of the kinds
        #   point/point (member), point/prefix (keys_below), prefix/point (queries_below),
        #   prefix/prefix (pairs_below), with "free" = prefix of the full axis length.
        axes = self._axes()
        n = len(axes)
        strides = [math.prod(self.spatial[a + 1 :]) for a in range(n)]

        def digits(x: IntArray) -> list[IntArray]:
            out = [x // strides[0]]
            out += [(x // strides[a]) % self.spatial[a] for a in range(1, n)]
            return out

        rd, cd = digits(r), digits(c)
        # A point digit equal to L (only axis 0, when the bound is the whole sequence)
        # denotes an empty box; its valid flag zeroes those terms.
        r_ok = rd[0] < self.spatial[0]
        c_ok = cd[0] < self.spatial[0]

        def factor(e: int, tq: str, tk: str) -> IntArray:
            ax = axes[e]
            L = ax.L
            qv, qi = np.unique(rd[e], return_inverse=True)
            kv, ki = np.unique(cd[e], return_inverse=True)
            qpt = np.minimum(qv, L - 1)
            kpt = np.minimum(kv, L - 1)
            if tq == "all" and tk == "all":
                return _i64(ax.pairs_below(L, L)).reshape(1, 1)
            if tq == "all":
                row = ax.queries_below(L, kpt) if tk == "point" else ax.pairs_below(L, kv)
                return row[ki].reshape(1, -1)
            if tk == "all":
                col = ax.keys_below(qpt, L) if tq == "point" else ax.pairs_below(qv, L)
                return col[qi].reshape(-1, 1)
            qq, kk = qpt[:, None], kpt[None, :]
            if tq == "point" and tk == "point":
                table = ax.member(qq, kk)
            elif tq == "point":
                table = ax.keys_below(qq, kv[None, :])
            elif tk == "point":
                table = ax.queries_below(qv[:, None], kk)
            else:
                table = ax.pairs_below(qv[:, None], kv[None, :])
            return table[qi[:, None], ki[None, :]]

        def kind(a: int, e: int) -> str:
            return "point" if e < a else ("prefix" if e == a else "all")

        total = np.zeros((r.size, c.size), dtype=np.int64)
        cache: dict[tuple[int, str, str], IntArray] = {}
        for a in range(n):
            for b in range(n):
                term: IntArray = np.ones((1, 1), dtype=np.int64)
                for e in range(n):
                    key = (e, kind(a, e), kind(b, e))
                    if key not in cache:
                        cache[key] = factor(*key)
                    term = term * cache[key]
                if a > 0:
                    term = term * r_ok.reshape(-1, 1)
                if b > 0:
                    term = term * c_ok.reshape(1, -1)
                total = total + term
        return total

    def _dense(self, q_len: int, kv_len: int) -> np.ndarray:
        out = np.ones((1, 1), dtype=np.int8)
        for ax in self._axes():
            out = np.kron(out, ax.dense().astype(np.int8))
        return out.astype(bool)


# --------------------------------------------------------------------------------------
# Block-sparse and shared-prefix
# --------------------------------------------------------------------------------------


@register_mask
@dataclass(frozen=True)
class BlockSparseMask(MaskPattern):
    """An explicit layout of live blocks (BigBird, Sparse Transformer, FlexAttention masks).

    ``layout[bq][bk]`` says whether query block ``bq`` (rows ``bq*block_q ..``) attends key
    block ``bk``; inside a live block every pair is live. The layout must have
    ``ceil(q_len/block_q)`` rows of ``ceil(kv_len/block_k)`` entries; the last block row
    and column may be ragged.
    """

    block_q: int
    block_k: int
    layout: tuple[tuple[bool, ...], ...]
    kind: ClassVar[str] = "block_sparse"

    def __post_init__(self) -> None:
        name = "BlockSparseMask"
        problems = _check_int(name, "block_q", self.block_q, 1) + _check_int(
            name, "block_k", self.block_k, 1
        )
        lay = self.layout
        if not isinstance(lay, tuple) or not lay or not all(isinstance(r, tuple) for r in lay):
            problems.append(f"{name}.layout: not a non-empty list of rows; expected a 2-D list")
        elif len({len(r) for r in lay}) != 1 or len(lay[0]) == 0:
            problems.append(
                f"{name}.layout: rows have lengths {sorted({len(r) for r in lay})}; "
                f"expected every row to have the same non-zero length"
            )
        _raise(problems)

    @property
    def grid(self) -> np.ndarray:
        """The layout as a read-only bool array ``(query blocks, key blocks)`` (built once)."""
        grid = self.__dict__.get("_grid")
        if grid is None:
            grid = np.array(self.layout, dtype=bool)
            grid.setflags(write=False)
            self.__dict__["_grid"] = grid
        return grid

    def _shape_problems(self, q_len: int, kv_len: int) -> list[str]:
        nq, nk = -(-q_len // self.block_q), -(-kv_len // self.block_k)
        have = (len(self.layout), len(self.layout[0]))
        if have != (nq, nk):
            return [
                f"layout is {have[0]}x{have[1]} blocks; expected {nq}x{nk} for "
                f"q_len={q_len}, kv_len={kv_len} with blocks {self.block_q}x{self.block_k}"
            ]
        return []

    def _live_pairs(self, q_len: int, kv_len: int) -> int:
        """Sum over live blocks of their (possibly ragged) area."""
        self.check_shape(q_len, kv_len)
        grid = self.grid.astype(np.int64)
        rows = np.diff(np.minimum(np.arange(grid.shape[0] + 1) * self.block_q, q_len))
        cols = np.diff(np.minimum(np.arange(grid.shape[1] + 1) * self.block_k, kv_len))
        return int(rows @ grid @ cols)

    def live_keys(self, q_len: int, kv_len: int) -> int:
        """Keys in the key blocks that some query block attends."""
        self.check_shape(q_len, kv_len)
        cols = np.diff(np.minimum(np.arange(self.grid.shape[1] + 1) * self.block_k, kv_len))
        return int(cols[self.grid.any(axis=0)].sum())

    def _cumulative(self, r: IntArray, c: IntArray, q_len: int, kv_len: int) -> IntArray:
        grid = self.grid.astype(np.float64)
        bq = np.arange(grid.shape[0], dtype=np.int64) * self.block_q
        bk = np.arange(grid.shape[1], dtype=np.int64) * self.block_k
        a = np.clip(r[:, None] - bq[None, :], 0, self.block_q).astype(np.float64)
        b = np.clip(c[:, None] - bk[None, :], 0, self.block_k).astype(np.float64)
        # Integer-valued float64 products stay exact below 2**53 (~9e15 pairs).
        return np.rint((a @ grid) @ b.T).astype(np.int64)

    def _dense(self, q_len: int, kv_len: int) -> np.ndarray:
        big = np.repeat(np.repeat(self.grid, self.block_q, axis=0), self.block_k, axis=1)
        return big[:q_len, :kv_len]


@register_mask
@dataclass(frozen=True)
class SharedPrefixMask(MaskPattern):
    """One shared prompt followed by ``num_continuations`` independent continuations.

    The sequence (queries and keys alike, ``q_len = kv_len = prefix_len +
    num_continuations * continuation_len``) is the prefix, then continuation 0, 1, ...
    Prefix tokens attend the prefix causally (or fully when ``causal_prefix`` is false,
    e.g. a bidirectional prompt encoder); a token of continuation ``c`` attends the whole
    prefix and the tokens of continuation ``c`` up to itself, never another continuation
    (parallel sampling / beam search / tree decoding over one prompt, as in Hydragen).
    """

    prefix_len: int
    num_continuations: int
    continuation_len: int
    causal_prefix: bool = True
    kind: ClassVar[str] = "shared_prefix"

    def __post_init__(self) -> None:
        name = "SharedPrefixMask"
        problems = (
            _check_int(name, "prefix_len", self.prefix_len, 0)
            + _check_int(name, "num_continuations", self.num_continuations, 1)
            + _check_int(name, "continuation_len", self.continuation_len, 1)
        )
        if not isinstance(self.causal_prefix, bool):
            problems.append(f"{name}.causal_prefix: {self.causal_prefix!r}; expected true or false")
        _raise(problems)

    @property
    def total_len(self) -> int:
        """Tokens in the whole sequence, ``prefix_len + num_continuations * continuation_len``."""
        return self.prefix_len + self.num_continuations * self.continuation_len

    def _shape_problems(self, q_len: int, kv_len: int) -> list[str]:
        n = self.total_len
        if q_len != n or kv_len != n:
            return [
                f"q_len={q_len}, kv_len={kv_len} do not match prefix {self.prefix_len} + "
                f"{self.num_continuations} x {self.continuation_len}; expected q_len = kv_len = {n}"
            ]
        return []

    def _cumulative(self, r: IntArray, c: IntArray, q_len: int, kv_len: int) -> IntArray:
        rr, cc = _outer(r, c)
        P, N, C = self.prefix_len, self.num_continuations, self.continuation_len
        cp = np.minimum(cc, P)
        # prefix rows
        rp = np.minimum(rr, P)
        out = _sum_clip_linear(rp, 1, 0, cp) if self.causal_prefix else rp * cp
        # continuation rows attending the prefix
        out = out + np.clip(rr - P, 0, N * C) * cp
        # continuation rows attending their own continuation (causal triangle each):
        # continuations entirely below both bounds contribute C(C+1)/2; only the
        # continuation holding the smaller of the two bounds is cut.
        kr = np.clip((rr - P) // C, 0, N)
        kc = np.clip((cc - P) // C, 0, N)
        m = np.minimum(kr, kc)
        out = out + m * (C * (C + 1) // 2)
        start = P + m * C
        rows = np.clip(rr - start, 0, C)
        cols = np.clip(cc - start, 0, C)
        part = _sum_clip_linear(rows, 1, 0, cols)
        return out + np.where(m < N, part, 0)

    def _dense(self, q_len: int, kv_len: int) -> np.ndarray:
        P, C = self.prefix_len, self.continuation_len
        n = self.total_len
        i = np.arange(n)[:, None]
        j = np.arange(n)[None, :]
        seg_i = np.where(i < P, -1, (i - P) // C)
        seg_j = np.where(j < P, -1, (j - P) // C)
        prefix_rows = (i < P) & (j < P) & ((j <= i) | (not self.causal_prefix))
        cont_rows = (i >= P) & ((j < P) | ((seg_j == seg_i) & (j <= i)))
        return prefix_rows | cont_rows
