"""``attnsim workload VARIANT`` and ``attnsim workload --list [--json]`` through the real
entry point: every variant generates a file, the table lists every variant with its
paper, IR, command, families and speedups, bad input is one line with exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from attnsim.workloads.serialize import load_workload
from attnsim.workloads.variants import VARIANTS, build_variant, list_variants

import attnsim.cli.main as cli_main
from attnsim.cli.main import main


@pytest.fixture(autouse=True)
def only_workload_group(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli_main, "COMMAND_MODULES", ("workload",))


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("name", [v.name for v in list_variants()])
def test_every_variant_generates_its_default_file(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / f"{name}.json"
    code, out, err = run(capsys, "workload", name, "-o", str(f))
    assert (code, err) == (0, "")
    assert out.startswith(f"wrote {f}")
    w = load_workload(f)
    assert w == build_variant(name)
    assert w.total_flops() > 0


def test_variant_options_reach_the_generator(tmp_path: Path, capsys) -> None:
    f = tmp_path / "l.json"
    code, _, _ = run(capsys, "workload", "linformer", "--seq", "2048", "--proj", "64",
                     "--heads", "8", "--share", "kv", "-o", str(f))  # fmt: skip
    assert code == 0
    ((_, op),) = list(load_workload(f).flat())
    assert (op.q_len, op.proj, op.heads, op.share) == (2048, 64, 8, "kv")


def test_every_variant_has_help(capsys) -> None:
    for v in list_variants():
        with pytest.raises(SystemExit) as info:
            main(["workload", v.name, "--help"])
        assert info.value.code == 0
        out = capsys.readouterr().out
        assert v.paper.split(",")[0] in out.replace("\n", " ")


def test_list_json_has_every_variant_with_its_columns(capsys) -> None:
    code, out, err = run(capsys, "workload", "--list", "--json", "--seqs", "1024",
                         "--targets", "h100-sxm5-80gb,vitallm-16nm")  # fmt: skip
    assert code == 0 and err == ""
    rows = json.loads(out)["variants"]
    assert [r["name"] for r in rows] == list(VARIANTS)
    for r in rows:
        assert r["paper"] and r["ir"] and r["families"]
        assert r["command"] == f"attnsim workload {r['name']} -o {r['name']}.json"
        h100 = r["speedup"]["h100-sxm5-80gb"]["1024"]
        assert h100 is not None and h100 > 0
        # the ternary edge target has no bf16/fp32 GEMM or vector engine: variants that
        # need one are n/a there, with the target's reason
        if r["speedup"]["vitallm-16nm"]["1024"] is None:
            assert "vitallm-16nm" in r["not_run"]["vitallm-16nm"]
    by = {r["name"]: r for r in rows}
    assert by["dense"]["speedup"]["h100-sxm5-80gb"]["1024"] == pytest.approx(1.0)
    assert by["sliding-window"]["speedup"]["h100-sxm5-80gb"]["1024"] >= 0.99
    # attention variants run on the edge target's attention pipeline
    for name in ("dense", "causal", "sliding-window", "block-sparse"):
        assert by[name]["speedup"]["vitallm-16nm"]["1024"] is not None, by[name]["not_run"]
    assert by["block-sparse"]["speedup"]["vitallm-16nm"]["1024"] > 1.0


def test_list_table_without_speedups(capsys) -> None:
    code, out, _ = run(capsys, "workload", "--list", "--no-speedups")
    assert code == 0
    for v in list_variants():
        assert v.name in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["workload"], "workload: no SUBCOMMAND given; expected one of attention, gemm, show"),
        (["workload", "--list", "--seqs", "4k"], "--seqs: '4k' is not a list of integers"),
        (["workload", "--list", "--seqs", "0"], "--seqs: '0' has a length < 1"),
        (["workload", "--list", "--targets", "h1000"], "h1000"),
        (["workload", "power", "--block", "0", "-o", "x.json"], "--block: 0 is not positive"),
        (["workload", "linformer", "--proj", "9000", "-o", "x.json"], "--proj: 9000 exceeds --seq 4096"),
        (["workload", "linformer", "--share", "all", "-o", "x.json"], "argument --share: invalid choice"),
        (["workload", "moh", "--active-heads", "40", "-o", "x.json"], "--active-heads: 40 exceeds --heads 32"),
        (["workload", "gda", "--noise-heads", "5", "-o", "x.json"], "--noise-heads: 5 does not divide --heads 32"),
        (["workload", "sqa", "--query-heads", "32", "-o", "x.json"], "--query-heads: 32 is not fewer than --heads 32"),
        (["workload", "csat", "--iters", "-1", "-o", "x.json"], "--iters: -1 is negative"),
        (["workload", "lmwt", "--levels", "20", "--seq", "16", "-o", "x.json"], "--levels: 20 halves --seq 16"),
        (["workload", "kat", "--groups", "7", "-o", "x.json"], "--groups: 7 does not divide --dim 4096"),
        (["workload", "neighborhood", "--spatial", "8x8", "--window", "9", "-o", "x.json"], "--window: 9 exceeds axis 0"),
        (["workload", "block-sparse", "--density", "2", "-o", "x.json"], "--density: 2.0 is outside"),
        (["workload", "sliding-window", "--window", "9000", "-o", "x.json"], "--window: 9000 exceeds --seq"),
        (["workload", "power", "--seq", "abc", "-o", "x.json"], "argument --seq: invalid int value"),
        (["workload", "power"], "the following arguments are required: -o/--output"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_exit_2(argv, message, tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse's own usage errors (OneLineParser: one line, 2)
        code = exc.code
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err
    assert lines[0].startswith("attnsim") and message in lines[0], lines[0]
    assert not (tmp_path / "x.json").exists()


def test_list_targets_with_lengths_of_their_own(capsys) -> None:
    code, out, err = run(capsys, "workload", "--list", "--json", "--seqs", "1024,4096",
                         "--targets", "h100-sxm5-80gb,vitallm-16nm@1024")  # fmt: skip
    assert code == 0 and err == ""
    dense = {r["name"]: r for r in json.loads(out)["variants"]}["dense"]
    assert set(dense["speedup"]["h100-sxm5-80gb"]) == {"1024", "4096"}
    assert set(dense["speedup"]["vitallm-16nm"]) == {"1024"}


@pytest.mark.parametrize("bad", ["vitallm-16nm@", "vitallm-16nm@x", "vitallm-16nm@0"])
def test_list_target_lengths_must_be_integers(capsys, bad) -> None:
    code, _, err = run(capsys, "workload", "--list", "--targets", bad)
    assert code == 2 and "expected NAME or NAME@LENGTH+LENGTH" in err
