"""Timing that sees the scheduler: per-call run-queue delay, clean calls, verdicts.

On a shared machine a timed call is not always the kernel: when another process wants
a core, one of the kernel's threads waits on a run queue, and a parallel region waits
for its slowest thread. On a 2-core VM this shows as calls of a 0.5 ms decode kernel
that take 8, 16 or 24 ms (whole scheduler time slices), and as a median that moves
with the load.

Linux records, per thread, the time it spent runnable but waiting for a CPU
(``/proc/self/task/<tid>/schedstat``, second field, nanoseconds). :func:`time_call`
reads it for every thread of the process before and after a call, outside the timed
window, and keeps the largest increase: the delay the scheduler added to the call's
critical path. A call whose delay exceeds :data:`DELAY_TOLERANCE` of its wall time is
*preempted*; the others are *clean*. :func:`summarize` takes the median of the clean
calls only, and gives a verdict instead of a number when too few calls are clean or
when the clean calls themselves fall into two clusters (a disturbance the guest cannot
see, such as a hypervisor taking the vCPU).

Where ``schedstat`` cannot be read (not Linux, restricted ``/proc``), every call counts
as clean and the verdict says the scheduler was not observable.

This module imports nothing from the project but :mod:`attnsim.errors`-free numpy; it
is used by the kernel harness (:mod:`kernels.measure`) and the micro-benchmarks
(:mod:`kernels.microbench`) alike.
"""

from __future__ import annotations

import math
import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "DELAY_TOLERANCE",
    "MIN_CLEAN",
    "MODE_GAP",
    "MODE_SHARE",
    "Sample",
    "Timing",
    "bimodal_split",
    "scheduler_observable",
    "summarize",
    "thread_delays",
    "time_call",
]

#: A call is *clean* when the scheduler delayed its slowest thread by at most this
#: fraction of its wall time. 2% is far below both the run-to-run spread of an
#: undisturbed kernel on this class of machine (5-15%) and the accuracy the model is
#: judged by (15%), so a clean call is the kernel and only the kernel, to that precision.
DELAY_TOLERANCE = 0.02
#: Fewest clean calls a timing needs to be reported as reliable (a median of fewer is a
#: single observation).
MIN_CLEAN = 3
#: Two clusters of clean calls are a *bimodal* run when the gap between them is at least
#: this ratio (slow / fast) and each holds at least two calls and :data:`MODE_SHARE` of
#: them. 1.5 is far above the spread of an undisturbed kernel and far below the ratio of
#: a whole time slice (4 ms or more) to the kernels' shortest calls.
MODE_GAP = 1.5
#: Smallest share of the calls a cluster needs to count as a mode: fewer slow calls are
#: outliers that leave the median inside the fast cluster.
MODE_SHARE = 0.15

_TASKS = Path("/proc/self/task")


def thread_delays() -> dict[str, int] | None:
    """Run-queue wait (ns) of every thread of this process so far, by thread id; ``None``
    when ``/proc/self/task/*/schedstat`` cannot be read."""
    try:
        tids = os.listdir(_TASKS)
    except OSError:
        return None
    out: dict[str, int] = {}
    for tid in tids:
        try:
            with open(_TASKS / tid / "schedstat", encoding="ascii") as fh:
                fields = fh.read().split()
            out[tid] = int(fields[1])
        except (OSError, IndexError, ValueError):
            continue  # a thread that ended between listdir and open
    return out or None


def scheduler_observable() -> bool:
    """Whether this process can see its threads' run-queue delays."""
    return thread_delays() is not None


@dataclass(frozen=True)
class Sample:
    """One timed call: wall ``seconds`` and ``delay_s``, the largest run-queue wait any
    thread of the process accumulated during it (``None`` when not observable)."""

    seconds: float
    delay_s: float | None

    @property
    def clean(self) -> bool:
        """No scheduler delay beyond :data:`DELAY_TOLERANCE` of the call."""
        return self.delay_s is None or self.delay_s <= DELAY_TOLERANCE * self.seconds


def time_call(call: Callable[[], Any]) -> Sample:
    """Time one call of ``call`` with ``time.perf_counter``; read the threads' run-queue
    delays before and after it, outside the timed window."""
    before = thread_delays()
    t0 = time.perf_counter()
    call()
    t1 = time.perf_counter()
    after = thread_delays()
    if before is None or after is None:
        return Sample(t1 - t0, None)
    waited = max((after[t] - before.get(t, 0) for t in after), default=0)
    return Sample(t1 - t0, max(0, waited) / 1e9)


def bimodal_split(values: Sequence[float]) -> tuple[list[float], list[float]] | None:
    """The two clusters of ``values`` if they form two modes (see :data:`MODE_GAP`):
    split at the largest ratio between neighbours in sorted order, each side at least two
    values and :data:`MODE_SHARE` of them. ``None`` when there is one mode."""
    ordered = sorted(values)
    if len(ordered) < 4 or ordered[0] <= 0:
        return None
    least = max(2, math.ceil(MODE_SHARE * len(ordered)))
    best, at = 1.0, -1
    for i in range(least - 1, len(ordered) - least):  # both sides keep >= least values
        ratio = ordered[i + 1] / ordered[i]
        if ratio > best:
            best, at = ratio, i + 1
    if at < 0 or best < MODE_GAP:
        return None
    return ordered[:at], ordered[at:]


@dataclass(frozen=True)
class Timing:
    """The statistics of a series of :class:`Sample` (seconds per call).

    ``median_s``, ``p25_s``, ``p75_s``, ``min_s``, ``max_s`` are over the clean calls
    (over all calls when none is clean, for the record). ``calls`` were timed,
    ``preempted`` of them carried scheduler delay. ``unreliable`` is ``""`` when the
    median is the kernel's time, else why not (one line).
    """

    median_s: float
    p25_s: float
    p75_s: float
    min_s: float
    max_s: float
    calls: int
    preempted: int
    unreliable: str
    observable: bool

    @property
    def reliable(self) -> bool:
        """Whether the median can be compared with a prediction."""
        return not self.unreliable


def _quantile(ordered: Sequence[float], q: float) -> float:
    pos = q * (len(ordered) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.3g} ms"


def summarize(samples: Sequence[Sample], min_clean: int = MIN_CLEAN) -> Timing:
    """Median and spread of the clean calls, with a verdict (see the module docstring).

    Unreliable when fewer than ``min_clean`` calls are clean (``preempted in N of M
    calls``) or when the clean calls form two clusters (``bimodal: ...``).
    """
    if not samples:
        raise ValueError("samples: empty; expected at least one timed call")
    observable = all(s.delay_s is not None for s in samples)
    clean = [s.seconds for s in samples if s.clean]
    preempted = len(samples) - len(clean)
    pool = sorted(clean) if clean else sorted(s.seconds for s in samples)
    why = ""
    if len(clean) < min(min_clean, len(samples)):
        why = (
            f"preempted in {preempted} of {len(samples)} calls (a thread waited for a CPU "
            f"longer than {DELAY_TOLERANCE:.0%} of the call)"
        )
    else:
        modes = bimodal_split(clean)
        if modes is not None:
            fast, slow = modes
            why = (
                f"bimodal: clean calls cluster at {_ms(statistics.median(fast))} "
                f"({len(fast)}) and {_ms(statistics.median(slow))} ({len(slow)})"
            )
    return Timing(
        median_s=float(statistics.median(pool)),
        p25_s=float(_quantile(pool, 0.25)),
        p75_s=float(_quantile(pool, 0.75)),
        min_s=float(pool[0]),
        max_s=float(pool[-1]),
        calls=len(samples),
        preempted=preempted,
        unreliable=why,
        observable=observable,
    )
