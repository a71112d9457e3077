"""``in-order`` — no dependency-aware scheduling (the DAS ablation).

A controller without DAS issues work in program order and treats a nonlinear op as a
barrier: the op waits for the matrix work it depends on (its own dependencies) and
*blocks the next*: every task after it in program order waits until it finishes. Matrix
tasks between two nonlinear ops still overlap each other where their data allow (the
cores keep their head-level pipelining), but no matrix work hides a nonlinear op's
latency. Tasks whose role is ``"nonlinear"`` are the barriers.
"""

from __future__ import annotations

from attnsim.sim.scheduling.policy import SchedulingPolicy, program_order, register_policy
from attnsim.sim.tasks import TaskGraph

#: Task roles the in-order controller treats as barriers.
BARRIER_ROLES = frozenset({"nonlinear"})


def nonlinear_barriers(graph: TaskGraph) -> TaskGraph:
    """``graph`` with every task depending on the latest barrier task before it.

    Depending on the latest barrier is enough: that barrier itself depends on the one
    before it, so the barriers form a chain and every task waits for all of them.
    """
    extra: dict[int, set[int]] = {}
    last: int | None = None
    for i, task in enumerate(graph.tasks):
        if last is not None:
            extra.setdefault(i, set()).add(last)
        if task.role in BARRIER_ROLES:
            last = i
    return graph.with_deps(extra)


IN_ORDER = register_policy(
    SchedulingPolicy(
        name="in-order",
        description="no DAS: a nonlinear op waits for its inputs and blocks every later task "
        "until it finishes",
        prepare=nonlinear_barriers,
        priorities=program_order,
    )
)
