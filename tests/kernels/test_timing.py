"""Timing that sees the scheduler: clean and preempted calls, bimodal runs, verdicts."""

from __future__ import annotations

import threading
import time

import pytest
from attnsim.kernels import timing
from attnsim.kernels.timing import (
    DELAY_TOLERANCE,
    MODE_GAP,
    Sample,
    bimodal_split,
    summarize,
    thread_delays,
    time_call,
)


def test_clean_is_delay_within_the_tolerance() -> None:
    assert Sample(1.0, DELAY_TOLERANCE).clean
    assert not Sample(1.0, DELAY_TOLERANCE * 1.01).clean
    assert Sample(1.0, None).clean  # not observable: counted


def test_time_call_reads_the_threads_before_and_after() -> None:
    sample = time_call(lambda: time.sleep(0.002))
    assert sample.seconds >= 0.002
    if thread_delays() is not None:  # Linux with /proc: a sleeping call waits on no run queue
        assert sample.delay_s is not None and sample.delay_s >= 0


def test_thread_delays_cover_every_thread() -> None:
    before = thread_delays()
    if before is None:
        pytest.skip("schedstat is not readable here")
    stop = threading.Event()
    worker = threading.Thread(target=stop.wait)
    worker.start()
    try:
        during = thread_delays()
        assert during is not None and len(during) == len(before) + 1
    finally:
        stop.set()
        worker.join()


def test_time_call_sees_a_thread_kept_off_the_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    # a thread that waited 8 ms on a run queue during a 10 ms call: the quantum signature
    reads = iter([{"1": 0, "2": 100}, {"1": 0, "2": 100 + 8_000_000}])
    monkeypatch.setattr(timing, "thread_delays", lambda: next(reads))
    sample = time_call(lambda: None)
    assert sample.delay_s == pytest.approx(8e-3) and not sample.clean


def test_summary_leaves_preempted_calls_out_and_counts_them() -> None:
    samples = [Sample(0.5e-3, 0.0)] * 7 + [Sample(8.0e-3, 6e-3), Sample(16.0e-3, 14e-3)]
    t = summarize(samples)
    assert t.reliable and t.median_s == pytest.approx(0.5e-3)
    assert (t.calls, t.preempted) == (9, 2) and t.max_s == pytest.approx(0.5e-3)


def test_too_few_clean_calls_is_unreliable_not_a_number() -> None:
    samples = [Sample(0.5e-3, 0.0)] + [Sample(8.0e-3, 7e-3)] * 8
    t = summarize(samples)
    assert not t.reliable
    assert t.unreliable.startswith("preempted in 8 of 9 calls")
    assert t.median_s == pytest.approx(0.5e-3)  # the clean one, for the record


def test_quantum_clusters_among_clean_calls_are_bimodal() -> None:
    # the 8 / 16 ms clusters of a 0.5 ms kernel, where the guest could not see the delay
    samples = [Sample(x, None) for x in (0.5e-3, 0.52e-3, 0.49e-3, 8.0e-3, 8.1e-3, 16.0e-3)]
    t = summarize(samples)
    assert not t.reliable and t.unreliable.startswith("bimodal: clean calls cluster at 0.5")
    assert not t.observable


def test_bimodal_split_needs_a_wide_gap_and_two_on_each_side() -> None:
    assert bimodal_split([1.0, 1.1, 1.2, 1.3, 1.4]) is None  # one mode
    assert bimodal_split([1.0, 1.0, 1.0, 9.0]) is None  # one outlier is not a mode
    assert bimodal_split([1.0] * 98 + [9.0, 9.5]) is None  # nor are 2% of the calls
    assert bimodal_split([1.0] * 80 + [9.0] * 20) is not None
    fast, slow = bimodal_split([1.0, 1.05, 1.0 * MODE_GAP * 1.1, 1.0 * MODE_GAP * 1.2]) or ([], [])
    assert fast == [1.0, 1.05] and len(slow) == 2


def test_summary_of_nothing_is_refused() -> None:
    with pytest.raises(ValueError, match="samples: empty"):
        summarize([])
