"""``attnsim workload``: attention/gemm/show through the real entry point, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from attnsim.workloads.serialize import load_workload

import attnsim.cli.main as cli_main
from attnsim.cli.main import main

REGISTERED_AT_IMPORT = tuple(cli_main.COMMAND_MODULES)


@pytest.fixture(autouse=True)
def only_workload_group(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run the real entry point with just this command group registered, so these tests
    exercise `attnsim workload` alone and do not depend on other groups importing."""
    monkeypatch.setattr(cli_main, "COMMAND_MODULES", ("workload",))


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_attention_gqa_causal(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "a.json"
    code, out, _ = run(
        capsys,
        "workload",
        "attention",
        "--batch",
        "2",
        "--heads",
        "8",
        "--kv-heads",
        "2",
        "--seq",
        "128",
        "--head-dim",
        "64",
        "--mask",
        "causal",
        "--dtype",
        "bf16",
        "-o",
        str(f),
    )
    assert code == 0 and "wrote" in out
    ((_, op),) = load_workload(f).flat()
    assert op.spec.kv_heads == 2 and op.dtype == "bf16"
    assert op.flops() == 2 * 2 * 8 * (128 * 129 // 2) * 128


def test_attention_neighborhood_and_show_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "n.json"
    code, _, _ = run(
        capsys,
        "workload",
        "attention",
        "--heads",
        "4",
        "--head-dim",
        "32",
        "--mask",
        "neighborhood",
        "--spatial",
        "16x16",
        "--window",
        "5x5",
        "--dilation",
        "2",
        "--stride",
        "1x5",
        "--causal-axes",
        "1x0",
        "-o",
        str(f),
    )
    assert code == 0
    code, out, _ = run(capsys, "workload", "show", str(f), "--json")
    doc = json.loads(out)
    (row,) = doc["ops"]
    assert row["kind"] == "attention" and row["count"] == 1
    assert row["q_len"] == 256 and row["mask"]["kind"] == "neighborhood"
    assert row["mask"]["stride"] == [1, 5] and row["mask"]["causal"] == [True, False]
    assert doc["totals"]["flops"] == row["flops"] > 0
    assert doc["totals"]["bytes"] == row["bytes"]


def test_show_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "g.json"
    assert (
        run(
            capsys,
            "workload",
            "gemm",
            "--m",
            "64",
            "--n",
            "32",
            "--k",
            "16",
            "--batch",
            "2",
            "--dtype",
            "int8",
            "--weight-operand",
            "b",
            "--weight-dtype",
            "ternary",
            "-o",
            str(f),
        )[0]
        == 0
    )
    code, out, _ = run(capsys, "workload", "show", str(f))
    assert code == 0
    assert "gemm" in out and "131.1 kFLOP" in out and "total" in out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ["--mask", "window", "--seq", "100", "--window", "200"],
            "--window: 200 exceeds the key length 100",
        ),
        (["--seq", "0"], "--seq: 0 is not positive; expected an integer >= 1"),
        (["--seq", "64", "--kv-heads", "3"], "--kv-heads: 3 does not divide --heads 8"),
        (
            ["--seq", "64", "--heads", "3", "--kv-heads", "8"],
            "--heads: 3 does not divide --kv-heads 8",
        ),
        (
            ["--mask", "block-sparse", "--seq", "64", "--density", "1.5"],
            "--density: 1.5 is outside (0, 1]",
        ),
        (
            ["--mask", "block-sparse", "--seq", "64", "--density", "0"],
            "--density: 0.0 is outside (0, 1]",
        ),
        (
            ["--mask", "neighborhood", "--spatial", "16x16", "--seq", "100", "--window", "3x3"],
            "--seq: 100 does not match --spatial 16x16 (256 tokens)",
        ),
        (
            ["--mask", "neighborhood", "--spatial", "16x16", "--window", "9x9", "--dilation", "2"],
            "--window: 9 x dilation 2 exceeds axis 0 of --spatial (16)",
        ),
        (
            ["--mask", "neighborhood", "--spatial", "16x16", "--window", "3x3x3"],
            "--window: 3x3x3 has 3 values; expected 2, one per axis of --spatial",
        ),
        (["--mask", "full", "--seq", "64", "--window", "8"], "--window: not used by --mask full"),
        (
            ["--mask", "shared-prefix", "--seq", "100", "--prefix", "10", "--continuations", "7"],
            "--seq: 100 - --prefix 10 = 90 tokens do not split into 7 equal continuations",
        ),
        (["--mask", "neighborhood", "--window", "3"], "--spatial: missing"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    heads = [] if "--heads" in extra else ["--heads", "8"]  # options may be given once
    argv = ["workload", "attention", *heads, "--head-dim", "64", "-o", str(tmp_path / "x.json")]
    code, _, err = run(capsys, *argv, *extra)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("attnsim: error: ")
    assert message in lines[0]
    assert not (tmp_path / "x.json").exists()


def test_shared_prefix_and_block_sparse_seed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "s.json"
    assert (
        run(
            capsys,
            "workload",
            "attention",
            "--heads",
            "2",
            "--head-dim",
            "16",
            "--mask",
            "shared-prefix",
            "--prefix",
            "10",
            "--continuations",
            "3",
            "--seq",
            "40",
            "-o",
            str(f),
        )[0]
        == 0
    )
    ((_, op),) = load_workload(f).flat()
    assert op.spec.mask.continuation_len == 10
    b1, b2 = tmp_path / "b1.json", tmp_path / "b2.json"
    for path in (b1, b2):
        assert (
            run(
                capsys,
                "workload",
                "attention",
                "--heads",
                "2",
                "--head-dim",
                "16",
                "--seq",
                "256",
                "--mask",
                "block-sparse",
                "--density",
                "0.3",
                "--block",
                "32",
                "--seed",
                "5",
                "-o",
                str(path),
            )[0]
            == 0
        )
    assert load_workload(b1) == load_workload(b2)
    assert load_workload(b1).meta["seed"] == 5


def test_decode_phase(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "d.json"
    assert (
        run(
            capsys,
            "workload",
            "attention",
            "--heads",
            "8",
            "--head-dim",
            "64",
            "--seq",
            "1",
            "--kv-seq",
            "4096",
            "--mask",
            "causal",
            "--phase",
            "decode",
            "-o",
            str(f),
        )[0]
        == 0
    )
    ((_, op),) = load_workload(f).flat()
    assert op.spec.phase == "decode" and op.spec.live_pairs == 4096


def test_show_bad_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "bad.json"
    f.write_text('{"format": "attnsim-workload", "version": 9}')
    code, _, err = run(capsys, "workload", "show", str(f))
    assert code == 2
    assert f"attnsim: error: {f}: version: 9 is newer than this attnsim reads" in err


def test_gemm_bad_size(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(
        capsys,
        "workload",
        "gemm",
        "--m",
        "-4",
        "--n",
        "2",
        "--k",
        "2",
        "-o",
        str(tmp_path / "g.json"),
    )
    assert code == 2 and "--m: -4 is not positive" in err


def test_workload_group_is_registered() -> None:
    assert "workload" in REGISTERED_AT_IMPORT
