"""Fit ``memory_sustained_fraction`` and ``tensor_sustained_fraction`` for a target.

* ``memory_sustained_fraction``: a 1 GiB streaming copy is simulated and the fraction is
  solved so the simulated bandwidth equals the measured fraction of the datasheet peak.
* ``tensor_sustained_fraction``: the measured GEMM shape is simulated (with the fitted
  memory fraction in place) and the fraction is solved so simulated TFLOP/s equal the
  measured ones. A GEMM measured in another precision (fp8) gives
  ``tensor_sustained_fraction_<dtype>`` the same way.

Both are solved by bisection (simulated throughput is monotone in the constant).

* ``vector_sustained_fraction_<dtype>``: a GEMM measured on the vector lanes (an SGEMM
  without TF32, ``kind: sgemm``) as a fraction of the measured part's FP32 datasheet
  peak; the measured shape is simulated and the constant solved so the simulated GEMM
  reaches that fraction of the target's vector peak.
* ``mma_sync_sustained_fraction``: a measured rate of warp-level ``mma.sync`` on a part
  whose tensor peak needs the asynchronous instructions (wgmma), as a fraction of that
  peak; the model uses it as is (the measurement is already a sustained rate).
Measurements come from ``published_microbenchmarks.yaml`` (published figures with their
source) or, for a target measured here, from ``attnsim calibrate``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml
from attnsim.hwconfigs.model import FrozenMap, Hardware
from attnsim.sim.simulate import simulate
from attnsim.workloads.ops import ElementwiseOp, GemmOp, Op
from attnsim.workloads.workload import Block, Workload

#: Bytes copied by the simulated stream benchmark (read + write = 2x this).
STREAM_BYTES = 1 << 30
#: GEMM precisions whose measurement sets ``tensor_sustained_fraction`` itself; a GEMM
#: in another precision (fp8) sets ``tensor_sustained_fraction_<dtype>``.
SIXTEEN_BIT = ("bf16", "fp16")
#: Bisection range and tolerance of a fitted fraction.
FRACTION_RANGE = (0.05, 1.0)
FRACTION_TOL = 1e-4


@dataclass(frozen=True)
class FittedConstant:
    """A fitted calibration constant with the measurement it reproduces."""

    name: str
    value: float
    source: str


def published_measurements(target: str | None = None) -> list[dict[str, Any]]:
    """The published micro-benchmark entries (all, or those of ``target``)."""
    text = (
        resources.files("attnsim.sim.calibration")
        .joinpath("published_microbenchmarks.yaml")
        .read_text()
    )
    doc = yaml.safe_load(text)
    entries: list[dict[str, Any]] = list(doc["measurements"])
    return [e for e in entries if target is None or e["target"] == target]


def _with_calibration(hw: Hardware, **constants: float) -> Hardware:
    merged = dict(hw.calibration)
    merged.update(constants)
    return dataclasses.replace(hw, calibration=FrozenMap(merged))


def _one_op(op: Op) -> Workload:
    return Workload(name=op.name, blocks=(Block("bench", (op,), 1),))


def simulated_stream_fraction(hw: Hardware) -> float:
    """Simulated bandwidth of a 1 GiB copy as a fraction of the DRAM datasheet peak."""
    numel = STREAM_BYTES // 4
    op = ElementwiseOp(
        "stream-copy", "fp32", numel=numel, n_inputs=1, flops_per_element=0.0, function="copy"
    )
    result = simulate(hw, _one_op(op), check_capacity=False)
    dram = hw.memory[-1]
    return 2.0 * STREAM_BYTES / result.latency_s / dram.bandwidth_bytes_per_s


def simulated_gemm_flops(hw: Hardware, m: int, n: int, k: int, dtype: str) -> float:
    """Simulated useful FLOP/s of one GEMM (A activations, B weights)."""
    op = GemmOp("gemm", dtype, m=m, n=n, k=k, batch=1, weight_operand="b")
    result = simulate(hw, _one_op(op), check_capacity=False)
    return op.flops() / result.latency_s


def _bisect(f: Callable[[float], float], target: float) -> float:
    lo, hi = FRACTION_RANGE
    if f(hi) < target:
        return hi
    if f(lo) > target:
        return lo
    while hi - lo > FRACTION_TOL:
        mid = 0.5 * (lo + hi)
        if f(mid) < target:
            lo = mid
        else:
            hi = mid
    return round(0.5 * (lo + hi), 4)


def fit_memory_fraction(hw: Hardware, measured_fraction: float) -> float:
    """``memory_sustained_fraction`` that makes the simulated stream hit ``measured_fraction``."""
    return _bisect(
        lambda x: simulated_stream_fraction(_with_calibration(hw, memory_sustained_fraction=x)),
        measured_fraction,
    )


def fit_tensor_fraction(
    hw: Hardware,
    m: int,
    n: int,
    k: int,
    dtype: str,
    measured_flops: float,
    name: str = "tensor_sustained_fraction",
) -> float:
    """The constant ``name`` that makes the simulated GEMM reach ``measured_flops``."""
    return _bisect(
        lambda x: simulated_gemm_flops(_with_calibration(hw, **{name: x}), m, n, k, dtype),
        measured_flops,
    )


def fit_vector_fraction(
    hw: Hardware, m: int, n: int, k: int, dtype: str, measured_fraction: float
) -> float:
    """``vector_sustained_fraction_<dtype>`` that makes the simulated CUDA-core GEMM reach
    ``measured_fraction`` of the target's vector peak in ``dtype``."""
    peak = hw.peak("vector", dtype)
    name = f"vector_sustained_fraction_{dtype}"
    return _bisect(
        lambda x: simulated_gemm_flops(_with_calibration(hw, **{name: x}), m, n, k, dtype) / peak,
        measured_fraction,
    )


def _held_at_peak(
    value: float, hw: Hardware, shape: tuple[int, int, int, str], measured_flops: float
) -> str:
    """A note for a fraction held at 1 because the measurement beats the datasheet peak.

    A sustained fraction above 1 would let an engine run above its peak (a physics
    invariant), so the search stops at 1; a faster measurement means the part ran above
    its rated clock (GPU Boost), which the note states instead of hiding it in the fraction.
    """
    if value < FRACTION_RANGE[1]:
        return ""
    at_peak = simulated_gemm_flops(hw, *shape)
    if at_peak >= measured_flops:
        return ""
    return (
        f" (held at 1: the measurement is {measured_flops / at_peak:.3f}x the simulated rate at "
        "the datasheet peak, so the part ran above its rated clock; a fraction above 1 would "
        "run the engine above its peak)"
    )


def fit_target(
    hw: Hardware, measurements: list[dict[str, Any]] | None = None
) -> list[FittedConstant]:
    """Fitted constants for ``hw`` from its measurements (published ones by default):
    the memory fraction first (the GEMM fit runs with it in place), then the tensor one."""
    entries = published_measurements(hw.name) if measurements is None else measurements
    fitted: list[FittedConstant] = []
    base = _with_calibration(hw, memory_sustained_fraction=1.0, tensor_sustained_fraction=1.0)
    for e in (e for e in entries if e["kind"] == "stream"):
        measured = float(e["value"])
        value = fit_memory_fraction(base, measured)
        base = _with_calibration(base, memory_sustained_fraction=value)
        fitted.append(
            FittedConstant(
                "memory_sustained_fraction",
                value,
                f"fitted by `attnsim fit-constants {hw.name}` to a stream at {measured:.3f} of peak: {e['source']}",
            )
        )
    for e in (e for e in entries if e["kind"] == "mma_sync"):
        fitted.append(
            FittedConstant(
                "mma_sync_sustained_fraction",
                round(float(e["value"]), 4),
                f"fitted by `attnsim fit-constants {hw.name}` to mma.sync at {e['value']} of "
                f"the tensor peak: {e['source']}",
            )
        )
    for e in (e for e in entries if e["kind"] == "sgemm"):
        m, n, k, dtype = int(e["m"]), int(e["n"]), int(e["k"]), str(e["dtype"])
        value = fit_vector_fraction(base, m, n, k, dtype, float(e["value"]))
        name = f"vector_sustained_fraction_{dtype}"
        base = _with_calibration(base, **{name: value})
        fitted.append(
            FittedConstant(
                name,
                value,
                f"fitted by `attnsim fit-constants {hw.name}` to a {m}x{n}x{k} {dtype} GEMM on "
                f"the vector lanes at {e['value']} of the FP32 peak: {e['source']}",
            )
        )
    gemms = [e for e in entries if e["kind"] == "gemm"]
    # the 16-bit GEMM first: other precisions' constants are fitted with it in place
    gemms.sort(key=lambda e: str(e["dtype"]) not in SIXTEEN_BIT)
    for e in gemms:
        m, n, k, dtype = int(e["m"]), int(e["n"]), int(e["k"]), str(e["dtype"])
        name = (
            "tensor_sustained_fraction"
            if dtype in SIXTEEN_BIT
            else f"tensor_sustained_fraction_{dtype}"
        )
        measured = float(e["value"]) * 1e12
        value = fit_tensor_fraction(base, m, n, k, dtype, measured, name)
        base = _with_calibration(base, **{name: value})
        fitted.append(
            FittedConstant(
                name,
                value,
                f"fitted by `attnsim fit-constants {hw.name}` to a {m}x{n}x{k} {dtype} GEMM at "
                f"{e['value']} TFLOP/s{_held_at_peak(value, base, (m, n, k, dtype), measured)}: "
                f"{e['source']}",
            )
        )
    return fitted
