"""Design-space sweeps: a versioned spec, strategies behind one ask/tell interface,
executors (process pool or Dask), and a durable, resumable Parquet results folder.

    from attnsim.sweep import load_spec, run_sweep
    run = run_sweep(load_spec("examples/sweep-small.yaml"), "results/")
    run.results      # one row per (point, workload): parameters, objectives, status
    run.points       # one row per point: weighted metrics of its workloads

See ``docs/SWEEPS.md``. ``attnsim.sweep(spec, out)`` (this package called as a
function) is :func:`attnsim.api.sweep`.
"""

import sys
import types
from typing import Any

from attnsim.sweep.errors import SweepError
from attnsim.sweep.executors import EXECUTORS, make_executor
from attnsim.sweep.objectives import OBJECTIVES, Constraint, Objective, parse_constraint
from attnsim.sweep.plan import Plan, plan_sweep
from attnsim.sweep.runner import SweepRun, as_spec, run_sweep
from attnsim.sweep.space import DesignSpace, Point
from attnsim.sweep.spec import SweepSpec, load_spec, spec_from_dict
from attnsim.sweep.store import ResultsStore, read_results
from attnsim.sweep.strategies import STRATEGIES, Candidate, Outcome, Strategy

__all__ = [
    "EXECUTORS",
    "OBJECTIVES",
    "STRATEGIES",
    "Candidate",
    "Constraint",
    "DesignSpace",
    "Objective",
    "Outcome",
    "Plan",
    "Point",
    "ResultsStore",
    "Strategy",
    "SweepError",
    "SweepRun",
    "SweepSpec",
    "as_spec",
    "load_spec",
    "make_executor",
    "parse_constraint",
    "plan_sweep",
    "read_results",
    "run_sweep",
    "spec_from_dict",
]


class _CallableModule(types.ModuleType):
    """``attnsim.sweep`` is both this package and the public function
    :func:`attnsim.api.sweep`: once the package is imported, ``attnsim.sweep`` names the
    package (Python binds submodules on their parent), so the package itself is callable
    and forwards to the function."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from attnsim.api import sweep

        return sweep(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
