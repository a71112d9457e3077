"""Content-based and structured sparse masks (PowerAttention, block top-k, routing clusters,
vertical-slash, routed query rows).

Each mask answers the three questions of :mod:`workloads.masks` from a closed form of
``cumulative_pairs`` — no dense matrix, O(#blocks²) precomputation at most — and keeps a
brute-force :meth:`dense` for tests. Data-dependent patterns (top-k selections, k-means
clusters) are *synthetic stand-ins*: the selection is drawn from a recorded ``seed`` with
the paper's budget, so the work a kernel does (how many blocks, which tiles) is exact for
that selection, while which blocks a trained model would pick is not modelled.

Positions follow :mod:`workloads.masks`: query row ``i`` sits at position
``kv_len - q_len + i`` (bottom-right aligned), so these masks need ``q_len <= kv_len``
(prefill has ``q_len == kv_len``, decode ``q_len < kv_len``). Block patterns are laid on
*position* blocks of ``block`` tokens: position ``p`` is in block ``p // block`` for
queries and keys alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from .masks import IntArray, MaskPattern, _check_int, _i64, _outer, _raise, register_mask

__all__ = [
    "BlockLayoutMask",
    "CausalBlockMask",
    "BlockTopKMask",
    "ClusterMask",
    "PowerMask",
    "RowSubsetMask",
    "VerticalSlashMask",
]


def _tri(n: Any) -> IntArray:
    n = _i64(n)
    return n * (n + 1) // 2


def _sum_min(n: Any, m: Any) -> IntArray:
    """``sum_{u<n} min(u + 1, m)`` elementwise, for ``n, m >= 0``."""
    n, m = np.broadcast_arrays(_i64(n), _i64(m))
    return np.where(n <= m, _tri(n), _tri(m) + (n - m) * m)


class BlockLayoutMask(MaskPattern):
    """Base of masks defined by a layout of position blocks of ``block`` tokens.

    A subclass gives :meth:`_layout` — the *full* live blocks, a bool ``(nb, nb)`` array
    with ``nb = ceil(kv_len / block)`` — and whether it is ``causal``: then the diagonal
    blocks are live token-causally (key ``j`` for the query at position ``p`` iff
    ``j <= p``) and must not be in the layout.

    ``cumulative_pairs`` in closed form: the full-block part is the bilinear form
    ``R(r)^T L C(c)`` (rows of each query block below ``r`` times keys of each key block
    below ``c``), evaluated in O(1) per bound from 2-D prefix sums of the layout; the
    causal diagonal part is a sum of triangle pieces (:meth:`_diagonal`).
    """

    kind: ClassVar[str] = ""
    causal: bool

    @property
    def block_size(self) -> int:
        """Tokens per position block."""
        raise NotImplementedError

    def _layout(self, nb: int) -> np.ndarray:
        raise NotImplementedError

    def _shape_problems(self, q_len: int, kv_len: int) -> list[str]:
        if q_len > kv_len:
            return [
                f"q_len={q_len} exceeds kv_len={kv_len}; expected q_len <= kv_len "
                f"(queries are the last q_len positions)"
            ]
        return []

    def block_layout(self, kv_len: int) -> np.ndarray:
        """The full live blocks (bool ``(nb, nb)``, read-only), memoised per ``kv_len``."""
        cache: dict[int, np.ndarray] = self.__dict__.setdefault("_layout_cache", {})
        if kv_len not in cache:
            nb = -(-kv_len // self.block_size)
            grid = np.asarray(self._layout(nb), dtype=bool)
            if grid.shape != (nb, nb):  # pragma: no cover - subclass bug
                raise AssertionError(f"{type(self).__name__} layout {grid.shape} != {(nb, nb)}")
            if self.causal and (np.triu(grid).any()):  # pragma: no cover - subclass bug
                raise AssertionError(f"{type(self).__name__}: causal layout above the diagonal")
            grid.setflags(write=False)
            cache = {kv_len: grid}  # keep only the latest length
            self.__dict__["_layout_cache"] = cache
        return cache[kv_len]

    def _tables(self, kv_len: int) -> tuple[IntArray, IntArray, IntArray, IntArray]:
        cache = self.__dict__.get("_tables_cache")
        if cache is None or cache[0] != kv_len:
            B = self.block_size
            grid = self.block_layout(kv_len).astype(np.int64)
            nb = grid.shape[0]
            width = np.diff(np.minimum(np.arange(nb + 1, dtype=np.int64) * B, kv_len))
            pad = np.zeros((nb + 1, nb + 1), dtype=np.int64)
            pad[:nb, :nb] = grid
            row = np.zeros((nb + 1, nb + 1), dtype=np.int64)  # sum_{b<cb} L[a,b]*width_b
            row[:nb, 1:] = np.cumsum(grid * width[None, :], axis=1)
            # column prefix sums (over a) of the row table and of the layout
            q_row = np.zeros((nb + 2, nb + 1), dtype=np.int64)
            q_row[1:] = np.cumsum(row, axis=0)
            q_lay = np.zeros((nb + 2, nb + 1), dtype=np.int64)
            q_lay[1:] = np.cumsum(pad, axis=0)
            cache = (kv_len, (q_row, q_lay, row, pad))
            self.__dict__["_tables_cache"] = cache
        return cache[1]  # type: ignore[return-value]

    def _full_part(self, x: IntArray, c: IntArray, kv_len: int) -> IntArray:
        """Full-block pairs with query position < ``x`` (column) and key < ``c`` (row)."""
        q_row, q_lay, row, pad = self._tables(kv_len)
        B = self.block_size
        xx, cc = _outer(x, c)
        ax, ux = xx // B, xx % B
        cb, cr = cc // B, cc % B
        below = q_row[ax, cb] + cr * q_lay[ax, cb]  # blocks a < ax, all their B rows
        edge = row[ax, cb] + cr * pad[ax, cb]  # block ax, its first ux rows
        return B * below + ux * edge

    def _diagonal(self, x: IntArray, c: IntArray) -> IntArray:
        """Causal diagonal pairs: positions ``p < x``, keys ``j < c``, same block, ``j <= p``."""
        B = self.block_size
        xx, cc = _outer(x, c)
        ax, ux = xx // B, xx % B
        kc, rc = cc // B, cc % B
        out = np.minimum(ax, kc) * _tri(B)
        partial = np.where(ax < kc, _tri(ux), np.where(ax == kc, _sum_min(ux, rc), _sum_min(B, rc)))
        return out + partial

    def _cumulative(self, r: IntArray, c: IntArray, q_len: int, kv_len: int) -> IntArray:
        off = kv_len - q_len
        hi, lo = r + off, np.full_like(r, off)
        out = self._full_part(hi, c, kv_len) - self._full_part(lo, c, kv_len)
        if self.causal:
            out = out + self._diagonal(hi, c) - self._diagonal(lo, c)
        return out

    def _dense(self, q_len: int, kv_len: int) -> np.ndarray:
        B = self.block_size
        grid = self.block_layout(kv_len)
        pos = kv_len - q_len + np.arange(q_len)
        key = np.arange(kv_len)
        live = grid[pos[:, None] // B, key[None, :] // B]
        if self.causal:
            same = (pos[:, None] // B) == (key[None, :] // B)
            live = live | (same & (key[None, :] <= pos[:, None]))
        return live

    def live_keys(self, q_len: int, kv_len: int) -> int:
        """Keys of the key blocks that the query blocks in range attend (diagonal included)."""
        self.check_shape(q_len, kv_len)
        B = self.block_size
        grid = self.block_layout(kv_len)
        nb = grid.shape[0]
        first = (kv_len - q_len) // B
        cols = np.asarray(grid[first:].any(axis=0), dtype=bool)
        if self.causal:
            cols[first:] = True
        width = np.diff(np.minimum(np.arange(nb + 1) * B, kv_len))
        return int(width[cols].sum())

    def live_blocks(self, kv_len: int) -> int:
        """Live position blocks (full ones plus, when causal, the diagonal)."""
        n = int(self.block_layout(kv_len).sum())
        return n + (-(-kv_len // self.block_size) if self.causal else 0)


def _block_fields(name: str, block: Any, sink: Any, local: Any) -> list[str]:
    return (
        _check_int(name, "block", block, 1)
        + _check_int(name, "sink_blocks", sink, 0)
        + _check_int(name, "local_blocks", local, 0)
    )


@register_mask
@dataclass(frozen=True)
class PowerMask(BlockLayoutMask):
    """PowerAttention (Chen et al. 2025, arXiv 2503.03588): causal attention to the key
    blocks at power-of-two distances ``1, 2, 4, ...`` from the query's block, plus
    ``local_blocks`` preceding blocks (sliding window), ``sink_blocks`` first blocks, and
    its own block token-causally. A query block sees ``O(log n)`` blocks, so the receptive
    field doubles per layer.

    Assumption (the paper leaves the exact composition to the implementation): distances
    are counted in blocks of ``block`` tokens, and the window and sink are unions with
    the power-of-two set.
    """

    block: int = 64
    sink_blocks: int = 1
    local_blocks: int = 1
    kind: ClassVar[str] = "power"
    causal: ClassVar[bool] = True  # type: ignore[misc]

    def __post_init__(self) -> None:
        _raise(_block_fields("PowerMask", self.block, self.sink_blocks, self.local_blocks))

    @property
    def block_size(self) -> int:
        return self.block

    def _layout(self, nb: int) -> np.ndarray:
        a = np.arange(nb)[:, None]
        b = np.arange(nb)[None, :]
        dist = a - b
        power = (dist > 0) & ((dist & (dist - 1)) == 0)
        live = power | ((dist > 0) & (dist <= self.local_blocks)) | (b < self.sink_blocks)
        return live & (dist > 0)


@register_mask
@dataclass(frozen=True)
class BlockTopKMask(BlockLayoutMask):
    """Each query block attends ``k`` selected earlier key blocks, its ``local_blocks``
    predecessors, the ``sink_blocks`` first blocks and itself (causally).

    This is the block-to-block pattern of The Sparse Frontier (Nawrot et al. 2025, arXiv
    2504.17768; Quest/InfLLM-style pooled-score selection) and the span attention of
    Superlinear multi-step attention (arXiv 2601.18401) with ``block`` = span length.
    The selection is synthetic: for query block ``a`` the ``k`` blocks are drawn without
    replacement from the candidates ``[sink_blocks, a - local_blocks)`` by
    ``numpy.random.default_rng(seed)`` (all candidates when fewer than ``k``).
    """

    block: int = 64
    k: int = 8
    seed: int = 0
    sink_blocks: int = 1
    local_blocks: int = 1
    kind: ClassVar[str] = "block_topk"
    causal: ClassVar[bool] = True  # type: ignore[misc]

    def __post_init__(self) -> None:
        p = _block_fields("BlockTopKMask", self.block, self.sink_blocks, self.local_blocks)
        p += _check_int("BlockTopKMask", "k", self.k, 0)
        p += _check_int("BlockTopKMask", "seed", self.seed, 0)
        _raise(p)

    @property
    def block_size(self) -> int:
        return self.block

    def _layout(self, nb: int) -> np.ndarray:
        grid = np.zeros((nb, nb), dtype=bool)
        rng = np.random.default_rng(self.seed)
        for a in range(1, nb):
            lo, hi = min(self.sink_blocks, a), max(a - self.local_blocks, 0)
            grid[a, :lo] = True
            grid[a, max(hi, 0) : a] = True
            if hi > lo and self.k > 0:
                n = hi - lo
                pick = np.arange(lo, hi) if n <= self.k else lo + rng.choice(n, self.k, False)
                grid[a, pick] = True
        return grid


@register_mask
@dataclass(frozen=True)
class ClusterMask(BlockLayoutMask):
    """Routing Transformer attention (Roy et al. 2021) on tokens sorted by cluster.

    Online k-means assigns each token to one of ``n / cluster`` centroids with balanced
    clusters of ``cluster`` tokens (the top-``cluster`` tokens per centroid, as the
    reference implementation does); tokens are gathered cluster by cluster and attend
    within their cluster, causally when ``causal`` (sorted by position inside a cluster).
    In that sorted order the mask is block-diagonal with blocks of ``cluster`` tokens,
    which is what this mask describes; the gather/scatter and the centroid scores are
    separate ops of the workload.
    """

    cluster: int = 256
    causal: bool = True
    kind: ClassVar[str] = "cluster"

    def __post_init__(self) -> None:
        p = _check_int("ClusterMask", "cluster", self.cluster, 1)
        if not isinstance(self.causal, bool):
            p.append(f"ClusterMask.causal: {self.causal!r}; expected true or false")
        _raise(p)

    @property
    def block_size(self) -> int:
        return self.cluster

    def _layout(self, nb: int) -> np.ndarray:
        return np.zeros((nb, nb), dtype=bool) if self.causal else np.eye(nb, dtype=bool)


@register_mask
@dataclass(frozen=True)
class CausalBlockMask(BlockLayoutMask):
    """Any causal block pattern: the full key blocks of ``layout`` (strictly below the
    diagonal) plus every diagonal block token-causally.

    The exact form of a causal sparse mask built block by block (a FlexAttention
    ``mask_mod`` of a PowerAttention- or top-k-like pattern, an SDPA boolean mask), which
    :class:`~workloads.masks.BlockSparseMask` can only bound (its diagonal blocks would be
    full). ``layout`` has ``ceil(kv_len / block)`` rows of as many entries.
    """

    block: int
    layout: tuple[tuple[bool, ...], ...]
    kind: ClassVar[str] = "causal_block"
    causal: ClassVar[bool] = True  # type: ignore[misc]

    def __post_init__(self) -> None:
        name = "CausalBlockMask"
        problems = _check_int(name, "block", self.block, 1)
        lay = self.layout
        if isinstance(lay, list):
            lay = tuple(tuple(r) for r in lay)
            object.__setattr__(self, "layout", lay)
        if not isinstance(lay, tuple) or not lay or not all(isinstance(r, tuple) for r in lay):
            problems.append(f"{name}.layout: not a non-empty list of rows; expected a 2-D list")
        elif any(len(r) != len(lay) for r in lay):
            problems.append(f"{name}.layout: not square; expected {len(lay)} entries per row")
        elif np.triu(np.array(lay, dtype=bool)).any():
            problems.append(
                f"{name}.layout: has blocks on or above the diagonal; expected only key blocks "
                f"before the query block (the diagonal is causal by definition)"
            )
        _raise(problems)

    @property
    def block_size(self) -> int:
        return self.block

    def _shape_problems(self, q_len: int, kv_len: int) -> list[str]:
        problems = super()._shape_problems(q_len, kv_len)
        nb = -(-kv_len // self.block)
        if len(self.layout) != nb:
            problems.append(
                f"layout has {len(self.layout)} block rows; expected {nb} for kv_len={kv_len} "
                f"with blocks of {self.block}"
            )
        return problems

    def _layout(self, nb: int) -> np.ndarray:
        return np.array(self.layout, dtype=bool)


@register_mask
@dataclass(frozen=True)
class VerticalSlashMask(MaskPattern):
    """Causal vertical-slash pattern (MInference; compared in The Sparse Frontier).

    The query at position ``p`` attends key ``j <= p`` iff ``j`` is one of the
    ``verticals`` (key columns every query sees, e.g. attention sinks) or ``p - j`` is one
    of the ``slashes`` (diagonal offsets; ``0 .. w-1`` is a local window of ``w``).
    Counted by inclusion-exclusion over verticals, slashes and their crossings, each a
    closed form over sorted lists (``O((|V| + |S|) x bounds)``).
    """

    verticals: tuple[int, ...] = (0,)
    slashes: tuple[int, ...] = (0,)
    kind: ClassVar[str] = "vertical_slash"

    def __post_init__(self) -> None:
        name = "VerticalSlashMask"
        problems: list[str] = []
        for field in ("verticals", "slashes"):
            value = getattr(self, field)
            if isinstance(value, list):
                value = tuple(value)
            if not isinstance(value, tuple):
                problems.append(f"{name}.{field}: {value!r}; expected a list of integers >= 0")
                continue
            for i, v in enumerate(value):
                problems += _check_int(name, f"{field}[{i}]", v, 0)
            if not problems and len(set(value)) != len(value):
                problems.append(f"{name}.{field}: has duplicates; expected distinct integers")
            if not problems:
                object.__setattr__(self, field, tuple(sorted(int(v) for v in value)))
        _raise(problems)

    def _shape_problems(self, q_len: int, kv_len: int) -> list[str]:
        if q_len > kv_len:
            return [f"q_len={q_len} exceeds kv_len={kv_len}; expected q_len <= kv_len"]
        return []

    def _cumulative(self, r: IntArray, c: IntArray, q_len: int, kv_len: int) -> IntArray:
        off = kv_len - q_len
        V = np.asarray(self.verticals, dtype=np.int64)
        S = np.asarray(self.slashes, dtype=np.int64)
        hi = off + r  # query positions are [off, hi)
        # verticals: column v counts rows with position >= v, when v < c
        per_v = np.clip(hi[None, :] - np.maximum(V[:, None], off), 0, None)  # (|V|, nr)
        cum_v = np.zeros((V.size + 1, r.size), dtype=np.int64)
        cum_v[1:] = np.cumsum(per_v, axis=0)
        n_v = np.searchsorted(V, c, side="left")  # verticals below each c
        vert = cum_v[n_v].T  # (nr, nc)
        # slashes: diagonal s holds positions p in [max(off, s), min(hi, s + c))
        HI, C = _outer(hi, c)
        Sc = np.concatenate([[0], np.cumsum(S)])
        # s >= off: term = min(hi, s + c) - s clipped -> c when s <= hi - c, else hi - s (if s < hi)
        # s < off:  term = clip(min(hi, s + c) - off, 0)
        i_off = np.searchsorted(S, off, side="left")  # slashes below off
        t = HI - C  # s <= t gives term c
        n_le_t = np.searchsorted(S, t, side="right")
        n_lt_hi = np.searchsorted(S, HI, side="left")
        a1 = np.clip(n_le_t, i_off, None)
        a2 = np.clip(n_lt_hi, a1, None)
        sl = (a1 - i_off) * C + (HI * (a2 - a1) - (Sc[a2] - Sc[a1]))
        if i_off:  # slashes below off: s in [0, i_off)
            Sb = S[:i_off]
            # term = clip(min(hi, s + c) - off, 0): s + c <= hi -> s + c - off (if > 0)
            lo_s = off - C  # need s > off - c
            n_gt = np.searchsorted(Sb, lo_s, side="right")  # s <= off - c give 0
            m = np.clip(np.searchsorted(Sb, t, side="right"), n_gt, None)
            Sbc = np.concatenate([[0], np.cumsum(Sb)])
            part1 = (Sbc[m] - Sbc[n_gt]) + (m - n_gt) * (C - off)
            part2 = (i_off - m) * np.maximum(HI - off, 0)
            sl = sl + part1 + part2
        # crossings: vertical v < c and slash s with v + s a query position in [off, hi)
        F_hi = np.searchsorted(S, hi[None, :] - V[:, None], side="left")  # (|V|, nr)
        F_lo = np.searchsorted(S, off - V, side="left")[:, None]
        per_x = F_hi - F_lo
        cum_x = np.zeros((V.size + 1, r.size), dtype=np.int64)
        cum_x[1:] = np.cumsum(per_x, axis=0)
        cross = cum_x[n_v].T
        return vert + sl - cross

    def live_keys(self, q_len: int, kv_len: int) -> int:
        """Verticals below ``kv_len`` united with the key interval of each slash."""
        self.check_shape(q_len, kv_len)
        off = kv_len - q_len
        spans = sorted((max(0, off - s), kv_len - 1 - s) for s in self.slashes if s <= kv_len - 1)
        total, end = 0, -1
        merged: list[tuple[int, int]] = []
        for lo, hi in spans:  # union of intervals, sorted by start
            if lo > end:
                merged.append((lo, hi))
                total += hi - lo + 1
                end = hi
            elif hi > end:
                merged[-1] = (merged[-1][0], hi)
                total += hi - end
                end = hi
        starts = np.array([a for a, _ in merged], dtype=np.int64)
        ends = np.array([b for _, b in merged], dtype=np.int64)
        verts = np.array([v for v in self.verticals if v < kv_len], dtype=np.int64)
        idx = np.searchsorted(starts, verts, side="right") - 1
        covered = (idx >= 0) & (verts <= ends[np.clip(idx, 0, None)]) if merged else False
        return int(total + verts.size - int(np.sum(covered)))

    def _dense(self, q_len: int, kv_len: int) -> np.ndarray:
        pos = kv_len - q_len + np.arange(q_len)[:, None]
        key = np.arange(kv_len)[None, :]
        vert = np.isin(key, np.asarray(self.verticals, dtype=np.int64))
        slash = np.isin(pos - key, np.asarray(self.slashes, dtype=np.int64))
        return (key <= pos) & (vert | slash)


@register_mask
@dataclass(frozen=True)
class RowSubsetMask(MaskPattern):
    """The rows of a causal (or full) mask that one head computes after routing.

    Mixture-of-Head attention (Jin et al. 2024, arXiv 2410.11842) sends each token to
    its top-k of H heads; a kernel gathers a head's tokens into ``q_len`` consecutive
    rows. Under balanced routing (every head receives ``q_len = k/H * total_rows``
    tokens, spread evenly over the sequence — the MoE load-balancing loss's target),
    compact row ``i`` is original row ``floor(i * total_rows / q_len)``, at position
    ``kv_len - total_rows + floor(i * total_rows / q_len)``; it attends every key up to
    it (``causal``) or all keys.
    """

    total_rows: int
    causal: bool = True
    kind: ClassVar[str] = "row_subset"

    def __post_init__(self) -> None:
        p = _check_int("RowSubsetMask", "total_rows", self.total_rows, 1)
        if not isinstance(self.causal, bool):
            p.append(f"RowSubsetMask.causal: {self.causal!r}; expected true or false")
        _raise(p)

    def _shape_problems(self, q_len: int, kv_len: int) -> list[str]:
        if q_len > self.total_rows or self.total_rows > kv_len:
            return [
                f"q_len={q_len}, kv_len={kv_len} with total_rows={self.total_rows}; expected "
                f"q_len <= total_rows <= kv_len"
            ]
        return []

    def live_keys(self, q_len: int, kv_len: int) -> int:
        """Keys up to the last row's position (all keys when not causal)."""
        self.check_shape(q_len, kv_len)
        return int(self.row_keys(q_len, kv_len)[-1])

    def row_keys(self, q_len: int, kv_len: int) -> IntArray:
        """Keys each compact row attends (non-decreasing), int64 ``(q_len,)``."""
        if not self.causal:
            return np.full(q_len, kv_len, dtype=np.int64)
        orig = (np.arange(q_len, dtype=np.int64) * self.total_rows) // q_len
        return kv_len - self.total_rows + orig + 1

    def _cumulative(self, r: IntArray, c: IntArray, q_len: int, kv_len: int) -> IntArray:
        keys = self.row_keys(q_len, kv_len)
        pref = np.concatenate([[0], np.cumsum(keys)])
        rr, cc = _outer(r, c)
        # rows below r: those with keys <= c contribute keys, the others c (keys ascend)
        n_small = np.minimum(np.searchsorted(keys, cc, side="right"), rr)
        return pref[n_small] + (rr - n_small) * cc

    def _dense(self, q_len: int, kv_len: int) -> np.ndarray:
        keys = self.row_keys(q_len, kv_len)
        return np.arange(kv_len)[None, :] < keys[:, None]
