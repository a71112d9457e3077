"""``das`` — dependency-aware scheduling (VitaLLM, Lin & Chang, arXiv:2604.27396).

A task waits for nothing but the data it depends on: as soon as its inputs exist and a
unit of its kind is free it runs, so a nonlinear op (softmax, a norm, an activation, an
absmax quantisation) of one head runs on the nonlinear unit while the matrix cores
already work on the next head, and its latency hides behind theirs. Among ready tasks
competing for one unit, program order wins (the order lowering emitted, which follows
the dataflow: earlier heads first). On a chain (one GPU stream) it changes nothing.
"""

from __future__ import annotations

from attnsim.sim.scheduling.policy import (
    SchedulingPolicy,
    program_order,
    register_policy,
    unchanged,
)

DAS = register_policy(
    SchedulingPolicy(
        name="das",
        description="dependency-aware: every task runs once its inputs exist and its unit is "
        "free (nonlinear work overlaps independent matrix work)",
        prepare=unchanged,
        priorities=program_order,
    )
)
