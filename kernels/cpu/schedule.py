"""The tile schedule of the CPU flash kernels, derived from a mask's ``tile_liveness``.

The schedule is what the kernel actually runs: for each query block, the list of key
blocks it visits (dead tiles are never listed), whether each is *full* (no predicate
evaluated) or *partial* (a per-element predicate masks it), and how query blocks are
assigned to worker threads. The simulator may read it (tile counts, per-thread work) to
model exactly this kernel; nothing here depends on ``sim``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np
from attnsim.workloads.masks import MaskPattern

__all__ = [
    "TILINGS",
    "TileSchedule",
    "neighborhood_patch",
    "MaskPlan",
    "kernel_schedule",
    "mask_plan",
    "balance_tasks",
    "thread_assignment",
    "DEAD",
    "PARTIAL",
    "FULL",
]

DEAD, PARTIAL, FULL = 0, 1, 2

#: Per-element predicate used on partial tiles.
MODE_NONE = 0  # no partial tiles
MODE_RANGE = 1  # live keys of query row i form the interval [p - left, p + right], p = i + offset
MODE_BITMAP = 2  # a precomputed bool block per partial tile


@dataclass(frozen=True, eq=False)
class TileSchedule:
    """The (query block, key block) tiles a kernel visits, in CSR form.

    Attributes:
        q_len, kv_len: sequence lengths (tokens).
        block_q, block_k: tile sizes (tokens).
        liveness: int8 ``(num_q_blocks, num_k_blocks)``; 0 dead, 1 partial, 2 full
            (as returned by ``MaskPattern.tile_liveness``).
        row_ptr: int64 ``(num_q_blocks + 1,)``; tiles of query block ``i`` are entries
            ``row_ptr[i]:row_ptr[i+1]`` of ``col_block`` / ``col_kind``.
        col_block: int64, key-block index of each visited tile (ascending per row).
        col_kind: int8, ``PARTIAL`` or ``FULL`` for each visited tile.
        patch: for a neighborhood mask tiled by patches, the patch of the token grid one
            tile covers (tokens per axis); ``None`` for row-major tiles.
        token_order: with ``patch``, int64 ``(q_len,)``: the kernel's token ``t`` is the
            grid token ``token_order[t]`` (tiles are consecutive runs of this order and
            ``liveness`` is over them); ``None`` for the mask's own order.
    """

    q_len: int
    kv_len: int
    block_q: int
    block_k: int
    liveness: np.ndarray = field(repr=False)
    row_ptr: np.ndarray = field(repr=False)
    col_block: np.ndarray = field(repr=False)
    col_kind: np.ndarray = field(repr=False)
    patch: tuple[int, ...] | None = None
    token_order: np.ndarray | None = field(default=None, repr=False)

    @property
    def num_q_blocks(self) -> int:
        """Number of query blocks (``ceil(q_len / block_q)``)."""
        return int(self.liveness.shape[0])

    @property
    def num_k_blocks(self) -> int:
        """Number of key blocks (``ceil(kv_len / block_k)``)."""
        return int(self.liveness.shape[1])

    @property
    def full_tiles(self) -> int:
        """Tiles run without a predicate."""
        return int(np.count_nonzero(self.liveness == FULL))

    @property
    def partial_tiles(self) -> int:
        """Tiles run with the per-element predicate."""
        return int(np.count_nonzero(self.liveness == PARTIAL))

    @property
    def dead_tiles(self) -> int:
        """Tiles never touched."""
        return int(np.count_nonzero(self.liveness == DEAD))

    @property
    def live_tiles(self) -> int:
        """Tiles visited (full + partial)."""
        return int(self.col_block.shape[0])

    def tiles_per_q_block(self) -> np.ndarray:
        """int64 ``(num_q_blocks,)``: tiles visited by each query block."""
        return np.diff(self.row_ptr)

    def counts(self) -> dict[str, int]:
        """Tile counts for one (batch, head): full, partial, dead, live, total, sizes."""
        return {
            "block_q": self.block_q,
            "block_k": self.block_k,
            "q_blocks": self.num_q_blocks,
            "k_blocks": self.num_k_blocks,
            "full": self.full_tiles,
            "partial": self.partial_tiles,
            "dead": self.dead_tiles,
            "live": self.live_tiles,
            "total": self.num_q_blocks * self.num_k_blocks,
            "patch_tokens": 0 if self.patch is None else int(np.prod(self.patch)),
        }


def _check_sizes(q_len: int, kv_len: int, block_q: int, block_k: int) -> None:
    for name, value in (("q_len", q_len), ("kv_len", kv_len)):
        if int(value) < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    for name, value in (("block_q", block_q), ("block_k", block_k)):
        if int(value) < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")


TILINGS = ("auto", "row-major")


def _csr(
    live: np.ndarray, q_len: int, kv_len: int, block_q: int, block_k: int, **extra: object
) -> TileSchedule:
    live = np.ascontiguousarray(live, np.int8)
    rows, cols = np.nonzero(live)
    row_ptr = np.zeros(live.shape[0] + 1, np.int64)
    np.cumsum(np.bincount(rows, minlength=live.shape[0]), out=row_ptr[1:])
    col_block = cols.astype(np.int64)
    col_kind = live[rows, cols].astype(np.int8)
    for arr in (live, row_ptr, col_block, col_kind):
        arr.setflags(write=False)
    return TileSchedule(
        q_len,
        kv_len,
        block_q,
        block_k,
        live,
        row_ptr,
        col_block,
        col_kind,
        **extra,  # type: ignore[arg-type]
    )


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def neighborhood_patch(spatial: tuple[int, ...], block: int) -> tuple[int, ...] | None:
    """Per-axis patch sizes (each dividing its axis) whose product is as close to
    ``block`` tokens as possible from below, as cube-like as possible; ``None`` when the
    best patch holds fewer than ``block / 2`` tokens or the grid is 1-D."""
    if len(spatial) < 2:
        return None
    target = block ** (1.0 / len(spatial))
    patch = [max(d for d in _divisors(n) if d <= max(1.0, target + 1e-9)) for n in spatial]
    for axis in reversed(range(len(spatial))):  # grow the fastest axes first
        rest = int(np.prod(patch)) // patch[axis]
        patch[axis] = max(d for d in _divisors(spatial[axis]) if d * rest <= block or d == 1)
    tokens = int(np.prod(patch))
    if tokens * 2 < block or tokens > block:
        return None
    return tuple(patch)


def _axis_factors(mask: MaskPattern) -> list[np.ndarray]:
    """The per-axis ``(L, L)`` bool masks whose Kronecker product is the neighborhood mask."""
    factors = []
    for axis, length in enumerate(mask.spatial):  # type: ignore[attr-defined]
        sub = type(mask)(  # type: ignore[call-arg]
            spatial=(length,),
            window=(_axis_value(mask, "window", axis, 1),),
            dilation=(_axis_value(mask, "dilation", axis, 1),),
            stride=(_axis_value(mask, "stride", axis, 1),),
            causal=(_axis_value(mask, "causal", axis, False),),
        )
        factors.append(np.asarray(sub.dense(length, length), bool))
    return factors


def _patch_token_order(spatial: tuple[int, ...], patch: tuple[int, ...]) -> np.ndarray:
    coords = np.unravel_index(np.arange(int(np.prod(spatial))), spatial)
    tiles = tuple(n // p for n, p in zip(spatial, patch, strict=True))
    tile = np.ravel_multi_index(tuple(c // p for c, p in zip(coords, patch, strict=True)), tiles)
    within = np.ravel_multi_index(tuple(c % p for c, p in zip(coords, patch, strict=True)), patch)
    new_pos = tile * int(np.prod(patch)) + within
    order = np.empty_like(new_pos)
    order[new_pos] = np.arange(new_pos.size)
    return order.astype(np.int64)


def _patch_schedule(
    mask: MaskPattern, patch: tuple[int, ...], q_len: int
) -> tuple[TileSchedule, np.ndarray]:
    """Schedule (and partial-tile bitmaps) of a neighborhood mask over patch tiles.

    A tile is a patch of the grid, so a (query tile, key tile) block of the mask is the
    Kronecker product of one sub-block per axis: it is dead when any axis block is empty,
    full when every axis block is full, and its bitmap is the product of the axis blocks.
    """
    spatial = tuple(int(n) for n in mask.spatial)  # type: ignore[attr-defined]
    factors = _axis_factors(mask)
    tiles = tuple(n // p for n, p in zip(spatial, patch, strict=True))
    tile_coords = np.unravel_index(np.arange(int(np.prod(tiles))), tiles)
    dead = np.zeros((len(tile_coords[0]),) * 2, bool)
    full = np.ones_like(dead)
    for axis, (table, p, t) in enumerate(zip(factors, patch, tiles, strict=True)):
        counts = table.reshape(t, p, t, p).sum(axis=(1, 3))
        c = tile_coords[axis]
        sub = counts[c[:, None], c[None, :]]
        dead |= sub == 0
        full &= sub == p * p
    live = np.where(dead, DEAD, np.where(full, FULL, PARTIAL)).astype(np.int8)
    block = int(np.prod(patch))
    sched = _csr(
        live, q_len, q_len, block, block, patch=patch,
        token_order=_patch_token_order(spatial, patch),
    )  # fmt: skip
    rows = np.repeat(np.arange(sched.num_q_blocks), np.diff(sched.row_ptr))
    part = sched.col_kind == PARTIAL
    qt, kt = rows[part], sched.col_block[part]
    bitmaps = np.ones((len(qt), 1, 1), bool)
    for axis, (table, p) in enumerate(zip(factors, patch, strict=True)):
        r = tile_coords[axis][qt][:, None] * p + np.arange(p)[None, :]
        k = tile_coords[axis][kt][:, None] * p + np.arange(p)[None, :]
        sub = table[r[:, :, None], k[:, None, :]]  # (P, p, p)
        m, a, b = bitmaps.shape
        bitmaps = (bitmaps[:, :, None, :, None] & sub[:, None, :, None, :]).reshape(m, a * p, b * p)
    return sched, bitmaps


@functools.lru_cache(maxsize=64)
def _schedule_and_bitmaps(
    mask: MaskPattern, q_len: int, kv_len: int, block_q: int, block_k: int, tiling: str
) -> tuple[TileSchedule, np.ndarray | None]:
    if tiling == "auto" and getattr(mask, "kind", "") == "neighborhood" and block_q == block_k:
        mask.check_shape(q_len, kv_len)  # type: ignore[attr-defined]
        patch = neighborhood_patch(tuple(mask.spatial), block_q)  # type: ignore[attr-defined]
        if patch is not None:
            return _patch_schedule(mask, patch, q_len)
    live = mask.tile_liveness(q_len, kv_len, block_q, block_k)
    expected = (-(-q_len // block_q), -(-kv_len // block_k))
    if live.shape != expected:
        raise ValueError(
            f"{type(mask).__name__}.tile_liveness returned shape {live.shape}, expected {expected}"
        )
    return _csr(live, q_len, kv_len, block_q, block_k), None


def kernel_schedule(
    mask: MaskPattern,
    q_len: int,
    kv_len: int,
    block_q: int = 64,
    block_k: int = 64,
    *,
    tiling: str = "auto",
) -> TileSchedule:
    """The exact tile schedule the CPU flash kernel runs for ``mask`` at these sizes.

    Dead tiles are never visited; full tiles run unmasked; partial tiles evaluate the
    mask's predicate. Tiles are runs of ``block_q`` / ``block_k`` consecutive tokens
    (liveness from ``mask.tile_liveness``), except for a multi-axis neighborhood mask
    with ``tiling="auto"`` and ``block_q == block_k``: tiles are then patches of the
    token grid (``patch``, ``token_order``), which makes far more tiles dead, as in
    NATTEN's fused kernels. ``tiling="row-major"`` forces consecutive tokens. Cached.
    """
    _check_sizes(q_len, kv_len, block_q, block_k)
    if tiling not in TILINGS:
        raise ValueError(f"tiling must be one of {', '.join(TILINGS)}, got {tiling!r}")
    args = (int(q_len), int(kv_len), int(block_q), int(block_k), tiling)
    return _schedule_and_bitmaps(mask, *args)[0]


@dataclass(frozen=True, eq=False)
class MaskPlan:
    """How partial tiles are masked: an interval per row, or a precomputed bool block.

    ``mode`` is ``MODE_NONE``, ``MODE_RANGE`` (``offset``, ``left``, ``right`` give the live
    interval ``[i + offset - left, i + offset + right]`` of query row ``i``) or
    ``MODE_BITMAP`` (``bitmaps[tile_bitmap[e]]`` is the uint8 ``(block_q, block_k)`` block
    of visited tile ``e``; -1 for full tiles).
    """

    mode: int
    offset: int
    left: int
    right: int
    tile_bitmap: np.ndarray = field(repr=False)
    bitmaps: np.ndarray = field(repr=False)


def _axis_value(mask: MaskPattern, name: str, axis: int, default: object) -> object:
    values = getattr(mask, name, None)
    if values is None:
        return default
    if isinstance(values, int | bool):
        return values
    return tuple(values)[axis]


def _neighborhood_bitmaps(
    mask: MaskPattern, sched: TileSchedule, partial: np.ndarray
) -> np.ndarray | None:
    """Row-major tile bitmaps of a neighborhood mask from its 1-D factors."""
    spatial = tuple(int(x) for x in getattr(mask, "spatial", ()))
    n = int(np.prod(spatial)) if spatial else 0
    if not spatial or n != sched.q_len or n != sched.kv_len:
        return None
    factors = _axis_factors(mask)
    coords = np.unravel_index(np.arange(n), spatial)
    bq, bk = sched.block_q, sched.block_k
    rows = np.repeat(np.arange(sched.num_q_blocks), np.diff(sched.row_ptr))[partial]
    cols = sched.col_block[partial]
    qpos = np.minimum(rows[:, None] * bq + np.arange(bq)[None, :], n - 1)  # (P, bq)
    kpos = np.minimum(cols[:, None] * bk + np.arange(bk)[None, :], n - 1)  # (P, bk)
    out = np.ones((len(rows), bq, bk), bool)
    for axis, table in enumerate(factors):
        cq = coords[axis][qpos]
        ck = coords[axis][kpos]
        out &= table[cq[:, :, None], ck[:, None, :]]
    return out


def _bitmaps_from_dense(mask: MaskPattern, sched: TileSchedule, partial: np.ndarray) -> np.ndarray:
    dense = np.asarray(mask.dense(sched.q_len, sched.kv_len), bool)
    bq, bk = sched.block_q, sched.block_k
    padded = np.zeros((sched.num_q_blocks * bq, sched.num_k_blocks * bk), bool)
    padded[: sched.q_len, : sched.kv_len] = dense
    rows = np.repeat(np.arange(sched.num_q_blocks), np.diff(sched.row_ptr))[partial]
    cols = sched.col_block[partial]
    tiles = padded.reshape(sched.num_q_blocks, bq, sched.num_k_blocks, bk)
    return tiles[rows, :, cols, :]


@functools.lru_cache(maxsize=64)
def _plan_cached(
    mask: MaskPattern, q_len: int, kv_len: int, block_q: int, block_k: int, tiling: str
) -> MaskPlan:
    sched, patch_bitmaps = _schedule_and_bitmaps(mask, q_len, kv_len, block_q, block_k, tiling)
    none_idx = np.full(sched.live_tiles, -1, np.int64)
    empty = np.zeros((0, sched.block_q, sched.block_k), np.uint8)
    kind = getattr(mask, "kind", "")
    if sched.partial_tiles == 0:
        return MaskPlan(MODE_NONE, 0, 0, 0, none_idx, empty)
    big = q_len + kv_len + 1
    if kind == "causal":
        return MaskPlan(MODE_RANGE, kv_len - q_len, big, 0, none_idx, empty)
    if kind == "sliding_window":
        left = min(int(mask.left), big)  # type: ignore[attr-defined]
        right = min(int(mask.right), big)  # type: ignore[attr-defined]
        return MaskPlan(MODE_RANGE, kv_len - q_len, left, right, none_idx, empty)
    partial = np.asarray(sched.col_kind == PARTIAL)
    bitmaps = patch_bitmaps
    if bitmaps is None and kind == "neighborhood":
        bitmaps = _neighborhood_bitmaps(mask, sched, partial)
    if bitmaps is None:
        bitmaps = _bitmaps_from_dense(mask, sched, partial)
    tile_bitmap = none_idx.copy()
    tile_bitmap[partial] = np.arange(int(partial.sum()))
    return MaskPlan(
        MODE_BITMAP, 0, 0, 0, tile_bitmap, np.ascontiguousarray(bitmaps, dtype=np.uint8)
    )


def mask_plan(
    mask: MaskPattern,
    q_len: int,
    kv_len: int,
    block_q: int = 64,
    block_k: int = 64,
    *,
    tiling: str = "auto",
) -> MaskPlan:
    """How the kernel masks the partial tiles of :func:`kernel_schedule` (cached)."""
    kernel_schedule(mask, q_len, kv_len, block_q, block_k, tiling=tiling)  # checks arguments
    return _plan_cached(mask, int(q_len), int(kv_len), int(block_q), int(block_k), tiling)


def balance_tasks(costs: np.ndarray, workers: int) -> tuple[np.ndarray, np.ndarray]:
    """Assign tasks to ``workers`` threads, longest first to the least loaded (LPT).

    Returns ``(worker_ptr, order)``: worker ``w`` runs tasks
    ``order[worker_ptr[w]:worker_ptr[w+1]]`` in that order. Deterministic (ties by index).
    """
    costs = np.asarray(costs, np.float64)
    workers = max(1, min(int(workers), max(1, costs.shape[0])))
    by_cost = np.argsort(-costs, kind="stable")
    load = np.zeros(workers)
    owner = np.empty(costs.shape[0], np.int64)
    for task in by_cost:
        w = int(np.argmin(load))
        owner[task] = w
        load[w] += costs[task] + 1e-9
    order = np.argsort(owner, kind="stable").astype(np.int64)
    ptr = np.zeros(workers + 1, np.int64)
    np.cumsum(np.bincount(owner, minlength=workers), out=ptr[1:])
    return ptr, order


@functools.lru_cache(maxsize=64)
def thread_assignment(
    sched: TileSchedule, heads_total: int, workers: int
) -> tuple[np.ndarray, np.ndarray]:
    """How the prefill kernel spreads its tasks over ``workers`` threads (cached).

    Tasks are ``(batch * head, query block)`` pairs numbered ``bh * num_q_blocks + qb``;
    a task costs its visited tiles plus 1/4 tile for the prologue/epilogue, and tasks are
    assigned by :func:`balance_tasks`. Returns ``(worker_ptr, order)`` as that function.
    """
    per_block = sched.tiles_per_q_block().astype(np.float64) + 0.25
    return balance_tasks(np.tile(per_block, int(heads_total)), int(workers))
