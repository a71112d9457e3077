"""The public API: each function is one step of the data flow (see docs/ARCHITECTURE.md)
and each command of the ``attnsim`` CLI is one call of one of them.

Arguments accept what a user has at hand: a target name or YAML path or a loaded
:class:`Hardware`; a workload file path or a loaded :class:`Workload`.
"""

from __future__ import annotations

import os
from pathlib import Path

from attnsim.hosttarget import HOST_TARGET, host_target
from attnsim.hwconfigs import Hardware, load_hardware
from attnsim.sim import LoweringOptions, Result
from attnsim.sim import simulate as _simulate
from attnsim.workloads import Workload
from attnsim.workloads.serialize import load_workload

HardwareLike = Hardware | str | os.PathLike[str]
WorkloadLike = Workload | str | os.PathLike[str]


def as_hardware(hw: HardwareLike) -> Hardware:
    """A :class:`Hardware` from a bundled name, a YAML path, or a Hardware. ``host-cpu``
    is this machine's own target, measured on first use (:mod:`attnsim.hosttarget`)."""
    if isinstance(hw, Hardware):
        return hw
    if isinstance(hw, str) and hw == HOST_TARGET:
        return host_target()
    return load_hardware(hw)


def as_workload(workload: WorkloadLike) -> Workload:
    """A :class:`Workload` from a workload JSON path or a Workload."""
    return workload if isinstance(workload, Workload) else load_workload(Path(workload))


def trace(
    model: str,
    *,
    batch: int = 1,
    seq: int | None = None,
    phase: str = "prefill",
    kv_len: int = 0,
    dtype: str = "bf16",
    image_size: int | None = None,
) -> Workload:
    """Trace a model of the zoo (random weights, nothing allocated) into a Workload."""
    from attnsim.workloads.zoo import (
        build_workload,  # imports torch/transformers: only when tracing
    )

    return build_workload(
        model, batch=batch, seq=seq, phase=phase, kv_len=kv_len, dtype=dtype, image_size=image_size
    )


def simulate(
    hw: HardwareLike,
    workload: WorkloadLike,
    *,
    family: str | None = None,
    block_q: int | None = None,
    block_k: int | None = None,
    timeline: bool = False,
) -> Result:
    """Predict ``workload`` on ``hw`` (see :func:`sim.simulate`).

    ``family`` names a kernel family (e.g. ``"triton-bundled"``); None asks for the best
    known family the target runs. ``block_q``/``block_k`` override attention tile sizes.
    """
    return _simulate(
        as_hardware(hw),
        as_workload(workload),
        family=family,
        options=LoweringOptions(block_q=block_q, block_k=block_k),
        timeline=timeline,
    )
