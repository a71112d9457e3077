"""`attnsim calibrate`: the host-cpu document it builds, how it writes it, its bad input.

Measurements here are made up (`_fake`), so these tests time nothing; the real
micro-benchmarks are tested in tests/kernels/test_microbench.py.
"""

from __future__ import annotations

import json
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
from attnsim.kernels.microbench import (
    CacheLevel,
    HostInfo,
    Microbenchmarks,
    ShapeTiming,
    Stat,
    shape_grid,
)
from attnsim.sim.lowering.attention_cpu import BlockTable, block_constant

import attnsim.calibration as calibration
import attnsim.hosttarget as hosttarget
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


def _shapes(threads: int) -> tuple[ShapeTiming, ...]:
    """Made-up block timings: 40 GFLOP/s per core alone, 30 with every core busy; a
    4-row decode block at a third of that rate."""
    out = []
    for rows, d, bk in shape_grid():
        for t in sorted({1, threads}):
            rate = (40e9 if t == 1 else 30e9) * (1.0 if rows >= 16 else 1 / 3)
            ops = 4.0 * rows * d * bk
            out.append(
                ShapeTiming(rows, d, bk, t, _stat(ops / rate, "s"), _stat(rows * bk / 0.5e9, "s"))
            )
    return tuple(out)


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
        shapes=_shapes(threads),
        vector=_stat(4e9, "op/s"),
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
    assert hw.description == (
        "Test CPU, 2 cores, 24 GiB: measured by attnsim calibrate on 2026-01-02"
    )
    core = hw.engines["core"]
    assert core.kind == "cpu_core" and core.unit == "core" and core.count == 2
    assert core.clock_hz == pytest.approx(2.0e9)
    # 64-row blocks at 30 GFLOP/s per core with both cores busy (the call cost taken out)
    assert hw.peak("matmul", "fp32") == pytest.approx(2 * 30e9, rel=0.01)
    assert hw.peak("vector", "fp32") == pytest.approx(4e9, rel=1e-3)
    assert hw.peak("exp", "fp32") == pytest.approx(2 * 0.5e9, rel=1e-3)
    assert [m.name for m in hw.memory] == ["l1", "l2", "l3", "dram"]
    assert [m.scope for m in hw.memory] == ["per_unit", "per_unit", "shared", "shared"]
    assert hw.memory_level("l1").capacity_bytes == 32 << 10
    assert hw.memory_level("l3").capacity_bytes == 8 << 20
    assert hw.memory_level("dram").capacity_bytes == 24 << 30
    assert hw.memory_level("dram").bandwidth_bytes_per_s == pytest.approx(30e9, rel=1e-3)
    assert hw.memory_level("dram").latency_s == pytest.approx(120e-9, rel=1e-3)
    assert hw.kernel_families == ("numba-flash-cpu", "unfused")
    blocks = {k for k in hw.calibration if k.startswith("block_")}
    assert set(hw.calibration) - blocks == {"launch_overhead"}
    assert len(blocks) == 2 * 2 * len(shape_grid())  # pair and softmax, 1 and 2 threads
    assert hw.calibration["launch_overhead"] == pytest.approx(2.5e-6, rel=1e-3)


def test_block_timings_by_shape_and_threads_round_trip() -> None:
    fake = _fake()
    hw = hardware_from_dict(host_cpu_document(fake), "host-cpu.yaml")
    table = BlockTable(hw.calibration)
    for timing in fake.shapes:
        shape = (timing.rows, timing.d, timing.bk)
        assert table.seconds("pair", shape, timing.threads) == pytest.approx(
            timing.pair.median, rel=1e-3
        )
        assert table.seconds("softmax", shape, timing.threads) == pytest.approx(
            timing.softmax.median, rel=1e-3
        )
    src = hw.sources[f"calibration.{block_constant('pair', 4, 64, 128, 2)}"]
    assert "4 query rows x 128 keys at head dimension 64" in src
    assert "while 2 cores run it" in src


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
    assert "d=64: 60 GFLOP/s" in mm and "d=128: 60 GFLOP/s" in mm
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
    assert text.startswith(
        "# host-cpu: Test CPU, 2 cores, 24 GiB, written by `attnsim calibrate` on 2026-01-02"
    )
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


def test_default_output_is_this_machines_cache(host_cache: Path) -> None:
    assert default_output().parent == host_cache
    assert default_output().name.startswith("host-cpu-v")


def test_example_name_is_labelled() -> None:
    doc = host_cpu_document(_fake(), name="host-cpu-example")
    assert doc["name"] == "host-cpu-example"
    assert "Test CPU, 2 cores, 24 GiB" in doc["description"]
    assert "an example kept for reference" in doc["description"]


def test_disturbed_statistics_say_so_in_the_source() -> None:
    fake = _fake()
    bad = Stat(1e9, 0.5e9, 2e9, 9, "op/s", preempted=9, disturbed=True)
    doc = host_cpu_document(Microbenchmarks(**{**fake.__dict__, "vector": bad}))
    source = doc["engines"]["core"]["throughput"]["vector"]["fp32"]["source"]
    assert "DISTURBED: 9 of 9 runs were preempted" in source
    assert "re-run attnsim calibrate" in source


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


def test_cli_json_lists_every_measurement(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _no_timing(monkeypatch)
    out_file = tmp_path / "host.yaml"
    assert main(["calibrate", "--quick", "--json", "-o", str(out_file)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["path"] == str(out_file) and doc["quick"] is True
    units = {row["unit"] for row in doc["measured"]}
    assert {"us", "GFLOP/s", "GB/s"} <= units
    for row in doc["measured"]:
        assert row["min"] <= row["median"] <= row["max"] and row["spread"] >= 0
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
    assert "does not exist" in line and line.startswith("attnsim: error: -o: ")


def test_cli_output_that_is_a_directory_is_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert "is a folder" in _bad(["calibrate", "-o", str(tmp_path)], capsys)


def test_cli_output_in_proc_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _no_timing(monkeypatch)
    line = _bad(["calibrate", "--quick", "-o", "/proc/x.yaml"], capsys)
    assert line.startswith("attnsim: error: ") and "/proc/x.yaml" in line


def test_cli_bad_name_is_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = _bad(["calibrate", "--name", "a b", "-o", str(tmp_path / "h.yaml")], capsys)
    assert "--name: 'a b'" in line


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


def test_cli_without_o_refreshes_the_cache(
    host_cache: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls = _no_timing(monkeypatch)
    path = default_output()
    assert main(["calibrate", "--quick"]) == 0
    assert calls
    assert f"wrote this machine's cached host-cpu target {path}" in capsys.readouterr().out.replace(
        "\n", ""
    )
    assert load_hardware(path).description.startswith("Test CPU, 2 cores")


def test_cli_unwritable_cache_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _no_timing(monkeypatch)
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("ATTNSIM_CACHE_DIR", str(blocker / "cache"))
    line = _bad(["calibrate", "--quick"], capsys)
    assert "cannot create the cache folder" in line and "ATTNSIM_CACHE_DIR" in line


def test_cli_warns_about_disturbed_benchmarks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = _fake()
    bad = Stat(1e9, 0.5e9, 2e9, 9, "op/s", preempted=9, disturbed=True)
    monkeypatch.setattr(
        calibration,
        "run_microbenchmarks",
        lambda **_: Microbenchmarks(**{**fake.__dict__, "vector": bad}),
    )
    assert main(["calibrate", "-o", str(tmp_path / "h.yaml")]) == 0
    err = capsys.readouterr().err
    assert "warning: 1 benchmarks were preempted" in err and "mask loop" in err


def test_calibration_error_lines() -> None:
    err = CalibrationError(["a", "b"])
    assert err.problems == ["a", "b"] and str(err) == "a\nb"


# -- the cached host target ------------------------------------------------------------------
def test_cache_folder_follows_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ATTNSIM_CACHE_DIR", str(tmp_path / "mine"))
    assert hosttarget.cache_dir() == tmp_path / "mine"
    monkeypatch.delenv("ATTNSIM_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert hosttarget.cache_dir() == tmp_path / "xdg" / "attnsim"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert hosttarget.cache_dir() == tmp_path / "home" / ".cache" / "attnsim"


def test_cache_is_keyed_by_cpu_cores_and_memory(host_cache: Path) -> None:
    base = hosttarget.Machine("AMD EPYC 7B13", 2, 24 << 30)
    paths = {
        hosttarget.host_target_path(m)
        for m in (
            base,
            hosttarget.Machine("AMD EPYC 7B13", 4, 24 << 30),
            hosttarget.Machine("AMD EPYC 7B13", 2, 48 << 30),
            hosttarget.Machine("Intel Xeon", 2, 24 << 30),
        )
    }
    assert len(paths) == 4
    path = hosttarget.host_target_path(base)
    assert path.parent == host_cache
    assert path.name.startswith(f"host-cpu-v{hosttarget.FORMAT}-amd-epyc-7b13-2c-24g-")
    assert hosttarget.host_target_path(base) == path  # stable
    assert base.describe() == "AMD EPYC 7B13, 2 cores, 24 GiB"


def test_this_machine_rounds_memory_so_a_reboot_keeps_the_key() -> None:
    m = hosttarget.this_machine()
    assert m.cores >= 1 and m.cpu_model
    assert m.mem_bytes is None or m.mem_bytes % (1 << 28) == 0


def test_first_use_measures_once_and_says_so_in_one_line(
    empty_host_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _no_timing(monkeypatch)
    lines: list[str] = []
    hw = hosttarget.host_target(announce=lines.append, progress=lambda _: None)
    assert hw.name == "host-cpu" and len(calls) == 1
    assert len(lines) == 1 and "\n" not in lines[0]
    assert lines[0].startswith("attnsim: no host-cpu target for this machine (")
    assert "measuring it now (about half a minute)" in lines[0]
    assert str(hosttarget.host_target_path()) in lines[0]
    assert hosttarget.host_target_path().parent == empty_host_cache
    # the second use reads the cache: no timing, no message
    again = hosttarget.host_target(announce=lines.append, progress=lambda _: None)
    assert again == hw and len(calls) == 1 and len(lines) == 1


def test_a_cache_that_does_not_load_is_measured_again(
    empty_host_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _no_timing(monkeypatch)
    path = hosttarget.host_target_path()
    path.parent.mkdir(parents=True)
    path.write_text("version: 1\nname: [\n")
    lines: list[str] = []
    hw = hosttarget.host_target(announce=lines.append, progress=lambda _: None)
    assert hw.name == "host-cpu" and len(calls) == 1
    assert (
        len(lines) == 1
        and "does not load" in lines[0]
        and "measuring this machine again" in lines[0]
    )


def test_host_cpu_by_name_is_this_machines_cached_target(host_cache: Path) -> None:
    from attnsim.api import as_hardware

    hw = as_hardware("host-cpu")
    assert hw == load_hardware(hosttarget.host_target_path())
    # in the test suite that is the bundled example, still labelled as one
    assert hw.name == "host-cpu-example"


def test_hw_show_host_cpu_measures_on_first_use(
    empty_host_cache: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls = _no_timing(monkeypatch)
    assert main(["hw", "show", "host-cpu", "--json"]) == 0
    assert len(calls) == 1
    assert '"name": "host-cpu"' in capsys.readouterr().out
    # one warning on the attnsim logger (Python prints it on stderr when logging is not set up)
    (record,) = [r for r in caplog.records if r.name == "attnsim"]
    assert "no host-cpu target for this machine" in record.getMessage()


def test_with_threads_changes_count_and_rates() -> None:
    hw = hardware_from_dict(host_cpu_document(_fake()), "host-cpu.yaml")
    one = hosttarget.with_threads(hw, 1)
    assert one.engines["core"].count == 1
    # one core alone runs the 64x64x64 pair at 40 GFLOP/s, not the 30 of a busy machine
    assert one.peak("matmul", "fp32") == pytest.approx(
        hw.peak("matmul", "fp32") / 2 * 40 / 30, rel=1e-3
    )
    assert hosttarget.with_threads(hw, 2) is hw
    with pytest.raises(ValueError, match="threads: 0"):
        hosttarget.with_threads(hw, 0)


def test_a_disturbed_cached_target_warns_on_each_use(
    empty_host_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = _fake()
    bad = Stat(1e9, 0.5e9, 2e9, 9, "op/s", preempted=9, disturbed=True)
    monkeypatch.setattr(
        calibration,
        "run_microbenchmarks",
        lambda **_: Microbenchmarks(**{**fake.__dict__, "vector": bad}),
    )
    lines: list[str] = []
    hw = hosttarget.host_target(announce=lines.append, progress=lambda _: None)
    assert calibration.disturbed_values(hw) == ["engines.core.ops_per_cycle.vector.fp32"]
    assert len(lines) == 2 and "1 values of the host-cpu target were timed while" in lines[1]
    hosttarget.host_target(announce=lines.append, progress=lambda _: None)
    assert len(lines) == 3 and "DISTURBED" in lines[2]
