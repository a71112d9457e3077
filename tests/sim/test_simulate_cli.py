"""``attnsim simulate``: the JSON contract, timelines, and one-line errors with exit 2."""

from __future__ import annotations

import json

import pytest
from attnsim.workloads import Block, GemmOp, Workload
from attnsim.workloads.serialize import save_workload
from attnsim.workloads.synthetic import causal_attention

from attnsim.cli.main import main


@pytest.fixture()
def attention_file(tmp_path):
    return str(save_workload(causal_attention(1, 8, 2048, 128), tmp_path / "attn.json"))


def test_json_has_the_documented_keys(attention_file, capsys):
    assert main(["simulate", "--hw", "h100-sxm5-80gb", "--workload", attention_file, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    for key in (
        "latency_s",
        "flops",
        "tflops_per_s",
        "tokens_per_s",
        "bytes",
        "energy_j",
        "power_w",
        "ops",
    ):
        assert key in doc
    assert set(doc["energy_j"]) >= {"compute", "memory", "static", "total"}
    assert doc["energy_j"]["total"] == pytest.approx(
        doc["energy_j"]["compute"] + doc["energy_j"]["memory"] + doc["energy_j"]["static"]
    )
    assert set(doc["bytes"]) >= {"l2", "hbm"}
    (op,) = doc["ops"]
    assert {"kind", "latency_s", "flops", "bytes"} <= set(op)
    assert op["kind"] == "attention" and op["family"] == "flash-attention-3"
    assert doc["tokens_per_s"] == pytest.approx(2048 / doc["latency_s"])


def test_tokens_per_s_is_null_without_tokens(tmp_path, capsys):
    path = save_workload(
        Workload("g", (Block("b", (GemmOp("g", "fp16", 512, 512, 512),), 1),)), tmp_path / "g.json"
    )
    assert main(["simulate", "--hw", "a100-sxm4-80gb", "--workload", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["tokens_per_s"] is None


def test_family_and_tables(attention_file, capsys):
    assert (
        main(
            [
                "simulate",
                "--hw",
                "h100-sxm5-80gb",
                "--workload",
                attention_file,
                "--family",
                "triton-bundled",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "triton-bundled" in out and "latency (ms)" in out


def test_timeline_is_valid_chrome_trace(attention_file, tmp_path, capsys):
    trace = tmp_path / "trace.json"
    assert (
        main(
            [
                "simulate",
                "--hw",
                "h100-sxm5-80gb",
                "--workload",
                attention_file,
                "--timeline",
                str(trace),
            ]
        )
        == 0
    )
    assert str(trace) in capsys.readouterr().out
    doc = json.loads(trace.read_text())
    spans = [e for e in doc["traceEvents"] if e["ph"] == "X"]
    names = {e["args"]["name"] for e in doc["traceEvents"] if e.get("name") == "thread_name"}
    assert {"ops", "kernels"} <= names and any(n.startswith("unit 0") for n in names)
    assert all(e["dur"] >= 0 and e["ts"] >= 0 for e in spans)
    op_span = next(e for e in spans if e["tid"] == 1)
    assert op_span["dur"] == pytest.approx(doc["otherData"]["latency_s"] * 1e6)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--hw", "no-such-gpu"], "no-such-gpu"),
        (
            ["--workload", "/nonexistent/w.json"],
            "/nonexistent/w.json: no such file; expected an existing workload JSON file",
        ),
        (["--family", "flash-attention-9"], "unknown kernel family 'flash-attention-9'"),
        (
            ["--hw", "a100-sxm4-80gb", "--family", "flash-attention-3"],
            "does not run kernel family 'flash-attention-3'",
        ),
        (["--block-q", "0"], "--block-q: 0 must be >= 1"),
        (["--policy", "dsa"], "--policy: unknown scheduling policy 'dsa' (did you mean 'das'?)"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(attention_file, capsys, argv, message):
    args = {"--hw": "h100-sxm5-80gb", "--workload": attention_file}
    extra: list[str] = []
    i = 0
    while i < len(argv):
        if argv[i] in args:
            args[argv[i]] = argv[i + 1]
        else:
            extra += argv[i : i + 2]
        i += 2
    cmd = ["simulate", "--hw", args["--hw"], "--workload", args["--workload"], *extra]
    assert main(cmd) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert message in err[0]


def test_workload_that_does_not_fit_exits_2(tmp_path, capsys):
    huge = GemmOp("w", "fp16", m=1, n=65536, k=65536, weight_operand="b")  # 8 GiB of weights
    path = save_workload(Workload("huge", (Block("layer", (huge,), 4),)), tmp_path / "huge.json")
    assert main(["simulate", "--hw", "rtx-4090", "--workload", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert (
        len(err) == 1 and "needs 32.0 GiB in gddr" in err[0] and "rtx-4090 has 24.0 GiB" in err[0]
    )


def test_corrupt_workload_file_exits_2(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "attnsim-workload", "version": 1, "name": ')
    assert main(["simulate", "--hw", "h100-sxm5-80gb", "--workload", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "bad.json" in err


def test_policy_is_recorded_in_the_json(attention_file, capsys):
    argv = ["simulate", "--hw", "h100-sxm5-80gb", "--workload", attention_file, "--json"]
    assert main([*argv, "--policy", "in-order"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["policy"] == "in-order"
    for key in ("die_power_w", "area_mm2", "fom_tops_per_mm2_w", "precision_fallbacks"):
        assert key in doc
    # a GPU states no FOM convention: the whole chip's peak, a MAC = 2 ops, said so
    assert doc["fom_convention"].startswith("whole chip's matmul peak")
    assert set(doc["energy_j"]) >= {"compute_by_engine", "static_by_part"}
