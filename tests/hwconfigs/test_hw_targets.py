"""Every bundled target loads, round-trips, and carries its datasheet numbers."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import yaml
from attnsim.hwconfigs import (
    Hardware,
    dump_yaml,
    hardware_from_dict,
    list_targets,
    load_hardware,
    targets_dir,
)

BUNDLED = [
    "a100-sxm4-80gb",
    "b200",
    "h100-sxm5-80gb",
    "h200-sxm-141gb",
    "host-cpu-example",
    "rtx-4090",
    "slim-llama-28nm",
    "vitallm-16nm",
    "vitallm-16nm-wide",
    "vitallm-28nm",
]


def test_list_targets_is_sorted_and_complete() -> None:
    assert list_targets() == BUNDLED
    assert targets_dir().joinpath("h100-sxm5-80gb.yaml").is_file()


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_target_loads(name: str) -> None:
    hw = load_hardware(name)
    assert isinstance(hw, Hardware)
    assert hw.name == name
    assert hw.version == 1
    assert hw.engines and hw.memory and hw.kernel_families
    for engine in hw.engines.values():
        assert engine.count >= 1 and engine.clock_hz > 0
        assert any(engine.throughput.values())
    for level in hw.memory:
        assert level.capacity_bytes > 0 and level.bandwidth_bytes_per_s > 0
        assert (level.unit is not None) == (level.scope == "per_unit")


@pytest.mark.parametrize("name", BUNDLED)
def test_round_trip_load_to_dict_dump_load_is_equal(name: str, tmp_path: Path) -> None:
    hw = load_hardware(name)
    path = tmp_path / f"{name}.yaml"
    path.write_text(dump_yaml(hw), encoding="utf-8")
    again = load_hardware(path)
    assert again == hw
    assert dict(again.sources) == dict(hw.sources)
    # to_dict is plain data: it survives yaml (keys unsorted: memory order is meaning)
    assert hardware_from_dict(yaml.safe_load(yaml.safe_dump(hw.to_dict(), sort_keys=False))) == hw


@pytest.mark.parametrize("name", BUNDLED)
def test_every_number_has_a_source(name: str) -> None:
    hw = load_hardware(name)
    for engine in hw.engines.values():
        assert f"engines.{engine.name}.clock" in hw.sources
        count_path = (
            f"units.{engine.unit}.count"
            if engine.unit in hw.declared_units
            else f"engines.{engine.name}.count"
        )
        assert hw.sources[count_path]
        for op, precs in engine.ops_per_cycle.items():
            for prec in precs:
                assert hw.sources[f"engines.{engine.name}.ops_per_cycle.{op}.{prec}"]
    for level in hw.memory:
        for key in ("capacity", "bandwidth", "latency", "read_energy", "write_energy"):
            assert hw.sources[f"memory.{level.name}.{key}"]
    assert hw.sources["energy.static_power"]
    for key in hw.calibration:
        assert hw.sources[f"calibration.{key}"]


def test_hardware_pickles_for_process_pools() -> None:
    hw = load_hardware("h100-sxm5-80gb")
    assert pickle.loads(pickle.dumps(hw)) == hw


def test_h100_peak_fp16_is_the_datasheet_number() -> None:
    hw = load_hardware("h100-sxm5-80gb")
    # H100 SXM5 dense FP16 Tensor Core peak: 989.4 TFLOPS (H100 whitepaper Table 3;
    # the datasheet's 1,979 TFLOPS is with 2:4 sparsity).
    assert hw.peak("matmul", "fp16") == pytest.approx(989.4e12)
    assert hw.peak("matmul", "ternary") == 0.0
    assert hw.engines["tensor"].per_unit("matmul", "fp16") == pytest.approx(989.4e12 / 132)
    # 16 exp/clk/SM x 132 SMs x 1.83 GHz, the ~3.9 TFLOPS FlashAttention-3 quotes
    assert hw.peak("exp", "fp32") == pytest.approx(3.9e12, rel=0.01)
    assert hw.memory_level("hbm").bandwidth_bytes_per_s == pytest.approx(3.35e12)
    assert hw.memory_level("smem").capacity_bytes == 228 * 1024
    assert [m.name for m in hw.memory] == ["rf", "smem", "l2", "hbm"]


def test_memory_level_unknown_name_lists_the_levels() -> None:
    with pytest.raises(KeyError, match="no memory level 'l3'; expected one of rf, smem, l2, hbm"):
        load_hardware("h100-sxm5-80gb").memory_level("l3")


def test_h200_inherits_h100_and_overrides_only_memory() -> None:
    h100, h200 = load_hardware("h100-sxm5-80gb"), load_hardware("h200-sxm-141gb")
    assert h200.engines == h100.engines
    assert h200.energy == h100.energy
    assert h200.area == h100.area
    assert h200.kernel_families == h100.kernel_families
    hbm = h200.memory_level("hbm")
    assert hbm.capacity_bytes == 141e9  # H200 datasheet: 141 GB HBM3e
    assert hbm.bandwidth_bytes_per_s == 4.8e12  # H200 datasheet: 4.8 TB/s
    assert hbm.latency_s == h100.memory_level("hbm").latency_s  # inherited
    assert h200.memory_level("l2") == h100.memory_level("l2")
    # inherited numbers keep the source of the file they came from
    assert h200.sources["units.sm.count"] == h100.sources["units.sm.count"]
    assert "H200" in h200.sources["memory.hbm.bandwidth"]
    assert h200.sources["memory.hbm.latency"] == h100.sources["memory.hbm.latency"]


def test_vitallm_has_ternary_and_attention_cores() -> None:
    hw = load_hardware("vitallm-16nm")
    kinds = {e.kind for e in hw.engines.values()}
    assert {"ternary_mac", "attention_core"} <= kinds
    assert hw.peak("matmul", "ternary") > 0
    assert hw.peak("vector", "int8") > 0  # the nonlinear unit
    # 120 KB of on-chip memory [V2] split between unit buffers and the shared SRAM
    on_chip = sum(m.capacity_bytes * m.instances(hw.units) for m in hw.memory[:-1])
    assert on_chip == 120 * 1024
    assert hw.kernel_families == ("vitallm-pipeline",)


def test_host_cpu_is_calibrated_or_says_assumption() -> None:
    # hwconfigs/targets/host-cpu-example.yaml is written by `attnsim calibrate --name
    # host-cpu-example` (host-cpu itself is each machine's own, cached: attnsim.hosttarget)
    hw = load_hardware("host-cpu-example")
    assert hw.peak("matmul", "fp32") > 0 and "launch_overhead" in hw.calibration
    for path, source in hw.sources.items():
        assert source.startswith(("measured", "assumption")), path


def test_gpu_calibration_is_few_named_constants_with_sources() -> None:
    # launch overhead from a published measurement; the sustained fractions are fitted by
    # `attnsim fit-constants` (tests/sim/test_calibration.py recomputes them)
    allowed = {
        "launch_overhead",
        "memory_sustained_fraction",
        "tensor_sustained_fraction",
        "tensor_sustained_fraction_fp8",
        "vector_sustained_fraction_fp32",
        "mma_sync_sustained_fraction",
    }
    for name in ("a100-sxm4-80gb", "h100-sxm5-80gb", "h200-sxm-141gb", "b200", "rtx-4090"):
        hw = load_hardware(name)
        assert "launch_overhead" in hw.calibration and set(hw.calibration) <= allowed
        assert 1e-6 <= hw.calibration["launch_overhead"] <= 1e-5
        for key, value in hw.calibration.items():
            assert hw.sources[f"calibration.{key}"]
            if key == "mma_sync_sustained_fraction":  # B200: a labelled assumption, 0.315
                assert 0.25 < value <= 1
            elif "_fraction" in key:
                assert 0.5 < value < 1.5


def test_relative_base_path_and_override(tmp_path: Path) -> None:
    (tmp_path / "parent.yaml").write_text(dump_yaml(load_hardware("rtx-4090")), encoding="utf-8")
    (tmp_path / "child.yaml").write_text(
        "version: 1\nbase: parent.yaml\nname: rtx-4090-oc\n"
        "engines:\n  tensor:\n    clock: {value: 2.7 GHz, source: overclocked}\n",
        encoding="utf-8",
    )
    hw = load_hardware(tmp_path / "child.yaml")
    assert hw.name == "rtx-4090-oc"
    assert hw.engines["tensor"].clock_hz == 2.7e9
    assert hw.sources["engines.tensor.clock"] == "overclocked"
    # rates are per unit per cycle: the overclock scales the inherited throughput
    base = load_hardware("rtx-4090").engines["tensor"]
    assert hw.engines["tensor"].ops_per_cycle == base.ops_per_cycle
    for op, precs in base.throughput.items():
        for prec, ops_s in precs.items():
            assert hw.engines["tensor"].throughput[op][prec] == pytest.approx(
                ops_s * 2.7e9 / base.clock_hz, rel=1e-12
            )
