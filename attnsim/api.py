"""The public API: each function is one step of the data flow (see docs/ARCHITECTURE.md)
and each command of the ``attnsim`` CLI is one call of one of them.

Arguments accept what a user has at hand: a target name or YAML path or a loaded
:class:`Hardware`; a workload file path or a loaded :class:`Workload`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from attnsim.errors import ProblemsError
from attnsim.hosttarget import HOST_TARGET, host_target
from attnsim.hwconfigs import Hardware, load_hardware
from attnsim.sim import LoweringOptions, Result
from attnsim.sim import simulate as _simulate
from attnsim.workloads import Workload
from attnsim.workloads.serialize import load_workload

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from attnsim.sweep import SweepSpec

HardwareLike = Hardware | str | os.PathLike[str]
WorkloadLike = Workload | str | os.PathLike[str]


class ApiInputError(ProblemsError):
    """An argument of the public API of the wrong kind (a number where a target name or
    path belongs, a string where a flag belongs)."""


def as_hardware(hw: HardwareLike) -> Hardware:
    """A :class:`Hardware` from a bundled name, a YAML path, or a Hardware. ``host-cpu``
    is this machine's own target, measured on first use (:mod:`attnsim.hosttarget`)."""
    if isinstance(hw, Hardware):
        return hw
    if not isinstance(hw, str | os.PathLike):
        raise ApiInputError(
            f"hw: got {type(hw).__name__}; expected a target name, a YAML path or a Hardware"
        )
    if isinstance(hw, str) and hw == HOST_TARGET:
        return host_target()
    return load_hardware(hw)


def as_workload(workload: WorkloadLike) -> Workload:
    """A :class:`Workload` from a workload JSON path or a Workload."""
    if isinstance(workload, Workload):
        return workload
    if not isinstance(workload, str | os.PathLike):
        raise ApiInputError(
            f"workload: got {type(workload).__name__}; expected a workload JSON path or a Workload"
        )
    return load_workload(Path(workload))


def trace(
    model: Any,
    inputs: Any = (),
    *,
    kwargs: Mapping[str, Any] | None = None,
    batch: int = 1,
    seq: int | None = None,
    phase: str | None = None,
    kv_len: int = 0,
    dtype: str = "bf16",
    image_size: int | None = None,
    name: str | None = None,
    tokens: int | None = None,
    weights: str | None = None,
) -> Workload:
    """Trace a model into a Workload (nothing allocated for weights or activations).

    ``model`` is a zoo name (see ``attnsim trace --list``; sizes from ``batch``, ``seq``,
    ``phase`` (default prefill), ``kv_len``, ``dtype``, ``image_size``, and ``weights``:
    None as released, ``"int8"`` every non-ternary linear layer stored W8A8) or a user's
    ``torch.nn.Module`` called as ``model(*inputs, **kwargs)`` with example inputs (real
    or fake tensors; their values are not used, except those of masks). For a module,
    ``phase`` None infers it per attention op, ``name`` defaults to its class name and
    ``tokens`` (tokens processed per call) is recorded when given. Variant semantics
    survive tracing through the ``attnsim::`` custom ops, FlexAttention block masks and
    SDPA masks (see :mod:`workloads.tracing`).
    """
    from attnsim.workloads.errors import WorkloadError

    if isinstance(model, str):
        if inputs != () or kwargs:
            raise WorkloadError(
                ["trace: inputs given with a zoo model name; expected them only with an nn.Module"]
            )
        from attnsim.workloads.zoo import (
            build_workload,  # imports torch/transformers: only when tracing
        )

        return build_workload(
            model,
            batch=batch,
            seq=seq,
            phase=phase or "prefill",
            kv_len=kv_len,
            dtype=dtype,
            image_size=image_size,
            weights=weights,
        )
    import torch

    if not isinstance(model, torch.nn.Module):
        raise WorkloadError(
            [
                f"trace: model is a {type(model).__name__}; expected a zoo model name or a "
                f"torch.nn.Module"
            ]
        )
    if phase is not None and phase not in ("prefill", "decode"):
        raise WorkloadError([f"trace: phase {phase!r} is unknown; expected prefill or decode"])
    from attnsim.workloads.tracing import trace_model

    args = inputs if isinstance(inputs, tuple) else (inputs,)
    meta: dict[str, str | int | float] = {"model": name or type(model).__name__}
    if phase is not None:
        meta["phase"] = phase
    return trace_model(
        model, args, dict(kwargs or {}), name=name, phase=phase, tokens=tokens, meta=meta
    )


def simulate(
    hw: HardwareLike,
    workload: WorkloadLike,
    *,
    family: str | None = None,
    block_q: int | None = None,
    block_k: int | None = None,
    timeline: bool = False,
    policy: str | None = None,
) -> Result:
    """Predict ``workload`` on ``hw`` (see :func:`sim.simulate`).

    ``family`` names a kernel family (e.g. ``"triton-bundled"``); None asks for the best
    known family the target runs. ``block_q``/``block_k`` override attention tile sizes
    (in multiples of the family's hardware tile). ``policy`` names a scheduling policy
    (``"das"``, the default; ``"in-order"``; ``"critical-path"``). Bad input of any kind
    raises a :class:`~attnsim.errors.ProblemsError` (every problem, one line each).
    """
    if family is not None and not isinstance(family, str):
        raise ApiInputError(f"family: got {type(family).__name__}; expected a family name or None")
    if not isinstance(timeline, bool):
        raise ApiInputError(f"timeline: got {timeline!r}; expected True or False")
    if policy is not None and not isinstance(policy, str):
        raise ApiInputError(f"policy: got {type(policy).__name__}; expected a policy name or None")
    return _simulate(
        as_hardware(hw),
        as_workload(workload),
        family=family,
        options=LoweringOptions(block_q=block_q, block_k=block_k),
        timeline=timeline,
        policy=policy,
    )


def sweep(
    spec: SweepSpec | str | os.PathLike[str] | Mapping[str, Any],
    out: str | os.PathLike[str] | None = None,
    *,
    executor: str = "local",
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool = False,
    retry_failed: bool = False,
) -> pd.DataFrame:
    """Run (or resume) a design-space sweep; returns the results table.

    ``spec`` is a sweep spec file, a parsed spec mapping or a ``SweepSpec``; ``out`` the
    results folder (re-use it to resume; None: a fresh temporary folder). The table has
    one row per (point, workload): parameters (``param.<key path>``, SI), status,
    objectives with units in their names (``latency_s``, ``energy_j``, ``area_mm2``),
    and provenance. ``table.attrs`` holds ``points`` (one row per point, the weighted
    metrics of its workloads), ``ops`` (per-op rows by ``run_key``), ``summary`` and
    ``path``. ``executor``: ``local`` (process pool), ``dask`` (``scheduler`` address or
    a LocalCluster) or ``serial``.
    """
    import tempfile

    from attnsim.sweep import run_sweep

    folder = out if out is not None else tempfile.mkdtemp(prefix="attnsim-sweep-")
    run = run_sweep(
        spec,
        folder,
        executor=executor,
        workers=workers,
        scheduler=scheduler,
        progress=progress,
        retry_failed=retry_failed,
    )
    table = run.results.copy()
    table.attrs = {
        "points": run.points,
        "ops": run.ops,
        "summary": dict(run.summary),
        "path": str(run.path),
    }
    return table


def report(
    results: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    validation: str | os.PathLike[str] | None = None,
    x: str | None = None,
    y: str | None = None,
) -> Path:
    """Write the design-space report of a sweep's results folder into ``out``; returns
    the path of ``index.html`` (``index.md`` sits beside it). ``validation`` is a folder
    written by ``attnsim validate -o``; ``x``/``y`` choose the Pareto pair."""
    from attnsim.reports.design_space import build_report
    from attnsim.sweep import OBJECTIVES, SweepError, read_results

    for name, value in (("--x", x), ("--y", y)):
        if value is not None and value not in OBJECTIVES:
            OBJECTIVES.lookup(value, where=name)
    manifest, table, points, ops = read_results(results)
    if validation is not None and not Path(validation).is_dir():
        raise SweepError(
            f"--validation {validation}: not a folder; expected the folder of attnsim validate -o"
        )
    return build_report(
        manifest,
        table,
        points,
        ops,
        out,
        validation=validation,
        x=x,
        y=y,
        objectives={o.name: (o.column, o.unit, o.direction) for o in OBJECTIVES.values()},
    )
