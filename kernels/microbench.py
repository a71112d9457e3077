"""Micro-benchmarks of the host CPU: the machine constants ``attnsim calibrate`` writes.

Each benchmark times one building block of the bundled CPU flash kernel
(:mod:`kernels.cpu._flash_nb`) or one level of the memory hierarchy, never an attention
call. Timing: a warm-up call (which also compiles; every function here is ``cache=True``),
a doubling search for a repetition count whose call lasts about ``target_s``, then
``repeats`` timed calls; the result is the median with the minimum and maximum, so the
spread is visible on a loaded machine.

Compute rates are whole-CPU rates: all ``threads`` numba workers run the same tile loop
at once on thread-local buffers (``prange`` over one task per thread), OpenBLAS is single
threaded (:func:`kernels.cpu._blas.single_threaded_blas`), as in the kernel. L1/L2
bandwidth and all latencies are one thread; L3 and DRAM bandwidth use every thread.

This module must not import ``sim/``: measurements do not depend on the model they check.
"""

from __future__ import annotations

import datetime as _dt
import math
import os
import platform
import re
import statistics
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numba
import numpy as np
from attnsim.kernels.cpu._blas import single_threaded_blas
from attnsim.kernels.cpu._flash_nb import _accumulate, _mask_range_row, _scores, _softmax_rows
from numba import njit, prange

from attnsim.errors import ProblemsError

__all__ = [
    "TILE",
    "MATMUL_HEAD_DIMS",
    "SOFTMAX_HEAD_DIM",
    "MicrobenchError",
    "Stat",
    "CacheLevel",
    "HostInfo",
    "Microbenchmarks",
    "available_cores",
    "host_info",
    "run_microbenchmarks",
]

#: Tile edge of every compute benchmark: the kernel's default 64 x 64 score tile.
TILE = 64
#: Head dimensions of the matmul-pair benchmark (the reported rate is their geometric mean).
MATMUL_HEAD_DIMS = (64, 128)
#: Width of the output accumulator the softmax benchmark rescales.
SOFTMAX_HEAD_DIM = 64
#: Bytes copied by the DRAM benchmark (counted twice: read + write).
DRAM_COPY_BYTES = 1 << 30

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
    values; ``spread`` is ``(high - low) / median``.
    """

    median: float
    low: float
    high: float
    repeats: int
    unit: str

    @classmethod
    def of(cls, values: Iterable[float], unit: str) -> Stat:
        """The statistics of a non-empty series of per-call values."""
        vals = [float(v) for v in values]
        if not vals:
            raise ValueError("values: empty; expected at least one timed call")
        return cls(statistics.median(vals), min(vals), max(vals), len(vals), unit)

    @property
    def spread(self) -> float:
        """``(high - low) / median`` (0 for a single call)."""
        return (self.high - self.low) / self.median if self.median else 0.0


@dataclass(frozen=True)
class CacheLevel:
    """A data cache of cpu0 as sysfs reports it: ``level`` (1, 2, 3), ``size_bytes`` and
    ``shared_cpus`` (how many CPUs share one instance); ``read_from`` says where from."""

    level: int
    size_bytes: int
    shared_cpus: int
    read_from: str


@dataclass(frozen=True)
class HostInfo:
    """What the operating system says about the machine (nothing here is timed)."""

    cpu_model: str
    clock_hz: float | None
    clock_read_from: str
    caches: tuple[CacheLevel, ...]
    mem_total_bytes: int | None
    cores: int
    python: str = field(default_factory=platform.python_version)
    numba_version: str = numba.__version__
    numpy_version: str = np.__version__

    def cache(self, level: int) -> CacheLevel | None:
        """The data (or unified) cache of ``level``, or ``None`` if sysfs has none."""
        return next((c for c in self.caches if c.level == level), None)


@dataclass(frozen=True)
class Microbenchmarks:
    """Measured machine constants (SI units), each a :class:`Stat`.

    * ``matmul[d]``: ops/s of the kernel's ``_scores`` + ``_accumulate`` pair on one
      64 x 64 tile with head dimension ``d`` (``2 * 64 * 64 * 2d`` ops per pair), all
      threads busy.
    * ``vector``: ops/s of ``_mask_range_row`` over a 64 x 64 tile (2 ops per element).
    * ``softmax``: scores/s through ``_softmax_rows`` on a 64 x 64 tile with a running max
      that changes every pass (so the accumulator rescale runs).
    * ``blas_call``: seconds per single-threaded OpenBLAS ``sgemm`` call on a 1 x 1 x 1
      problem through the kernel's ``_scores``, all threads busy (the per-call cost the
      simulator adds to every sgemm).
    * ``launch_overhead``: seconds per call of an empty ``parallel=True`` region (each
      run is the median of ``launch_calls_per_run`` calls timed one by one).
    * ``bandwidth[level]``: bytes/s (``l1``, ``l2`` one thread reading a buffer of
      ``buffer_bytes[level]``; ``l3`` every thread reading; ``dram`` every thread copying,
      read + write counted).
    * ``latency[level]``: seconds per dependent load of a random cyclic pointer chase over
      ``chase_bytes[level]``.
    """

    host: HostInfo
    threads: int
    threading_layer: str
    date: str
    quick: bool
    matmul: dict[int, Stat]
    vector: Stat
    softmax: Stat
    launch_overhead: Stat
    bandwidth: dict[str, Stat]
    buffer_bytes: dict[str, int]
    latency: dict[str, Stat]
    chase_bytes: dict[str, int]
    elapsed_s: float
    launch_calls_per_run: int = 0
    blas_call: Stat | None = None

    @property
    def matmul_geomean(self) -> float:
        """Geometric mean of the median matmul-pair rates over ``MATMUL_HEAD_DIMS`` (ops/s)."""
        rates = [s.median for s in self.matmul.values()]
        return math.exp(sum(math.log(r) for r in rates) / len(rates))


# --------------------------------------------------------------------------------------
# What the machine says about itself
# --------------------------------------------------------------------------------------
_SYS_CACHE = Path("/sys/devices/system/cpu/cpu0/cache")


def _size_bytes(text: str) -> int:
    m = re.fullmatch(r"\s*(\d+)\s*([KMG]?)B?\s*", text, re.IGNORECASE)
    if m is None:
        raise ValueError(f"cache size {text!r}: expected e.g. '32K'")
    scale = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}[m.group(2).upper()]
    return int(m.group(1)) * scale


def _cpu_count_in(text: str) -> int:
    count = 0
    for part in text.strip().split(","):
        if not part:
            continue
        lo, _, hi = part.partition("-")
        count += int(hi or lo) - int(lo) + 1
    return max(count, 1)


def _caches() -> tuple[CacheLevel, ...]:
    found: dict[int, CacheLevel] = {}
    for index in sorted(_SYS_CACHE.glob("index*")):
        try:
            level = int((index / "level").read_text())
            kind = (index / "type").read_text().strip()
            size = _size_bytes((index / "size").read_text())
            shared_path = index / "shared_cpu_list"
            shared = _cpu_count_in(shared_path.read_text()) if shared_path.exists() else 1
        except (OSError, ValueError):
            continue
        if kind not in ("Data", "Unified") or level in found:
            continue
        found[level] = CacheLevel(
            level, size, shared, f"sysfs {index}/size ({kind}, level {level})"
        )
    return tuple(found[k] for k in sorted(found))


def _cpuinfo_field(name: str) -> str | None:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    m = re.search(rf"^{re.escape(name)}\s*:\s*(.+)$", text, re.MULTILINE)
    return m.group(1).strip() if m else None


def _clock() -> tuple[float | None, str]:
    mhz = _cpuinfo_field("cpu MHz")
    if mhz is not None:
        try:
            return float(mhz) * 1e6, f"/proc/cpuinfo 'cpu MHz' = {mhz}"
        except ValueError:
            pass
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        out = ""
    m = re.search(r"^CPU max MHz:\s*([\d.]+)", out, re.MULTILINE)
    if m:
        return float(m.group(1)) * 1e6, f"lscpu 'CPU max MHz' = {m.group(1)}"
    return None, "no clock in /proc/cpuinfo or lscpu"


def _mem_total() -> int | None:
    try:
        text = Path("/proc/meminfo").read_text()
    except OSError:
        return None
    m = re.search(r"^MemTotal:\s*(\d+)\s*kB", text, re.MULTILINE)
    return int(m.group(1)) * 1024 if m else None


def available_cores() -> int:
    """CPUs this process may run on (its affinity mask)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def host_info() -> HostInfo:
    """CPU model, clock, caches and memory size as the operating system reports them."""
    clock, clock_from = _clock()
    return HostInfo(
        cpu_model=_cpuinfo_field("model name") or platform.processor() or "unknown CPU",
        clock_hz=clock,
        clock_read_from=clock_from,
        caches=_caches(),
        mem_total_bytes=_mem_total(),
        cores=available_cores(),
    )


# --------------------------------------------------------------------------------------
# The timed bodies (numba; compiled once and cached)
# --------------------------------------------------------------------------------------
def _matmul_pairs(n_tasks: int, d: int, reps: int) -> float:
    """Each task: ``reps`` times S = Q K^T then acc += S V on one 64 x 64 tile."""
    return float(_shaped_pairs(n_tasks, TILE, d, TILE, reps))


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


def _softmax_tiles(n_tasks: int, dv: int, reps: int) -> float:
    """Each task: ``reps`` online-softmax updates of one 64 x 64 tile whose running max
    changes every pass, so the accumulator rescale (``dv`` multiplies per row) runs (see
    :func:`_shaped_softmax`)."""
    return float(_shaped_softmax(n_tasks, TILE, TILE, dv, reps))


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


# --------------------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Plan:
    repeats: int
    target_s: float


def _call_s(run: Callable[[int], object], reps: int) -> float:
    t0 = time.perf_counter()
    run(reps)
    return time.perf_counter() - t0


def _timed(run: Callable[[int], object], plan: _Plan) -> list[tuple[int, float]]:
    """Warm up, find ``reps`` so that ``run(reps)`` lasts about ``plan.target_s``, then
    time ``plan.repeats`` calls; returns ``(reps, seconds)`` per timed call.

    The search takes the faster of two calls at each step, and the timed calls are redone
    (at most twice) with more repetitions if their median is under a third of the target,
    so one slow call (a page fault, another process) cannot leave the timed calls so
    short that a fixed per-call cost dominates them.
    """
    run(1)  # compiles (or loads from the cache) and touches the buffers
    reps = 1
    while True:
        dt = min(_call_s(run, reps), _call_s(run, reps))
        if dt >= plan.target_s / 8 or reps >= 1 << 40:
            break
        reps *= 4 if dt < plan.target_s / 64 else 2
    reps = max(1, round(reps * plan.target_s / max(dt, 1e-9)))
    for _attempt in range(3):
        out = [(reps, _call_s(run, reps)) for _ in range(plan.repeats)]
        typical = statistics.median(dt for _, dt in out)
        if typical >= plan.target_s / 3:
            break
        reps = max(reps + 1, round(reps * plan.target_s / max(typical, 1e-9)))
    return out


def _rate(samples: list[tuple[int, float]], work_per_rep: float, unit: str) -> Stat:
    return Stat.of((work_per_rep * reps / dt for reps, dt in samples), unit)


def _per_rep(samples: list[tuple[int, float]], work_per_rep: float, unit: str) -> Stat:
    return Stat.of((dt / (reps * work_per_rep) for reps, dt in samples), unit)


@contextmanager
def _pinned_threads(threads: int) -> Iterator[None]:
    before = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        yield
    finally:
        numba.set_num_threads(before)


def _check_threads(threads: int | None) -> int:
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
    return 100 if plan.repeats <= 3 else 400


def _launch_overhead(n: int, plan: _Plan) -> Stat:
    """Median wall time of one call of :func:`_parallel_region` with ``n`` iterations:
    calls are timed one by one in batches; the statistic is over the batch medians."""
    out = np.empty(n, np.float64)
    for _ in range(200):  # wake the worker threads, load the compiled code
        _parallel_region(out)
    calls = _launch_calls(plan)
    medians = []
    for _ in range(plan.repeats):
        times = []
        for _ in range(calls):
            t0 = time.perf_counter()
            _parallel_region(out)
            times.append(time.perf_counter() - t0)
        medians.append(statistics.median(times))
    return Stat.of(medians, "s")


def _dram_copy(n: int, repeats: int) -> Stat:
    """Bytes/s of ``n`` threads copying one slice each of a 1 GiB buffer (``np.copyto``,
    which releases the GIL), read + write counted; the first copy touches the pages."""
    src = np.ones(DRAM_COPY_BYTES // 4, np.float32)
    dst = np.empty_like(src)
    bounds = np.linspace(0, src.shape[0], n + 1).astype(np.int64)
    pairs = [(dst[a:b], src[a:b]) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    with ThreadPoolExecutor(max_workers=n) as pool:

        def copy_once() -> float:
            t0 = time.perf_counter()
            list(pool.map(lambda pair: np.copyto(*pair), pairs))
            return time.perf_counter() - t0

        copy_once()
        times = [copy_once() for _ in range(repeats)]
    return Stat.of((2.0 * src.nbytes / dt for dt in times), "B/s")


def _chain(n_bytes: int, seed: int) -> np.ndarray:
    """A random cyclic permutation of the cache lines of an ``n_bytes`` buffer, stored as
    int64 element offsets (one pointer per line)."""
    per_line = _LINE // 8
    lines = max(n_bytes // _LINE, 2)
    order = np.random.default_rng(seed).permutation(lines).astype(np.int64)
    chain = np.zeros(lines * per_line, np.int64)
    chain[order * per_line] = np.roll(order, -1) * per_line
    return chain


def run_microbenchmarks(
    threads: int | None = None,
    quick: bool = False,
    progress: Callable[[str], None] | None = None,
    seed: int = 0,
) -> Microbenchmarks:
    """Time this machine (see the module docstring).

    Args:
        threads: numba worker threads for the whole-CPU benchmarks (default: every core
            this process may use). Restored afterwards.
        quick: fewer and shorter timed calls (about 20 s in all instead of about a minute).
        progress: called with the name of each benchmark before it runs.
        seed: seed of the pointer-chase permutations.

    Raises:
        MicrobenchError: ``threads`` below 1 or above the usable cores.
    """
    n = _check_threads(threads)
    plan = _Plan(repeats=3, target_s=0.03) if quick else _Plan(repeats=15, target_s=0.15)
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

    with _pinned_threads(n), single_threaded_blas():
        layer = "unknown"
        matmul: dict[int, Stat] = {}
        for d in MATMUL_HEAD_DIMS:
            say(f"matmul pair d={d}")
            samples = _timed(partial(_matmul_pairs, n, d), plan)
            matmul[d] = _rate(samples, n * 2.0 * TILE * TILE * 2 * d, "op/s")
            if layer == "unknown":
                layer = str(numba.threading_layer())

        say("mask loop")
        vector = _rate(_timed(partial(_mask_tiles, n), plan), n * 2.0 * TILE * TILE, "op/s")

        say("online softmax")
        softmax = _rate(
            _timed(partial(_softmax_tiles, n, SOFTMAX_HEAD_DIM), plan),
            n * float(TILE * TILE),
            "score/s",
        )

        say("sgemm call overhead")
        blas_call = _per_rep(_timed(partial(_sgemm_calls, n), plan), 1.0, "s")

        say("parallel-region launch")
        launch = _launch_overhead(n, plan)

        bandwidth: dict[str, Stat] = {}
        buffer_bytes = {"l1": l1 // 2, "l2": l2 // 2, "l3": l3 // 2, "dram": DRAM_COPY_BYTES}
        for level in ("l1", "l2"):
            say(f"{level} read bandwidth")
            buf = np.ones(buffer_bytes[level] // 4, np.float32)
            samples = _timed(partial(_read_one, buf), plan)
            bandwidth[level] = _rate(samples, float(buf.nbytes), "B/s")

        say("l3 read bandwidth")
        rows = np.ones((n, buffer_bytes["l3"] // 4 // n), np.float32)
        bandwidth["l3"] = _rate(_timed(partial(_read_all, rows), plan), float(rows.nbytes), "B/s")
        del rows

        say("dram copy bandwidth")
        bandwidth["dram"] = _dram_copy(n, 3 if quick else plan.repeats)

        latency: dict[str, Stat] = {}
        chase_bytes = {"l1": l1 // 2, "l2": l2 // 2, "l3": l3 // 2, "dram": max(64 << 20, 8 * l3)}
        for i, level in enumerate(("l1", "l2", "l3", "dram")):
            say(f"{level} latency")
            chain = _chain(chase_bytes[level], seed + i)
            if level != "dram":  # bring the whole chain into the level
                _chase(chain, 0, 2 * (chain.shape[0] // (_LINE // 8)))
            samples = _timed(partial(_chase, chain, 0), plan)
            latency[level] = _per_rep(samples, 1.0, "s")
            del chain

    return Microbenchmarks(
        host=host,
        threads=n,
        threading_layer=layer,
        date=date,
        quick=quick,
        matmul=matmul,
        vector=vector,
        softmax=softmax,
        launch_overhead=launch,
        bandwidth=bandwidth,
        buffer_bytes=buffer_bytes,
        latency=latency,
        chase_bytes=chase_bytes,
        elapsed_s=time.perf_counter() - start,
        launch_calls_per_run=_launch_calls(plan),
        blas_call=blas_call,
    )


# --------------------------------------------------------------------------------------
# Building blocks at a given shape (validation times these right before each case)
# --------------------------------------------------------------------------------------


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
    running max changes every pass (so the ``rows x dv`` rescale runs), as in
    :func:`_softmax_tiles`."""
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


@dataclass(frozen=True)
class ShapeRates:
    """Whole-CPU rates of the kernel's inner loop at one block shape, measured now.

    ``matmul``: ops/s of the sgemm pair with the two calls' fixed cost (``call_s`` each,
    also measured now) taken out; ``softmax``: scores/s of the online-softmax loop.
    """

    rows: int
    d: int
    bk: int
    matmul: Stat
    softmax: Stat
    call_s: Stat


def shape_rates(
    rows: int, d: int, bk: int, threads: int | None = None, quick: bool = True
) -> ShapeRates:
    """Time the kernel's sgemm pair, online softmax and sgemm call cost at one block
    shape with every thread busy (a fraction of a second in quick mode)."""
    n = _check_threads(threads)
    plan = _Plan(repeats=3, target_s=0.03) if quick else _Plan(repeats=9, target_s=0.1)
    with _pinned_threads(n), single_threaded_blas():
        call = _per_rep(_timed(partial(_sgemm_calls, n), plan), 1.0, "s")
        pair_ops = 2.0 * rows * bk * d * 2
        samples = _timed(partial(_shaped_pairs, n, rows, d, bk), plan)
        per_thread_s = [dt / reps for reps, dt in samples]
        net = [max(t - 2 * call.median, 0.5 * t) for t in per_thread_s]
        matmul = Stat.of((pair_ops * n / t for t in net), "op/s")
        softmax = _rate(
            _timed(partial(_shaped_softmax, n, rows, bk, d), plan), n * float(rows * bk), "score/s"
        )
    return ShapeRates(rows=rows, d=d, bk=bk, matmul=matmul, softmax=softmax, call_s=call)
