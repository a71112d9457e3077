"""Workload files: round trip for every op and mask kind, and pinned messages for bad files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from attnsim.workloads import (
    AttentionOp,
    AttentionSpec,
    Block,
    BlockSparseMask,
    CausalMask,
    ElementwiseOp,
    EmbeddingOp,
    FftOp,
    FullMask,
    GemmOp,
    LinearAttentionOp,
    NeighborhoodMask,
    NormOp,
    SharedPrefixMask,
    SlidingWindowMask,
    SoftmaxOp,
    UnknownOp,
    Workload,
    WorkloadError,
)
from attnsim.workloads.serialize import (
    FORMAT,
    VERSION,
    load_workload,
    save_workload,
    workload_from_dict,
    workload_to_dict,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

MASKS = [
    (FullMask(), 12, 20),
    (CausalMask(), 4, 20),
    (SlidingWindowMask(3, 1), 20, 20),
    (NeighborhoodMask((4, 5), (3, 3), (1, 1), (2, 1), (True, False)), 20, 20),
    (BlockSparseMask(8, 8, ((True, False, True), (False, True, False))), 16, 20),
    (SharedPrefixMask(8, 3, 4, False), 20, 20),
]


def every_kind() -> Workload:
    attn = [
        AttentionOp(f"attn_{m.kind}", "bf16", AttentionSpec(2, 4, 2, q, k, 16, 8, "prefill", m))
        for m, q, k in MASKS
    ]
    others = [
        GemmOp("qkv", "int8", 20, 48, 16, batch=2, weight_operand="b", weight_dtype="ternary"),
        SoftmaxOp("sm", "fp32", 20, 20),
        NormOp("ln", "bf16", 20, 16, "groupnorm"),
        ElementwiseOp("act", "bf16", 640, 1, 7.5, "gelu"),
        FftOp("fft", "fp32", 2, (20, 16), 1, True),
        LinearAttentionOp("la", "bf16", 2, 4, 20, 16, 8, True, "decode"),
        EmbeddingOp("emb", "bf16", 20, 16, 1000),
        UnknownOp("odd", "fp16", "aten.foo.default", 10.0, 2.5),
    ]
    return Workload(
        "every-kind",
        (Block("stem", tuple(others), 1), Block("layers", tuple(attn), 24)),
        tokens=40,
        meta={"model": "test", "seed": 7, "scale": 0.5},
    )


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    path = tmp_path / "w.json"
    save_workload(every_kind(), path)
    return path


def test_round_trip_every_op_and_mask_kind(saved: Path) -> None:
    w = every_kind()
    back = load_workload(saved)
    assert back == w
    assert back.total_flops() == w.total_flops()
    kinds = {op.kind for _, op in back.flat()}
    assert kinds == {
        "attention",
        "gemm",
        "softmax",
        "norm",
        "elementwise",
        "fft",
        "linear_attention",
        "embedding",
        "unknown",
    }


def test_header(saved: Path) -> None:
    doc = json.loads(saved.read_text())
    assert doc["format"] == FORMAT == "attnsim-workload" and doc["version"] == VERSION == 1


def _write(tmp_path: Path, doc: object) -> Path:
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(doc))
    return p


def _doc(saved: Path) -> dict:
    return json.loads(saved.read_text())


def test_newer_version_refused(saved: Path, tmp_path: Path) -> None:
    doc = _doc(saved)
    doc["version"] = 2
    p = _write(tmp_path, doc)
    with pytest.raises(
        WorkloadError,
        match=rf"^{p}: version: 2 is newer than this attnsim reads; expected version <= 1 \(upgrade attnsim to read it\)$",
    ):
        load_workload(p)


def test_older_version_refused(saved: Path, tmp_path: Path) -> None:
    doc = _doc(saved)
    doc["version"] = 0
    p = _write(tmp_path, doc)
    with pytest.raises(
        WorkloadError, match=rf"^{p}: version: 0 never existed; expected version 1$"
    ):
        load_workload(p)


def test_truncated_file(saved: Path, tmp_path: Path) -> None:
    p = tmp_path / "cut.json"
    p.write_text(saved.read_text()[:300])
    with pytest.raises(
        WorkloadError,
        match=r"cut.json: line \d+ column \d+: the file ends in the middle of the JSON document \(truncated\?\); expected a complete workload file",
    ):
        load_workload(p)


def test_invalid_json(tmp_path: Path) -> None:
    p = tmp_path / "x.json"
    p.write_text('{"format": "attnsim-workload", "version": 1,, }')
    with pytest.raises(
        WorkloadError,
        match=r"x.json: line 1 column 45: invalid JSON \(Expecting property name enclosed in double quotes\); expected JSON",
    ):
        load_workload(p)


def test_wrong_types_and_missing_fields_all_reported(saved: Path, tmp_path: Path) -> None:
    doc = _doc(saved)
    ops = doc["blocks"][1]["ops"]
    ops[0]["spec"]["q_len"] = "12"
    del ops[1]["spec"]["mask"]["kind"]
    doc["blocks"][0]["ops"][0]["m"] = 2.5
    del doc["blocks"][0]["ops"][1]["rows"]
    doc["blocks"][1]["count"] = 0
    p = _write(tmp_path, doc)
    with pytest.raises(WorkloadError) as info:
        load_workload(p)
    assert info.value.problems == [
        f"{p}: blocks[0].ops[0].m: got a number 2.5; expected an integer",
        f"{p}: blocks[0].ops[1].rows: missing; expected a value of type int",
        f"{p}: blocks[1].count: 0 is too small; expected an integer >= 1",
        f"{p}: blocks[1].ops[0].spec.q_len: got a string '12'; expected an integer",
        f"{p}: blocks[1].ops[1].spec.mask.kind: unknown mask kind None; expected one of "
        "block_sparse, block_topk, causal, causal_block, cluster, full, neighborhood, power, "
        "row_subset, shared_prefix, sliding_window, vertical_slash",
    ]
    assert isinstance(info.value, ValueError)


def test_cross_field_rule_reported_with_path(saved: Path, tmp_path: Path) -> None:
    doc = _doc(saved)
    doc["blocks"][1]["ops"][3]["spec"]["mask"]["window"] = [5, 3]  # 5 > axis of 4
    p = _write(tmp_path, doc)
    with pytest.raises(
        WorkloadError,
        match=rf"^{p}: blocks\[1\].ops\[3\].spec.mask.window\[0\]: window 5 x dilation 1 exceeds the axis size 4; expected window \* dilation <= 4$",
    ):
        load_workload(p)


def test_missing_format_unknown_key_and_missing_file(saved: Path, tmp_path: Path) -> None:
    doc = _doc(saved)
    del doc["format"]
    p = _write(tmp_path, doc)
    with pytest.raises(WorkloadError, match=r"format: missing; expected \"attnsim-workload\""):
        load_workload(p)
    doc = _doc(saved)
    doc["blokcs"] = []
    p = _write(tmp_path, doc)
    with pytest.raises(
        WorkloadError,
        match=r"bad.json: blokcs: unknown field \(did you mean 'blocks'\?\); expected one of",
    ):
        load_workload(p)
    with pytest.raises(
        WorkloadError, match=r"nope.json: file not found; expected a workload JSON file"
    ):
        load_workload(tmp_path / "nope.json")
    with pytest.raises(
        WorkloadError, match=r"<dict>: the document is list; expected a JSON object"
    ):
        workload_from_dict([])


def test_unknown_op_kind(saved: Path, tmp_path: Path) -> None:
    doc = _doc(saved)
    doc["blocks"][0]["ops"][0]["kind"] = "conv"
    p = _write(tmp_path, doc)
    with pytest.raises(
        WorkloadError,
        match=r"blocks\[0\].ops\[0\].kind: unknown op kind 'conv'; expected one of attention, cs_attention, "
        r"differential_attention, elementwise, embedding, fft, gathered_attention",
    ):
        load_workload(p)


# ---- the loader rejects random garbage with its own error, never a traceback ------------

json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=5),
    st.lists(st.integers(-3, 3), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


def _paths(node: object, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_random_corruption_raises_workload_error_only(data: st.DataObject) -> None:
    doc = workload_to_dict(every_kind())
    paths = [p for p in _paths(doc) if p]
    path = data.draw(st.sampled_from(paths))
    action = data.draw(st.sampled_from(["replace", "delete"]))
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    if action == "delete":
        del parent[path[-1]]
    else:
        parent[path[-1]] = data.draw(json_leaf)
    try:
        w = workload_from_dict(json.loads(json.dumps(doc)), "f.json")
    except WorkloadError as exc:
        assert exc.problems and all(line.startswith("f.json: ") for line in exc.problems)
    else:
        assert isinstance(w, Workload)
