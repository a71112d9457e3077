"""Validation: the one place that joins measurements of the bundled kernels (``kernels/``)
with the simulator's predictions of the same problems (``sim/``).

A *case* is one attention problem timed on a device (live, or read from a recorded
measurement CSV) and simulated on the matching target with the kernel family that models
that kernel (``numba-flash-cpu`` for the numba kernels, ``triton-bundled`` for the Triton
ones). The summary gives the error of absolute times and — what no tool in this field
checks — of predicted *speedups* of each sparse variant over dense attention on the same
problem. Nothing here fits anything: the target's constants come from ``attnsim
calibrate`` / ``attnsim fit-constants`` (micro-benchmarks), never from these timings.
"""

from __future__ import annotations

import dataclasses
import json
import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from attnsim.errors import ProblemsError
from attnsim.hwconfigs import Hardware, load_hardware
from attnsim.hwconfigs.model import FrozenMap
from attnsim.kernels.cpu.flash import DEFAULT_BLOCK_K, DEFAULT_BLOCK_Q, DEFAULT_DECODE_BLOCK_K
from attnsim.kernels.measure import Measurement, measure
from attnsim.kernels.microbench import ShapeRates, shape_rates
from attnsim.kernels.problems import validation_problems
from attnsim.sim import simulate
from attnsim.workloads import AttentionOp, AttentionSpec, Block, FullMask, Workload

#: Kernel family that models each bundled kernel.
FAMILY_OF_KERNEL = {
    "numba-flash": "numba-flash-cpu",
    "numba-decode": "numba-flash-cpu",
    "triton-flash": "triton-bundled",
    "triton-decode": "triton-bundled",
}

#: Seconds of untimed kernel calls before the first measured case.
WARMUP_S = 1.0

#: Recorded GPU device names (``torch.cuda.get_device_name``) -> bundled target.
GPU_TARGETS = {
    "H100": "h100-sxm5-80gb",
    "H200": "h200-sxm-141gb",
    "A100": "a100-sxm4-80gb",
    "B200": "b200",
    "4090": "rtx-4090",
}


class ValidationError(ProblemsError):
    """Bad input to validation (no cases, unknown device, unmatched recorded rows)."""


@dataclass(frozen=True)
class Case:
    """One problem: measured and predicted seconds per call."""

    name: str
    kernel: str
    device: str
    target: str
    family: str
    spec: AttentionSpec
    measured_s: float
    measured_p25_s: float
    measured_p75_s: float
    predicted_s: float
    source: str

    @property
    def rel_error(self) -> float:
        """(predicted - measured) / measured."""
        return (self.predicted_s - self.measured_s) / self.measured_s


@dataclass(frozen=True)
class Speedup:
    """A sparse variant against dense attention on the same problem."""

    variant: str
    dense: str
    measured: float
    predicted: float

    @property
    def rel_error(self) -> float:
        """(predicted - measured) / measured speedup."""
        return (self.predicted - self.measured) / self.measured


@dataclass(frozen=True)
class Report:
    """Cases, speedups and their error statistics."""

    cases: tuple[Case, ...]
    speedups: tuple[Speedup, ...]
    notes: tuple[str, ...] = field(default_factory=tuple)

    def summary(self) -> dict[str, Any]:
        """Median and 90th percentile of |relative error|, for times and speedups."""
        abs_err = [abs(c.rel_error) for c in self.cases]
        sp_err = [abs(s.rel_error) for s in self.speedups]
        return {
            "cases": len(self.cases),
            "median_abs_rel_error": _median(abs_err),
            "p90_abs_rel_error": _quantile(abs_err, 0.9),
            "speedups_median_abs_rel_error": _median(sp_err),
            "speedups_p90_abs_rel_error": _quantile(sp_err, 0.9),
            "speedups": [
                {
                    "variant": s.variant,
                    "dense": s.dense,
                    "measured_speedup": s.measured,
                    "predicted_speedup": s.predicted,
                    "rel_error": s.rel_error,
                }
                for s in self.speedups
            ],
        }

    def to_dict(self) -> dict[str, Any]:
        """The ``attnsim validate --json`` document."""
        return {
            "format": "attnsim-validation",
            "version": 1,
            "cases": [
                {
                    "name": c.name,
                    "kernel": c.kernel,
                    "device": c.device,
                    "target": c.target,
                    "family": c.family,
                    "measured_s": c.measured_s,
                    "measured_p25_s": c.measured_p25_s,
                    "measured_p75_s": c.measured_p75_s,
                    "predicted_s": c.predicted_s,
                    "rel_error": c.rel_error,
                    "source": c.source,
                }
                for c in self.cases
            ],
            "summary": self.summary(),
            "notes": list(self.notes),
        }


def _median(values: Sequence[float]) -> float | None:
    return float(statistics.median(values)) if values else None


def _quantile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    pos = q * (len(ordered) - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    return float(ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo))


def case_name(spec: AttentionSpec) -> str:
    """A short, unique, stable name for an attention problem."""
    mask = spec.mask.to_dict()
    kind = mask.pop("kind")
    detail = ""
    if kind == "sliding_window":
        detail = f"[{mask['left']},{mask.get('right', 0)}]"
    elif kind == "neighborhood":
        detail = (
            "[w"
            + "x".join(map(str, mask["window"]))
            + (
                ",d" + "x".join(map(str, mask["dilation"]))
                if any(d > 1 for d in mask.get("dilation") or ())
                else ""
            )
            + "]"
        )
    elif kind == "block_sparse":
        detail = f"[{spec.density:.2f}]"
    heads = f"h{spec.q_heads}" + (f"/{spec.kv_heads}" if spec.kv_heads != spec.q_heads else "")
    length = f"{spec.q_len}x{spec.kv_len}" if spec.q_len != spec.kv_len else f"{spec.q_len}"
    return f"{spec.phase} {kind}{detail} b{spec.batch} {heads} n{length} d{spec.head_dim_qk}"


def suite(device: str = "cpu", quick: bool = False) -> list[AttentionSpec]:
    """The documented validation suite: the kernels' attention validation problems
    (``kernels.problems.validation_problems``) for the device's scale. ``quick`` keeps
    a handful (dense, causal, window, neighborhood, block-sparse, decode) for the demo."""
    scale = "gpu" if device == "cuda" else "cpu"
    specs = [p for p in validation_problems(scale) if isinstance(p, AttentionSpec)]
    if not quick:
        return specs
    lengths = sorted({s.q_len for s in specs if s.phase == "prefill"})
    n_min = 1024 if 1024 in lengths else lengths[0]  # 1024 = 32x32: has neighborhood cases
    keep: list[AttentionSpec] = []
    seen: set[str] = set()
    for s in specs:
        kind = s.mask.to_dict()["kind"]
        if s.phase == "prefill" and (
            s.q_len != n_min or s.head_dim_qk != 64 or s.kv_heads != s.q_heads
        ):
            continue
        if s.phase == "decode" and s.kv_len != min(x.kv_len for x in specs if x.phase == "decode"):
            continue
        if (s.phase, kind) in seen:
            continue
        seen.add((s.phase, kind))  # type: ignore[arg-type]
        keep.append(s)
    return keep


def kernel_for(spec: AttentionSpec, device: str) -> str:
    """The bundled kernel that runs ``spec`` on ``device``."""
    if device == "cuda":
        return "triton-decode" if spec.phase == "decode" else "triton-flash"
    return "numba-decode" if spec.phase == "decode" else "numba-flash"


def target_for(device: str, device_name: str = "") -> str:
    """The bundled target of a measured device: ``host-cpu`` for the CPU, a GPU by name."""
    if device == "cpu":
        return "host-cpu"
    for key, target in GPU_TARGETS.items():
        if key in device_name:
            return target
    raise ValidationError(f"no bundled target matches GPU {device_name!r}; pass --hw")


def predict(spec: AttentionSpec, hw: Hardware, family: str, dtype: str) -> float:
    """Predicted seconds of one call of the kernel on ``spec``."""
    workload = Workload("validation", (Block("case", (AttentionOp("attention", dtype, spec),), 1),))
    return simulate(hw, workload, family=family, check_capacity=False).latency_s


def _dense_twin(spec: AttentionSpec) -> AttentionSpec:
    return AttentionSpec(
        spec.batch, spec.q_heads, spec.q_heads, spec.q_len, spec.kv_len,
        spec.head_dim_qk, spec.head_dim_v, spec.phase, FullMask(),
    )  # fmt: skip


def speedups(cases: Sequence[Case]) -> list[Speedup]:
    """Each sparse (or GQA) prefill case against the dense case of the same size."""
    dense = {
        (c.device, c.target, c.spec): c
        for c in cases
        if c.spec.phase == "prefill"
        and c.spec.mask == FullMask()
        and c.spec.kv_heads == c.spec.q_heads
    }
    out: list[Speedup] = []
    for c in cases:
        if c.spec.phase != "prefill" or (
            c.spec.mask == FullMask() and c.spec.kv_heads == c.spec.q_heads
        ):
            continue
        twin = dense.get((c.device, c.target, _dense_twin(c.spec)))
        if twin is None:
            continue
        out.append(
            Speedup(
                variant=c.name,
                dense=twin.name,
                measured=twin.measured_s / c.measured_s,
                predicted=twin.predicted_s / c.predicted_s,
            )
        )
    return out


def with_shape_rates(hw: Hardware, rates: ShapeRates) -> Hardware:
    """``hw`` (a CPU target) with its core's matmul and softmax rates and its sgemm call
    cost replaced by ones measured at one block shape."""
    engines = {}
    for name, engine in hw.engines.items():
        if engine.kind == "cpu_core":
            table = {c: dict(p) for c, p in engine.ops_per_cycle.items()}
            per_cycle = 1.0 / (engine.count * engine.clock_hz)  # rates are whole-machine ops/s
            table.setdefault("matmul", {})["fp32"] = rates.matmul.median * per_cycle
            table.setdefault("exp", {})["fp32"] = rates.softmax.median * per_cycle
            engine = dataclasses.replace(
                engine, ops_per_cycle=FrozenMap({c: FrozenMap(p) for c, p in table.items()})
            )
        engines[name] = engine
    calibration = dict(hw.calibration)
    calibration["blas_call_overhead"] = rates.call_s.median
    return dataclasses.replace(hw, engines=FrozenMap(engines), calibration=FrozenMap(calibration))


def block_shape(spec: AttentionSpec) -> tuple[int, int, int]:
    """(query rows, head dim, keys) of one block of the bundled CPU kernel on ``spec``."""
    if spec.phase == "decode":
        return (
            max(1, spec.q_heads // spec.kv_heads) * spec.q_len,
            spec.head_dim_qk,
            DEFAULT_DECODE_BLOCK_K,
        )
    return DEFAULT_BLOCK_Q, spec.head_dim_qk, DEFAULT_BLOCK_K


def validate_live(
    device: str = "cpu",
    *,
    quick: bool = False,
    hw: Hardware | None = None,
    threads: int | None = None,
    min_time_s: float = 0.3,
    per_case_rates: bool = False,
    progress: Callable[[str], None] | None = None,
) -> tuple[Report, list[Measurement]]:
    """Measure the suite on this machine and compare with predictions.

    With ``per_case_rates`` (CPU only) the kernel's sgemm pair, online softmax and sgemm
    call cost are timed at the case's block shape right before the case is measured, and
    the case is predicted with them: this host's speed drifts by tens of percent within
    minutes (other tenants), and micro-benchmarks taken a minute earlier can be in the
    other state. Only micro-benchmarks feed the prediction, never the case's timing.
    """
    if device not in ("cpu", "cuda"):
        raise ValidationError(f"--device: {device!r}; expected cpu or cuda")
    target = hw
    cases: list[Case] = []
    rows: list[Measurement] = []
    specs = suite(device, quick)
    # warm up: the first timed problem otherwise pays for clocks ramping and code loading
    warm = max(specs, key=lambda s: s.batch * s.q_heads * s.q_len * s.kv_len)
    measure(kernel_for(warm, device), warm, device=device, dtype="fp32" if device == "cpu" else "fp16",
            threads=threads, min_time_s=WARMUP_S, min_repeats=1)  # fmt: skip
    for spec in specs:
        kernel = kernel_for(spec, device)
        dtype = "fp32" if device == "cpu" else "fp16"
        if progress is not None:
            progress(case_name(spec))
        case_hw = None
        if per_case_rates and device == "cpu":
            base = target if target is not None else load_hardware("host-cpu")
            case_hw = with_shape_rates(base, shape_rates(*block_shape(spec), threads=threads))
        m = measure(
            kernel, spec, device=device, dtype=dtype, threads=threads, min_time_s=min_time_s
        )
        rows.append(m)
        if target is None:
            target = load_hardware(target_for(device, m.device_name))
        source = "live; rates timed at its block shape just before" if case_hw else "live"
        cases.append(_case(m, case_hw or target, source))
    report = Report(tuple(cases), tuple(speedups(cases)))
    return report, rows


def _case(m: Measurement, hw: Hardware, source: str) -> Case:
    spec = m.problem()
    assert isinstance(spec, AttentionSpec)
    family = FAMILY_OF_KERNEL[m.kernel]
    return Case(
        name=case_name(spec),
        kernel=m.kernel,
        device=m.device,
        target=hw.name,
        family=family,
        spec=spec,
        measured_s=m.median_s,
        measured_p25_s=m.p25_s,
        measured_p75_s=m.p75_s,
        predicted_s=predict(spec, hw, family, m.dtype),
        source=source,
    )


def validate_recorded(
    measurements: Sequence[tuple[str, Measurement]], hw: Hardware | None = None
) -> Report:
    """Compare recorded measurements (``(file, row)`` pairs) with predictions. Rows of
    kernels no family models (torch SDPA, GEMMs) are skipped and listed in the notes."""
    cases: list[Case] = []
    skipped: dict[str, int] = {}
    targets: dict[str, Hardware] = {}
    for path, m in measurements:
        if m.op != "attention" or m.kernel not in FAMILY_OF_KERNEL:
            skipped[m.kernel] = skipped.get(m.kernel, 0) + 1
            continue
        target = hw
        if target is None:
            name = target_for(m.device, m.device_name)
            target = targets.setdefault(name, load_hardware(name))
        cases.append(_case(m, target, f"recorded {path} ({m.device_name}, {m.date_utc})"))
    if not cases:
        raise ValidationError(
            "no attention measurements of a modelled kernel in the recorded files"
        )
    notes = tuple(
        f"skipped {n} rows of {k} (no lowering family models it)"
        for k, n in sorted(skipped.items())
    )
    return Report(tuple(cases), tuple(speedups(cases)), notes)


def report_json(report: Report) -> str:
    """The report as the JSON text ``attnsim validate --json`` prints."""
    return json.dumps(report.to_dict(), indent=2)
