"""Published validation: attnsim's predictions against published GPU measurements.

The measurements are the held-out set of ``attnsim.sim.calibration.published`` (papers,
vendor benchmark CSVs, profiler outputs; docs/PUBLISHED_DATA.md). This module joins each
entry with a prediction of the same problem on the bundled target, with the kernel family
that models the published kernel, and summarises the error of absolute times (by GPU and
by kernel) and of every published sparse-over-dense speedup. It fits nothing: a
prediction uses the target's constants as ``attnsim fit-constants`` made them from
micro-benchmarks. The set is a test, not a training set.

**Which family models a published kernel** (:func:`family_for`):

* FlashAttention-2 / -3 / -4 -> the family of that name;
* cuDNN's SDPA: on a Hopper target ``flash-attention-3``, on a Blackwell target
  ``flash-attention-4`` -- labelled assumption: cuDNN's sm90/sm100 flash kernels are closed
  source; they are warp-specialised async-MMA kernels of the same design (NVIDIA's cuDNN
  and FlashAttention-3/4 share authors and report similar speeds);
* NATTEN's Hopper, Blackwell and CUTLASS (Ampere) FNA -> ``natten-*-fna``, with the tile
  shapes the published run used when the entry records them;
* FlashInfer's trtllm-gen decode -> the target's best fused family (split-KV decode);
* cuBLAS -> the target's best GEMM family.

NATTEN entries that time the attention kernel only (the entry says "kernel time only")
are compared with the predicted attention kernel alone, without the token-permute copies.
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from attnsim.errors import ProblemsError
from attnsim.fileio import atomic_output
from attnsim.hwconfigs import Hardware, load_hardware
from attnsim.sim import LoweringOptions, simulate
from attnsim.sim.calibration.published import (
    AttentionProblem,
    PublishedEntry,
    PublishedSet,
    entry_kinds,
    entry_op,
    entry_seconds,
    load_published_kernels,
)
from attnsim.sim.lowering import FAMILIES, TargetView, choose_family
from attnsim.sim.lowering.choose import machine_shape, run_kernel
from attnsim.workloads import Block, Workload

__all__ = [
    "PublishedCase",
    "PublishedReport",
    "PublishedSpeedupCase",
    "PublishedValidationError",
    "family_for",
    "published_frames",
    "validate_published",
    "write_published_csv",
]

#: Published kernel name prefix -> attnsim family (checked in order).
_BY_NAME: tuple[tuple[str, str], ...] = (
    ("FlashAttention-4", "flash-attention-4"),
    ("FlashAttention-3", "flash-attention-3"),
    ("FlashAttention-2", "flash-attention-2"),
    ("NATTEN Hopper FNA", "natten-hopper-fna"),
    ("NATTEN Blackwell FNA", "natten-blackwell-fna"),
    ("NATTEN CUTLASS FNA", "natten-cutlass-fna"),
)
#: The async-MMA fused family that stands for cuDNN's closed kernels, best first.
_CUDNN_FAMILIES = ("flash-attention-4", "flash-attention-3")
_TILES = re.compile(r"q tile \(([\d, ]+)\) kv tile \(([\d, ]+)\)")


class PublishedValidationError(ProblemsError):
    """The published validation cannot run as asked (no entries, unknown target)."""


def family_for(entry: PublishedEntry, hw: Hardware) -> str | None:
    """The kernel family that models ``entry``'s kernel on ``hw`` (None: the target's
    best known family for the op, e.g. its GEMM family)."""
    name = entry.kernel.name
    for prefix, family in _BY_NAME:
        if name.startswith(prefix):
            return family
    if name.startswith("cuDNN"):
        for family in _CUDNN_FAMILIES:
            if family in hw.kernel_families:
                return family
    if isinstance(entry.problem, AttentionProblem):
        for family in hw.kernel_families:  # the best fused family the target lists
            fam = FAMILIES.get(family)
            if fam is not None and "attention" in fam.op_kinds and fam.prefers is None:
                return family
    return None


def _tile_shapes(entry: PublishedEntry) -> tuple[tuple[int, ...], tuple[int, ...]] | None:
    """The NATTEN tile shapes the published run used, when the entry records them."""
    found = _TILES.search(entry.notes or "")
    if not found:
        return None
    q = tuple(int(x) for x in found.group(1).split(","))
    kv = tuple(int(x) for x in found.group(2).split(","))
    return (q, kv) if len(q) == len(kv) else None


def _kernel_only(entry: PublishedEntry) -> bool:
    return "kernel time only" in (entry.notes or "")


@dataclass(frozen=True)
class PublishedCase:
    """One published entry and its prediction.

    Attributes:
        id: the entry id; target: the bundled target; gpu: the part as published.
        kernel: the published kernel; family: the attnsim family that models it.
        kinds: coverage tags (dense, causal, gqa, neighborhood_2d, gemm, ...).
        measured_s / predicted_s: seconds per call.
        caveat: the dataset's note of a known problem with the figure, if any.
        source: where the figure was published.
    """

    id: str
    target: str
    gpu: str
    kernel: str
    family: str
    kinds: tuple[str, ...]
    measured_s: float
    predicted_s: float
    caveat: str | None
    source: str

    @property
    def rel_error(self) -> float:
        """(predicted - measured) / measured."""
        return (self.predicted_s - self.measured_s) / self.measured_s

    @property
    def group(self) -> str:
        """The kernel group the summary reports by (FlashAttention-3, cuDNN, NATTEN ...)."""
        return kernel_group(self.kernel)


def kernel_group(kernel: str) -> str:
    """A short kernel name for grouping: the published name up to its first parenthesis
    or comma (``"cuDNN SDPA (cudnn-frontend graph)"`` -> ``"cuDNN SDPA"``)."""
    return re.split(r"[(,]", kernel, maxsplit=1)[0].strip()


@dataclass(frozen=True)
class PublishedSpeedupCase:
    """A published sparse-over-dense speedup and the predicted one."""

    id: str
    sparse: str
    dense: str
    target: str
    measured: float
    predicted: float

    @property
    def rel_error(self) -> float:
        """(predicted - measured) / measured speedup."""
        return (self.predicted - self.measured) / self.measured


def _median(values: Sequence[float]) -> float | None:
    return float(statistics.median(values)) if values else None


def _quantile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    pos = q * (len(ordered) - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    return float(ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo))


def error_stats(errors: Iterable[float]) -> dict[str, float | int | None]:
    """``n``, median and 90th percentile of |relative error|, and the median signed error."""
    errs = list(errors)
    absolute = [abs(e) for e in errs]
    return {
        "n": len(errs),
        "median_abs_rel_error": _median(absolute),
        "p90_abs_rel_error": _quantile(absolute, 0.9),
        "median_rel_error": _median(errs),
    }


@dataclass(frozen=True)
class PublishedReport:
    """Every predicted entry and speedup, and what was skipped (id, reason)."""

    cases: tuple[PublishedCase, ...]
    speedups: tuple[PublishedSpeedupCase, ...]
    skipped: tuple[tuple[str, str], ...]
    disabled: tuple[str, ...] = ()

    def by(self, key: Callable[[PublishedCase], str]) -> dict[str, dict[str, float | int | None]]:
        """Error statistics of the cases grouped by ``key`` (sorted by group)."""
        groups: dict[str, list[float]] = {}
        for c in self.cases:
            groups.setdefault(key(c), []).append(c.rel_error)
        return {g: error_stats(errs) for g, errs in sorted(groups.items())}

    def summary(self) -> dict[str, Any]:
        """Overall, per GPU and per kernel error statistics of times, and of speedups."""
        return {
            "times": error_stats(c.rel_error for c in self.cases),
            "by_gpu": self.by(lambda c: c.target),
            "by_kernel": self.by(lambda c: c.group),
            "by_gpu_and_kernel": self.by(lambda c: f"{c.target} / {c.group}"),
            "speedups": error_stats(s.rel_error for s in self.speedups),
        }

    def to_dict(self) -> dict[str, Any]:
        """The ``attnsim validate --published --json`` document."""
        return {
            "format": "attnsim-published-validation",
            "version": 1,
            "disabled_mechanisms": list(self.disabled),
            "cases": [
                {
                    "id": c.id,
                    "target": c.target,
                    "gpu": c.gpu,
                    "kernel": c.kernel,
                    "kernel_group": c.group,
                    "family": c.family,
                    "kinds": list(c.kinds),
                    "measured_s": c.measured_s,
                    "predicted_s": c.predicted_s,
                    "rel_error": c.rel_error,
                    "caveat": c.caveat,
                    "source": c.source,
                }
                for c in self.cases
            ],
            "speedups": [
                {
                    "id": s.id,
                    "sparse": s.sparse,
                    "dense": s.dense,
                    "target": s.target,
                    "measured_speedup": s.measured,
                    "predicted_speedup": s.predicted,
                    "rel_error": s.rel_error,
                }
                for s in self.speedups
            ],
            "skipped": [{"id": i, "reason": r} for i, r in self.skipped],
            "summary": self.summary(),
        }


def _predict(entry: PublishedEntry, hw: Hardware, options: LoweringOptions) -> tuple[float, str]:
    op = entry_op(entry)
    family = family_for(entry, hw)
    if family is not None and family.startswith("natten-"):
        tiles = _tile_shapes(entry)
        if tiles is not None:
            options = LoweringOptions(disable=options.disable, tile_shapes=tiles)
    result = simulate(
        hw,
        Workload(name=entry.id, blocks=(Block("published", (op,), 1),)),
        family=family,
        options=options,
        check_capacity=False,
    )
    (o,) = result.ops
    seconds = o.latency_s
    if _kernel_only(entry):
        seconds = _attention_kernel_s(hw, op, family, options)
    return seconds, o.family


def _attention_kernel_s(
    hw: Hardware, op: Any, family: str | None, options: LoweringOptions
) -> float:
    """Seconds of the attention kernel alone (launch included), without the copies."""
    view = TargetView(hw)
    tasks = choose_family(op, view, family).lower(op, view, options)
    shape = machine_shape(view)
    return sum(
        run_kernel(k, shape).time_s for k in tasks.kernels if not k.name.startswith("token ")
    )


def validate_published(
    data: PublishedSet | None = None,
    *,
    options: LoweringOptions | None = None,
    targets: Sequence[str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> PublishedReport:
    """Predict every expressible entry of ``data`` (the bundled set by default) on its
    target and compare; ``targets`` keeps those targets only; ``options`` (e.g. mechanisms
    disabled for an ablation) apply to every prediction."""
    data = data or load_published_kernels()
    options = options or LoweringOptions()
    hardware: dict[str, Hardware] = {}
    cases: list[PublishedCase] = []
    skipped: list[tuple[str, str]] = []
    predicted: dict[str, float] = {}
    for entry in data.entries:
        target = entry.gpu.target
        if not entry.expressible:
            skipped.append((entry.id, f"not expressible: {entry.reason}"))
            continue
        if target is None:
            skipped.append((entry.id, f"no bundled target: {entry.gpu.note}"))
            continue
        if targets is not None and target not in targets:
            continue
        if target not in hardware:
            hardware[target] = load_hardware(target)
        if progress is not None:
            progress(entry.id)
        seconds, family = _predict(entry, hardware[target], options)
        predicted[entry.id] = seconds
        cases.append(
            PublishedCase(
                id=entry.id,
                target=target,
                gpu=entry.gpu.part,
                kernel=entry.kernel.name,
                family=family,
                kinds=tuple(sorted(entry_kinds(entry))),
                measured_s=entry_seconds(entry),
                predicted_s=seconds,
                caveat=entry.caveat,
                source=f"{entry.source.title} ({entry.source.year}), {entry.source.where}",
            )
        )
    if not cases:
        raise PublishedValidationError(
            "no published entry to predict"
            + (f" on {', '.join(targets)}" if targets else "")
            + "; expected bundled targets among "
            + ", ".join(sorted({e.gpu.target for e in data.entries if e.gpu.target}))
        )
    speedups: list[PublishedSpeedupCase] = []
    for s in data.speedups:
        if s.sparse not in predicted or s.dense not in predicted:
            continue
        sparse, dense = data.entry(s.sparse), data.entry(s.dense)
        speedups.append(
            PublishedSpeedupCase(
                id=s.id,
                sparse=s.sparse,
                dense=s.dense,
                target=sparse.gpu.target or "",
                measured=entry_seconds(dense) / entry_seconds(sparse),
                predicted=predicted[s.dense] / predicted[s.sparse],
            )
        )
    return PublishedReport(
        cases=tuple(cases),
        speedups=tuple(speedups),
        skipped=tuple(skipped),
        disabled=tuple(sorted(options.disable)),
    )


def published_frames(report: PublishedReport) -> dict[str, pd.DataFrame]:
    """The report as tables: ``cases``, ``speedups`` and ``summary`` (one row per group:
    all, each GPU, each kernel, each GPU and kernel, speedups)."""
    doc = report.to_dict()
    cases = pd.DataFrame(doc["cases"])
    cases["kinds"] = cases["kinds"].map(lambda k: " ".join(k))
    rows = [{"group": "all entries", **doc["summary"]["times"]}]
    for key, label in (
        ("by_gpu", "gpu"),
        ("by_kernel", "kernel"),
        ("by_gpu_and_kernel", "gpu/kernel"),
    ):
        rows += [{"group": f"{label}: {g}", **v} for g, v in doc["summary"][key].items()]
    rows.append({"group": "sparse-over-dense speedups", **doc["summary"]["speedups"]})
    return {
        "cases": cases,
        "speedups": pd.DataFrame(doc["speedups"]),
        "summary": pd.DataFrame(rows),
    }


def write_published_csv(report: PublishedReport, out_dir: str | Path) -> list[Path]:
    """Write ``published_cases.csv``, ``published_speedups.csv`` and
    ``published_summary.csv`` into the existing folder ``out_dir``; returns the paths."""
    paths = []
    for name, frame in published_frames(report).items():
        path = Path(out_dir) / f"published_{name}.csv"
        with atomic_output(path, option="-o") as f:
            frame.to_csv(f, index=False)
        paths.append(path)
    return paths
