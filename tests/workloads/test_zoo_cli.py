"""Tests of ``attnsim trace`` (the command line over the zoo)."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
from attnsim.workloads.ops import AttentionOp
from attnsim.workloads.serialize import load_workload

from attnsim.cli.main import main


def test_trace_writes_a_loadable_workload(tmp_path, capsys):
    out = tmp_path / "l8.json"
    code = main(["trace", "llama3-8b", "--seq", "32", "--batch", "2", "-o", str(out)])
    assert code == 0
    wl = load_workload(out)
    att = [op for _b, op in wl.flat() if isinstance(op, AttentionOp)]
    assert att[0].spec.q_len == 32 and att[0].spec.batch == 2
    assert wl.meta["seq"] == 32
    text = capsys.readouterr().out
    assert "model.layers x32" in text and "aten.cat" in text  # unknown ops are listed


def test_trace_decode(tmp_path):
    out = tmp_path / "d.json"
    assert main(["trace", "llama3-8b", "--phase", "decode", "--kv-len", "512", "-o", str(out)]) == 0
    att = [op for _b, op in load_workload(out).flat() if isinstance(op, AttentionOp)]
    assert (att[0].spec.q_len, att[0].spec.kv_len) == (1, 513)


def test_trace_stores_weights_as_asked(tmp_path):
    out = tmp_path / "e.json"
    argv = ["trace", "bitnet-b1.58-3b", "--phase", "decode", "--kv-len", "7", "--weights", "int8"]
    assert main([*argv, "-o", str(out)]) == 0
    wl = load_workload(out)
    head = [op for _b, op in wl.flat() if getattr(op, "weight_dtype", "ternary") != "ternary"]
    assert [op.weight_dtype for op in head] == ["int8"] and wl.meta["weights"] == "int8"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["trace", "llama3-9b", "-o", "x.json"], "unknown zoo model 'llama3-9b' (did you mean 'llama3-8b'?)"),
        (["trace", "llama3-8b", "--batch", "zero", "-o", "x.json"], "batch 'zero' is invalid"),
        (["trace", "vit-b16", "--image-size", "100", "-o", "x.json"], "not a multiple of the patch size 16"),
        (["trace", "vit-b16", "--phase", "decode", "--kv-len", "4", "-o", "x.json"], "phase 'decode' is not supported"),
        (["trace", "llama3-8b", "--dtype", "fp8", "-o", "x.json"], "dtype 'fp8' is unknown"),
        (["trace", "llama3-8b", "--weights", "int4", "-o", "x.json"], "weights 'int4' is unknown; expected one of int8"),
        (["trace", "llama3-8b"], "-o/--output is missing"),
        (["trace"], "no MODEL given"),
    ],
)  # fmt: skip
def test_bad_input_exits_2_with_one_line(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("attnsim: error: ") and message in err[0]
    assert not (tmp_path / "x.json").exists()


@pytest.mark.slow
def test_list_shows_every_model_with_its_parameter_count(capsys):
    assert main(["trace", "--list"]) == 0
    out = capsys.readouterr().out
    for name in (
        "llama3-8b", "llama3-70b", "vit-b16", "vit-l14", "vlm-llava-style",
        "bitnet-b1.58-2b", "bitnet-b1.58-3b", "nat-tiny", "lightning-llm",
    ):  # fmt: skip
        assert name in out
    assert "8.03B" in out and "70.55B" in out  # the published 8B / 70B sizes
