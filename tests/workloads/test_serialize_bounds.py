"""Workload files are bounded before anything is expanded (workloads/limits.py): each
hostile input of issue #8 is refused with its key path, in milliseconds and without
memory to speak of."""

from __future__ import annotations

import json
import math
import os
import resource
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from attnsim.workloads import (
    AttentionOp,
    AttentionSpec,
    Block,
    CausalMask,
    ElementwiseOp,
    GemmOp,
    LinearAttentionOp,
    Workload,
    WorkloadError,
)
from attnsim.workloads.limits import (
    MAX_GRID_CELLS,
    MAX_JSON_DEPTH,
    MAX_PROBLEMS,
    nesting_depth,
    parse_json,
)
from attnsim.workloads.masks_sparse import BlockTopKMask, VerticalSlashMask
from attnsim.workloads.ops_variants import CompressedSensingAttentionOp, HaarWaveletMixerOp
from attnsim.workloads.serialize import load_workload, save_workload, workload_to_dict


def _doc(op: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {
        "format": "attnsim-workload",
        "version": 1,
        "name": "w",
        "blocks": [{"name": "b", "count": 1, "ops": [op]}],
        **top,
    }


def _gemm(**fields: Any) -> dict[str, Any]:
    return {"kind": "gemm", "name": "g", "dtype": "fp16", "m": 8, "n": 8, "k": 8, **fields}


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "w.json"
    path.write_text(text, encoding="utf-8")
    return path


def test_deep_nesting_is_refused_before_parsing(tmp_path: Path) -> None:
    path = _write(tmp_path, "[" * 100_000 + "]" * 100_000)
    with pytest.raises(
        WorkloadError,
        match=rf"w\.json: arrays and objects nest 100000 levels deep; expected at most {MAX_JSON_DEPTH}",
    ):
        load_workload(path)


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    assert nesting_depth('{"name": "[[[[{{{{", "x": [1, [2]]}') == 3
    assert nesting_depth('{"a": "\\"[[["}') == 1


def test_a_version_of_4301_digits_is_one_line(tmp_path: Path) -> None:
    path = _write(tmp_path, '{"format": "attnsim-workload", "version": ' + "9" * 4301 + "}")
    with pytest.raises(
        WorkloadError, match=r"w\.json: version: a number of 4301 digits is out of range"
    ):
        load_workload(path)


@pytest.mark.parametrize(
    ("literal", "what"),
    [
        ("1" + "0" * 400, "a number of 401 digits is out of range"),
        ("1e400", "1e400 is out of range"),
        ("NaN", "NaN is not a number"),
        ("-Infinity", "-Infinity is not a number"),
        ("4611686018427387904", "4611686018427387904 is out of range"),
    ],
)
def test_unrepresentable_numbers_name_their_key_path(
    tmp_path: Path, literal: str, what: str
) -> None:
    text = json.dumps(_doc(_gemm(m=1))).replace('"m": 1', f'"m": {literal}')
    with pytest.raises(WorkloadError) as info:
        load_workload(_write(tmp_path, text))
    assert info.value.problems == [
        f"{tmp_path / 'w.json'}: blocks[0].ops[0].m: {what}; expected a finite number "
        "(integers of magnitude below 2**62)"
    ]


def test_products_of_sizes_beyond_2_62_are_refused() -> None:
    with pytest.raises(WorkloadError, match=r"GemmOp: the sizes are too large .* 2\*\*62 bytes"):
        GemmOp("g", "fp16", 2**40, 2**40, 2**40)
    with pytest.raises(WorkloadError, match=r"GemmOp.m: 4611686018427387904 is too large"):
        GemmOp("g", "fp16", 2**62, 1, 1)
    with pytest.raises(
        WorkloadError, match=r"AttentionSpec.batch: 4611686018427387904 is too large"
    ):
        AttentionSpec(2**62, 1, 1, 1, 1, 1, 1)


def test_flops_beyond_2_72_are_refused() -> None:
    with pytest.raises(WorkloadError, match=r"2\*\*72 FLOPs"):
        GemmOp("g", "fp16", 2**25, 2**25, 2**25)
    with pytest.raises(
        WorkloadError, match=r"flops_per_element: 1e\+300 is invalid; expected a number from 0 to"
    ):
        ElementwiseOp("e", "fp16", 16, 1, 1e300)


def test_hostile_linear_attention_costs_milliseconds_not_gigabytes() -> None:
    """The issue's case: 3e8 tokens in chunks of 1 once built a per-chunk Python list."""
    tracemalloc.start()
    start = time.process_time()
    op = LinearAttentionOp("la", "bf16", 1, 1, 3 * 10**8, 64, 1, True, "prefill")
    flops = op.flops()
    elapsed = time.process_time() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 1 << 20  # bytes: no per-chunk structure
    assert elapsed < 0.5
    d = 64
    per_chunk = 4.0 * d + 4.0 * d * d + (1 + d * d + 2.0 * d)
    assert flops == pytest.approx(3e8 * per_chunk, rel=1e-12)


def test_closed_form_linear_attention_flops_match_the_sum_over_chunks() -> None:
    for seq, chunk, decay in [(1, 1, False), (100, 7, True), (4096, 64, True), (1000, 3, False)]:
        op = LinearAttentionOp("la", "bf16", 2, 3, seq, 16, chunk, decay, "prefill")
        d, total = 16, 0.0
        full, rest = divmod(seq, chunk)
        for c in [chunk] * full + ([rest] if rest else []):
            total += (
                4.0 * c * c * d + 4.0 * c * d * d + (c * c + d * d + 2.0 * c * d if decay else 0)
            )
        assert op.flops() == pytest.approx(total * 6, rel=1e-12)


def test_tile_grids_and_block_layouts_are_bounded() -> None:
    big = 2**23  # tokens: in 256-token tiles a 32768 x 32768 grid, 2**30 cells
    with pytest.raises(WorkloadError, match=r"the tile grid of .* has more than 4194304 cells"):
        CausalMask().tile_counts(big, big, 256, 256)
    with pytest.raises(WorkloadError, match=r"the layout of 1-token blocks of 4096 x 4096 blocks"):
        AttentionSpec(1, 1, 1, 4096, 4096, 16, 16, mask=BlockTopKMask(1, 2, 0, 1, 1))
    # at the bound, the tile grid is cheap enough
    side = int(math.isqrt(MAX_GRID_CELLS))
    assert CausalMask().tile_liveness(side * 64, side * 64, 64, 64).shape == (side, side)


def test_iterative_ops_are_bounded() -> None:
    with pytest.raises(WorkloadError, match=r"iters: 2000 is too many; expected at most 1024"):
        CompressedSensingAttentionOp("cs", "bf16", 1, 1, 64, 8, 16, 2000)
    start = time.process_time()
    with pytest.raises(WorkloadError, match=r"levels: 5000000000 halves 64 tokens below one"):
        HaarWaveletMixerOp("h", "bf16", 1, 64, 16, 5_000_000_000)
    assert time.process_time() - start < 0.1  # no 2**levels integer is built


def test_vertical_slash_lists_are_bounded() -> None:
    with pytest.raises(WorkloadError, match=r"verticals: 70000 entries; expected at most 65536"):
        VerticalSlashMask(verticals=tuple(range(70_000)))


def test_problem_lists_are_capped(tmp_path: Path) -> None:
    ops = [_gemm(name=f"g{i}", m=-1) for i in range(500)]
    doc = _doc(ops[0])
    doc["blocks"][0]["ops"] = ops
    with pytest.raises(WorkloadError) as info:
        load_workload(_write(tmp_path, json.dumps(doc)))
    assert len(info.value.problems) == MAX_PROBLEMS
    assert info.value.problems[-1].endswith("... and 451 more problems of the same file")


def test_a_hostile_key_cannot_forge_lines(tmp_path: Path) -> None:
    text = json.dumps(_doc(_gemm(**{"x\nattnsim: error: forged": 1})))
    with pytest.raises(WorkloadError) as info:
        load_workload(_write(tmp_path, text))
    assert all("\n" not in line for line in info.value.problems)
    assert any("x\\nattnsim: error: forged" in line for line in info.value.problems)


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/dev/zero", r"/dev/zero: not a regular file; expected a workload JSON file"),
        ("/", r"/: is a folder; expected a workload JSON file"),
        ("x" * 300 + ".json", r"the file name is too long for the file system"),
        ("a\x00b.json", r"a\\x00b.json: the name contains a NUL byte"),
    ],
)
def test_unreadable_paths_are_one_line(path: str, message: str) -> None:
    with pytest.raises(WorkloadError, match=message) as info:
        load_workload(path)
    assert len(info.value.problems) == 1


def _workload() -> Workload:
    spec = AttentionSpec(1, 2, 2, 16, 16, 8, 8, mask=CausalMask())
    return Workload("w", (Block("b", (AttentionOp("a", "bf16", spec),), 2),), tokens=16)


def test_save_never_creates_folders_and_names_the_option(tmp_path: Path) -> None:
    with pytest.raises(
        WorkloadError, match=r"-o: .*missing/w\.json: folder .*missing does not exist"
    ):
        save_workload(_workload(), tmp_path / "missing" / "w.json", option="-o")
    assert not (tmp_path / "missing").exists()


def test_save_replaces_a_planted_link_instead_of_following_it(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me", encoding="utf-8")
    link = tmp_path / "w.json"
    link.symlink_to(victim)
    save_workload(_workload(), link)
    assert victim.read_text(encoding="utf-8") == "keep me"
    assert not link.is_symlink()
    assert load_workload(link) == _workload()
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_a_failed_save_leaves_no_temporary_file(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    os.chmod(folder, 0o500)
    try:
        if os.access(folder, os.W_OK):  # root ignores the mode: nothing to check
            pytest.skip("running as a user that can write a read-only folder")
        with pytest.raises(WorkloadError, match=r"output: .*ro/w\.json: folder .* not writable"):
            save_workload(_workload(), folder / "w.json")
        assert list(folder.iterdir()) == []
    finally:
        os.chmod(folder, 0o700)


def test_files_round_trip_with_plain_python_values(tmp_path: Path) -> None:
    path = tmp_path / "w.json"
    save_workload(_workload(), path)
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc == workload_to_dict(_workload())
    assert parse_json(path.read_text(encoding="utf-8"), "w.json") == doc


def test_a_hostile_file_costs_little_memory(tmp_path: Path) -> None:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    doc = _doc(
        {
            "kind": "linear_attention",
            "name": "la",
            "dtype": "bf16",
            "batch": 1,
            "heads": 1,
            "seq_len": 3 * 10**8,
            "head_dim": 64,
            "chunk": 1,
        }
    )
    w = load_workload(_write(tmp_path, json.dumps(doc)))
    assert w.total_flops() > 0
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kib < 64 * 1024
