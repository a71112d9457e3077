"""A fluid (processor-sharing) pool of capacities, driven by simpy events.

Why fluid: a tile of a fused kernel streams its operands while it computes, so what
matters is how fast it *can* progress alone (``nominal_s``) and how much of each shared
capacity it draws while doing so. When the tiles active at one moment ask more of a
capacity than it has, they are slowed: the tiles on one unit share its compute at the
same fraction of their speed alone (warp schedulers interleave their warps), and a
shared memory level is divided max-min fairly in bytes per second -- a tile that asks
less than an equal share gets what it asks, the others share the rest equally, as
round-robin arbitration between SMs does -- so a compute-bound tile on the critical path
is not slowed by a burst of memory-bound ones. A tile limited elsewhere leaves its
unused share to the rest (work-conserving); identical tiles all get the same fraction. Rates change only when a tile starts or ends, so the pool needs one simpy
event per start and one per end — not one per byte or cycle.

Events. The pool is driven by simpy callbacks, not processes: a start schedules one
zero-delay "recompute" event per instant (shared by every start and end at that
instant), and one timer event stands for the earliest finish (re-armed, never
cancelled: stale timers are recognised by a version number). A job's end calls the
callback its submitter gave, which typically starts the slot's next job.

Cost. While no shared level is oversubscribed, a tile's rate depends only on the tiles
on its own unit, so a start or end updates that unit's few slots and a heap of finish
times: O(slots per unit) per event. Only while a shared level is saturated does an event
re-divide the levels over every running tile (vectorised numpy, a sort per level).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable

import numpy as np
import simpy

#: Relative slack when comparing times and capacities (floating-point noise).
_EPS = 1e-9
#: Passes of level division and compute hand-back while a level is oversubscribed.
_GLOBAL_PASSES = 3


def _water_fill(demand: np.ndarray, capacity: float) -> np.ndarray:
    """Per job, the fraction of its ``demand`` (bytes/s) it gets when ``capacity`` is
    divided max-min fairly: jobs asking less than the fair level get all of it, the
    others get the level, which uses the capacity exactly."""
    order = np.argsort(demand, kind="stable")
    d = demand[order]
    n = d.size
    below = np.concatenate(([0.0], np.cumsum(d)[:-1]))  # sum of the smaller demands
    level = (capacity - below) / (n - np.arange(n))  # fair level if job k is the first capped
    capped = np.flatnonzero(d > level)
    if capped.size == 0:
        return np.ones(n)
    fair = level[capped[0]]
    share = np.ones(n)
    over = d > fair  # only these are divided: d > fair >= 0, so no overflow
    share[over] = fair / d[over]
    out = np.empty(n)
    out[order] = share
    return out


class FluidPool:
    """Unit compute and shared memory bandwidth, shared among running jobs.

    Args:
        env: the simpy environment whose clock the pool follows.
        n_slots: most jobs in flight at once (one per slot).
        n_units: unit instances; each delivers one unit-second of compute per second.
        level_bandwidth: bytes/s of each shared level (1-D, may be empty).
    """

    def __init__(
        self, env: simpy.Environment, n_slots: int, n_units: int, level_bandwidth: np.ndarray
    ) -> None:
        if n_slots < 1:
            raise ValueError(f"n_slots must be >= 1, got {n_slots}")
        if n_units < 1:
            raise ValueError(f"n_units must be >= 1, got {n_units}")
        bw = np.asarray(level_bandwidth, dtype=float).reshape(-1)
        if not np.all(np.isfinite(bw)) or np.any(bw <= 0):
            raise ValueError(f"level_bandwidth must be finite and > 0 bytes/s, got {bw.tolist()}")
        self._env = env
        self._n_units = n_units
        self._bw = bw
        self._active = np.zeros(n_slots, dtype=bool)
        self._unit = np.zeros(n_slots, dtype=np.int64)
        self._unit_work = np.zeros(n_slots)
        self._level_work = np.zeros((n_slots, bw.size))  # for the vectorised global path
        self._lw: list[list[float]] = [[0.0] * bw.size for _ in range(n_slots)]  # hot path
        self._bw_list = bw.tolist()
        self._nominal = np.zeros(n_slots)  # fraction of the job per second when alone
        self._rate = np.zeros(n_slots)  # current fraction per second
        self._fast = np.zeros(n_slots)  # rate if no shared level were oversubscribed
        self._left = np.zeros(n_slots)  # fraction left at time self._since
        self._since = np.zeros(n_slots)
        self._version = np.zeros(n_slots, dtype=np.int64)
        self._done: list[Callable[[int], None] | None] = [None] * n_slots
        self._unit_slots: list[set[int]] = [set() for _ in range(n_units)]
        self._dirty_units: set[int] = set()
        self._level_fast = [0.0] * bw.size  # bytes/s drawn at the fast rates
        self._global = False  # current rates come from global progressive filling
        self._heap: list[tuple[float, int, int]] = []  # (finish time, version, slot)
        self._recompute_pending = False
        self._timer_version = 0
        self._timer_at = np.inf
        self._last_finish = 0.0

    def submit(
        self,
        slot: int,
        unit: int,
        unit_work_s: float,
        level_bytes: np.ndarray,
        nominal_s: float,
        on_done: Callable[[int], None],
    ) -> None:
        """Start a job on ``slot``; ``on_done(slot)`` is called (in simulated time) when it ends.

        Args:
            slot: the slot running the job (it must not have one in flight).
            unit: the unit instance whose compute the job uses.
            unit_work_s: unit-seconds of compute the job needs.
            level_bytes: bytes the job moves at each shared level.
            nominal_s: seconds the job takes with every capacity to itself; at least
                ``unit_work_s`` and ``level_bytes / bandwidth`` (> 0).
            on_done: called with ``slot`` when the job is complete.
        """
        if not nominal_s > 0:
            raise ValueError(f"nominal_s must be > 0, got {nominal_s}")
        if self._active[slot]:
            raise ValueError(f"slot {slot} already has a job in flight")
        if not 0 <= unit < self._n_units:
            raise ValueError(f"unit must be in [0, {self._n_units}), got {unit}")
        now = self._env.now
        self._active[slot] = True
        self._unit[slot] = unit
        self._unit_work[slot] = unit_work_s
        self._level_work[slot] = level_bytes
        self._lw[slot] = [float(x) for x in level_bytes]
        self._nominal[slot] = 1.0 / nominal_s
        self._rate[slot] = 0.0
        self._fast[slot] = 0.0
        self._left[slot] = 1.0
        self._since[slot] = now
        self._done[slot] = on_done
        self._unit_slots[unit].add(slot)
        self._dirty_units.add(unit)
        self._schedule_recompute()

    @property
    def last_finish_s(self) -> float:
        """Simulated time at which the last job so far ended."""
        return self._last_finish

    # ---- rate bookkeeping ---------------------------------------------------------------
    def _set_rate(self, slot: int, rate: float, now: float) -> None:
        """Give ``slot`` a new rate from ``now`` on and (re)schedule its finish."""
        if rate == self._rate[slot] and self._version[slot] > 0 and self._since[slot] <= now:
            return
        self._left[slot] -= self._rate[slot] * (now - self._since[slot])
        self._since[slot] = now
        self._rate[slot] = rate
        self._version[slot] += 1
        finish = now + max(self._left[slot], 0.0) / rate if rate > 0 else np.inf
        heapq.heappush(self._heap, (finish, int(self._version[slot]), slot))

    def _set_rates(self, slots: np.ndarray, rates: np.ndarray, now: float) -> None:
        """:meth:`_set_rate` for many slots at once (vectorised; only changed rates are
        rescheduled). The heap is rebuilt when stale entries outnumber live ones."""
        changed = rates != self._rate[slots]
        if not changed.any():
            return
        s, r = slots[changed], rates[changed]
        self._left[s] -= self._rate[s] * (now - self._since[s])
        self._since[s] = now
        self._rate[s] = r
        self._version[s] += 1
        with np.errstate(divide="ignore"):
            finish = np.where(r > 0, now + np.maximum(self._left[s], 0.0) / r, np.inf)
        heap = self._heap
        if len(heap) > 8 * self._active.size + 1024:
            live = np.flatnonzero(self._active)
            keep = np.setdiff1d(live, s, assume_unique=True)
            with np.errstate(divide="ignore"):
                rest = np.where(
                    self._rate[keep] > 0,
                    self._since[keep] + np.maximum(self._left[keep], 0.0) / self._rate[keep],
                    np.inf,
                )
            heap[:] = list(
                zip(rest.tolist(), self._version[keep].tolist(), keep.tolist(), strict=True)
            )
            heapq.heapify(heap)
        for entry in zip(finish.tolist(), self._version[s].tolist(), s.tolist(), strict=True):
            heapq.heappush(heap, entry)

    def _unit_fast_rates(self, unit: int) -> None:
        """Recompute the fast rates of ``unit``'s jobs: they share its compute equally
        in proportion (a single capacity, so this is exact max-min)."""
        slots = self._unit_slots[unit]
        nominal, unit_work, fast, level_fast = (
            self._nominal,
            self._unit_work,
            self._fast,
            self._level_fast,
        )
        demand = sum(float(nominal[s] * unit_work[s]) for s in slots)
        factor = 1.0 / demand if demand > 1.0 + _EPS else 1.0
        for s in slots:
            new = float(nominal[s]) * (factor if unit_work[s] > 0 else 1.0)
            delta = new - float(fast[s])
            if delta:
                for i, work in enumerate(self._lw[s]):
                    level_fast[i] += delta * work
            fast[s] = new

    def _global_rates(self) -> np.ndarray:
        """Rates while some shared level is oversubscribed.

        Each job starts at its unit-limited rate (its unit's compute shared as in the
        fast path). Each oversubscribed level is then divided max-min fairly in bytes per
        second: a job that asks less than an equal share gets what it asks, the others
        share the rest equally (water-filling), and a job slowed by a level is slowed
        in proportion everywhere (its tile progresses at one speed). Co-resident jobs
        whose neighbour was slowed then get the compute it no longer uses, and the
        levels are divided again, until no level slows another job or after
        :data:`_GLOBAL_PASSES` passes. Every pass ends with the levels divided (which only
        lowers rates), so its rates exceed no capacity.

        A job's cap in the compute division is what the levels allowed it so far (1, its
        full speed, until a level slows it), never its previous compute share: a job that
        no level slowed must be free to take the compute a level-slowed neighbour leaves.
        """
        idx = np.flatnonzero(self._active)
        nominal = self._nominal[idx]
        unit = self._unit[idx]
        unit_use = nominal * self._unit_work[idx]  # unit fraction at full speed
        level_use = nominal[:, None] * self._level_work[idx]  # bytes/s at full speed
        limit = np.ones(idx.size)  # fraction of full speed the levels allow each job
        rate = limit
        for _ in range(_GLOBAL_PASSES):
            share = self._unit_share(unit, unit_use, limit)
            rate = share
            for level in range(self._bw.size):
                demand = rate * level_use[:, level]
                if demand.sum() <= self._bw[level] * (1 + _EPS):
                    continue
                rate = rate * _water_fill(demand, float(self._bw[level]))
            new_limit = np.where(rate < share, rate, limit)  # the jobs a level slowed
            if np.array_equal(new_limit, limit):
                break
            limit = new_limit
        rates = np.zeros(self._active.size)
        rates[idx] = nominal * rate
        return rates

    def _unit_share(self, unit: np.ndarray, unit_use: np.ndarray, cap: np.ndarray) -> np.ndarray:
        """Fractions of full speed when each unit's compute is shared as in the fast path
        (every job on an oversubscribed unit at one fraction ``f``) and no job exceeds its
        ``cap``: a job capped below ``f`` keeps its cap and leaves the rest of its share to
        the others (water-filling over the caps, per unit)."""
        demand = np.bincount(unit, weights=cap * unit_use, minlength=self._n_units)
        over = (demand > 1.0 + _EPS)[unit]
        if not over.any():
            return cap
        pinned = np.zeros(cap.size, dtype=bool)  # jobs held at their cap
        level = np.ones(self._n_units)
        for _ in range(cap.size + 1):
            fixed = np.bincount(
                unit, weights=np.where(pinned, cap * unit_use, 0.0), minlength=self._n_units
            )
            free = np.bincount(
                unit, weights=np.where(pinned, 0.0, unit_use), minlength=self._n_units
            )
            with np.errstate(divide="ignore", invalid="ignore"):
                level = np.where(free > 0, np.maximum(1.0 - fixed, 0.0) / free, np.inf)
            now = over & (cap <= level[unit])
            if np.array_equal(now, pinned):
                break
            pinned = now
        return np.where(over & ~pinned, np.minimum(cap, level[unit]), cap)

    def _recompute(self) -> None:
        """Bring rates up to date after jobs started or ended."""
        now = self._env.now
        for unit in self._dirty_units:
            self._unit_fast_rates(unit)
        changed_units = self._dirty_units
        self._dirty_units = set()
        oversubscribed = any(
            d > b * (1 + _EPS) for d, b in zip(self._level_fast, self._bw_list, strict=True)
        )
        if oversubscribed:
            rates = self._global_rates()
            live = np.flatnonzero(self._active)
            self._set_rates(live, rates[live], now)
            self._global = True
        elif self._global:
            live = np.flatnonzero(self._active)
            self._set_rates(live, self._fast[live], now)
            self._global = False
        else:
            for unit in changed_units:
                for slot in self._unit_slots[unit]:
                    self._set_rate(slot, float(self._fast[slot]), now)

    def _finish(self, slot: int) -> None:
        self._active[slot] = False
        unit = int(self._unit[slot])
        self._unit_slots[unit].discard(slot)
        self._dirty_units.add(unit)
        fast = float(self._fast[slot])
        if fast:
            for i, work in enumerate(self._lw[slot]):
                self._level_fast[i] -= fast * work
        self._fast[slot] = 0.0
        self._rate[slot] = 0.0
        self._version[slot] += 1  # invalidates its heap entries
        self._last_finish = self._env.now
        callback = self._done[slot]
        self._done[slot] = None
        assert callback is not None
        callback(slot)

    # ---- events -------------------------------------------------------------------------
    def _schedule_recompute(self) -> None:
        if not self._recompute_pending:
            self._recompute_pending = True
            event = self._env.timeout(0)
            event.callbacks.append(self._on_recompute)

    def _on_recompute(self, _event: simpy.Event) -> None:
        self._recompute_pending = False
        if self._dirty_units:
            self._recompute()
        self._arm_timer()

    def _arm_timer(self) -> None:
        """Make sure a timer fires at the earliest valid finish time."""
        heap = self._heap
        while heap and heap[0][1] != self._version[heap[0][2]]:
            heapq.heappop(heap)  # stale entry
        if not heap:
            self._timer_at = np.inf
            return
        finish = heap[0][0]
        if finish == self._timer_at:
            return
        self._timer_at = finish
        self._timer_version += 1
        version = self._timer_version
        event = self._env.timeout(max(0.0, finish - self._env.now))
        event.callbacks.append(lambda _e: self._on_timer(version))

    def _on_timer(self, version: int) -> None:
        if version != self._timer_version:
            return  # superseded by a later arm
        self._timer_at = np.inf
        heap = self._heap
        now = self._env.now
        tol = _EPS * max(1e-12, now)
        while heap and heap[0][0] <= now + tol:
            _, job_version, slot = heapq.heappop(heap)
            if job_version == self._version[slot] and self._active[slot]:
                self._finish(slot)
        # starts handed in by the finished jobs' callbacks join this recompute
        self._schedule_recompute()
