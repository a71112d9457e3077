"""Scheduling policies for the chip engine (one module each, registered by name).

Importing this package registers every bundled policy: ``das`` (dependency-aware, the
default), ``in-order`` (no DAS: nonlinear ops are barriers) and ``critical-path``
(HEFT-style ranking). See :mod:`sim.scheduling.policy` for the interface.
"""

from attnsim.sim.scheduling import (  # noqa: F401  (imported to register the policies)
    critical_path,
    das,
    in_order,
)
from attnsim.sim.scheduling.policy import (
    DEFAULT_POLICY,
    POLICIES,
    SchedulingError,
    SchedulingPolicy,
    register_policy,
)

__all__ = [
    "DEFAULT_POLICY",
    "POLICIES",
    "SchedulingError",
    "SchedulingPolicy",
    "register_policy",
]
