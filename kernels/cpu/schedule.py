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

from workloads.masks import MaskPattern

__all__ = [
    "TileSchedule",
    "MaskPlan",
    "kernel_schedule",
    "mask_plan",
    "balance_tasks",
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
    """

    q_len: int
    kv_len: int
    block_q: int
    block_k: int
    liveness: np.ndarray = field(repr=False)
    row_ptr: np.ndarray = field(repr=False)
    col_block: np.ndarray = field(repr=False)
    col_kind: np.ndarray = field(repr=False)

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
        }


def _check_sizes(q_len: int, kv_len: int, block_q: int, block_k: int) -> None:
    for name, value in (("q_len", q_len), ("kv_len", kv_len)):
        if int(value) < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    for name, value in (("block_q", block_q), ("block_k", block_k)):
        if int(value) < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")


@functools.lru_cache(maxsize=64)
def _schedule_cached(
    mask: MaskPattern, q_len: int, kv_len: int, block_q: int, block_k: int
) -> TileSchedule:
    live = np.ascontiguousarray(mask.tile_liveness(q_len, kv_len, block_q, block_k), np.int8)
    expected = (-(-q_len // block_q), -(-kv_len // block_k))
    if live.shape != expected:
        raise ValueError(
            f"{type(mask).__name__}.tile_liveness returned shape {live.shape}, expected {expected}"
        )
    rows, cols = np.nonzero(live)
    row_ptr = np.zeros(expected[0] + 1, np.int64)
    np.cumsum(np.bincount(rows, minlength=expected[0]), out=row_ptr[1:])
    live.setflags(write=False)
    col_block = cols.astype(np.int64)
    col_kind = live[rows, cols].astype(np.int8)
    for arr in (row_ptr, col_block, col_kind):
        arr.setflags(write=False)
    return TileSchedule(q_len, kv_len, block_q, block_k, live, row_ptr, col_block, col_kind)


def kernel_schedule(
    mask: MaskPattern, q_len: int, kv_len: int, block_q: int = 64, block_k: int = 64
) -> TileSchedule:
    """The exact tile schedule the CPU flash kernel runs for ``mask`` at these sizes.

    Dead tiles (per ``mask.tile_liveness``) are never visited; full tiles run unmasked;
    partial tiles evaluate the mask's predicate. Cached per (mask, sizes).
    """
    _check_sizes(q_len, kv_len, block_q, block_k)
    return _schedule_cached(mask, int(q_len), int(kv_len), int(block_q), int(block_k))


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
    """Bitmaps of a neighborhood mask from its 1-D factors (the mask is separable per axis)."""
    spatial = tuple(int(s) for s in getattr(mask, "spatial", ()))
    n = int(np.prod(spatial)) if spatial else 0
    if not spatial or n != sched.q_len or n != sched.kv_len:
        return None
    factors = []
    for axis, length in enumerate(spatial):
        sub = type(mask)(  # type: ignore[call-arg]
            spatial=(length,),
            window=(_axis_value(mask, "window", axis, 1),),
            dilation=(_axis_value(mask, "dilation", axis, 1),),
            stride=(_axis_value(mask, "stride", axis, 1),),
            causal=(_axis_value(mask, "causal", axis, False),),
        )
        factors.append(np.asarray(sub.dense(length, length), bool))
    coords = np.unravel_index(np.arange(n), spatial)
    bq, bk = sched.block_q, sched.block_k
    qi = np.arange(bq)
    kj = np.arange(bk)
    rows = np.repeat(np.arange(sched.num_q_blocks), np.diff(sched.row_ptr))[partial]
    cols = sched.col_block[partial]
    qpos = np.minimum(rows[:, None] * bq + qi[None, :], n - 1)  # (P, bq)
    kpos = np.minimum(cols[:, None] * bk + kj[None, :], n - 1)  # (P, bk)
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
    mask: MaskPattern, q_len: int, kv_len: int, block_q: int, block_k: int
) -> MaskPlan:
    sched = _schedule_cached(mask, q_len, kv_len, block_q, block_k)
    none_idx = np.full(sched.live_tiles, -1, np.int64)
    empty = np.zeros((0, block_q, block_k), np.uint8)
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
    bitmaps = None
    if kind == "neighborhood":
        bitmaps = _neighborhood_bitmaps(mask, sched, partial)
    if bitmaps is None:
        bitmaps = _bitmaps_from_dense(mask, sched, partial)
    tile_bitmap = none_idx.copy()
    tile_bitmap[partial] = np.arange(int(partial.sum()))
    return MaskPlan(
        MODE_BITMAP, 0, 0, 0, tile_bitmap, np.ascontiguousarray(bitmaps, dtype=np.uint8)
    )


def mask_plan(
    mask: MaskPattern, q_len: int, kv_len: int, block_q: int = 64, block_k: int = 64
) -> MaskPlan:
    """How the kernel masks the partial tiles of :func:`kernel_schedule` (cached)."""
    _check_sizes(q_len, kv_len, block_q, block_k)
    return _plan_cached(mask, int(q_len), int(kv_len), int(block_q), int(block_k))


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
