"""Micro-benchmarks of the host CPU: the machine constants ``attnsim calibrate`` writes.

Each benchmark times one building block of the bundled CPU flash kernel
(:mod:`kernels.cpu._flash_nb`) or one level of the memory hierarchy, never an attention
call. Timing: a warm-up call (which also compiles; every function here is ``cache=True``),
a doubling search for a repetition count whose call lasts about ``target_s``, then
``repeats`` timed calls, each with the run-queue delay the scheduler added to it
(:mod:`kernels.timing`). Statistics are over the *clean* calls only; a benchmark with too
few clean calls is timed again (at most twice as many calls more), and if it stays
disturbed its :class:`Stat` says so (``disturbed``), so a preempted run never passes for
the machine's speed.

**The kernel's building blocks by block shape and thread count** (:func:`shape_timing`):
seconds per sgemm pair (``S = Q K^T`` then ``acc += P V``) and per online-softmax update
of one ``rows x bk`` block at head dimension ``d``, on one core while ``threads`` cores run
the same loop on thread-local, cache-resident buffers (``prange`` over one task per
thread, single-threaded OpenBLAS as in the kernel). The rate of OpenBLAS on a small block
depends on its shape (a 4-row decode block runs far below a 64-row one) and on how many
cores call it at once, so :func:`run_microbenchmarks` times a grid of the kernel's
shapes (:data:`PREFILL_HEAD_DIMS` at 64 x d x 64; :data:`DECODE_ROWS` x
:data:`DECODE_HEAD_DIMS` at 128 keys) on one thread and on all of them.

Memory: L1/L2 bandwidth and all latencies are one thread; L3 and DRAM bandwidth use every
thread.

This module must not import ``sim/``: measurements do not depend on the model they check.
"""

from __future__ import annotations

import datetime as _dt
import math
import statistics
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial

import numba
import numpy as np
from attnsim.kernels.cpu._blas import single_threaded_blas
from attnsim.kernels.cpu._flash_nb import _accumulate, _mask_range_row, _scores, _softmax_rows
from attnsim.kernels.cpu.flash import DEFAULT_BLOCK_K, DEFAULT_BLOCK_Q, DEFAULT_DECODE_BLOCK_K
from attnsim.kernels.hostinfo import CacheLevel, HostInfo, available_cores, host_info
from attnsim.kernels.timing import MIN_CLEAN, Sample, time_call
from numba import njit, prange

from attnsim.errors import ProblemsError

__all__ = [
    "TILE",
    "MATMUL_HEAD_DIMS",
    "PREFILL_HEAD_DIMS",
    "DECODE_ROWS",
    "DECODE_HEAD_DIMS",
    "MicrobenchError",
    "Stat",
    "CacheLevel",
    "HostInfo",
    "Microbenchmarks",
    "ShapeTiming",
    "available_cores",
    "benchmark_steps",
    "check_threads",
    "host_info",
    "run_microbenchmarks",
    "shape_grid",
    "shape_timing",
]

#: Tile edge of the mask-loop benchmark: the kernel's default 64 x 64 score tile.
TILE = 64
#: Head dimensions whose 64 x d x 64 pair rate is reported as the target's matmul rate
#: (their geometric mean).
MATMUL_HEAD_DIMS = (64, 128)
#: Head dimensions of the prefill block shapes timed (``DEFAULT_BLOCK_Q x d x
#: DEFAULT_BLOCK_K``): the head sizes of common models, 32 to 256.
PREFILL_HEAD_DIMS = (32, 64, 128, 256)
#: Stacked query rows of the decode block shapes timed (``group * q_len``: one token of
#: MHA, of a GQA group of 4, of a group of 16) at ``DEFAULT_DECODE_BLOCK_K`` keys.
DECODE_ROWS = (1, 4, 16)
#: Head dimensions of the decode block shapes timed.
DECODE_HEAD_DIMS = (64, 128)
#: Times a disturbed benchmark is timed again at the end of a calibration, each time after
#: a pause that doubles from :data:`RETRY_PAUSE_S` seconds (a process that held a core
#: for a few seconds has often left by then; at most 14 s of pauses in all).
RETRIES = 3
RETRY_PAUSE_S = 2.0
#: Bytes copied by the DRAM benchmark (counted twice: read + write).
DRAM_COPY_BYTES = 1 << 30
#: Bytes one thread reads for its DRAM read bandwidth (far beyond any last-level cache).
CORE_DRAM_BYTES = 256 << 20

_FAST = {"reassoc", "contract", "nsz"}
_LINE = 64  # bytes per cache line (pointer-chase spacing)
_M_RESET = np.float32(1.0 - 2.0**-16)  # running max just below the tile's max of 1.0


class MicrobenchError(ProblemsError):
    """Bad input to the micro-benchmarks (e.g. a thread count the machine cannot run);
    ``problems`` holds one finished line per problem."""


@dataclass(frozen=True)
class Stat:
    """One measured quantity over ``repeats`` timed calls, in ``unit``.

    ``median``, ``low`` and ``high`` are the median, minimum and maximum of the per-call
    values of the clean calls; ``preempted`` calls were left out because the scheduler
    delayed them. ``disturbed`` is true when fewer than :data:`kernels.timing.MIN_CLEAN`
    calls were clean: then the statistics are over every call and are not the machine's
    undisturbed speed.
    """

    median: float
    low: float
    high: float
    repeats: int
    unit: str
    preempted: int = 0
    disturbed: bool = False

    @classmethod
    def of(
        cls, values: Iterable[float], unit: str, preempted: int = 0, disturbed: bool = False
    ) -> Stat:
        """The statistics of a non-empty series of per-call values."""
        vals = [float(v) for v in values]
        if not vals:
            raise ValueError("values: empty; expected at least one timed call")
        return cls(
            statistics.median(vals), min(vals), max(vals), len(vals), unit, preempted, disturbed
        )

    @property
    def spread(self) -> float:
        """``(high - low) / median`` (0 for a single call)."""
        return (self.high - self.low) / self.median if self.median else 0.0

    def inverted(self, numerator: float, unit: str) -> Stat:
        """``numerator / value`` of each statistic (a time per unit of work -> a rate)."""
        return Stat(
            numerator / self.median,
            numerator / self.high,
            numerator / self.low,
            self.repeats,
            unit,
            self.preempted,
            self.disturbed,
        )


@dataclass(frozen=True)
class ShapeTiming:
    """The kernel's inner loop at one block shape: ``rows`` query rows, head dimension
    ``d`` (also the value width), ``bk`` keys, on one core while ``threads`` cores run it.

    ``pair``: seconds per sgemm pair (``rows x bk x d`` then ``rows x d x bk``), the two
    calls' fixed cost included; ``softmax``: seconds per online-softmax update of the
    ``rows x bk`` scores (with the ``rows x d`` rescale of the accumulator).
    """

    rows: int
    d: int
    bk: int
    threads: int
    pair: Stat
    softmax: Stat

    @property
    def pair_ops(self) -> float:
        """Multiply-adds x 2 of one pair."""
        return 2.0 * self.rows * self.bk * self.d * 2

    @property
    def disturbed(self) -> bool:
        """Whether either statistic is over preempted calls."""
        return self.pair.disturbed or self.softmax.disturbed


def shape_grid() -> tuple[tuple[int, int, int], ...]:
    """The ``(rows, d, bk)`` block shapes :func:`run_microbenchmarks` times."""
    prefill = tuple((DEFAULT_BLOCK_Q, d, DEFAULT_BLOCK_K) for d in PREFILL_HEAD_DIMS)
    decode = tuple((r, d, DEFAULT_DECODE_BLOCK_K) for d in DECODE_HEAD_DIMS for r in DECODE_ROWS)
    return prefill + decode


def benchmark_steps() -> int:
    """How many times :func:`run_microbenchmarks` calls its ``progress`` (for a bar)."""
    return len(shape_grid()) + 12  # mask, call, launch, 5 bandwidths, 4 latencies


@dataclass(frozen=True)
class Microbenchmarks:
    """Measured machine constants (SI units), each a :class:`Stat`.

    * ``shapes``: :class:`ShapeTiming` of every shape of :func:`shape_grid`, on one thread
      and on ``threads`` threads.
    * ``vector``: ops/s of ``_mask_range_row`` over a 64 x 64 tile (2 ops per element).
    * ``blas_call``: seconds per single-threaded OpenBLAS ``sgemm`` call on a 1 x 1 x 1
      problem through the kernel's ``_scores``, all threads busy (the per-call cost the
      simulator adds to every sgemm of a shape it has no timing for).
    * ``launch_overhead``: seconds per call of an empty ``parallel=True`` region (each
      run is the median of ``launch_calls_per_run`` calls timed one by one).
    * ``bandwidth[level]``: bytes/s (``l1``, ``l2`` one thread reading a buffer of
      ``buffer_bytes[level]``; ``l3`` every thread reading; ``dram`` every thread copying,
      read + write counted).
    * ``latency[level]``: seconds per dependent load of a random cyclic pointer chase over
      ``chase_bytes[level]``.
    * ``core_bandwidth[level]``: bytes/s one thread alone reads from ``l3`` (a buffer of
      ``buffer_bytes["l3"]``) and ``dram`` (:data:`CORE_DRAM_BYTES`).
    """

    host: HostInfo
    threads: int
    threading_layer: str
    date: str
    quick: bool
    shapes: tuple[ShapeTiming, ...]
    vector: Stat
    launch_overhead: Stat
    bandwidth: dict[str, Stat]
    buffer_bytes: dict[str, int]
    latency: dict[str, Stat]
    chase_bytes: dict[str, int]
    elapsed_s: float
    launch_calls_per_run: int = 0
    blas_call: Stat | None = None
    core_bandwidth: dict[str, Stat] = field(default_factory=dict)

    def shape(self, rows: int, d: int, bk: int, threads: int) -> ShapeTiming | None:
        """The timing of one shape at one thread count, if it was measured."""
        return next(
            (s for s in self.shapes if (s.rows, s.d, s.bk, s.threads) == (rows, d, bk, threads)),
            None,
        )

    @property
    def matmul(self) -> dict[int, Stat]:
        """Whole-CPU ops/s of the 64 x d x 64 pair at ``threads`` threads, by ``d`` in
        :data:`MATMUL_HEAD_DIMS` (the two calls' fixed cost included)."""
        out = {}
        for d in MATMUL_HEAD_DIMS:
            s = self.shape(DEFAULT_BLOCK_Q, d, DEFAULT_BLOCK_K, self.threads)
            if s is not None:
                out[d] = s.pair.inverted(s.pair_ops * self.threads, "op/s")
        return out

    @property
    def softmax(self) -> Stat:
        """Whole-CPU scores/s of the online softmax on a 64 x 64 block (d = 64) at
        ``threads`` threads."""
        s = self.shape(DEFAULT_BLOCK_Q, 64, DEFAULT_BLOCK_K, self.threads)
        if s is None:
            raise ValueError("no 64 x 64 x 64 shape timing at the full thread count")
        return s.softmax.inverted(float(s.rows * s.bk * self.threads), "score/s")

    @property
    def matmul_geomean(self) -> float:
        """Geometric mean of the median matmul-pair rates over ``MATMUL_HEAD_DIMS`` (ops/s)."""
        rates = [s.median for s in self.matmul.values()]
        return math.exp(sum(math.log(r) for r in rates) / len(rates))

    @property
    def disturbed(self) -> list[str]:
        """Names of the benchmarks whose calls were all (or nearly all) preempted."""
        out = [
            f"block {s.rows}x{s.d}x{s.bk} on {s.threads} thr" for s in self.shapes if s.disturbed
        ]
        for name, stat in (("mask loop", self.vector), ("launch", self.launch_overhead)):
            if stat.disturbed:
                out.append(name)
        if self.blas_call is not None and self.blas_call.disturbed:
            out.append("sgemm call")
        out += [f"{k} bandwidth" for k, s in self.bandwidth.items() if s.disturbed]
        out += [f"{k} latency" for k, s in self.latency.items() if s.disturbed]
        out += [f"{k} one-core bandwidth" for k, s in self.core_bandwidth.items() if s.disturbed]
        return out


# --------------------------------------------------------------------------------------
# The timed bodies (numba; compiled once and cached)
# --------------------------------------------------------------------------------------
@njit(cache=True, parallel=True, fastmath=_FAST)
def _mask_tiles(n_tasks, reps):  # type: ignore[no-untyped-def]
    """Each task: ``reps`` passes of the kernel's range mask over a 64 x 64 tile (a
    diagonal that moves a little every pass, so about half the tile is masked)."""
    total = 0.0
    for t in prange(n_tasks):
        s = np.empty((TILE, TILE), np.float32)
        for i in range(TILE):
            for j in range(TILE):
                s[i, j] = np.float32(0.0)
        for r in range(reps):
            off = r & 7
            for i in range(TILE):
                _mask_range_row(s[i], TILE, 0, i + off, TILE, 0)
        total += s[TILE - 1, 0] + t
    return total


@njit(cache=True, parallel=True)
def _sgemm_calls(n_tasks, reps):  # type: ignore[no-untyped-def]
    """Each task: ``reps`` calls of the kernel's ``_scores`` on a 1 x 1 x 1 problem, so
    the time is the fixed cost of one OpenBLAS sgemm call (dispatch, argument checks)."""
    total = 0.0
    for t in prange(n_tasks):
        q = np.ones((1, 1), np.float32)
        k = np.ones((1, 1), np.float32)
        s = np.empty((1, 1), np.float32)
        for _ in range(reps):
            _scores(q, 1, k, 0, 1, s)
        total += s[0, 0] + t
    return total


@njit(cache=True, parallel=True)
def _parallel_region(out):  # type: ignore[no-untyped-def]
    """Enter and leave a parallel region of ``out.size`` iterations that only store their
    index (a truly empty body is compiled away and leaves just the ~0.5 us dispatch)."""
    for i in prange(out.shape[0]):
        out[i] = i


@njit(cache=True, fastmath=_FAST)
def _read_one(buf, reps):  # type: ignore[no-untyped-def]
    """One thread summing ``buf`` ``reps`` times (a vectorised streaming read)."""
    total = np.float32(0.0)
    for _ in range(reps):
        for i in range(buf.shape[0]):
            total += buf[i]
    return total


@njit(cache=True, parallel=True)
def _read_all(buf, reps):  # type: ignore[no-untyped-def]
    """Every thread summing its own row of ``buf`` ``reps`` times (the loop is
    :func:`_read_one`, so it is vectorised exactly as there)."""
    total = 0.0
    for t in prange(buf.shape[0]):
        total += _read_one(buf[t], reps)
    return total


@njit(cache=True)
def _chase(chain, start, steps):  # type: ignore[no-untyped-def]
    """Follow ``steps`` dependent loads ``p = chain[p]``."""
    p = start
    for _ in range(steps):
        p = chain[p]
    return p


@njit(cache=True, parallel=True)
def _shaped_pairs(n_tasks, rows, d, bk, reps):  # type: ignore[no-untyped-def]
    """Each task: ``reps`` times S = Q K^T (rows x bk x d) then acc += S V (rows x d x bk)
    on one L1/L2-resident block: the kernel's sgemm pair at that shape."""
    total = 0.0
    for t in prange(n_tasks):
        q = np.empty((rows, d), np.float32)
        k = np.empty((bk, d), np.float32)
        v = np.empty((bk, d), np.float32)
        s = np.empty((rows, bk), np.float32)
        acc = np.empty((rows, d), np.float32)
        for i in range(rows):
            for c in range(d):
                acc[i, c] = np.float32(0.0)
                q[i, c] = np.float32(((i * 7 + c * 3 + t) % 17) * 0.01 - 0.08)
        for i in range(bk):
            for c in range(d):
                k[i, c] = np.float32(((i * 5 + c * 11) % 13) * 0.01 - 0.06)
                v[i, c] = np.float32(((i * 3 + c * 5) % 11) * 0.001)
        for _ in range(reps):
            _scores(q, rows, k, 0, bk, s)
            _accumulate(s, rows, bk, v, 0, acc)
        total += acc[0, 0]
    return total


@njit(cache=True, parallel=True, fastmath=_FAST)
def _shaped_softmax(n_tasks, rows, bk, dv, reps):  # type: ignore[no-untyped-def]
    """Each task: ``reps`` online-softmax updates of a ``rows x bk`` score block whose
    running max changes every pass (so the ``rows x dv`` rescale runs) and whose
    scores are all live (the kernel's loop on a full tile)."""
    total = 0.0
    for t in prange(n_tasks):
        s = np.empty((rows, bk), np.float32)
        acc = np.empty((rows, dv), np.float32)
        m = np.empty(rows, np.float32)
        lsum = np.empty(rows, np.float32)
        for i in range(rows):
            lsum[i] = np.float32(0.0)
            for c in range(dv):
                acc[i, c] = np.float32(1.0)
            for j in range(bk):
                s[i, j] = np.float32(((i * 13 + j * 7 + t) % bk) / (bk - 1.0))
        for _ in range(reps):
            for i in range(rows):
                m[i] = _M_RESET
            _softmax_rows(s, rows, bk, m, lsum, acc)
        total += lsum[0] + acc[0, 0]
    return total


# --------------------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Plan:
    repeats: int
    target_s: float


#: Full calibration: 15 calls of about 5 ms per benchmark. Short calls are the point: on
#: a shared machine a 5 ms call often runs within one scheduler time slice, clean, where
#: a 150 ms one never does; 5 ms is still thousands of times the cost of entering the
#: parallel region (a few microseconds).
FULL_PLAN = _Plan(repeats=15, target_s=0.005)
#: ``--quick`` and the per-case timings of ``attnsim validate --calibrate``.
QUICK_PLAN = _Plan(repeats=7, target_s=0.003)


def _search_s(run: Callable[[int], object], reps: int) -> float:
    """Seconds of ``run(reps)`` for the repetition search: the faster of two calls,
    taken again (at most four times) while neither is clean, so that a preempted call
    cannot make the search settle on calls too short to time."""
    best = math.inf
    for _ in range(4):
        samples = [time_call(partial(run, reps)) for _ in range(2)]
        clean = [s.seconds for s in samples if s.clean]
        best = min(best, *(s.seconds for s in samples))
        if clean:
            return min(clean)
    return best


def _timed(run: Callable[[int], object], plan: _Plan) -> list[tuple[int, Sample]]:
    """Warm up, find ``reps`` so that ``run(reps)`` lasts about ``plan.target_s``, then
    time ``plan.repeats`` calls, each with its scheduler delay; returns ``(reps, sample)``
    per timed call.

    When fewer than :data:`kernels.timing.MIN_CLEAN` calls are clean, up to
    ``2 * plan.repeats`` more are timed (stopping as soon as enough are clean). When the
    clean calls last under a third of the target (the search was misled), the calls are
    timed again with more repetitions (at most twice), so that the fixed cost of a call
    (waking the worker threads) never dominates it.
    """
    run(1)  # compiles (or loads from the cache) and touches the buffers
    reps = 1
    while True:
        dt = _search_s(run, reps)
        if dt >= plan.target_s / 8 or reps >= 1 << 40:
            break
        reps *= 4 if dt < plan.target_s / 64 else 2
    reps = max(1, round(reps * plan.target_s / max(dt, 1e-9)))
    out: list[tuple[int, Sample]] = []
    for _attempt in range(3):
        out = [(reps, time_call(partial(run, reps))) for _ in range(plan.repeats)]
        extra = 0
        while sum(s.clean for _, s in out) < MIN_CLEAN and extra < 2 * plan.repeats:
            out.append((reps, time_call(partial(run, reps))))
            extra += 1
        clean = [s.seconds for _, s in out if s.clean] or [s.seconds for _, s in out]
        typical = statistics.median(clean)
        if typical >= plan.target_s / 3:
            break
        reps = max(reps + 1, round(reps * plan.target_s / max(typical, 1e-9)))
    return out


def _stat(values: list[tuple[float, bool]], unit: str) -> Stat:
    """A :class:`Stat` of ``(value, clean)`` pairs: over the clean values when there are
    enough, else over all of them, marked ``disturbed``."""
    clean = [v for v, ok in values if ok]
    dropped = len(values) - len(clean)
    if len(clean) >= min(MIN_CLEAN, len(values)):
        return Stat.of(clean, unit, preempted=dropped)
    return Stat.of((v for v, _ in values), unit, preempted=dropped, disturbed=True)


def _rate(samples: list[tuple[int, Sample]], work_per_rep: float, unit: str) -> Stat:
    return _stat([(work_per_rep * reps / s.seconds, s.clean) for reps, s in samples], unit)


def _per_rep(samples: list[tuple[int, Sample]], work_per_rep: float, unit: str) -> Stat:
    return _stat([(s.seconds / (reps * work_per_rep), s.clean) for reps, s in samples], unit)


@contextmanager
def _pinned_threads(threads: int) -> Iterator[None]:
    before = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        yield
    finally:
        numba.set_num_threads(before)


def check_threads(threads: int | None) -> int:
    """``threads``, or every usable core when ``None``; :class:`MicrobenchError` when it
    is below 1 or above the cores this process may use."""
    limit = min(available_cores(), int(getattr(numba.config, "NUMBA_NUM_THREADS", 1 << 16)))
    if threads is None:
        return limit
    if threads < 1 or threads > limit:
        raise MicrobenchError(
            f"--threads: {threads}; expected an integer from 1 to {limit} "
            f"(the cores this process may use)"
        )
    return threads


def _launch_calls(plan: _Plan) -> int:
    return 100 if plan.repeats <= QUICK_PLAN.repeats else 400


def _launch_overhead(n: int, plan: _Plan) -> Stat:
    """Median wall time of one call of :func:`_parallel_region` with ``n`` iterations:
    calls are timed one by one in batches; each batch is one value, clean when no call
    of it carried scheduler delay beyond the tolerance."""
    out = np.empty(n, np.float64)
    for _ in range(200):  # wake the worker threads, load the compiled code
        _parallel_region(out)
    calls = _launch_calls(plan)
    values: list[tuple[float, bool]] = []
    for _ in range(plan.repeats):
        samples = [time_call(partial(_parallel_region, out)) for _ in range(calls)]
        clean = [s.seconds for s in samples if s.clean]
        ok = len(clean) >= calls // 2
        values.append((statistics.median(clean if ok else [s.seconds for s in samples]), ok))
    return _stat(values, "s")


def _dram_copy(n: int, repeats: int) -> Stat:
    """Bytes/s of ``n`` threads copying one slice each of a 1 GiB buffer (``np.copyto``,
    which releases the GIL), read + write counted; the first copy touches the pages."""
    src = np.ones(DRAM_COPY_BYTES // 4, np.float32)
    dst = np.empty_like(src)
    bounds = np.linspace(0, src.shape[0], n + 1).astype(np.int64)
    pairs = [(dst[a:b], src[a:b]) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    with ThreadPoolExecutor(max_workers=n) as pool:

        def copy_once() -> None:
            list(pool.map(lambda pair: np.copyto(*pair), pairs))

        copy_once()
        samples = [time_call(copy_once) for _ in range(repeats)]
    return _stat([(2.0 * src.nbytes / s.seconds, s.clean) for s in samples], "B/s")


def _chain(n_bytes: int, seed: int) -> np.ndarray:
    """A random cyclic permutation of the cache lines of an ``n_bytes`` buffer, stored as
    int64 element offsets (one pointer per line)."""
    per_line = _LINE // 8
    lines = max(n_bytes // _LINE, 2)
    order = np.random.default_rng(seed).permutation(lines).astype(np.int64)
    chain = np.zeros(lines * per_line, np.int64)
    chain[order * per_line] = np.roll(order, -1) * per_line
    return chain


def _shape_timing(rows: int, d: int, bk: int, n: int, plan: _Plan) -> ShapeTiming:
    """:class:`ShapeTiming` at ``n`` threads; numba threads and single-threaded OpenBLAS
    already set by the caller."""
    pair = _per_rep(_timed(partial(_shaped_pairs, n, rows, d, bk), plan), 1.0, "s")
    soft = _per_rep(_timed(partial(_shaped_softmax, n, rows, bk, d), plan), 1.0, "s")
    return ShapeTiming(rows, d, bk, n, pair, soft)


def shape_timing(
    rows: int, d: int, bk: int, threads: int | None = None, quick: bool = True
) -> ShapeTiming:
    """Time the kernel's sgemm pair and online softmax at one block shape on ``threads``
    threads (every usable core when ``None``): a fraction of a second in quick mode."""
    n = check_threads(threads)
    plan = QUICK_PLAN if quick else FULL_PLAN
    with _pinned_threads(n), single_threaded_blas():
        return _shape_timing(rows, d, bk, n, plan)


def run_microbenchmarks(
    threads: int | None = None,
    quick: bool = False,
    progress: Callable[[str], None] | None = None,
    seed: int = 0,
) -> Microbenchmarks:
    """Time this machine (see the module docstring).

    Args:
        threads: numba worker threads for the whole-CPU benchmarks (default: every core
            this process may use). Restored afterwards. The block shapes are also timed
            on one thread.
        quick: fewer and shorter timed calls (about 15 s in all instead of about a minute).
        progress: called with the name of each benchmark before it runs.
        seed: seed of the pointer-chase permutations.

    Raises:
        MicrobenchError: ``threads`` below 1 or above the usable cores.
    """
    n = check_threads(threads)
    plan = QUICK_PLAN if quick else FULL_PLAN
    say = progress or (lambda _name: None)
    host = host_info()
    start = time.perf_counter()
    date = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d")

    def cache_size(level: int, default: int) -> int:
        c = host.cache(level)
        return c.size_bytes if c is not None else default

    l1 = cache_size(1, 32 << 10)
    l2 = cache_size(2, 512 << 10)
    l3 = cache_size(3, 8 << 20)
    counts = sorted({1, n})
    buffer_bytes = {"l1": l1 // 2, "l2": l2 // 2, "l3": l3 // 2, "dram": DRAM_COPY_BYTES}
    chase_bytes = {"l1": l1 // 2, "l2": l2 // 2, "l3": l3 // 2, "dram": max(64 << 20, 8 * l3)}

    def read_one(nbytes: int) -> Stat:
        buf = np.ones(nbytes // 4, np.float32)
        return _rate(_timed(partial(_read_one, buf), plan), float(buf.nbytes), "B/s")

    def read_all() -> Stat:
        rows_buf = np.ones((n, buffer_bytes["l3"] // 4 // n), np.float32)
        return _rate(_timed(partial(_read_all, rows_buf), plan), float(rows_buf.nbytes), "B/s")

    def chase(level: str, index: int) -> Stat:
        chain = _chain(chase_bytes[level], seed + index)
        if level != "dram":  # bring the whole chain into the level
            _chase(chain, 0, 2 * (chain.shape[0] // (_LINE // 8)))
        return _per_rep(_timed(partial(_chase, chain, 0), plan), 1.0, "s")

    # (progress label or None, key, thread count, benchmark), in the order they run; the
    # block shapes on both thread counts back to back (the same machine state)
    benches: list[tuple[str | None, tuple[object, ...], int, Callable[[], Stat | ShapeTiming]]] = []
    for rows, d, bk in shape_grid():
        for i, t in enumerate(counts):
            label = f"block {rows}x{d}x{bk}" if i == 0 else None
            benches.append(
                (label, ("shape", rows, d, bk, t), t, partial(_shape_timing, rows, d, bk, t, plan))
            )
    benches += [
        (
            "mask loop",
            ("vector",),
            n,
            lambda: _rate(_timed(partial(_mask_tiles, n), plan), n * 2.0 * TILE * TILE, "op/s"),
        ),
        (
            "sgemm call overhead",
            ("call",),
            n,
            lambda: _per_rep(_timed(partial(_sgemm_calls, n), plan), 1.0, "s"),
        ),
        ("parallel-region launch", ("launch",), n, lambda: _launch_overhead(n, plan)),
        ("l1 read bandwidth", ("bw", "l1"), n, partial(read_one, buffer_bytes["l1"])),
        ("l2 read bandwidth", ("bw", "l2"), n, partial(read_one, buffer_bytes["l2"])),
        ("l3 read bandwidth", ("bw", "l3"), n, read_all),
        ("dram copy bandwidth", ("bw", "dram"), n, lambda: _dram_copy(n, plan.repeats)),
        # what one core alone draws from the shared levels (its outstanding misses limit
        # it): a core's share of a shared level is at most this
        (
            "l3 and dram read bandwidth of one core",
            ("core", "l3"),
            n,
            partial(read_one, buffer_bytes["l3"]),
        ),
        (None, ("core", "dram"), n, partial(read_one, CORE_DRAM_BYTES)),
    ]
    for i, level in enumerate(("l1", "l2", "l3", "dram")):
        benches.append((f"{level} latency", ("lat", level), n, partial(chase, level, i)))

    results: dict[tuple[object, ...], Stat | ShapeTiming] = {}
    layer = "unknown"
    with single_threaded_blas():
        for label, key, t, bench in benches:
            if label is not None:
                say(label)
            with _pinned_threads(t):
                results[key] = bench()
                if t == n and layer == "unknown":
                    layer = str(numba.threading_layer())
        # another process may have held a core for a while: after a pause, time again
        # what it disturbed, keeping the new timing only when it is clean
        for attempt in range(RETRIES):
            again = [(key, t, bench) for _, key, t, bench in benches if results[key].disturbed]
            if not again:
                break
            time.sleep(RETRY_PAUSE_S * 2**attempt)
            for key, t, bench in again:
                with _pinned_threads(t):
                    fresh = bench()
                if not fresh.disturbed:
                    results[key] = fresh

    def stat(key: tuple[object, ...]) -> Stat:
        value = results[key]
        assert isinstance(value, Stat)
        return value

    shapes = tuple(v for k, v in results.items() if isinstance(v, ShapeTiming))
    vector = stat(("vector",))
    blas_call = stat(("call",))
    launch = stat(("launch",))
    bandwidth = {level: stat(("bw", level)) for level in ("l1", "l2", "l3", "dram")}
    core_bandwidth = {level: stat(("core", level)) for level in ("l3", "dram")}
    latency = {level: stat(("lat", level)) for level in ("l1", "l2", "l3", "dram")}

    return Microbenchmarks(
        host=host,
        threads=n,
        threading_layer=layer,
        date=date,
        quick=quick,
        shapes=shapes,
        vector=vector,
        launch_overhead=launch,
        bandwidth=bandwidth,
        buffer_bytes=buffer_bytes,
        latency=latency,
        chase_bytes=chase_bytes,
        elapsed_s=time.perf_counter() - start,
        launch_calls_per_run=_launch_calls(plan),
        blas_call=blas_call,
        core_bandwidth=core_bandwidth,
    )
