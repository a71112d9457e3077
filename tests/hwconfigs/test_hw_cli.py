"""``attnsim hw list | show | validate`` through the real entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from attnsim.hwconfigs import HardwareConfigError, list_targets, load_hardware, targets_dir

from attnsim.cli import hw as hw_cli
from attnsim.cli.main import main

TARGETS = Path(str(targets_dir()))


def test_module_contract() -> None:
    assert hw_cli.ERRORS == (HardwareConfigError,)
    assert callable(hw_cli.register)


def test_list_shows_every_target_with_peaks(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["hw", "list"]) == 0
    out = capsys.readouterr().out
    for name in (
        "a100-sxm4-80gb",
        "h100-sxm5-80gb",
        "h200-sxm-141gb",
        "b200",
        "rtx-4090",
        "vitallm-16nm",
        "host-cpu",
    ):
        assert name in out
    assert "989.4 TOPS" in out  # H100 dense fp16
    assert "3.35 TB/s" in out and "4.8 TB/s" in out  # H100 / H200 HBM
    assert "768 GOPS" in out  # VitaLLM ternary: two 32x4 TINT cores + BoothFlex ternary mode


def test_show_prints_values_units_and_sources(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["hw", "show", "h100-sxm5-80gb"]) == 0
    out = capsys.readouterr().out
    assert "memory.hbm.bandwidth" in out
    assert "3.35 TB/s" in out
    assert "228 KiB" in out
    assert "NVIDIA H100 datasheet" in out


def test_show_json_is_one_object_with_every_value(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["hw", "show", "h200-sxm-141gb", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["name"] == "h200-sxm-141gb"
    assert doc["memory_order"] == ["rf", "smem", "l2", "hbm"]
    bw = doc["values"]["memory.hbm.bandwidth"]
    assert bw == {"value": 4.8e12, "unit": "B/s", "source": bw["source"]}
    assert "H200" in bw["source"]
    hw = load_hardware("h200-sxm-141gb")
    assert set(doc["values"]) == set(hw.sources)


def test_show_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(
        yaml.safe_dump(load_hardware("rtx-4090").to_dict(), sort_keys=False), encoding="utf-8"
    )
    assert main(["hw", "show", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["name"] == "rtx-4090"


def test_show_bad_name_exits_2_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["hw", "show", "h100"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "attnsim: error: h100: <document>: is neither a bundled target nor a file" in err[0]


def test_validate_ok(capsys: pytest.CaptureFixture[str]) -> None:
    files = [str(TARGETS / "h100-sxm5-80gb.yaml"), str(TARGETS / "vitallm-16nm.yaml")]
    assert main(["hw", "validate", *files]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [f"{f}: ok" for f in files]


def test_validate_reports_all_problems_of_all_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad1 = tmp_path / "bad1.yaml"
    bad1.write_text("version: 2\n", encoding="utf-8")
    doc = load_hardware("a100-sxm4-80gb").to_dict()
    doc["memory"]["hbm"]["bandwidth"] = {"value": "2 GHz", "source": "x"}
    doc["engines"]["tensor"]["clok"] = "1 GHz"
    bad2 = tmp_path / "bad2.yaml"
    bad2.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    good = str(TARGETS / "b200.yaml")
    assert main(["hw", "validate", str(bad1), good, str(bad2)]) == 2
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [f"{good}: ok"]
    err = captured.err.splitlines()
    assert len(err) == 3, err
    assert err[0].startswith(f"attnsim: error: {bad1}: version: version 2 is newer")
    assert any(
        f"{bad2}: memory.hbm.bandwidth: '2 GHz' has units of frequency" in line for line in err
    )
    assert any(
        f"{bad2}: engines.tensor.clok: unknown key" in line and "did you mean 'clock'" in line
        for line in err
    )


def test_show_writes_numbers_as_people_write_them(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["hw", "show", "h100-sxm5-80gb"]) == 0
    out = capsys.readouterr().out
    assert "5 us" in out and "4.9999999999999996e-06" not in out  # calibration.launch_overhead
    assert "4096/clk/SM = 989.4 TFLOP/s" in out  # per-cycle rate and the whole-group peak
    assert "8192/clk/SM = 1.979 POPS" in out  # int8: ops, not FLOP
    assert "0.35 pJ/B" in out and "0.55 ns" in out
    assert "area 814 mm2, static power 70 W" in out


def test_list_json_is_one_object_per_target(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["hw", "list", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    by_name = {t["name"]: t for t in doc}
    assert set(by_name) == set(list_targets())
    h100 = by_name["h100-sxm5-80gb"]
    assert h100["peak_ops_per_s"]["matmul"]["fp16"] == pytest.approx(989.4e12)
    assert h100["far_memory"] == {
        "name": "hbm",
        "capacity_bytes": 80 * 2**30,
        "bandwidth_bytes_per_s": 3.35e12,
    }
    assert h100["digest"] == load_hardware("h100-sxm5-80gb").digest


def test_validate_json_is_one_object_per_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 2\n", encoding="utf-8")
    assert main(["hw", "validate", "--json", "b200", str(bad)]) == 2
    captured = capsys.readouterr()
    assert captured.err == ""
    doc = json.loads(captured.out)
    assert doc[0] == {"file": "b200", "ok": True, "problems": []}
    assert doc[1]["file"] == str(bad) and not doc[1]["ok"]
    assert doc[1]["problems"][0].startswith(f"{bad}: version: version 2 is newer")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["hw", "show", "x" * 300 + ".yaml"], "the file name is too long for the file system"),
        (["hw", "show", "/"], "/: <document>: is a folder"),
        (["hw", "validate"], "the following arguments are required: FILE"),
        (["hw", "list", "--jsn"], "unrecognized arguments: --jsn"),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's usage errors
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
