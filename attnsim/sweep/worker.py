"""What a worker does with one run: simulate a workload on a resolved target, under a
time limit, and turn the :class:`~attnsim.sim.Result` into table rows.

Everything a worker needs arrives in the task (the resolved :class:`Hardware`, so the
worker simulates exactly the target whose digest keys the run) or once per worker in
the :class:`WorkerContext` (the sweep's workloads). A run never raises: a workload that
does not fit or a family the target cannot run is ``infeasible``, a run past its time
limit is ``timeout``, anything else is ``failed`` with the exception's line.

**What is reused.** The workloads arrive once per worker and a workload re-typed to a
swept precision is built once per worker; everything else is simulated afresh for each
run (equal runs are found by their content key before they are sent, see
:mod:`attnsim.sweep.digests`). Kernel simulations are not reused across points: the
engine runs a whole workload on one clock, where a kernel's recorded duration depends on
the absolute time it started at the last bits, so a run borrowed from another point would
break bit-for-bit determinism.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import json
import logging
import math
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from attnsim.hwconfigs import Hardware
from attnsim.sweep.objectives import derived
from attnsim.sweep.workloads import with_precision
from attnsim.workloads.ops import AttentionOp, GemmOp
from attnsim.workloads.workload import Workload

__all__ = [
    "RunTask",
    "RunResult",
    "WorkerContext",
    "run_task",
    "result_metrics",
    "PointTimeout",
]

log = logging.getLogger(__name__)


class PointTimeout(Exception):
    """Raised inside a run that passed its time limit."""


@dataclass(frozen=True)
class WorkerContext:
    """What every worker holds for the whole sweep: workload digest -> workload."""

    workloads: Mapping[str, Workload]


@dataclass(frozen=True)
class RunTask:
    """One simulation: a resolved target and a workload (by digest, optionally retyped
    to ``precision``), the family and options, and the time limit."""

    run_key: str
    hardware: Hardware
    workload_digest: str
    precision: str | None
    family: str | None
    block_q: int | None
    block_k: int | None
    timeout_s: float | None


@dataclass(frozen=True)
class RunResult:
    """The outcome of a :class:`RunTask`: status, reason, metrics (SI floats by column),
    the roofs of the target for the report's roofline, per-op rows, wall time."""

    run_key: str
    status: str
    reason: str
    metrics: Mapping[str, float]
    roofs: Mapping[str, Any]
    ops: tuple[Mapping[str, Any], ...]
    wall_s: float
    families: str = ""
    timeout_s: float | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------------------
# time limit
# --------------------------------------------------------------------------------------


@contextlib.contextmanager
def deadline(seconds: float | None) -> Iterator[None]:
    """Raise :class:`PointTimeout` in this thread if the block runs past ``seconds``.

    Works in any thread (Dask runs tasks in worker threads, where signals cannot be
    used): a timer injects the exception asynchronously; it is delivered at the next
    Python bytecode of this thread. A pending injection is cleared when the block ends
    first, so it can never escape into the caller."""
    if seconds is None or seconds <= 0:
        yield
        return
    tid = threading.get_ident()
    lock = threading.Lock()
    state = {"active": True, "fired": False}

    def fire() -> None:
        with lock:
            if state["active"]:
                state["fired"] = True
                ctypes.pythonapi.PyThreadState_SetAsyncExc(
                    ctypes.c_ulong(tid), ctypes.py_object(PointTimeout)
                )

    timer = threading.Timer(seconds, fire)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        with lock:
            state["active"] = False
            if state["fired"]:
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(tid), None)


# --------------------------------------------------------------------------------------
# one run
# --------------------------------------------------------------------------------------

_CONTEXT: WorkerContext | None = None
_RETYPED: dict[tuple[str, str | None], Workload] = {}


def init_worker(context: WorkerContext) -> None:
    """Process-pool initializer: keep the sweep's workloads for every task."""
    global _CONTEXT
    _CONTEXT = context
    _RETYPED.clear()


def run_in_pool(tasks: list[RunTask]) -> list[RunResult]:
    """Entry point of a process-pool worker: a chunk of tasks, one after another (the
    context came with the initializer)."""
    assert _CONTEXT is not None, "init_worker was not called"
    return [run_task(_CONTEXT, t) for t in tasks]


def run_task(context: WorkerContext, task: RunTask) -> RunResult:
    """Simulate ``task``; never raises (the outcome says what happened)."""
    from attnsim.sim import LoweringError, LoweringOptions, simulate

    start = time.perf_counter()
    cpu0 = time.thread_time()
    try:
        key = (task.workload_digest, task.precision)
        workload = _RETYPED.get(key)
        if workload is None:
            workload = with_precision(context.workloads[task.workload_digest], task.precision)
            _RETYPED[key] = workload
        options = LoweringOptions(block_q=task.block_q, block_k=task.block_k)
        with deadline(task.timeout_s):
            result = simulate(task.hardware, workload, family=task.family, options=options)
    except PointTimeout:
        return _failure(task, "timeout", f"ran past the {task.timeout_s:g} s limit per run", start)
    except LoweringError as exc:
        lines = getattr(exc, "problems", None) or [str(exc)]
        return _failure(task, "infeasible", _one(lines[0]), start)
    except Exception as exc:  # a bug or an unexpected input: recorded, the sweep goes on
        return _failure(task, "failed", _one(f"{type(exc).__name__}: {exc}"), start)
    wall = time.perf_counter() - start
    metrics = result_metrics(result, task.hardware)
    ops = tuple(_op_rows(task.run_key, result))
    families = ",".join(sorted({o.family for o in result.ops}))
    return RunResult(
        task.run_key,
        "ok",
        "",
        metrics,
        roofs(task.hardware, workload),
        ops,
        wall,
        families,
        task.timeout_s,
        {
            "cpu_s": time.thread_time() - cpu0,
            "policy": str(getattr(result, "policy", "") or ""),
            "precision_fallbacks": "; ".join(getattr(result, "precision_fallbacks", ()) or ()),
        },
    )


def _one(text: str) -> str:
    line = " ".join(str(text).split())
    return line[:400]


def _failure(task: RunTask, status: str, reason: str, start: float) -> RunResult:
    hw = task.hardware
    metrics: dict[str, float] = {}
    if hw.area_mm2 is not None:
        metrics["area_mm2"] = float(hw.area_mm2)
    metrics["static_power_w"] = float(hw.static_power_w)
    return RunResult(
        task.run_key,
        status,
        reason,
        metrics,
        {},
        (),
        time.perf_counter() - start,
        "",
        task.timeout_s,
    )


def _flatten(prefix: str, mapping: Any, suffix: str, out: dict[str, float]) -> None:
    if isinstance(mapping, Mapping):
        for k, v in mapping.items():
            if isinstance(v, int | float) and not isinstance(v, bool):
                out[f"{prefix}{_slug(k)}{suffix}"] = float(v)


def _slug(key: Any) -> str:
    text = "_".join(map(str, key)) if isinstance(key, tuple) else str(key)
    return "".join(c if c.isalnum() else "_" for c in text)


def result_metrics(result: Any, hw: Hardware) -> dict[str, float]:
    """The metric columns of one run (SI floats, unit in each name).

    Reads the :class:`~attnsim.sim.Result` by name and defensively: fields added later
    (energy per engine, power) are picked up when present, never required."""
    energy = result.energy
    out: dict[str, float] = {
        "latency_s": float(result.latency_s),
        "flops": float(result.flops),
        "tokens": float(result.tokens) if result.tokens is not None else math.nan,
        "energy_j": float(energy.total_j),
        "energy_compute_j": float(getattr(energy, "compute_j", math.nan)),
        "energy_memory_j": float(getattr(energy, "memory_j", math.nan)),
        "energy_static_j": float(getattr(energy, "static_j", math.nan)),
        "area_mm2": float(hw.area_mm2) if hw.area_mm2 is not None else math.nan,
        "static_power_w": float(hw.static_power_w),
    }
    for attr, column in (
        ("die_power_w", "die_power_w"),
        ("peak_ops_s", "peak_ops_per_s"),
        ("fom_peak_ops_s", "fom_peak_ops_per_s"),
        ("fom_tops_per_mm2_w", "fom_tops_per_mm2_w"),
    ):
        value = getattr(result, attr, None)
        if isinstance(value, int | float) and not isinstance(value, bool):
            out[column] = float(value)
    if "die_power_w" in out:  # the die's energy, summed over a point's runs like energy
        out["energy_die_j"] = out["die_power_w"] * out["latency_s"]
    _flatten("bytes_", getattr(result, "bytes", {}), "_b", out)
    _flatten("util_", getattr(result, "utilisation", {}), "", out)
    fields = dataclasses.fields(energy) if dataclasses.is_dataclass(energy) else ()
    for f in fields:
        value = getattr(energy, f.name)
        if isinstance(value, Mapping) and f.name.endswith("_j"):
            # memory_by_level_j -> energy_memory_<level>_j; by_engine_j -> energy_<engine>_j
            stem = f.name[: -len("_j")]
            stem = stem.split("_by_")[0] if "_by_" in stem else ""
            _flatten(f"energy_{stem}_" if stem else "energy_", value, "_j", out)
    out.update(derived(out))
    return out


def roofs(hw: Hardware, workload: Workload) -> dict[str, Any]:
    """The roofline of ``hw`` for ``workload``: peak FLOP/s of the precisions its GEMMs
    and attention run in (a ternary or narrower weight is the precision its engine runs:
    an int8 x ternary GEMM runs on the ternary arrays), the bandwidth (bytes/s) of each
    memory level shared by the whole chip (a per-unit level counts all its copies), and
    ``dram``: the farthest level, the one the roofline's intensity is counted against."""
    precisions: set[str] = set()
    for _, op in workload.flat():
        if isinstance(op, GemmOp | AttentionOp):
            precisions.add(op.dtype)
        if isinstance(op, GemmOp) and op.weight_dtype in ("ternary", "int4", "fp4"):
            precisions.add(op.weight_dtype)
    compute = {p: hw.peak("matmul", p) for p in sorted(precisions) if hw.peak("matmul", p) > 0}
    memory = {
        level.name: level.bandwidth_bytes_per_s * level.instances(hw.units) for level in hw.memory
    }
    return {"compute_flop_per_s": compute, "memory_b_per_s": memory, "dram": hw.memory[-1].name}


def _op_rows(run_key: str, result: Any) -> Iterator[dict[str, Any]]:
    for i, op in enumerate(result.ops):
        row: dict[str, Any] = {
            "run_key": run_key,
            "op_index": i,
            "block": op.block,
            "name": op.name,
            "kind": op.kind,
            "family": op.family,
            "count": int(op.count),
            "latency_s": float(op.latency_s),
            "total_latency_s": float(op.latency_s) * int(op.count),
            "flops": float(op.flops),
            "energy_j": float(op.energy_j),
            "bound": str(op.bound),
            "launch_s": float(getattr(op, "launch_s", 0.0)),
        }
        for level, nbytes in op.bytes.items():
            row[f"bytes_{_slug(level)}_b"] = float(nbytes)
        yield row


def roofs_json(roofs_doc: Mapping[str, Any]) -> str:
    """The roofs as compact JSON (a table cell)."""
    return json.dumps(roofs_doc, sort_keys=True, separators=(",", ":"))
