"""The discrete-event engine: one simpy clock per simulation, a fluid shared-capacity
pool, a tile queue, and the chip engine that runs task graphs over every unit of a
target. It knows units, slots, shared bandwidth and tiles — never GPUs, engine kinds,
kernels or workloads; lowering turns those into :class:`sim.tasks.TaskGraph` objects
first, and scheduling policies reach it only as task priorities."""

from attnsim.sim.engine.chip import (
    ChipSim,
    GraphRun,
    Machine,
    TaskRun,
    TaskSpan,
    estimate_s,
    run_graph,
)
from attnsim.sim.engine.fluid import FluidPool
from attnsim.sim.engine.kernel_sim import (
    KernelRun,
    KernelTotals,
    MachineShape,
    SlotSpan,
    kernel_totals,
    simulate_kernel,
)
from attnsim.sim.engine.scheduler import TileQueue

__all__ = [
    "ChipSim",
    "FluidPool",
    "GraphRun",
    "KernelRun",
    "KernelTotals",
    "Machine",
    "MachineShape",
    "SlotSpan",
    "TaskRun",
    "TaskSpan",
    "TileQueue",
    "estimate_s",
    "kernel_totals",
    "run_graph",
    "simulate_kernel",
]
