"""Scheduling policies: how a task graph's ready work is ordered and held back.

A policy never touches the engine. It is data in two parts:

* ``prepare(graph) -> graph`` may add dependencies (a controller that waits is a graph
  with more edges: an in-order machine makes everything after a nonlinear op wait for
  it);
* ``priorities(graph, estimates) -> one number per task``, lower first: among the
  available tasks that compete for a unit, the engine serves the lowest (ties: program
  order). ``estimates`` are the seconds each task takes alone on the machine, for
  policies that rank by the work left behind a task.

A new policy is one module with one :func:`register_policy` call (duplicates refused);
``simulate(..., policy=NAME)`` and ``attnsim simulate --policy NAME`` select it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from attnsim.sim.tasks import TaskGraph

from attnsim.errors import ProblemsError
from attnsim.registry import Registry


class SchedulingError(ProblemsError):
    """An unknown policy name (the message lists the known ones)."""


PrepareFn = Callable[[TaskGraph], TaskGraph]
PrioritiesFn = Callable[[TaskGraph, Sequence[float]], tuple[float, ...]]


@dataclass(frozen=True)
class SchedulingPolicy:
    """A registered policy (see module docstring).

    Attributes:
        name: what users ask for ("das", "in-order").
        description: one line for ``--help`` and reports.
        prepare: adds the dependencies the policy's controller imposes.
        priorities: ranks tasks competing for a unit (lower first).
    """

    name: str
    description: str
    prepare: PrepareFn
    priorities: PrioritiesFn


POLICIES: Registry[SchedulingPolicy] = Registry("scheduling policy", SchedulingError)

#: The policy :func:`sim.simulate` uses when none is asked for.
DEFAULT_POLICY = "das"


def register_policy(policy: SchedulingPolicy) -> SchedulingPolicy:
    """Add ``policy`` to :data:`POLICIES`; a second policy of the same name is an error."""
    return POLICIES.register(policy.name, policy)


def program_order(graph: TaskGraph, estimates: Sequence[float]) -> tuple[float, ...]:
    """Priorities that serve tasks in the order lowering listed them."""
    del estimates
    return tuple(float(i) for i in range(len(graph.tasks)))


def unchanged(graph: TaskGraph) -> TaskGraph:
    """No extra dependencies."""
    return graph
