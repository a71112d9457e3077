"""`attnsim calibrate`: the host-cpu document it builds, how it writes it, its bad input.

Measurements here are made up (`_fake`), so these tests time nothing; the real
micro-benchmarks are tested in tests/kernels/test_microbench.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from attnsim.hwconfigs import (
    HardwareConfigError,
    dump_yaml,
    hardware_from_dict,
    load_hardware,
    validate_file,
)
from attnsim.kernels.microbench import CacheLevel, HostInfo, Microbenchmarks, Stat

import attnsim.calibration as calibration
from attnsim.calibration import (
    CalibrationError,
    default_output,
    host_cpu_document,
    render_document,
    write_document,
)
from attnsim.cli.main import main


def _stat(median: float, unit: str) -> Stat:
    return Stat(median, 0.9 * median, 1.2 * median, 5, unit)


def _fake(threads: int = 2) -> Microbenchmarks:
    caches = (
        CacheLevel(1, 32 << 10, 1, "sysfs index0"),
        CacheLevel(2, 512 << 10, 1, "sysfs index2"),
        CacheLevel(3, 8 << 20, 2, "sysfs index3"),
    )
    host = HostInfo("Test CPU", 2.0e9, "/proc/cpuinfo 'cpu MHz' = 2000", caches, 24 << 30, 2)
    return Microbenchmarks(
        host=host,
        threads=threads,
        threading_layer="omp",
        date="2026-01-02",
        quick=True,
        matmul={64: _stat(40e9, "op/s"), 128: _stat(50e9, "op/s")},
        vector=_stat(4e9, "op/s"),
        softmax=_stat(1e9, "score/s"),
        launch_overhead=_stat(2.5e-6, "s"),
        bandwidth={
            k: _stat(v, "B/s")
            for k, v in {"l1": 80e9, "l2": 70e9, "l3": 100e9, "dram": 30e9}.items()
        },
        buffer_bytes={"l1": 16 << 10, "l2": 256 << 10, "l3": 4 << 20, "dram": 1 << 30},
        latency={
            k: _stat(v, "s")
            for k, v in {"l1": 3e-9, "l2": 6e-9, "l3": 17e-9, "dram": 120e-9}.items()
        },
        chase_bytes={"l1": 16 << 10, "l2": 256 << 10, "l3": 4 << 20, "dram": 64 << 20},
        elapsed_s=12.0,
    )


def test_document_loads_and_has_the_contract_keys() -> None:
    hw = hardware_from_dict(host_cpu_document(_fake()), "host-cpu.yaml")
    assert hw.name == "host-cpu" and hw.kind == "cpu"
    assert hw.description == "Test CPU, 2 threads, measured by attnsim calibrate 2026-01-02"
    core = hw.engines["core"]
    assert core.kind == "cpu_core" and core.unit == "core" and core.count == 2
    assert core.clock_hz == pytest.approx(2.0e9)
    assert hw.peak("matmul", "fp32") == pytest.approx((40e9 * 50e9) ** 0.5, rel=1e-3)
    assert hw.peak("vector", "fp32") == pytest.approx(4e9, rel=1e-3)
    assert hw.peak("exp", "fp32") == pytest.approx(1e9, rel=1e-3)
    assert [m.name for m in hw.memory] == ["l1", "l2", "l3", "dram"]
    assert [m.scope for m in hw.memory] == ["per_unit", "per_unit", "shared", "shared"]
    assert hw.memory_level("l1").capacity_bytes == 32 << 10
    assert hw.memory_level("l3").capacity_bytes == 8 << 20
    assert hw.memory_level("dram").capacity_bytes == 24 << 30
    assert hw.memory_level("dram").bandwidth_bytes_per_s == pytest.approx(30e9, rel=1e-3)
    assert hw.memory_level("dram").latency_s == pytest.approx(120e-9, rel=1e-3)
    assert hw.kernel_families == ("numba-flash-cpu", "unfused")
    assert set(hw.calibration) == {"launch_overhead"}
    assert hw.calibration["launch_overhead"] == pytest.approx(2.5e-6, rel=1e-3)


def test_every_number_is_measured_or_a_labelled_assumption() -> None:
    hw = hardware_from_dict(host_cpu_document(_fake()), "host-cpu.yaml")
    assert hw.sources
    for path, source in hw.sources.items():
        assert source.startswith(("measured", "assumption")), path
    measured = "measured 2026-01-02 by attnsim calibrate: "
    for path in (
        "engines.core.count",
        "engines.core.clock",
        "engines.core.ops_per_cycle.matmul.fp32",
        "engines.core.ops_per_cycle.vector.fp32",
        "engines.core.ops_per_cycle.exp.fp32",
        "memory.l1.bandwidth",
        "memory.dram.bandwidth",
        "memory.l3.latency",
        "calibration.launch_overhead",
    ):
        assert hw.sources[path].startswith(measured), path
    assert (
        "softmax scores/s (exp2 + max + sum + rescale per score)"
        in (hw.sources["engines.core.ops_per_cycle.exp.fp32"])
    )
    mm = hw.sources["engines.core.ops_per_cycle.matmul.fp32"]
    assert "d=64: 40 GFLOP/s" in mm and "d=128: 50 GFLOP/s" in mm
    assert hw.sources["energy.static_power"].startswith("assumption")


def test_missing_clock_and_caches_become_labelled_assumptions() -> None:
    fake = _fake()
    bare = HostInfo("Bare CPU", None, "no clock in /proc/cpuinfo or lscpu", (), None, 2)
    doc = host_cpu_document(Microbenchmarks(**{**fake.__dict__, "host": bare}))
    hw = hardware_from_dict(doc, "bare.yaml")
    for path in ("engines.core.clock", "memory.l1.capacity", "memory.dram.capacity"):
        assert hw.sources[path].startswith("assumption"), path


def test_written_file_round_trips(tmp_path: Path) -> None:
    fake = _fake()
    path = tmp_path / "host.yaml"
    written = write_document(render_document(host_cpu_document(fake), fake), path)
    assert validate_file(path) == []
    loaded = load_hardware(path)
    assert loaded == written
    assert dict(loaded.sources) == dict(written.sources)
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# host-cpu: this machine, written by `attnsim calibrate`")
    again = tmp_path / "again.yaml"
    again.write_text(dump_yaml(loaded), encoding="utf-8")
    assert load_hardware(again) == loaded
    assert hardware_from_dict(yaml.safe_load(text)) == loaded
    # the temporary file was renamed, not left behind
    assert sorted(p.name for p in tmp_path.iterdir()) == ["again.yaml", "host.yaml"]


def test_invalid_document_writes_nothing(tmp_path: Path) -> None:
    fake = _fake()
    doc = host_cpu_document(fake)
    doc["memory"]["l1"]["bandwidth"]["value"] = "3 GHz"
    path = tmp_path / "host.yaml"
    with pytest.raises(HardwareConfigError, match=r"memory\.l1\.bandwidth"):
        write_document(render_document(doc, fake), path)
    assert list(tmp_path.iterdir()) == []


def test_default_output_is_the_bundled_host_cpu() -> None:
    assert default_output().name == "host-cpu.yaml"
    assert default_output().parent.name == "targets"


# -- the command line ----------------------------------------------------------------------
def _no_timing(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, object]]:
    calls: list[dict[str, object]] = []

    def fake_run(**kwargs: object) -> Microbenchmarks:
        calls.append(kwargs)
        return _fake()

    monkeypatch.setattr(calibration, "run_microbenchmarks", fake_run)
    return calls


def test_cli_writes_the_target_and_prints_the_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls = _no_timing(monkeypatch)
    out_file = tmp_path / "host.yaml"
    assert main(["calibrate", "--quick", "--threads", "1", "-o", str(out_file)]) == 0
    assert calls and calls[0]["threads"] == 1 and calls[0]["quick"] is True
    out = capsys.readouterr().out
    for word in ("quantity", "median", "spread", "unit", "GFLOP/s", "GB/s", "ns"):
        assert word in out
    assert "dram" in out and "launch" in out
    assert f"wrote {out_file}" in out.replace("\n", "")
    assert validate_file(out_file) == []


def _bad(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    return err[0]


def test_cli_output_in_missing_directory_is_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = _bad(["calibrate", "-o", str(tmp_path / "nope" / "x.yaml")], capsys)
    assert "does not exist" in line and line.startswith("attnsim: error: -o ")


def test_cli_output_that_is_a_directory_is_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert "is a directory" in _bad(["calibrate", "-o", str(tmp_path)], capsys)


@pytest.mark.parametrize("threads", ["0", "-2"])
def test_cli_thread_count_below_one_is_bad_input(
    threads: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = _bad(["calibrate", "--threads", threads, "-o", str(tmp_path / "h.yaml")], capsys)
    assert f"--threads: {threads}; expected" in line


def test_cli_more_threads_than_cores_is_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = _bad(["calibrate", "--threads", "100000", "-o", str(tmp_path / "h.yaml")], capsys)
    assert "--threads: 100000; expected an integer from 1 to" in line
    assert not (tmp_path / "h.yaml").exists()


def test_cli_unwritable_default_asks_for_o(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _no_timing(monkeypatch)
    monkeypatch.setattr(calibration, "default_output", lambda: tmp_path / "ro" / "host-cpu.yaml")
    line = _bad(["calibrate", "--quick"], capsys)
    assert "not writable" in line and "-o FILE" in line


def test_calibration_error_lines() -> None:
    err = CalibrationError(["a", "b"])
    assert err.problems == ["a", "b"] and str(err) == "a\nb"
