"""``critical-path`` — list scheduling by the longest chain of work left behind a task
(the upward rank of HEFT, Topcuoglu, Hariri & Wu, IEEE TPDS 13(3), 2002).

Dependencies as ``das``; among ready tasks competing for a unit, the one with the most
estimated seconds on its longest path to the end of the graph goes first, so work that
others wait for is not starved by work nobody waits for. Estimates are each task's
stand-alone seconds on the machine (:func:`sim.engine.chip.estimate_s`).
"""

from __future__ import annotations

from collections.abc import Sequence

from attnsim.sim.scheduling.policy import SchedulingPolicy, register_policy, unchanged
from attnsim.sim.tasks import TaskGraph


def upward_rank(graph: TaskGraph, estimates: Sequence[float]) -> tuple[float, ...]:
    """For each task, its estimate plus the largest rank of the tasks that depend on it."""
    dependents = graph.dependents()
    rank = [0.0] * len(graph.tasks)
    for i in range(len(graph.tasks) - 1, -1, -1):
        rank[i] = float(estimates[i]) + max((rank[d] for d in dependents[i]), default=0.0)
    return tuple(rank)


def longest_first(graph: TaskGraph, estimates: Sequence[float]) -> tuple[float, ...]:
    """Priorities (lower first) that serve the largest upward rank first."""
    return tuple(-r for r in upward_rank(graph, estimates))


CRITICAL_PATH = register_policy(
    SchedulingPolicy(
        name="critical-path",
        description="dependency-aware, ready tasks ranked by the longest chain of work "
        "behind them (HEFT upward rank)",
        prepare=unchanged,
        priorities=longest_first,
    )
)
