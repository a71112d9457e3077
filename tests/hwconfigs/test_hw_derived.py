"""Rates a unit model fixes are derived from its params, not kept in step by hand: the
peak of an engine with ``params.model`` follows its array size, a stated rate must agree,
and the physics check bounds the model's tiles by that peak."""

from __future__ import annotations

import re

import pytest
from attnsim.hwconfigs import HardwareConfigError, load_hardware
from attnsim.sim.physics import peak_rate


def _tint(hw):
    return hw.engines["tint"].ops_per_cycle["matmul"]["ternary"]


def test_the_peak_of_a_unit_model_engine_is_derived_from_its_array():
    hw = load_hardware("vitallm-16nm")
    params = hw.engines["tint"].params
    assert _tint(hw) == 2 * params["rows"] * params["cols"]  # a MAC = 2 ops
    source = hw.sources["engines.tint.ops_per_cycle.matmul.ternary"]
    assert source.startswith("derived: the peak of unit model ternary_mac_array")
    assert "cols 4" in source
    booth = hw.engines["boothflex"].ops_per_cycle["matmul"]
    assert (booth["int8"], booth["ternary"]) == (64, 256)  # 8 x 4, 4 ternary products each


def test_one_changed_number_moves_the_peak():
    # a sweep over the array's columns alone: the peak (and with it the roofline, the
    # FOM and the physics bound) follows; no second number to keep in step
    wide = load_hardware("vitallm-16nm", {"engines.tint.params.cols": 8})
    assert _tint(wide) == 2 * _tint(load_hardware("vitallm-16nm"))
    base_peak = peak_rate(load_hardware("vitallm-16nm"), ("matmul",), ("ternary",))
    assert peak_rate(wide, ("matmul",), ("ternary",)) > base_peak


def test_a_stated_rate_must_agree_with_the_unit_model():
    ok = load_hardware("vitallm-16nm", {"engines.tint.ops_per_cycle.matmul.ternary": 256})
    assert _tint(ok) == 256
    with pytest.raises(HardwareConfigError) as info:
        load_hardware(
            "vitallm-16nm",
            {"engines.tint.params.cols": 8, "engines.tint.ops_per_cycle.matmul.ternary": 256},
        )
    (line,) = str(info.value).splitlines()
    assert (
        "engines.tint.ops_per_cycle.matmul.ternary: 256 disagrees with the 512 ops per cycle"
        in line
    )
    assert "expected 512, or no entry (the loader derives it)" in line


def test_a_units_own_formats_get_no_target_rate():
    # the softmax unit counts its work in fixed24 exps and int32 ops, not target
    # precisions: no rate is listed for them (its busy time is checked instead); the
    # NLU's stated int8 vector rate stays
    nlu = load_hardware("vitallm-16nm").engines["nlu"].ops_per_cycle
    assert {op: dict(p) for op, p in nlu.items()} == {"vector": {"int8": 4}}


def test_an_arrays_area_is_priced_from_its_components_and_follows_its_size():
    hw = load_hardware("vitallm-16nm")
    tint = hw.engines["tint"]
    p = tint.params
    # 2 x (rows*cols lanes x 6.35 um2 + cols*acc_depth*32 acc bits + 4 bits/lane, x 0.5 um2)
    lanes = p["rows"] * p["cols"]
    um2 = 2 * (lanes * 6.35 + (p["cols"] * p["acc_depth"] * 32 + 4 * lanes) * 0.5)
    assert tint.area_mm2 == pytest.approx(um2 * 1e-6)
    assert hw.sources["engines.tint.area"].startswith("derived: unit model ternary_mac_array")
    wide = load_hardware("vitallm-16nm", {"engines.tint.params.cols": 8})
    assert wide.engines["tint"].area_mm2 == pytest.approx(2 * tint.area_mm2)
    assert wide.area_mm2 > hw.area_mm2  # the die grows with the array, not flat
    deeper = load_hardware("vitallm-16nm", {"engines.tint.params.acc_depth": 128})
    assert deeper.engines["tint"].area_mm2 > tint.area_mm2


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"engines.tint.area": "0.5 mm2"},
            "engines.tint.area: 0.5 mm2 disagrees with the 0.0103296 mm2 its params price",
        ),
        (
            {"engines.tint.params.area_tint_adder": "1 um2"},
            "engines.tint.params.area_tint_adder: unit model 'ternary_mac_array' has no "
            "component 'tint_adder'",
        ),
        (
            {"engines.tint.params.area_tint_lane": "6 GB/s"},
            "engines.tint.params.area_tint_lane: ",
        ),
        ({"engines.tint.params.area_overhead": 0.5}, "area_overhead: got 0.5"),
    ],
)
def test_bad_component_areas_are_one_line_each(overrides, message):
    with pytest.raises(HardwareConfigError) as info:
        load_hardware("vitallm-16nm", overrides)
    (line,) = str(info.value).splitlines()
    assert message in line


def test_pricing_some_components_but_not_all_names_the_missing_one():
    from attnsim.hwconfigs.derived import unit_model_area

    area = unit_model_area({"model": "ternary_mac_array", "area_tint_lane": "6 um2"})
    assert area is not None and area.area_mm2 is None
    (problem,) = area.problems
    assert problem[0] == "params.area_tint_acc_bit" and "missing" in problem[1]


def test_leakage_follows_the_priced_area():
    hw = load_hardware("vitallm-16nm")
    tint = hw.engines["tint"]
    assert tint.static_power_w == pytest.approx(4e-3 * tint.area_mm2)  # 4 mW/mm2
    assert hw.sources["engines.tint.static_power"].startswith("derived: params.leakage_density")
    wide = load_hardware("vitallm-16nm", {"engines.tint.params.cols": 8})
    assert wide.engines["tint"].static_power_w == pytest.approx(2 * tint.static_power_w)
    assert wide.static_power_w > hw.static_power_w


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"engines.tint.static_power": "1 mW"},
            "engines.tint.static_power: 1 mW disagrees with the 0.0413184 mW of "
            "params.leakage_density x the engine's area",
        ),
        (
            {"engines.tint.params.leakage_density": "4 mW"},
            "engines.tint.params.leakage_density: '4 mW' has units of power; expected a power "
            "per area",
        ),
    ],
)
def test_bad_leakage_is_one_line(overrides, message):
    with pytest.raises(HardwareConfigError) as info:
        load_hardware("vitallm-16nm", overrides)
    (line,) = str(info.value).splitlines()
    assert message in line


def test_a_target_states_how_its_paper_counts_the_fom_peak():
    """VitaLLM's FOM counts the TINT cores' ternary MACs, a MAC as one op (its YAML
    header derives this); the peak follows the array and round-trips through to_dict."""
    hw = load_hardware("vitallm-16nm")
    assert hw.figure_of_merit is not None
    tint = hw.engines["tint"].throughput["matmul"]["ternary"]  # ops/s, a MAC = 2 ops
    assert hw.fom_peak_ops_s() == pytest.approx(tint / 2)
    assert hw.fom_peak_ops_s() < hw.peak("matmul", "ternary")  # BoothFlex's not counted
    assert hw.fom_peak_ops_s() == pytest.approx(256e9)  # 2 cores x 32 x 4 MACs at 1 GHz
    wide = load_hardware("vitallm-16nm", {"engines.tint.params.cols": 8})
    assert wide.fom_peak_ops_s() == pytest.approx(512e9)
    assert load_hardware("h100-sxm5-80gb").fom_peak_ops_s() is None  # no convention stated
    assert hw.to_dict()["figure_of_merit"]["engines"] == ["tint"]
    assert "figure_of_merit.ops_per_mac" in hw.sources


@pytest.mark.parametrize(
    ("block", "message"),
    [
        (
            "figure_of_merit: {engines: [tnt], precision: ternary, ops_per_mac: {value: 1, source: x}}",
            r"figure_of_merit.engines\[0\]: 'tnt' is not an engine of this target; expected one "
            r"of .*\(did you mean 'tint'\?\)",
        ),
        (
            "figure_of_merit: {engines: [tint], precision: fp16, ops_per_mac: {value: 1, source: x}}",
            r"figure_of_merit.precision: engine 'tint' runs no fp16 matmul",
        ),
        (
            "figure_of_merit: {engines: [tint], precision: ternary, ops_per_mac: {value: 3, source: x}}",
            r"figure_of_merit.ops_per_mac: 3 is out of range; expected a whole number of ops per "
            r"MAC from 1 to 2",
        ),
        (
            "figure_of_merit: {engines: [tint], precision: ternary, ops_per_mac: 1}",
            r"figure_of_merit.ops_per_mac: has no source",
        ),
        (
            "figure_of_merit: {engines: [], precision: ternary, ops_per_mac: {value: 1, source: x}}",
            r"figure_of_merit.engines: is empty; expected a list of engine names",
        ),
        ("figure_of_merit:\n", r"figure_of_merit: is empty \(null\)"),
    ],
)
def test_a_bad_fom_convention_is_one_line(problems, block, message):
    (line,) = problems(f"version: 1\nbase: vitallm-16nm\nname: v\n{block}", "v.yaml")
    assert line.split(": ", 1)[0].endswith("v.yaml")
    assert re.search(message, line)
