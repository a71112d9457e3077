"""The simulator: lowering ops to tiles for a target, the simpy engine, the Result.

>>> from sim import simulate
>>> result = simulate(hardware, workload)        # doctest: +SKIP
>>> result.latency_s, result.bytes["hbm"]        # doctest: +SKIP
"""

from attnsim.sim.lowering import FAMILIES, LoweringError, LoweringOptions
from attnsim.sim.result import Energy, OpResult, Result, TimelineEvent
from attnsim.sim.simulate import memory_needed_bytes, simulate

__all__ = [
    "FAMILIES",
    "Energy",
    "LoweringError",
    "LoweringOptions",
    "OpResult",
    "Result",
    "TimelineEvent",
    "memory_needed_bytes",
    "simulate",
]
