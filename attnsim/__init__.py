"""attnsim: a hardware simulator and accelerator co-design framework for attention.

The public API is one function per step of the data flow (docs/ARCHITECTURE.md)::

    import attnsim
    result = attnsim.simulate("h100-sxm5-80gb", "workload.json")
    print(result.latency_s, result.bytes["hbm"], result.energy.total_j)

The API is imported lazily (PEP 562), so ``import attnsim.hwconfigs`` or a command that
never traces a model does not pay for importing torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: Public name -> module that defines it.
_API: dict[str, str] = {
    "as_hardware": "attnsim.api",
    "as_workload": "attnsim.api",
    "report": "attnsim.api",
    "simulate": "attnsim.api",
    "sweep": "attnsim.api",
    "trace": "attnsim.api",
}

__all__ = ["__version__", "as_hardware", "as_workload", "report", "simulate", "sweep", "trace"]

if TYPE_CHECKING:  # pragma: no cover
    from attnsim.api import as_hardware, as_workload, report, simulate, sweep, trace


def __getattr__(name: str) -> Any:
    if name in _API:
        value = getattr(importlib.import_module(_API[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'attnsim' has no attribute {name!r}")
