"""Physical bounds: every number a target accepts is one the simulator can use."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from attnsim.hwconfigs import HardwareConfigError, load_hardware
from attnsim.hwconfigs.registry import CALIBRATION_CONSTANTS, register_calibration_constant
from attnsim.hwconfigs.schema import BOUNDS, COUNTS
from attnsim.hwconfigs.units import Bounds, parse_quantity
from attnsim.sim.calibration.fit import fit_target

from attnsim.registry import DuplicateRegistrationError

ALL_BOUNDS = {**BOUNDS, **{f"calibration.{k}": v for k, v in CALIBRATION_CONSTANTS.items()}}


@pytest.mark.parametrize("name", sorted(ALL_BOUNDS))
def test_every_bound_is_ordered_and_has_a_reason(name: str) -> None:
    bounds = ALL_BOUNDS[name]
    low, high = bounds.limits
    assert low < high
    assert bounds.reason and ";" not in bounds.reason  # one line, inside "what; expected"
    assert parse_quantity(bounds.high, bounds.dimension) == high


def test_counts_have_reasons() -> None:
    for low, high, reason in COUNTS.values():
        assert 1 <= low < high and reason and ";" not in reason


# (key path in the fixture, value, the problem line it must give)
CASES: list[tuple[str, Any, str]] = [
    (
        "memory.dram.bandwidth",
        "1e-300 B/s",
        r"memory\.dram\.bandwidth: '1e-300 B/s' is below 1 kB/s; expected a bandwidth such as "
        r"'3\.35 TB/s' from 1 kB/s to 1 PB/s \(.+\)$",
    ),
    ("memory.dram.bandwidth", "2 PB/s", r"'2 PB/s' is above 1 PB/s; expected a bandwidth"),
    (
        "engines.mac.count",
        10**9,
        r"engines\.mac\.count: 1000000000 is out of range; expected a whole number of instances from 1 to 1048576 \(.+\)$",
    ),
    ("engines.mac.clock", "100 GHz", r"engines\.mac\.clock: '100 GHz' is above 20 GHz"),
    ("engines.mac.clock", "1 kHz", r"engines\.mac\.clock: '1 kHz' is below 1 MHz"),
    ("memory.dram.latency", "2 s", r"memory\.dram\.latency: '2 s' is above 1 s"),
    ("memory.dram.capacity", "2 PiB", r"memory\.dram\.capacity: '2 PiB' is above 1 PiB"),
    ("memory.dram.read_energy", "2 uJ/B", r"memory\.dram\.read_energy: '2 uJ/B' is above 1 uJ/B"),
    ("energy.per_op.matmul.fp16", "5 uJ", r"energy\.per_op\.matmul\.fp16: '5 uJ' is above 1 uJ"),
    ("energy.static_power", "2 MW", r"energy\.static_power: '2 MW' is above 1 MW"),
    ("energy.tdp", "0 W", r"energy\.tdp: '0 W' is not positive; expected a power"),
    (
        "engines.mac.area",
        "1e-9 mm2",
        r"engines\.mac\.area: '1e-09 mm2' is below 1e-6 mm2|'1e-9 mm2' is below",
    ),
    (
        "engines.mac.ops_per_cycle",
        {"matmul": {"fp16": 1e9}},
        r"ops_per_cycle\.matmul\.fp16: 1000000000\.0 is above 1e7; expected a number of ops per cycle of one unit such as 4096",
    ),
    (
        "engines.mac.ops_per_cycle",
        {"matmul": {"fp16": 5e-324}},
        r"ops_per_cycle\.matmul\.fp16: 5e-324 is below 1e-6",
    ),
    (
        "memory.buf.ports",
        0,
        r"memory\.buf\.ports: 0 is out of range; expected a whole number of ports from 1 to 1024",
    ),
    (
        "memory.buf.area_density",
        "1 mm2/B",
        r"memory\.buf\.area_density: '1 mm2/B' is above 1e-3 mm2/B",
    ),
    (
        "calibration",
        {"tensor_sustained_fraction": 0},
        r"calibration\.tensor_sustained_fraction: 0 is not positive; expected a plain number such as 0\.85 greater than zero, from 0\.05 to 1 ",
    ),
    (
        "calibration",
        {"tensor_sustained_fraction": 5e-324},
        r"tensor_sustained_fraction: 5e-324 is below 0\.05",
    ),
    (
        "calibration",
        {"tensor_sustained_fraction": 1.09},
        r"tensor_sustained_fraction: 1\.09 is above 1;",
    ),
    (
        "calibration",
        {"memory_sustained_fraction": "0.4 pJ"},
        r"memory_sustained_fraction: '0\.4 pJ' has units of energy; expected a plain number such as 0\.85",
    ),
    (
        "calibration",
        {"launch_overhead": 5e-6},
        r"calibration\.launch_overhead: 5e-06 has no unit; expected a time such as '2 us'",
    ),
    (
        "calibration",
        {"launch_overhead": "3 GHz"},
        r"launch_overhead: '3 GHz' has units of frequency; expected a time",
    ),
    (
        "calibration",
        {"launch_overhed": "3 us"},
        r"calibration\.launch_overhed: unknown calibration constant 'launch_overhed'; expected one of: launch_overhead, .* \(did you mean 'launch_overhead'\?\)",
    ),
    (
        "calibration",
        {"core_bandwidth_l3": "3 GHz"},
        r"calibration\.core_bandwidth_l3: '3 GHz' has units of frequency; expected a bandwidth",
    ),
    (
        "calibration",
        {"block_pair_r64_dx_k64_t1": "3 us"},
        r"unknown calibration constant 'block_pair_r64_dx_k64_t1'; expected one of: .*block_pair_r<rows>_d<dim>_k<keys>_t<threads>",
    ),
    (
        "calibration",
        {"block_softmax_r64_d32_k64_t1": "2 s"},
        r"calibration\.block_softmax_r64_d32_k64_t1: '2 s' is above 1 s",
    ),
]


def _set(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    node = doc
    *parents, last = path.split(".")
    for key in parents:
        node = node[key]
    node[last] = value
    return doc


@pytest.mark.parametrize(
    ("path", "value", "message"), CASES, ids=[f"{c[0]}={c[1]!r}" for c in CASES]
)
def test_out_of_bounds_values_are_refused(
    tiny: dict[str, Any], problems: Callable[..., list[str]], path: str, value: Any, message: str
) -> None:
    if path.startswith("engines.mac.ops_per_cycle"):
        del tiny["engines"]["mac"]["throughput"]
    lines = problems(_set(tiny, path, value))
    assert any(re.search(message, line) for line in lines), "\n".join(lines)


def test_a_quoted_throughput_that_means_an_impossible_rate_is_refused(
    tiny: dict[str, Any], problems: Callable[..., list[str]]
) -> None:
    tiny["engines"]["mac"]["throughput"]["matmul"]["fp16"] = "1e5 TOPS"  # 2.5e7 per clock
    lines = problems(tiny)
    assert any(
        re.search(
            r"engines\.mac\.throughput\.matmul\.fp16: is 2\.5e\+07 ops per cycle at 4 units x 1 GHz; "
            r"expected a number of ops per cycle of one unit such as 4096 from 1e-6 to 1e7",
            line,
        )
        for line in lines
    ), lines


def test_bounds_hold_for_overrides_too() -> None:
    with pytest.raises(
        HardwareConfigError, match=r"with overrides: units\.sm\.count: 1000000000 is out of range"
    ):
        load_hardware("h100-sxm5-80gb", {"units.sm.count": 10**9})


def test_a_registered_calibration_constant_is_accepted(
    tiny: dict[str, Any], write: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(CALIBRATION_CONSTANTS, "_items", dict(CALIBRATION_CONSTANTS))
    name = "test_dma_setup"
    register_calibration_constant(name, Bounds("time", "0 s", "1 ms", "test constant"))
    with pytest.raises(DuplicateRegistrationError, match="already registered"):
        register_calibration_constant(name, Bounds("time", "0 s", "1 s", "again"))
    tiny["calibration"] = {name: "20 us"}
    hw = load_hardware(write(tiny))
    assert hw.calibration[name] == pytest.approx(20e-6)
    written = hw.to_dict()["calibration"][name]["value"]  # in its unit
    assert written.endswith(" s") and float(written.split()[0]) == hw.calibration[name]


def test_a_measurement_above_the_peak_holds_the_fraction_at_one() -> None:
    """The RTX 4090's GEMM beats its datasheet peak (GPU Boost above the rated clock): the
    fitted fraction stops at 1 (an engine never runs above its peak) and says why."""
    hw = load_hardware("rtx-4090")
    assert hw.calibration["tensor_sustained_fraction"] == 1.0
    assert "held at 1" in hw.sources["calibration.tensor_sustained_fraction"]
    fitted = {c.name: c for c in fit_target(hw)}
    assert fitted["tensor_sustained_fraction"].value == 1.0
    assert "held at 1" in fitted["tensor_sustained_fraction"].source


def test_measured_constant_families_are_accepted_in_their_units(
    tiny: dict[str, Any], write: Callable[..., Any]
) -> None:
    """``attnsim calibrate`` writes one constant per level and per block shape and thread
    count: the schema accepts every name of those families, each in its dimension."""
    tiny["calibration"] = {
        "core_bandwidth_dram": "29.66 GB/s",
        "block_pair_r16_d128_k128_t2": "6.3 us",
        "block_softmax_r16_d128_k128_t2": "3.8 us",
    }
    hw = load_hardware(write(tiny))
    assert hw.calibration["core_bandwidth_dram"] == pytest.approx(29.66e9)
    assert hw.calibration["block_pair_r16_d128_k128_t2"] == pytest.approx(6.3e-6)
    written = hw.to_dict()["calibration"]["core_bandwidth_dram"]["value"]  # in its unit
    assert written.endswith(" B/s") and float(written.split()[0]) == pytest.approx(29.66e9)
