"""attnsim: a hardware simulator and accelerator co-design framework for attention.

The public API is one function per step of the data flow (docs/ARCHITECTURE.md)::

    import attnsim
    result = attnsim.simulate("h100-sxm5-80gb", "workload.json")
    print(result.latency_s, result.bytes["hbm"], result.energy.total_j)
"""

from attnsim.api import as_hardware, as_workload, simulate, trace

__version__ = "0.1.0"

__all__ = ["__version__", "as_hardware", "as_workload", "simulate", "trace"]
