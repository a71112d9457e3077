"""The discrete-event engine: simpy time and events, a fluid shared-capacity pool, and a
tile scheduler. It knows units, slots, shared bandwidth and tiles — never GPUs, kernels
or workloads; lowering turns those into :class:`sim.tasks.Kernel` objects first."""

from attnsim.sim.engine.fluid import FluidPool
from attnsim.sim.engine.kernel_sim import KernelRun, MachineShape, SlotSpan, simulate_kernel
from attnsim.sim.engine.scheduler import TileQueue

__all__ = ["FluidPool", "KernelRun", "MachineShape", "SlotSpan", "TileQueue", "simulate_kernel"]
