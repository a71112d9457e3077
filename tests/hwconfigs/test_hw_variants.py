"""Design variants: rates per unit per cycle (count and clock scale them), overrides
through the loader, content digests, and the parts that make area and power scale."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from attnsim.hwconfigs import HardwareConfigError, load_hardware


def test_one_number_changes_the_sm_count_and_every_rate_follows() -> None:
    h100 = load_hardware("h100-sxm5-80gb")
    v = load_hardware("h100-sxm5-80gb", {"units.sm.count": 100})
    for name, engine in v.engines.items():
        assert engine.count == 100
        assert engine.ops_per_cycle == h100.engines[name].ops_per_cycle
    # whole-chip peaks scale with the count (whitepaper: 989.4 TFLOP/s at 132 SMs)
    assert v.peak("matmul", "bf16") == pytest.approx(989.4e12 * 100 / 132, rel=1e-12)
    assert v.peak("exp", "fp32") == pytest.approx(h100.peak("exp", "fp32") * 100 / 132)
    assert v.sources["units.sm.count"] == "override (overrides)"


def test_clock_scales_the_rates_of_that_engine_only() -> None:
    h100 = load_hardware("h100-sxm5-80gb")
    v = load_hardware("h100-sxm5-80gb", {"engines.tensor.clock": "0.915 GHz"})
    assert v.peak("matmul", "fp16") == pytest.approx(h100.peak("matmul", "fp16") / 2)
    assert v.peak("vector", "fp32") == h100.peak("vector", "fp32")


def test_a_quoted_throughput_replaces_the_inherited_rate() -> None:
    v = load_hardware(
        "h100-sxm5-80gb",
        {"units.sm.count": 66, "engines.tensor.throughput.matmul.fp16": "600 TFLOP/s"},
    )
    # a throughput is "at the count and clock in effect": 600 TFLOP/s at 66 SMs
    assert v.peak("matmul", "fp16") == pytest.approx(600e12)
    assert v.peak("matmul", "bf16") == pytest.approx(989.4e12 * 66 / 132)


def test_overrides_that_name_nothing_are_refused_with_the_keys_they_could_name() -> None:
    with pytest.raises(HardwareConfigError) as info:
        load_hardware(
            "h100-sxm5-80gb",
            {"engines.tensr.clock": "1 GHz", "memory.hbm.bandwdth": "4 TB/s"},
            origin="sweep.yaml: axes",
        )
    lines = info.value.problems
    assert any(
        line.startswith(
            "sweep.yaml: axes: engines.tensr.clock: 'engines.tensr' is not in the target"
        )
        and "(did you mean 'tensor'?)" in line
        for line in lines
    ), lines
    # a leaf that does not exist is checked by the schema like a key in a file
    with pytest.raises(
        HardwareConfigError, match=r"memory\.hbm\.bandwdth: unknown key.*did you mean 'bandwidth'"
    ):
        load_hardware("h100-sxm5-80gb", {"memory.hbm.bandwdth": "4 TB/s"})


def test_overrides_are_checked_like_a_file() -> None:
    with pytest.raises(HardwareConfigError, match=r"units\.sm\.count: is the text 'many'"):
        load_hardware("h100-sxm5-80gb", {"units.sm.count": "many"})
    with pytest.raises(
        HardwareConfigError, match=r"memory\.hbm\.bandwidth: '4 GHz' has units of frequency"
    ):
        load_hardware("h100-sxm5-80gb", {"memory.hbm.bandwidth": "4 GHz"})


def test_digest_follows_the_physics_not_the_name() -> None:
    a = load_hardware("h100-sxm5-80gb")
    b = load_hardware("h100-sxm5-80gb", {"name": "renamed", "description": "same chip"})
    c = load_hardware("h100-sxm5-80gb", {"memory.hbm.bandwidth": "3.36 TB/s"})
    assert a.digest == b.digest
    assert a.digest != c.digest
    assert len(a.digest) == 64


def test_count_given_twice_is_refused(write: Callable[..., Path], tiny: dict[str, Any]) -> None:
    tiny["units"] = {"pe": {"count": 4}}
    with pytest.raises(
        HardwareConfigError, match=r"engines\.mac\.count: is given here and in units\.pe\.count"
    ):
        load_hardware(write(tiny))
    del tiny["engines"]["mac"]["count"]
    hw = load_hardware(write(tiny))
    assert hw.engines["mac"].count == 4 and hw.declared_units == ("pe",)
    tiny["units"]["nope"] = {"count": 2}
    with pytest.raises(HardwareConfigError, match=r"units\.nope: no engine lives in unit 'nope'"):
        load_hardware(write(tiny))


def test_a_rate_given_both_ways_is_refused(
    write: Callable[..., Path], tiny: dict[str, Any]
) -> None:
    tiny["engines"]["mac"]["ops_per_cycle"] = {"matmul": {"fp16": 2000}}
    with pytest.raises(
        HardwareConfigError,
        match=r"engines\.mac\.throughput\.matmul\.fp16: is also given in engines\.mac\.ops_per_cycle",
    ):
        load_hardware(write(tiny))


def test_per_unit_rates_load_directly(write: Callable[..., Path], tiny: dict[str, Any]) -> None:
    del tiny["engines"]["mac"]["throughput"]
    tiny["engines"]["mac"]["ops_per_cycle"] = {"matmul": {"fp16": 2000, "int8": 4000}}
    hw = load_hardware(write(tiny))
    assert hw.peak("matmul", "fp16") == 2000 * 4 * 1e9
    assert hw.engines["mac"].per_unit("matmul", "int8") == 4000 * 1e9


def test_area_and_static_power_scale_with_counts_and_capacities(
    write: Callable[..., Path], tiny: dict[str, Any]
) -> None:
    tiny["engines"]["mac"]["area"] = "0.5 mm2"
    tiny["engines"]["mac"]["static_power"] = "2 mW"
    tiny["memory"]["buf"]["area_density"] = "1 mm2/MiB"
    tiny["memory"]["buf"]["static_power_density"] = "8 mW/MiB"
    tiny["area"] = {"total": "4 mm2"}
    with pytest.raises(
        HardwareConfigError, match=r"area\.other: missing while engines\.mac\.area gives a part"
    ):
        load_hardware(write(tiny))
    tiny["area"]["other"] = "1.75 mm2"
    path = write(tiny)
    hw = load_hardware(path)
    # 4 PEs x 0.5 mm2 + 4 x 64 KiB at 1 mm2/MiB + 1.75 mm2
    assert hw.area_mm2 == pytest.approx(2.0 + 0.25 + 1.75)
    assert hw.area_scales
    assert hw.static_power_w == pytest.approx(4 * 2e-3 + 4 * 64 / 1024 * 8e-3 + 1e-3)
    big = load_hardware(path, {"engines.mac.count": 8, "memory.buf.capacity": "128 KiB"})
    assert big.area_mm2 == pytest.approx(4.0 + 1.0 + 1.75)


def test_area_is_the_published_total_when_no_part_is_given() -> None:
    a100 = load_hardware("a100-sxm4-80gb")
    assert a100.area_mm2 == a100.area.total_mm2 and not a100.area_scales


def test_h100_area_model_gives_the_published_die_and_scales() -> None:
    # the labelled-assumption area model adds up to the whitepaper's 814 mm2 at 132 SMs / 50 MiB
    h100 = load_hardware("h100-sxm5-80gb")
    assert h100.area_mm2 == pytest.approx(814.0) and h100.area_scales
    smaller = load_hardware(
        "h100-sxm5-80gb", {"units.sm.count": 100, "memory.l2.capacity": "25 MiB"}
    )
    assert smaller.area_mm2 == pytest.approx(814.0 - 32 * 2.97265625 - 25.0)


def test_engine_energy_falls_back_to_the_chip_figure(
    write: Callable[..., Path], tiny: dict[str, Any]
) -> None:
    tiny["engines"]["mac"]["energy"] = {"matmul": {"int8": "0.1 pJ"}}
    hw = load_hardware(write(tiny))
    assert hw.op_energy_j("mac", "matmul", "int8") == pytest.approx(0.1e-12)
    assert hw.op_energy_j("mac", "matmul", "fp16") == pytest.approx(0.5e-12)
    assert hw.op_energy_j("mac", "exp", "fp16") is None
    tiny["engines"]["mac"]["energy"] = {"exp": {"fp16": "1 pJ"}}
    with pytest.raises(
        HardwareConfigError,
        match=r"engines\.mac\.energy\.exp\.fp16: engine 'mac' does not run exp in fp16",
    ):
        load_hardware(write(tiny))


def test_params_keep_their_sources(write: Callable[..., Path], tiny: dict[str, Any]) -> None:
    tiny["engines"]["mac"]["params"] = {
        "rows": {"value": 32, "source": "paper, Fig. 3"},
        "mode": "bit_serial",
    }
    hw = load_hardware(write(tiny))
    assert dict(hw.engines["mac"].params) == {"rows": 32, "mode": "bit_serial"}
    assert isinstance(hw.engines["mac"].params["rows"], int)  # unit models need whole rows
    assert hw.sources["engines.mac.params.rows"] == "paper, Fig. 3"
    again = load_hardware(write(hw.to_dict(), "again.yaml"))
    assert again == hw
