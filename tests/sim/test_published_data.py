"""The published GPU measurements (the held-out validation set) load, cover what they must,
convert to seconds exactly as their publishers counted, and bad files fail with one line
per problem naming the file and key path."""

from __future__ import annotations

import copy
import functools
import re
from pathlib import Path

import pytest
import yaml
from attnsim.sim.calibration.fit import published_measurements
from attnsim.sim.calibration.published import (
    KIND_TAGS,
    TARGETS,
    PublishedDataError,
    entry_kinds,
    entry_op,
    entry_seconds,
    load_published_kernels,
    published_flops,
    speedup_measured,
)
from attnsim.workloads.masks import BlockSparseMask, NeighborhoodMask, SlidingWindowMask
from attnsim.workloads.ops import AttentionOp, GemmOp

from attnsim.errors import ProblemsError

BUNDLED = Path(__file__).resolve().parents[2] / "sim" / "calibration" / "published_kernels.yaml"


@pytest.fixture(scope="module")
def data():
    return load_published_kernels()


# --------------------------------------------------------------------------------------
# The bundled file
# --------------------------------------------------------------------------------------


def test_bundled_file_loads_with_enough_expressible_entries(data):
    assert data.version == 1
    assert len(data.expressible()) >= 40
    assert len({e.id for e in data.entries}) == len(data.entries)


def test_coverage_of_kinds_and_gpus(data):
    expressible = [e for e in data.expressible() if e.gpu.target is not None]
    kinds = set().union(*(entry_kinds(e) for e in expressible))
    required = set(KIND_TAGS) - {"mqa", "gqa"}
    assert required <= kinds, f"missing kinds: {sorted(required - kinds)}"
    assert {"gqa", "mqa"} & kinds
    per_target = {t: [e for e in expressible if e.gpu.target == t] for t in TARGETS}
    for target, entries in per_target.items():
        assert len(entries) >= 5, target
    # the attention kinds are measured on more than one GPU where the sources allow
    cov = data.coverage()
    for tag in ("causal", "neighborhood", "strided_neighborhood", "block_sparse"):
        assert sum(1 for (k, _t) in cov if k == tag) >= 2, tag
    assert cov[("gemm", "a100-sxm4-80gb")] >= 4


def test_every_entry_names_its_source(data):
    for e in data.entries:
        s = e.source
        assert s.title and s.authors and s.url.startswith("https://") and s.where, e.id
        assert 2019 <= s.year <= 2026, e.id
        assert e.kernel.name and e.kernel.version, e.id
    for s in data.speedups:
        assert s.source is not None and s.source.where


def test_non_expressible_entries_say_why_and_refuse_conversion(data):
    hidden = [e for e in data.entries if not e.expressible]
    assert hidden, "the FA2 forward+backward figures are kept as non-expressible entries"
    for e in hidden:
        assert e.reason
        with pytest.raises(PublishedDataError, match=r"not expressible"):
            entry_op(e)
        assert entry_seconds(e) > 0  # the figure is still usable as a time


def test_every_expressible_entry_converts_to_an_op_and_seconds(data):
    for e in data.expressible():
        op = entry_op(e)
        assert isinstance(op, AttentionOp | GemmOp)
        assert op.flops() > 0 and entry_seconds(e) > 0
        if e.measured.flop_convention is not None:
            # the publisher's count and attnsim's exact count differ only by the causal
            # diagonal (S^2/2 against S(S+1)/2): within 0.2% for S >= 512
            assert published_flops(e) == pytest.approx(op.flops(), rel=2e-3), e.id


# --------------------------------------------------------------------------------------
# Conversions checked by hand
# --------------------------------------------------------------------------------------


def test_fa_convention_causal_counts_half_the_dense_flops(data):
    # FA3 paper Fig. 5(d): FA3, d=128, causal, 16k tokens -> B=1, H=2048/128=16.
    # FLOPs = 4 * 1 * 16384^2 * 128 * 16 / 2 = 1_099_511_627_776; at 616 TFLOP/s that is
    # 1_099_511_627_776 / 616e12 = 1.784921e-3 s.
    e = data.entry("fa3paper-h100-fa3-d128-causal-s16k")
    assert published_flops(e) == 1_099_511_627_776
    assert entry_seconds(e) == pytest.approx(1_099_511_627_776 / 616e12, rel=1e-12)
    assert entry_seconds(e) == pytest.approx(1.784921e-3, rel=1e-6)
    # the dense panel (c) counts all pairs: 4 * 16384^2 * 128 * 16 = 2_199_023_255_552
    dense = data.entry("fa3paper-h100-fa3-d128-dense-s16k")
    assert published_flops(dense) == 2 * published_flops(e)


def test_fa_forward_backward_convention_is_three_and_a_half_forwards(data):
    # FA2 README A100 panel (d): d=128 causal 16k at 189 TFLOP/s (fwd+bwd)
    # FLOPs = 3.5 * 1_099_511_627_776 = 3_848_290_697_216 -> 3_848_290_697_216 / 189e12 s
    e = data.entry("fa2readme-a100-fa2-fwdbwd-d128-causal-s16k")
    assert published_flops(e) == 3_848_290_697_216
    assert entry_seconds(e) == pytest.approx(0.020361326440296, rel=1e-9)


def test_gemm_convention(data):
    # NVIDIA CUDA 11 blog Fig. 6: 4096^3 fp16 GEMM at 257.1 TFLOP/s (plot reading +-4):
    # 2 * 4096^3 = 137_438_953_472 FLOPs -> 137_438_953_472 / 257.1e12 = 5.34574e-4 s
    e = data.entry("nvblog-a100-cublas-fp16-gemm-4096")
    assert published_flops(e) == 137_438_953_472
    assert entry_seconds(e) == pytest.approx(5.34574e-4, rel=1e-5)
    assert e.reading.method == "plot" and e.reading.uncertainty == 4.0
    op = entry_op(e)
    assert isinstance(op, GemmOp) and (op.m, op.n, op.k) == (4096, 4096, 4096)


def test_times_convert_by_their_unit(data):
    assert entry_seconds(data.entry("natten-h100-1d-dense")) == pytest.approx(787.392e-6)
    assert entry_seconds(data.entry("natten-a100-3d-gna-tuned")) == pytest.approx(0.221512)
    decode = data.entry("flashinfer-b200-trtllmgen-decode-b4-kv16384")
    assert entry_seconds(decode) == pytest.approx(3.059200048446655e-05)
    spec = entry_op(decode).spec  # type: ignore[attr-defined]
    assert (spec.phase, spec.q_len, spec.kv_len, spec.q_heads, spec.kv_heads) == (
        "decode",
        1,
        16384,
        64,
        8,
    )


def test_cudnn_time_matches_the_published_rate_with_exact_pairs(data):
    # cudnn-frontend H200 CSV: llama3.1 causal bf16 8192 -> fwd_time_ms 1.708, fwd_tflops 644.
    # The script counts exact causal pairs: 8192 * 8193 / 2 = 33_558_528 per head,
    # FLOPs = 2 * 64 heads * 33_558_528 * 256 = 1_099_645_845_504 -> / 1.708e-3 = 643.8 TFLOP/s.
    e = data.entry("cudnnfe-h200-llama31-causal-bf16-s8192")
    op = entry_op(e)
    assert op.flops() == 1_099_645_845_504
    assert op.flops() / entry_seconds(e) / 1e12 == pytest.approx(644, abs=0.5)


def test_masks_of_sparse_entries(data):
    # 3-D GNA (HunyuanVideo): 30x48x80 = 115_200 tokens, window 18x24x24 = 10_368 keys
    # per query (the window is shifted inside the grid, never cut), 24 heads, d=128:
    # FLOPs = 2 * 24 * 115_200 * 10_368 * 256 = 14_676_708_556_800
    op = entry_op(data.entry("natten-b200-3d-gna"))
    mask = op.spec.mask  # type: ignore[attr-defined]
    assert isinstance(mask, NeighborhoodMask) and mask.stride == (16, 8, 8)
    assert op.flops() == 14_676_708_556_800
    # blocked attention 32k / 2048: 16 diagonal blocks, density 1/16
    blocked = entry_op(data.entry("natten-h100-1d-w2k-s2k")).spec  # type: ignore[attr-defined]
    assert isinstance(blocked.mask, BlockSparseMask)
    assert blocked.live_pairs == 32768 * 2048
    # GPT-OSS sliding window 1024 (cuDNN left bound exclusive): W(W+1)/2 + (S-W)W pairs
    swa = entry_op(data.entry("cudnnfe-h200-gptoss-swa1024-bf16-s4096")).spec  # type: ignore[attr-defined]
    assert isinstance(swa.mask, SlidingWindowMask)
    assert swa.live_pairs == 1024 * 1025 // 2 + (4096 - 1024) * 1024


def test_published_speedups_match_their_entries(data):
    assert len(data.speedups) >= 10
    for s in data.speedups:
        sparse, dense = data.entry(s.sparse), data.entry(s.dense)
        assert sparse.gpu == dense.gpu
        assert sparse.problem.spec.q_len == dense.problem.spec.q_len  # type: ignore[union-attr]
        assert s.published is not None
        # the docs round to 0.1x; one of them (B200, stride 256) misprints 11.4 for 11.21
        assert speedup_measured(data, s) == pytest.approx(s.published, rel=0.02), s.id


def test_microbenchmark_reference_entries_stay_out_of_the_fit():
    doc = yaml.safe_load(BUNDLED.with_name("published_microbenchmarks.yaml").read_text())
    fitted = {"gemm", "stream", "mma_sync", "sgemm"}
    assert {e["kind"] for e in published_measurements()} == fitted
    extra = doc["reference_measurements"]
    assert extra and all(e["kind"] not in fitted for e in extra)
    for e in extra:
        assert e["source"] and e["value"] > 0 and e["target"] in TARGETS


# --------------------------------------------------------------------------------------
# Bad files: one line per problem, naming the file and the key path
# --------------------------------------------------------------------------------------


@functools.cache
def _bundled_doc():
    return yaml.safe_load(BUNDLED.read_text())


def _doc():
    doc = _bundled_doc()
    first = next(e for e in doc["entries"] if e["id"] == "fa3paper-h100-fa3-d128-causal-s16k")
    gna = next(e for e in doc["entries"] if e["id"] == "natten-h100-3d-gna")
    dense = next(e for e in doc["entries"] if e["id"] == "natten-h100-3d-dense")
    speed = next(s for s in doc["speedups"] if s["id"] == "speedup-natten-h100-3d-gna")
    return {
        "version": 1,
        "sources": doc["sources"],
        "entries": [copy.deepcopy(first), copy.deepcopy(gna), copy.deepcopy(dense)],
        "speedups": [copy.deepcopy(speed)],
    }


def _write(tmp_path, doc) -> Path:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def _problems(tmp_path, doc) -> list[str]:
    path = _write(tmp_path, doc)
    with pytest.raises(PublishedDataError) as info:
        load_published_kernels(path)
    lines = info.value.problems
    for line in lines:
        assert "\n" not in line and line.startswith(f"{path}: "), line
    return lines


def test_small_valid_file_loads(tmp_path):
    data = load_published_kernels(_write(tmp_path, _doc()))
    assert [e.id for e in data.entries][0] == "fa3paper-h100-fa3-d128-causal-s16k"
    assert len(data.speedups) == 1


@pytest.mark.parametrize(
    ("edit", "pattern"),
    [
        (
            lambda d: d["entries"][0]["problem"].update(bacth=1),
            r"entries\[0\]\.problem\.bacth: unknown field \(did you mean 'batch'\?\); expected one of .*head_dim_qk",
        ),
        (
            lambda d: d["entries"][0].pop("source"),
            r"entries\[0\]\.source: missing; expected a value",
        ),
        (
            lambda d: d["entries"][0]["source"].update(ref="nope"),
            r"entries\[0\]\.source\.ref: unknown source 'nope'; expected a key of 'sources:'",
        ),
        (
            lambda d: d["entries"][0]["gpu"].update(target="h100-pcie"),
            r"entries\[0\]\.gpu\.target: 'h100-pcie' is not a bundled GPU target; expected one of",
        ),
        (
            lambda d: d["entries"][0]["gpu"].update(target=None),
            r"entries\[0\]\.gpu\.note: missing for target null",
        ),
        (
            lambda d: d["entries"][0]["measured"].pop("flop_convention"),
            r"entries\[0\]\.measured\.flop_convention: missing for a rate; expected one of",
        ),
        (
            lambda d: d["entries"][2]["measured"].update(flop_convention="gemm_2mnk"),
            r"entries\[2\]\.measured\.flop_convention: given for a time in ms",
        ),
        (
            lambda d: d["entries"][0]["measured"].update(value=-3),
            r"entries\[0\]\.measured\.value: got a number -3; expected a finite number > 0",
        ),
        (
            lambda d: d["entries"][0]["reading"].update(method="plot", uncertainty=0),
            r"entries\[0\]\.reading\.uncertainty: 0 for a plot reading",
        ),
        (
            lambda d: d["entries"][0]["problem"].update({"pass": "forward_backward"}),
            r"entries\[0\]\.measured\.flop_convention: fa_causal_half counts the forward pass",
        ),
        (
            lambda d: d["entries"][0]["problem"]["mask"].update(kind="causl"),
            r"entries\[0\]\.problem\.mask\.kind: unknown mask kind 'causl' \(did you mean 'causal'\?\)",
        ),
        (
            lambda d: d["entries"][1]["problem"]["mask"].update(window=[18, 24, 200]),
            r"entries\[1\]\.problem\.mask\.window\[2\]: window 200 x dilation 1 exceeds the axis size 80",
        ),
        (
            lambda d: d["entries"][1]["problem"].update(kv_heads=5),
            r"entries\[1\]\.problem\.kv_heads: 5 does not divide q_heads 24",
        ),
        (
            lambda d: d["entries"][0].update(dtype="fp9"),
            r"entries\[0\]\.dtype: unknown dtype 'fp9'; expected one of",
        ),
        (
            lambda d: d["entries"][0].update(expressible=False),
            r"entries\[0\]\.reason: missing; expected the reason",
        ),
        (
            lambda d: d["entries"][2].update(id=d["entries"][1]["id"]),
            r"entries\[2\]\.id: duplicate id 'natten-h100-3d-gna'",
        ),
        (
            lambda d: d["speedups"][0].update(dense="natten-h100-3d-dens"),
            r"speedups\[0\]\.dense: unknown entry 'natten-h100-3d-dens'",
        ),
        (
            lambda d: d.update(extra=1),
            r"extra: unknown field; expected one of description, entries, sources, speedups, version",
        ),
    ],
)
def test_bad_file_gives_one_line_naming_the_key_path(tmp_path, edit, pattern):
    doc = _doc()
    edit(doc)
    lines = _problems(tmp_path, doc)
    assert any(re.search(pattern, line) for line in lines), lines


def test_all_problems_are_reported_together(tmp_path):
    doc = _doc()
    doc["entries"][0]["problem"]["bacth"] = 1
    doc["entries"][1]["dtype"] = "fp9"
    lines = _problems(tmp_path, doc)
    assert len(lines) == 2


def test_version_and_yaml_errors(tmp_path):
    doc = _doc()
    doc["version"] = 2
    (line,) = _problems(tmp_path, doc)
    assert "version: 2 is not supported; expected 1" in line
    path = tmp_path / "broken.yaml"
    path.write_text("entries: [\n")
    with pytest.raises(PublishedDataError, match=r"broken\.yaml: not valid YAML .*line"):
        load_published_kernels(path)
    with pytest.raises(PublishedDataError, match=r"not a mapping|expected a mapping"):
        path.write_text("- 1\n")
        load_published_kernels(path)


def test_missing_file_is_one_line(tmp_path):
    with pytest.raises(ProblemsError) as info:
        load_published_kernels(tmp_path / "absent.yaml")
    assert len(info.value.problems) == 1


def test_docs_python_example_runs():
    doc = (BUNDLED.parents[2] / "docs" / "PUBLISHED_DATA.md").read_text(encoding="utf-8")
    block = re.search(r"```python\n(.*?)```", doc, re.DOTALL)
    assert block is not None
    scope: dict[str, object] = {}
    exec(block.group(1), scope)
    assert scope["entry_seconds"](scope["e"]) == pytest.approx(0.01301)  # type: ignore[operator]
    assert isinstance(scope["op"], AttentionOp)
