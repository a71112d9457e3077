"""Validation: predictions held against real timings of the bundled kernels.

Each case is one attention problem of the documented suite, measured (live, or read
from a recorded measurement CSV) and simulated on the matching target with the kernel
family that models that kernel (``numba-flash-cpu`` for the numba kernels,
``triton-bundled`` for the Triton ones). The summary gives the error of absolute times
and — what no tool in this field checks — of predicted *speedups* of each sparse variant
over dense attention on the same problem. Nothing here fits anything: the target's
constants come from ``attnsim calibrate`` / ``attnsim fit-constants``
(micro-benchmarks), never from these timings.

Live on the CPU, the target is this machine's own ``host-cpu`` (measured on first use,
:mod:`attnsim.hosttarget`) at the thread count of the run
(:func:`attnsim.hosttarget.with_threads`), and the suite is timed the way a noisy host
needs (:func:`attnsim.kernels.measure.measure_interleaved`): interleaved rounds of short
bursts, statistics over the calls the scheduler did not delay. A case whose timing is
still not the kernel's (too few clean calls, or two clusters of them) is *unreliable*:
it is listed, marked, and left out of every median. The notes say how far the machine's
speed moved from its calibration during the run.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from attnsim.calibration import disturbed_values
from attnsim.errors import ProblemsError
from attnsim.hosttarget import HOST_TARGET, host_target, with_threads
from attnsim.hwconfigs import Hardware, hardware_from_dict, load_hardware
from attnsim.kernels.cpu.flash import DEFAULT_BLOCK_K, DEFAULT_BLOCK_Q, DEFAULT_DECODE_BLOCK_K
from attnsim.kernels.measure import Measurement, measure, measure_interleaved
from attnsim.kernels.microbench import ShapeTiming, Stat, check_threads, shape_timing
from attnsim.kernels.problems import validation_problems
from attnsim.kernels.timing import scheduler_observable
from attnsim.sim import simulate
from attnsim.sim.lowering.attention_cpu import BlockTable, block_constant
from attnsim.workloads import AttentionOp, AttentionSpec, Block, FullMask, Workload

#: Kernel family that models each bundled kernel.
FAMILY_OF_KERNEL = {
    "numba-flash": "numba-flash-cpu",
    "numba-decode": "numba-flash-cpu",
    "triton-flash": "triton-bundled",
    "triton-decode": "triton-bundled",
}

#: Seconds of untimed kernel calls before the first measured case (GPU).
WARMUP_S = 1.0
#: Interleaved rounds of the live CPU suite: three, so that a case keeps a median when
#: one round is disturbed, and alternate rounds reversed cancel a linear drift.
ROUNDS = 3
#: Each case's burst per round: at least this many seconds and :data:`MIN_CALLS` calls.
BURST_S = 0.1
MIN_CALLS = 2
#: The block the drift probe times before and after the run (the kernel's prefill block).
PROBE_SHAPE = (DEFAULT_BLOCK_Q, 64, DEFAULT_BLOCK_K)

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
    """One problem: measured and predicted seconds per call.

    ``unreliable`` is ``""`` when the measurement is the kernel's time, else why not (a
    preempted or bimodal run, building blocks timed while preempted); such a case is
    shown but never counted in a median.
    """

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
    unreliable: str = ""

    @property
    def reliable(self) -> bool:
        """Whether the case counts in the summary."""
        return not self.unreliable

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
    unreliable: str = ""

    @property
    def reliable(self) -> bool:
        """Whether both cases of the pair are reliable."""
        return not self.unreliable

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
        """Median and 90th percentile of |relative error| over the reliable cases and
        speedups; how many were left out as unreliable."""
        abs_err = [abs(c.rel_error) for c in self.cases if c.reliable]
        sp_err = [abs(s.rel_error) for s in self.speedups if s.reliable]
        return {
            "cases": len(self.cases),
            "cases_counted": len(abs_err),
            "unreliable_cases": len(self.cases) - len(abs_err),
            "median_abs_rel_error": _median(abs_err),
            "p90_abs_rel_error": _quantile(abs_err, 0.9),
            "speedups_counted": len(sp_err),
            "speedups_median_abs_rel_error": _median(sp_err),
            "speedups_p90_abs_rel_error": _quantile(sp_err, 0.9),
            "speedups": [
                {
                    "variant": s.variant,
                    "dense": s.dense,
                    "measured_speedup": float(s.measured),
                    "predicted_speedup": float(s.predicted),
                    "rel_error": float(s.rel_error),
                    "reliable": s.reliable,
                    "unreliable": s.unreliable,
                }
                for s in self.speedups
            ],
        }

    def to_dict(self) -> dict[str, Any]:
        """The ``attnsim validate --json`` document (plain Python numbers only)."""
        return {
            "format": "attnsim-validation",
            "version": 2,
            "cases": [
                {
                    "name": c.name,
                    "kernel": c.kernel,
                    "device": c.device,
                    "target": c.target,
                    "family": c.family,
                    "measured_s": float(c.measured_s),
                    "measured_p25_s": float(c.measured_p25_s),
                    "measured_p75_s": float(c.measured_p75_s),
                    "predicted_s": float(c.predicted_s),
                    "rel_error": float(c.rel_error),
                    "reliable": c.reliable,
                    "unreliable": c.unreliable,
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
    seen: set[tuple[str, str]] = set()
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
        seen.add((s.phase, kind))
        keep.append(s)
    return keep


def kernel_for(spec: AttentionSpec, device: str) -> str:
    """The bundled kernel that runs ``spec`` on ``device``."""
    if device == "cuda":
        return "triton-decode" if spec.phase == "decode" else "triton-flash"
    return "numba-decode" if spec.phase == "decode" else "numba-flash"


def target_for(device: str, device_name: str = "") -> str:
    """The target of a measured device: ``host-cpu`` (this machine's own) for the CPU, a
    bundled GPU target by name."""
    if device == "cpu":
        return HOST_TARGET
    for key, target in GPU_TARGETS.items():
        if key in device_name:
            return target
    raise ValidationError(f"no bundled target matches GPU {device_name!r}; pass --hw")


def predict(spec: AttentionSpec, hw: Hardware, family: str, dtype: str) -> float:
    """Predicted seconds of one call of the kernel on ``spec``."""
    workload = Workload("validation", (Block("case", (AttentionOp("attention", dtype, spec),), 1),))
    return float(simulate(hw, workload, family=family, check_capacity=False).latency_s)


def _dense_twin(spec: AttentionSpec) -> AttentionSpec:
    return AttentionSpec(
        spec.batch, spec.q_heads, spec.q_heads, spec.q_len, spec.kv_len,
        spec.head_dim_qk, spec.head_dim_v, spec.phase, FullMask(),
    )  # fmt: skip


def speedups(cases: Sequence[Case]) -> list[Speedup]:
    """Each sparse (or GQA) prefill case against the dense case of the same size; a pair
    with an unreliable case is unreliable."""
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
        why = "; ".join(
            f"{which} {x.unreliable}"
            for which, x in (("variant", c), ("dense", twin))
            if not x.reliable
        )
        out.append(
            Speedup(
                variant=c.name,
                dense=twin.name,
                measured=twin.measured_s / c.measured_s,
                predicted=twin.predicted_s / c.predicted_s,
                unreliable=why,
            )
        )
    return out


def block_shape(spec: AttentionSpec) -> tuple[int, int, int]:
    """(query rows, head dim, keys) of one block of the bundled CPU kernel on ``spec``."""
    if spec.phase == "decode":
        return (
            max(1, spec.q_heads // spec.kv_heads) * spec.q_len,
            spec.head_dim_qk,
            DEFAULT_DECODE_BLOCK_K,
        )
    return DEFAULT_BLOCK_Q, spec.head_dim_qk, DEFAULT_BLOCK_K


def with_block_timing(hw: Hardware, timing: ShapeTiming, source: str) -> Hardware:
    """``hw`` with the block constants of ``timing``'s shape and thread count replaced by
    ``timing``'s (through the loader, like a file)."""
    doc = hw.to_dict()
    constants = doc.setdefault("calibration", {})
    for kind, stat in (("pair", timing.pair), ("softmax", timing.softmax)):
        name = block_constant(kind, timing.rows, timing.d, timing.bk, timing.threads)
        constants[name] = {"value": f"{stat.median:.6g} s", "source": source}
    return hardware_from_dict(doc, f"{hw.name} with per-case block timings")


def _merge(timings: Sequence[ShapeTiming]) -> ShapeTiming:
    """One timing of a shape from several (the median over them of each median)."""

    def med(stats: list[Stat]) -> Stat:
        clean = [s for s in stats if not s.disturbed] or stats
        return Stat.of(
            [s.median for s in clean],
            stats[0].unit,
            preempted=sum(s.preempted for s in stats),
            disturbed=all(s.disturbed for s in stats),
        )

    first = timings[0]
    return ShapeTiming(
        first.rows,
        first.d,
        first.bk,
        first.threads,
        med([t.pair for t in timings]),
        med([t.softmax for t in timings]),
    )


def _disturbed_blocks(hw: Hardware, spec: AttentionSpec, threads: int) -> str:
    """Why the prediction of ``spec`` is unreliable because values it uses were timed
    while preempted (``DISTURBED`` in the target's sources; ``""`` when none was): the
    block timings of its shape at ``threads``, and every value all cases use (memory
    bandwidths and latencies, the mask loop, the call and launch costs)."""
    disturbed = disturbed_values(hw)
    if not disturbed:
        return ""
    shape = block_shape(spec)
    mine = {f"calibration.{block_constant(k, *shape, threads)}" for k in ("pair", "softmax")}
    hits = [
        path
        for path in disturbed
        if path in mine
        or path.startswith(("memory.", "calibration.core_bandwidth", "calibration.launch"))
        or path in ("calibration.blas_call_overhead",)
        or ".ops_per_cycle.vector." in path
    ]
    if not hits:
        return ""
    shown = ", ".join(p.replace("calibration.", "") for p in hits[:3])
    more = f" and {len(hits) - 3} more" if len(hits) > 3 else ""
    return (
        f"its prediction uses values the target timed while preempted (DISTURBED: {shown}"
        f"{more}): run attnsim calibrate on a quieter machine"
    )


def _drift_note(hw: Hardware, before: ShapeTiming, after: ShapeTiming) -> str | None:
    """How the machine's speed during the run compares with the target's calibration."""
    table = BlockTable(hw.calibration)
    calibrated = table.seconds("pair", PROBE_SHAPE, before.threads)
    shape = "x".join(map(str, PROBE_SHAPE))
    b, a = before.pair.median, after.pair.median
    text = (
        f"drift probe: the {shape} sgemm pair took {b * 1e6:.3g} us before the run and "
        f"{a * 1e6:.3g} us after"
    )
    if calibrated is None:
        return text + f" ({hw.name} has no timing of it)"
    return (
        text + f" ({(b / calibrated - 1):+.0%} / {(a / calibrated - 1):+.0%} against "
        f"{calibrated * 1e6:.3g} us in {hw.name}; a large difference means the machine runs at "
        "another speed than when it was calibrated: refresh with `attnsim calibrate`, or "
        "use --calibrate)"
    )


def validate_live(
    device: str = "cpu",
    *,
    quick: bool = False,
    hw: Hardware | None = None,
    threads: int | None = None,
    min_time_s: float = 0.3,
    per_case_rates: bool = False,
    progress: Callable[[str], None] | None = None,
    on_step: Callable[[int, int, str], None] | None = None,
    announce: Callable[[str], None] | None = None,
    rounds: int = ROUNDS,
) -> tuple[Report, list[Measurement]]:
    """Measure the suite on this machine and compare with predictions.

    On the CPU the target is ``hw`` or this machine's ``host-cpu`` (measured first if
    there is none; ``announce`` gets the one line that says so), taken at ``threads``
    cores; the suite is timed in ``rounds`` interleaved rounds (see the module
    docstring). With ``per_case_rates`` the kernel's sgemm pair and online softmax are
    timed at each case's block shape right before each of its bursts, and the case is
    predicted with the median of those: this host's speed drifts by tens of percent
    within minutes, and micro-benchmarks taken a minute earlier can be in the other
    state. Only micro-benchmarks feed a prediction, never the case's timing.

    ``progress`` gets a line per step, ``on_step(done, total, label)`` the same for a
    progress bar.
    """
    if device not in ("cpu", "cuda"):
        raise ValidationError(f"--device: {device!r}; expected cpu or cuda")
    if device == "cuda":
        return _validate_live_gpu(quick=quick, hw=hw, min_time_s=min_time_s, progress=progress)
    n = check_threads(threads)
    specs = suite(device, quick)

    def step(done: int, total: int, label: str) -> None:
        if progress is not None:
            progress(label)
        if on_step is not None:
            on_step(done, total, label)

    base = hw if hw is not None else host_target(announce=announce)
    target = with_threads(base, n)
    before = shape_timing(*PROBE_SHAPE, threads=n)
    timings: dict[int, list[ShapeTiming]] = {}

    def time_blocks(_round: int, index: int) -> None:
        timings.setdefault(index, []).append(shape_timing(*block_shape(specs[index]), threads=n))

    rows = measure_interleaved(
        [(kernel_for(s, device), s) for s in specs],
        threads=n,
        rounds=rounds,
        burst_s=BURST_S,
        min_calls=MIN_CALLS,
        before_burst=time_blocks if per_case_rates else None,
        progress=step,
    )
    after = shape_timing(*PROBE_SHAPE, threads=n)
    cases = []
    for i, m in enumerate(rows):
        case_hw, source, why = target, "live", m.unreliable
        if per_case_rates:
            merged = _merge(timings[i])
            case_hw = with_block_timing(
                target, merged, "timed at the case's block shape just before each of its bursts"
            )
            source = "live; building blocks timed at its block shape just before"
            if merged.disturbed and not why:
                why = "its building blocks were timed while preempted"
        why = why or _disturbed_blocks(case_hw, specs[i], n)
        cases.append(_case(m, case_hw, source, why))
    notes = [_drift_note(target, before, after)]
    if not scheduler_observable():
        notes.append(
            "scheduler delay is not observable on this system (/proc/self/task/*/schedstat): "
            "preempted calls could not be left out"
        )
    unreliable = sum(not c.reliable for c in cases)
    if unreliable:
        notes.append(
            f"{unreliable} of {len(cases)} cases unreliable (left out of the medians): "
            "another process held the cores; see each case's reason"
        )
    report = Report(tuple(cases), tuple(speedups(cases)), tuple(x for x in notes if x))
    return report, rows


def _validate_live_gpu(
    *,
    quick: bool,
    hw: Hardware | None,
    min_time_s: float,
    progress: Callable[[str], None] | None,
) -> tuple[Report, list[Measurement]]:
    """Live validation on a CUDA GPU: one measurement per case, in suite order."""
    specs = suite("cuda", quick)
    warm = max(specs, key=lambda s: s.batch * s.q_heads * s.q_len * s.kv_len)
    measure(kernel_for(warm, "cuda"), warm, device="cuda", dtype="fp16",
            min_time_s=WARMUP_S, min_repeats=1)  # fmt: skip
    target = hw
    cases: list[Case] = []
    rows: list[Measurement] = []
    for spec in specs:
        if progress is not None:
            progress(case_name(spec))
        m = measure(kernel_for(spec, "cuda"), spec, device="cuda", dtype="fp16",
                    min_time_s=min_time_s)  # fmt: skip
        rows.append(m)
        if target is None:
            target = load_hardware(target_for("cuda", m.device_name))
        cases.append(_case(m, target, "live", m.unreliable))
    return Report(tuple(cases), tuple(speedups(cases))), rows


def _case(m: Measurement, hw: Hardware, source: str, unreliable: str = "") -> Case:
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
        measured_s=float(m.median_s),
        measured_p25_s=float(m.p25_s),
        measured_p75_s=float(m.p75_s),
        predicted_s=predict(spec, hw, family, m.dtype),
        source=source,
        unreliable=unreliable,
    )


def validate_recorded(
    measurements: Sequence[tuple[str, Measurement]],
    hw: Hardware | None = None,
    announce: Callable[[str], None] | None = None,
) -> Report:
    """Compare recorded measurements (``(file, row)`` pairs) with predictions. Rows of
    kernels no family models (torch SDPA, GEMMs) are skipped and listed in the notes.

    CPU rows are predicted on ``hw`` or this machine's ``host-cpu``, each at the thread
    count it was recorded with; a row recorded as unreliable stays so."""
    cases: list[Case] = []
    skipped: dict[str, int] = {}
    targets: dict[tuple[str, int], Hardware] = {}
    for path, m in measurements:
        if m.op != "attention" or m.kernel not in FAMILY_OF_KERNEL:
            skipped[m.kernel] = skipped.get(m.kernel, 0) + 1
            continue
        key = (target_for(m.device, m.device_name) if hw is None else hw.name, m.threads)
        if key not in targets:
            if hw is not None:
                base = hw
            elif m.device == "cpu":
                base = host_target(announce=announce)
            else:
                base = load_hardware(key[0])
            targets[key] = with_threads(base, m.threads) if m.threads > 0 else base
        source = f"recorded {path} ({m.device_name}, {m.date_utc})"
        spec = m.problem()
        why = m.unreliable
        if not why and m.device == "cpu" and isinstance(spec, AttentionSpec):
            why = _disturbed_blocks(targets[key], spec, max(1, m.threads))
        cases.append(_case(m, targets[key], source, why))
    if not cases:
        raise ValidationError(
            "no attention measurements of a modelled kernel in the recorded files"
        )
    notes = [
        f"skipped {n} rows of {k} (no lowering family models it)"
        for k, n in sorted(skipped.items())
    ]
    if hw is None and any(c.device == "cpu" for c in cases):
        notes.append(
            "CPU rows are predicted on this machine's host-cpu target: their absolute times "
            "compare only if they were recorded on this machine (speedups compare anywhere)"
        )
    return Report(tuple(cases), tuple(speedups(cases)), tuple(notes))


def report_json(report: Report) -> str:
    """The report as the JSON text ``attnsim validate --json`` prints."""
    return json.dumps(report.to_dict(), indent=2)
