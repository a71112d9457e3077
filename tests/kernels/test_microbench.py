"""Micro-benchmarks of the host: positive, finite, ordered rates; input checks; helpers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from attnsim.kernels import hostinfo, microbench
from attnsim.kernels.microbench import (
    MATMUL_HEAD_DIMS,
    MicrobenchError,
    Microbenchmarks,
    Stat,
    available_cores,
    benchmark_steps,
    host_info,
    run_microbenchmarks,
    shape_grid,
    shape_timing,
)
from attnsim.kernels.timing import Sample

PROGRESS: list[str] = []


@pytest.fixture(scope="module")
def quick_one_thread() -> Microbenchmarks:
    # one thread keeps the machine usable for others; quick mode takes ~10 s
    PROGRESS.clear()
    return run_microbenchmarks(threads=1, quick=True, progress=PROGRESS.append)


def _stats(mb: Microbenchmarks) -> dict[str, Stat]:
    out = {f"matmul d={d}": s for d, s in mb.matmul.items()}
    for t in mb.shapes:
        out[f"pair {t.rows}x{t.d}x{t.bk}"] = t.pair
        out[f"softmax {t.rows}x{t.d}x{t.bk}"] = t.softmax
    out.update(vector=mb.vector, softmax=mb.softmax, launch=mb.launch_overhead)
    out.update({f"bandwidth {k}": s for k, s in mb.bandwidth.items()})
    out.update({f"latency {k}": s for k, s in mb.latency.items()})
    return out


@pytest.mark.slow
def test_quick_run_gives_positive_finite_ordered_values(quick_one_thread: Microbenchmarks) -> None:
    mb = quick_one_thread
    assert mb.threads == 1 and mb.quick
    assert tuple(mb.matmul) == MATMUL_HEAD_DIMS
    assert [(t.rows, t.d, t.bk) for t in mb.shapes] == list(shape_grid())
    assert {t.threads for t in mb.shapes} == {1}
    assert set(mb.bandwidth) == set(mb.latency) == {"l1", "l2", "l3", "dram"}
    for name, s in _stats(mb).items():
        assert math.isfinite(s.median) and s.median > 0, name
        assert s.low <= s.median <= s.high, name
        assert s.repeats >= 3 or s.disturbed, name
    assert math.isfinite(mb.matmul_geomean) and mb.matmul_geomean > 0
    # loose physical sanity on any machine: a cache hit is faster than DRAM, a region
    # launch costs between a nanosecond and a tenth of a second, ops/s above 1e6
    assert mb.latency["l1"].median < mb.latency["dram"].median
    assert 1e-9 < mb.launch_overhead.median < 0.1
    for rate in (mb.matmul_geomean, mb.vector.median, mb.softmax.median):
        assert rate > 1e6


@pytest.mark.slow
@pytest.mark.parametrize("threads", [0, -1, available_cores() + 1])
def test_thread_count_outside_the_machine_is_refused(threads: int) -> None:
    with pytest.raises(MicrobenchError, match=rf"--threads: {threads}; expected an integer from 1"):
        run_microbenchmarks(threads=threads, quick=True)


def test_stat_median_spread_and_empty_series() -> None:
    s = Stat.of([3.0, 1.0, 2.0], "B/s")
    assert (s.median, s.low, s.high, s.repeats, s.unit) == (2.0, 1.0, 3.0, 3, "B/s")
    assert s.spread == pytest.approx(1.0)
    with pytest.raises(ValueError, match="values: empty"):
        Stat.of([], "s")


@pytest.mark.slow
def test_progress_is_called_once_per_step(quick_one_thread: Microbenchmarks) -> None:
    assert len(PROGRESS) == benchmark_steps() and PROGRESS[0].startswith("block ")
    mb = quick_one_thread
    assert mb.shape(64, 64, 64, 1) is not None and mb.shape(64, 64, 64, 2) is None


def test_shape_timing_is_per_core_seconds_of_one_call() -> None:
    t = shape_timing(4, 64, 128, threads=1)
    assert (t.rows, t.d, t.bk, t.threads) == (4, 64, 128, 1)
    # a 4 x 64 x 128 pair is 131 kFLOP: between 0.1 us and 10 ms on any CPU
    assert 1e-7 < t.pair.median < 1e-2 and 1e-8 < t.softmax.median < 1e-2
    assert t.pair_ops == 4.0 * 4 * 64 * 128


def test_stat_leaves_preempted_calls_out() -> None:
    clean = [(1.0, True), (1.1, True), (0.9, True), (9.0, False)]
    s = microbench._stat(clean, "s")
    assert s.median == pytest.approx(1.0) and s.high == pytest.approx(1.1)
    assert s.preempted == 1 and not s.disturbed
    noisy = [(9.0, False), (1.0, True), (8.0, False)]
    d = microbench._stat(noisy, "s")
    assert d.disturbed and d.repeats == 3 and d.median == pytest.approx(8.0)


def test_timed_calls_more_while_too_few_are_clean(monkeypatch: pytest.MonkeyPatch) -> None:
    seq = iter([False] * 5 + [True] * 100)

    def fake_time_call(call):  # type: ignore[no-untyped-def]
        call()
        return Sample(0.01, 0.0 if next(seq) else 0.005)

    monkeypatch.setattr(microbench, "time_call", fake_time_call)
    monkeypatch.setattr(microbench, "_search_s", lambda run, reps: 0.01)
    out = microbench._timed(lambda reps: None, microbench._Plan(repeats=5, target_s=0.01))
    assert len(out) == 8 and sum(s.clean for _, s in out) == 3


def test_a_misled_search_is_corrected_by_the_timed_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    # the search saw one preempted call (8 ms for one repetition) and settled on reps = 1,
    # but one repetition really takes 0.1 ms: the calls are timed again with more of them
    monkeypatch.setattr(microbench, "_search_s", lambda run, reps: 0.008)
    monkeypatch.setattr(microbench, "time_call", lambda call: Sample(1e-4 * call.args[0], 0.0))
    out = microbench._timed(lambda reps: None, microbench._Plan(repeats=3, target_s=0.005))
    assert {reps for reps, _ in out} == {50}


def test_host_info_reads_the_operating_system() -> None:
    info = host_info()
    assert info.cores == available_cores() >= 1
    assert info.cpu_model
    levels = [c.level for c in info.caches]
    assert levels == sorted(levels) and len(set(levels)) == len(levels)
    for cache in info.caches:
        assert cache.size_bytes > 0 and cache.shared_cpus >= 1


def test_size_and_cpu_list_parsing() -> None:
    assert hostinfo._size_bytes("32K\n") == 32 * 1024
    assert hostinfo._size_bytes("8192K") == 8 << 20
    assert hostinfo._size_bytes("1M") == 1 << 20
    with pytest.raises(ValueError, match="cache size"):
        hostinfo._size_bytes("lots")
    assert hostinfo._cpu_count_in("0-1\n") == 2
    assert hostinfo._cpu_count_in("0,2-4") == 4


def test_pointer_chase_chain_is_one_cycle_over_every_line() -> None:
    chain = microbench._chain(64 * 1000, seed=3)
    per_line = 8
    seen = set()
    p = 0
    for _ in range(1000):
        assert p % per_line == 0 and p not in seen
        seen.add(p)
        p = int(chain[p])
    assert p == 0 and len(seen) == 1000
    assert int(microbench._chase(chain, 0, 1000)) == 0
    assert isinstance(chain, np.ndarray) and chain.dtype == np.int64
