"""A fluid (processor-sharing) pool of capacities, driven by simpy events.

Why fluid: a tile of a fused kernel streams its operands while it computes, so what
matters is how fast it *can* progress alone (``nominal_s``) and how much of each shared
capacity it draws while doing so. When the tiles active at one moment ask more of a
capacity (a unit's compute, a shared memory level's bandwidth) than it has, they are
slowed max-min fairly (progressive filling): every tile's speed, as a fraction of its
speed alone, rises together until some capacity is full; the tiles using that capacity
stay at that fraction and the others keep rising. A tile limited elsewhere thus leaves
its unused share to the rest (work-conserving); identical tiles all get the same
fraction. Rates change only when a tile starts or ends, so the pool needs one simpy
event per start and one per end — not one per byte or cycle.

Each job occupies one *slot* (a slot runs one job at a time), so the pool keeps
fixed-size arrays indexed by slot and every rate update is a few numpy operations.
"""

from __future__ import annotations

import numpy as np
import simpy

#: Jobs whose remaining work is below this fraction are complete (floating-point slack).
_DONE_EPS = 1e-9


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
        self._level_work = np.zeros((n_slots, bw.size))
        self._nominal_rate = np.zeros(n_slots)
        self._remaining = np.zeros(n_slots)
        self._done: list[simpy.Event | None] = [None] * n_slots
        self._wakeup = env.event()
        self.rate_updates = 0  #: rate recomputations so far (what the pool's cost follows)
        self._delivered_unit = 0.0
        self._delivered_level = np.zeros(bw.size)
        env.process(self._serve())

    @property
    def delivered_unit_seconds(self) -> float:
        """Unit-seconds of compute delivered so far, over all units."""
        return self._delivered_unit

    @property
    def delivered_level_bytes(self) -> np.ndarray:
        """Bytes delivered so far at each shared level."""
        return self._delivered_level.copy()

    def submit(
        self, slot: int, unit: int, unit_work_s: float, level_bytes: np.ndarray, nominal_s: float
    ) -> simpy.Event:
        """Start a job on ``slot``; the returned event succeeds when it is complete.

        Args:
            slot: the slot running the job (it must not have one in flight).
            unit: the unit instance whose compute the job uses.
            unit_work_s: unit-seconds of compute the job needs.
            level_bytes: bytes the job moves at each shared level.
            nominal_s: seconds the job takes with every capacity to itself; at least
                ``unit_work_s`` and ``level_bytes / bandwidth``.
        """
        done = self._env.event()
        if nominal_s <= 0:
            done.succeed()
            return done
        if self._active[slot]:
            raise ValueError(f"slot {slot} already has a job in flight")
        if not 0 <= unit < self._n_units:
            raise ValueError(f"unit must be in [0, {self._n_units}), got {unit}")
        self._active[slot] = True
        self._unit[slot] = unit
        self._unit_work[slot] = unit_work_s
        self._level_work[slot] = level_bytes
        self._nominal_rate[slot] = 1.0 / nominal_s
        self._remaining[slot] = 1.0
        self._done[slot] = done
        if not self._wakeup.triggered:
            self._wakeup.succeed()
        return done

    def _rates(self) -> np.ndarray:
        """Progress rate (fraction per second) of every slot's job (0 for idle slots),
        by progressive filling of the jobs' slowdown factors (see module docstring)."""
        nominal = self._nominal_rate  # 0 on idle slots, so they add no demand
        unit_work = self._unit_work
        level_work = self._level_work
        unit_use = nominal * unit_work  # unit-seconds per second at full speed
        level_use = nominal[:, None] * level_work  # bytes per second at full speed
        unit_demand = np.bincount(self._unit, weights=unit_use, minlength=self._n_units)
        level_demand = level_use.sum(axis=0)
        if unit_demand.max(initial=0.0) <= 1.0 and np.all(level_demand <= self._bw):
            return nominal.copy()
        factor = np.ones_like(nominal)
        rising = self._active.copy()
        unit_left = np.ones(self._n_units)
        level_left = self._bw.copy()
        for _ in range(self._n_units + self._bw.size + 1):
            if not rising.any():
                break
            u_dem = np.bincount(
                self._unit, weights=np.where(rising, unit_use, 0.0), minlength=self._n_units
            )
            l_dem = np.where(rising[:, None], level_use, 0.0).sum(axis=0)
            with np.errstate(divide="ignore", invalid="ignore"):
                u_t = np.where(u_dem > 0, unit_left / u_dem, np.inf)
                l_t = np.where(l_dem > 0, level_left / l_dem, np.inf)
            t = min(1.0, float(u_t.min(initial=np.inf)), float(l_t.min(initial=np.inf)))
            if t >= 1.0:
                break  # every rising job runs at full speed
            full_units = u_t <= t * (1 + 1e-12)
            full_levels = l_t <= t * (1 + 1e-12)
            hits = (full_units[self._unit] & (unit_work > 0)) | (
                (level_work > 0) & full_levels[None, :]
            ).any(axis=1)
            freeze = rising & hits
            factor[freeze] = t
            unit_left -= np.bincount(
                self._unit, weights=np.where(freeze, unit_use * t, 0.0), minlength=self._n_units
            )
            level_left -= np.where(freeze[:, None], level_use * t, 0.0).sum(axis=0)
            np.maximum(unit_left, 0.0, out=unit_left)
            np.maximum(level_left, 0.0, out=level_left)
            rising &= ~freeze
        return nominal * factor

    def _serve(self):  # type: ignore[no-untyped-def]
        env = self._env
        while True:
            if not self._active.any():
                yield self._wakeup
                self._wakeup = env.event()
                continue
            rates = self._rates()
            self.rate_updates += 1
            with np.errstate(divide="ignore", invalid="ignore"):
                finish_in = np.where(self._active, self._remaining / rates, np.inf)
            dt = float(finish_in.min())
            start = env.now
            yield env.timeout(dt) | self._wakeup
            elapsed = env.now - start
            if self._wakeup.triggered:
                self._wakeup = env.event()
            progressed = np.where(self._active, rates * elapsed, 0.0)
            self._remaining -= progressed
            self._delivered_unit += float(progressed @ self._unit_work)
            if self._bw.size:
                self._delivered_level += progressed @ self._level_work
            # the job that set dt finishes exactly; float slack finishes its peers too
            # (slots submitted during the wait have finish_in = inf and are not done)
            done = (
                self._active
                & np.isfinite(finish_in)
                & (
                    (self._remaining <= _DONE_EPS)
                    | (finish_in - elapsed <= _DONE_EPS * np.maximum(1.0, finish_in))
                )
            )
            for slot in np.flatnonzero(done).tolist():
                self._active[slot] = False
                self._nominal_rate[slot] = 0.0
                self._unit_work[slot] = 0.0
                self._level_work[slot] = 0.0
                event = self._done[slot]
                self._done[slot] = None
                assert event is not None
                event.succeed()
            if done.any():
                # let the slots that just finished hand in their next jobs (same instant)
                # before rates are recomputed: one rate update instead of two
                yield env.timeout(0)
                if self._wakeup.triggered:
                    self._wakeup = env.event()
