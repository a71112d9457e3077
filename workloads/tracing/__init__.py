"""Tracing PyTorch models into the workload IR without materialising them.

``trace_model(module, args, kwargs, ...) -> Workload`` runs one forward pass under
``FakeTensorMode`` with a recording ``TorchDispatchMode`` (:mod:`.recorder`); masks are
classified by :mod:`.maskinfer`; the aten-op tables are in :mod:`.opmap`.  Build models
with :func:`build_fake` so that no weight is ever allocated.
"""

from attnsim.workloads.tracing.api import (
    build_fake,
    fake_mode_of,
    find_repeated_lists,
    trace_model,
    unknown_ops,
)

__all__ = ["build_fake", "fake_mode_of", "find_repeated_lists", "trace_model", "unknown_ops"]
