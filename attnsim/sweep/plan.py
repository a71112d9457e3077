"""``attnsim sweep plan``: what a sweep will do, before it does it.

Counts the points, the variants the target loader refuses, the points that the
target-only constraints prune before simulation (area, static power), the runs already
in a results folder, and estimates the time from a few points simulated here. For a
very large space the counts come from a fixed, evenly spread sample of its points and
say so.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from attnsim.hwconfigs import HardwareConfigError, load_hardware
from attnsim.sweep.digests import model_digest, run_key
from attnsim.sweep.executors import default_workers
from attnsim.sweep.space import DesignSpace, Point
from attnsim.sweep.spec import SweepSpec
from attnsim.sweep.store import ResultsStore
from attnsim.sweep.strategies import STRATEGIES, GridStrategy
from attnsim.sweep.workloads import build_workloads, with_precision, workload_digest

__all__ = ["Plan", "plan_sweep", "MAX_CHECKED"]

#: Points whose targets are built to count invalid/pruned ones; beyond, a sample.
MAX_CHECKED = 5000


@dataclass(frozen=True)
class Plan:
    """What a sweep will do.

    Attributes:
        points: design points the strategy will try (grid size or budget).
        grid_size: points in the full grid.
        workloads: workloads per point (runs = points x workloads).
        checked: points whose targets were built for the counts below (all, or a sample).
        invalid / pruned: of the checked points, refused by the loader / pruned by a
            target-only constraint (estimates for the whole sweep when sampled).
        cached_runs: runs already in the results folder (when one was given).
        runs_to_simulate: the estimated runs left to simulate.
        seconds_per_run: mean seconds of the timed runs (one process, no reuse).
        timed_runs: runs timed.
        workers: workers the estimate divides by.
        estimate_s: estimated wall time (no reuse across points: an upper bound).
        notes: lines the command prints under the table.
    """

    points: int
    grid_size: int
    workloads: int
    checked: int
    invalid: int
    pruned: int
    cached_runs: int
    runs_to_simulate: int
    seconds_per_run: float
    timed_runs: int
    workers: int
    estimate_s: float
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (``attnsim sweep plan --json``)."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


def _spread(n: int, k: int) -> list[int]:
    """``k`` positions spread evenly over ``range(n)`` (all of them when ``n <= k``)."""
    if k <= 0:
        return []
    if n <= k:
        return list(range(n))
    return sorted({round(i * (n - 1) / (k - 1)) for i in range(k)}) if k > 1 else [0]


def plan_sweep(
    spec: SweepSpec,
    *,
    timed_points: int = 3,
    workers: int | None = None,
    results: str | os.PathLike[str] | None = None,
) -> Plan:
    """Plan ``spec`` (see the module docstring); simulates only ``timed_points`` points."""
    from attnsim.sim import LoweringError, LoweringOptions, simulate

    notes: list[str] = []
    space = DesignSpace(spec.dimensions)
    strategy = STRATEGIES[spec.strategy.kind](
        spec.strategy, space, spec.objectives, spec.constraints
    )
    cases = build_workloads(spec.workloads, spec.source)
    n_points = strategy.total()
    indices: Sequence[int]
    if strategy.adaptive:
        indices = range(space.size)
        notes.append(
            f"{spec.strategy.kind} chooses its points as it goes: counts are for the grid it searches"
        )
    elif isinstance(strategy, GridStrategy):
        indices = range(space.size)  # never a list of millions of candidates
    else:
        indices = [space.grid_index(c.point) for c in strategy.ask(n_points)]
    sample = [indices[i] for i in _spread(len(indices), MAX_CHECKED)]
    if len(sample) < len(indices):
        notes.append(
            f"invalid and pruned counts are estimated from {len(sample)} evenly spread points of {len(indices)}"
        )
    done: Mapping[str, Any] = {}
    if results is not None and os.path.isdir(results):
        done = ResultsStore(ResultsStore.open(results).root).load_runs()
    model = model_digest()
    options = {"block_q": spec.block_q, "block_k": spec.block_k}
    invalid = pruned = cached = 0
    feasible: list[tuple[Point, Any]] = []
    wd_cache: dict[tuple[int, str | None], str] = {}
    for gi in sample:
        point = space.from_grid_index(gi)
        try:
            hw = load_hardware(
                spec.base, space.overrides(point), origin=f"{spec.source}: point {gi}"
            )
        except HardwareConfigError:
            invalid += 1
            continue
        broken = False
        for c in spec.constraints:
            if c.target_only:
                value = hw.area_mm2 if c.objective.column == "area_mm2" else hw.static_power_w
                broken = broken or not c.holds(value)
        if broken:
            pruned += 1
            continue
        feasible.append((point, hw))
        precision = space.precision(point)
        for widx, case in enumerate(cases):
            key = (widx, precision)
            if key not in wd_cache:
                wd_cache[key] = (
                    case.digest
                    if precision is None
                    else workload_digest(with_precision(case.workload, precision))
                )
            if run_key(hw.digest, wd_cache[key], spec.family, options, model) in done:
                cached += 1
    scale = (
        n_points / len(sample)
        if sample and not strategy.adaptive
        else (n_points / max(1, len(sample)))
    )
    est_invalid = round(invalid * scale)
    est_pruned = round(pruned * scale)
    est_cached = round(cached * scale)
    runs_left = max(0, (n_points - est_invalid - est_pruned) * len(cases) - est_cached)
    timings: list[float] = []
    for idx in _spread(len(feasible), timed_points):
        point, hw = feasible[idx]
        for case in cases:
            w = with_precision(case.workload, space.precision(point))
            t0 = time.perf_counter()
            try:
                simulate(
                    hw,
                    w,
                    family=spec.family,
                    options=LoweringOptions(block_q=spec.block_q, block_k=spec.block_k),
                )
            except LoweringError:
                pass
            timings.append(time.perf_counter() - t0)
    per_run = sum(timings) / len(timings) if timings else math.nan
    n_workers = workers or default_workers()
    estimate = runs_left * per_run / n_workers if timings else math.nan
    if not timings:
        notes.append("no feasible point to time")
    notes.append(
        "the estimate divides the timed seconds per run by the workers; a shared machine is slower"
    )
    return Plan(
        points=n_points,
        grid_size=space.size,
        workloads=len(cases),
        checked=len(sample),
        invalid=est_invalid,
        pruned=est_pruned,
        cached_runs=est_cached,
        runs_to_simulate=runs_left,
        seconds_per_run=per_run,
        timed_runs=len(timings),
        workers=n_workers,
        estimate_s=estimate,
        notes=tuple(notes),
    )
