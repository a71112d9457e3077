"""Pieces every lowering family uses: streaming (memory-bound) kernels and byte maps."""

from __future__ import annotations

import math

from attnsim.sim.lowering.target import LoweringError, TargetView
from attnsim.sim.tasks import Kernel, TileClass

#: Most runs of tiles a kernel's issue order may hold (and most distinct query-block rows
#: a lowering walks in Python): the engine replays each run as a step, so a kernel with
#: more would take minutes and gigabytes. Identical tiles merge into one run, so only
#: irregular orders repeated over many heads reach it.
MAX_RUNS = 2**20


def check_runs(count: int, what: str) -> None:
    """Raise :class:`LoweringError` when a lowering would enumerate more than
    :data:`MAX_RUNS` runs or rows (checked before they are built)."""
    if count > MAX_RUNS:
        raise LoweringError(
            f"{what}: {count:,} runs of distinct tiles; the simulator replays at most "
            f"{MAX_RUNS:,} (2**20) per kernel; expected fewer batch x heads, fewer query "
            f"blocks (a larger --block-q) or a more regular mask"
        )


def repeat_runs(
    seq: list[list]  # type: ignore[type-arg]
    | list[tuple[TileClass, int]],
    times: int,
    what: str,
) -> tuple[tuple[TileClass, int], ...]:
    """The run-length encoded order ``seq`` (one head's tiles) repeated for ``times``
    heads; a single run is multiplied instead of repeated. Bounded by :func:`check_runs`."""
    if len(seq) == 1:
        return ((seq[0][0], int(seq[0][1]) * times),)
    check_runs(len(seq) * times, what)
    return tuple((tile, int(count)) for _ in range(times) for tile, count in seq)


#: Bytes a streaming tile moves: large enough that per-tile latency is amortised, small
#: enough that a few MB spread over every unit (one CTA streams ~256 KiB in ~10 us).
STREAM_TILE_BYTES = 256 * 1024


def traffic(
    view: TargetView, dram_bytes: float, cache_bytes: float | None = None
) -> dict[str, float]:
    """Bytes at each shared level for traffic that reaches DRAM: everything that reaches
    DRAM also passes the cache level (``cache_bytes`` defaults to ``dram_bytes``)."""
    out = {view.dram.name: dram_bytes}
    if view.cache is not None:
        out[view.cache.name] = dram_bytes if cache_bytes is None else cache_bytes
    return out


def streaming_kernel(
    name: str,
    view: TargetView,
    read_bytes: float,
    write_bytes: float,
    vector_ops: float,
    precision: str = "fp32",
    exp_ops: float = 0.0,
    flops: float = 0.0,
) -> Kernel:
    """A kernel that streams ``read_bytes`` in and ``write_bytes`` out of DRAM once, doing
    ``vector_ops`` (and ``exp_ops``) on the way: softmax, norms, elementwise, reductions.

    The data is cut into equal tiles of about :data:`STREAM_TILE_BYTES` (at most eight
    per unit, at least one); each tile pays DRAM latency once and overlaps the rest.
    """
    total = read_bytes + write_bytes
    n_tiles = max(1, min(view.units * 8, math.ceil(total / STREAM_TILE_BYTES)))
    vec = view.rate("vector", precision)
    engine_s = {vec.engine: vector_ops / n_tiles / vec.per_unit_ops_s}
    ops = {("vector", vec.precision): vector_ops / n_tiles}
    if exp_ops > 0:
        ex = view.rate("exp", "fp32")
        engine_s[ex.engine] = engine_s.get(ex.engine, 0.0) + exp_ops / n_tiles / ex.per_unit_ops_s
        ops[("exp", ex.precision)] = exp_ops / n_tiles
    compute_s = sum(engine_s.values())
    tile = TileClass(
        name=name,
        engine_s=engine_s,
        compute_s=compute_s,
        read_bytes=traffic(view, read_bytes / n_tiles),
        write_bytes=traffic(view, write_bytes / n_tiles),
        fixed_s=view.dram.latency_s,
        ops=ops,
        flops=flops / n_tiles,
    )
    return Kernel(
        name=name,
        unit=view.unit,
        slots_per_unit=1,
        runs=((tile, n_tiles),),
        launch_s=view.launch_s,
        order="equal contiguous chunks",
    )
