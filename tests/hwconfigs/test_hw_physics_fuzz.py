"""Property: every target the loader accepts is one the simulator can use.

Thousands of mutated bundled targets (extreme numbers, swapped units, garbage, deleted
keys, unknown calibration constants) go through the loader: each either raises
HardwareConfigError with well-formed lines, or loads into a target whose peaks,
bandwidths, area and power are finite (peaks, bandwidths and area positive), and a tiny
GEMM simulates on it to a finite, positive time and a finite energy (or the simulator
refuses it with its own one-line error). No traceback, no hang.
"""

from __future__ import annotations

import math
import random
import re
from typing import Any

import pytest
from attnsim.hwconfigs import Hardware, HardwareConfigError, hardware_from_dict, load_hardware
from attnsim.hwconfigs import list_targets as bundled
from attnsim.sim import simulate
from attnsim.workloads import PRECISIONS, Block, GemmOp, Workload
from hypothesis import given, settings
from hypothesis import strategies as st

from attnsim.errors import ProblemsError

_LINE = re.compile(r"^.+: \S.*: .+; .+$")
_SEEDS = {name: load_hardware(name).to_dict() for name in bundled()}

#: Numbers that broke targets before bounds existed, and their neighbours.
_EXTREMES = [0, -1, -0.0, 5e-324, 1e-300, 1e-15, 1e-6, 0.05, 0.5, 1, 1.5, 2, 1e6, 1e9]
_EXTREMES += [2**20, 2**20 + 1, 1e15, 1e24, 1e25, 1e300, 2**70, math.inf, math.nan]
_UNITS = ["", "B", "B/s", "kB/s", "PB/s", "Hz", "MHz", "GHz", "s", "us", "ns", "pJ", "uJ"]
_UNITS += ["pJ/B", "W", "MW", "mW", "mm2", "TOPS", "OP/s", "mm2/MiB", "mW/MiB", "furlongs"]

_GARBAGE = [None, True, "", "fast", "5 furlongs", "1e999 B", [1], {"x": 1}, math.nan, "nan W"]


def _leaves(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], Any]]:
    """(path, value) of every ``{value, source}`` leaf below ``node``."""
    out = []
    for key, value in node.items():
        if isinstance(value, dict) and "value" in value:
            out.append(((*prefix, key), value["value"]))
        elif isinstance(value, dict):
            out.extend(_leaves(value, (*prefix, key)))
    return out


def _set(doc: dict[str, Any], path: tuple[Any, ...], value: Any, *, delete: bool = False) -> dict:
    """A copy of ``doc`` (mappings on ``path`` copied) with ``path`` set or deleted."""
    out = node = dict(doc)
    for key in path[:-1]:
        node[key] = node = dict(node[key])
    if delete:
        node.pop(path[-1], None)
    else:
        node[path[-1]] = value
    return out


def _number(rng: random.Random) -> Any:
    return rng.choice(_EXTREMES) if rng.random() < 0.8 else rng.uniform(-1e3, 1e3)


def _float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def mutate(doc: dict[str, Any], rng: random.Random) -> tuple[dict[str, Any], list[str]]:
    """1-3 random mutations of ``doc`` and their description."""
    done = []
    for _ in range(rng.randint(1, 3)):
        leaves = _leaves(doc)
        path, old = rng.choice(leaves)
        roll = rng.random()
        unit = old.partition(" ")[2] if isinstance(old, str) else ""
        number = _float(old.partition(" ")[0]) if isinstance(old, str) else old
        if roll < 0.3:  # an extreme number in the same unit
            new: Any = f"{_number(rng)!r} {unit}".strip() if unit else _number(rng)
        elif roll < 0.55 and isinstance(number, int | float):  # scaled, often still in bounds
            scaled = number * rng.choice([0, 1e-9, 1e-3, 0.5, 2, 1e3, 1e9])
            new = f"{scaled!r} {unit}".strip() if unit else scaled
        elif roll < 0.65:  # the same number in another unit
            new = (
                f"{old if not isinstance(old, str) else old.partition(' ')[0]} {rng.choice(_UNITS)}"
            )
        elif roll < 0.75:
            new = rng.choice(_GARBAGE)
        elif roll < 0.85:
            doc = _set(doc, path[: rng.randint(1, len(path))], None, delete=True)
            done.append(f"delete {'.'.join(map(str, path))}")
            continue
        else:
            name = rng.choice(["launch_overhead", "tensor_sustained_fraction", "blas_call", "x"])
            path = ("calibration", name)
            doc = {**doc, "calibration": dict(doc.get("calibration", {}))}
            new = rng.choice([_number(rng), f"{_number(rng)!r} {rng.choice(_UNITS)}"])
        doc = _set(doc, path, {"value": new, "source": "fuzz"})
        done.append(f"{'.'.join(map(str, path))} = {new!r}")
    return doc, done


def _finite(x: float | None, *, positive: bool) -> bool:
    return x is not None and math.isfinite(x) and (x > 0 if positive else x >= 0)


def _check_physics(hw: Hardware) -> None:
    for engine in hw.engines.values():
        for op, precs in engine.throughput.items():
            for prec in precs:
                assert _finite(hw.peak(op, prec), positive=True), (op, prec)
    for level in hw.memory:
        assert _finite(level.bandwidth_bytes_per_s, positive=True), level
        assert _finite(level.capacity_bytes, positive=True), level
        assert _finite(level.latency_s, positive=False), level
    if hw.area_mm2 is not None:
        assert _finite(hw.area_mm2, positive=True)
    assert _finite(hw.static_power_w, positive=False)
    for value in hw.calibration.values():
        assert math.isfinite(value) and value >= 0
    if max(hw.units.values()) > 10_000:
        return  # the simulator's cost grows with the unit count (0.7 s at 1e5 units)
    matmul = [p for e in hw.engines.values() for p in e.precisions("matmul") if p in PRECISIONS]
    gemm = GemmOp("g", matmul[0] if matmul else "fp32", m=64, n=64, k=64)
    try:
        result = simulate(hw, Workload(name="tiny", blocks=(Block("b", (gemm,), 1),)))
    except ProblemsError as exc:  # the simulator may refuse, in its own words
        assert exc.problems
        return
    assert _finite(result.latency_s, positive=True)
    assert _finite(result.energy.total_j, positive=False)
    assert _finite(result.power_w, positive=False)


@pytest.mark.slow
@pytest.mark.filterwarnings("error::RuntimeWarning")  # an overflow is a failure too
@settings(max_examples=120, deadline=None, derandomize=True)
@given(st.sampled_from(sorted(_SEEDS)), st.randoms(use_true_random=False))
def test_every_accepted_mutation_simulates_to_finite_numbers(name: str, rng: random.Random) -> None:
    # each example drives a batch of 25 mutants (3000 per run), so the campaign is large
    # while hypothesis's own overhead stays small
    for _ in range(25):
        doc, mutations = mutate(_SEEDS[name], rng)
        try:
            hw = hardware_from_dict(doc, "fuzz.yaml")
        except HardwareConfigError as exc:
            assert exc.problems
            for line in exc.problems:
                assert _LINE.match(line), (mutations, line)
            continue
        try:
            _check_physics(hw)
        except AssertionError as exc:
            raise AssertionError(f"{name} with {mutations}: {exc}") from None


@pytest.mark.filterwarnings("error::RuntimeWarning")
@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    st.dictionaries(
        st.sampled_from(
            [
                "units.sm.count",
                "engines.tensor.clock",
                "engines.tensor.throughput.matmul.fp16",
                "memory.hbm.bandwidth",
                "memory.l2.capacity",
                "memory.smem.latency",
                "energy.static_power",
                "calibration.launch_overhead",
                "calibration.memory_sustained_fraction",
            ]
        ),
        st.one_of(
            st.sampled_from(_EXTREMES + _GARBAGE),
            st.builds(
                lambda n, u: f"{n!r} {u}", st.sampled_from(_EXTREMES), st.sampled_from(_UNITS)
            ),
        ),
        min_size=1,
        max_size=3,
    )
)
def test_every_accepted_override_simulates_to_finite_numbers(overrides: dict[str, Any]) -> None:
    try:
        hw = load_hardware("h100-sxm5-80gb", overrides)
    except HardwareConfigError as exc:
        for line in exc.problems:
            assert _LINE.match(line), line
        return
    _check_physics(hw)
