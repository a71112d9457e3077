"""Tests of the model zoo: traced attention/GEMM counts equal the analytic ones."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import functools
import math

import pytest
from attnsim.workloads.errors import WorkloadError
from attnsim.workloads.masks import CausalMask, FullMask, NeighborhoodMask
from attnsim.workloads.ops import AttentionOp, GemmOp, LinearAttentionOp
from attnsim.workloads.serialize import load_workload, save_workload
from attnsim.workloads.zoo import build_model, build_workload, list_models
from torch._subclasses.fake_tensor import FakeTensor


@functools.cache
def traced(name: str, **kw):
    return build_workload(name, **kw)


def attention(workload):
    """(count, AttentionOp) for every attention op, with block repetition."""
    return [(b.count, op) for b, op in workload.flat() if isinstance(op, AttentionOp)]


def attention_flops(workload) -> float:
    return sum(c * op.flops() for c, op in attention(workload))


def causal_pairs(n: int) -> int:
    return n * (n + 1) // 2


# ----------------------------------------------------------------- Llama 3


def test_llama3_8b_is_32_identical_gqa_layers():
    wl = traced("llama3-8b", seq=64)
    layers = [b for b in wl.blocks if b.count > 1]
    assert [(b.name, b.count) for b in layers] == [("model.layers", 32)]
    (count, att), = attention(wl)  # fmt: skip
    s = att.spec
    assert count == 32
    assert (s.q_heads, s.kv_heads, s.head_dim_qk, s.head_dim_v) == (32, 8, 128, 128)
    assert (s.q_len, s.kv_len, s.phase, s.mask) == (64, 64, "prefill", CausalMask())
    assert wl.tokens == 64
    assert wl.meta["model"] == "llama3-8b" and wl.meta["phase"] == "prefill"


def test_llama3_8b_attention_flops_are_analytic_causal():
    wl = traced("llama3-8b", seq=64, batch=2)
    # 2 GEMMs of 2 FLOPs per MAC over the causal live pairs: 2*B*H*pairs*(d_qk + d_v)
    expected = 32 * 2 * 2 * 32 * causal_pairs(64) * (128 + 128)
    assert attention_flops(wl) == pytest.approx(expected)
    dense = 32 * 4 * 2 * 32 * 64 * 64 * 128
    assert attention_flops(wl) / dense == pytest.approx(65 / 128)  # about half


def test_llama3_8b_layer_gemm_flops_match_the_config():
    wl = traced("llama3-8b", seq=64, batch=2)
    layer = next(b for b in wl.blocks if b.count == 32)
    t, h, kv, ffn = 2 * 64, 4096, 8 * 128, 14336
    expected = 2 * t * (h * h + 2 * h * kv + h * h + 3 * h * ffn)
    gemms = [op for op in layer.ops if isinstance(op, GemmOp)]
    assert sum(g.flops() for g in gemms) == pytest.approx(expected)
    assert all(g.weight_operand == "b" for g in gemms)
    assert {g.dtype for g in gemms} == {"bf16"}


def test_llama3_8b_decode_has_query_length_one_and_the_cache_length():
    wl = traced("llama3-8b", phase="decode", kv_len=1000, batch=3)
    (count, att), = attention(wl)  # fmt: skip
    s = att.spec
    # the new token's K/V is appended before attention: kv_len = cache + 1
    assert (count, s.q_len, s.kv_len, s.phase, s.batch) == (32, 1, 1001, "decode", 3)
    assert att.flops() == pytest.approx(4 * 3 * 32 * 1001 * 128)
    assert wl.tokens == 3
    # the cache append writes the new token's K and V only (not a copy of the whole cache)
    layer = next(b for b in wl.blocks if b.count == 32)
    appends = [op for op in layer.ops if getattr(op, "aten", "") == "kv_cache_append"]
    assert [op.output_bytes for op in appends] == [3 * 8 * 1 * 128 * 2] * 2


@pytest.mark.slow
def test_llama3_70b_is_80_layers_and_never_materialised():
    before = _rss_bytes()
    model, _ = build_model("llama3-70b")
    assert all(isinstance(p, FakeTensor) for p in model.parameters())
    assert sum(p.numel() for p in model.parameters()) > 70e9
    assert _rss_bytes() - before < 1 << 30  # 70B bf16 weights would be 140 GB
    wl = traced("llama3-70b", seq=256)
    (count, att), = attention(wl)  # fmt: skip
    assert count == 80
    assert (att.spec.q_heads, att.spec.kv_heads, att.spec.head_dim_qk) == (64, 8, 128)
    assert attention_flops(wl) == pytest.approx(80 * 2 * 64 * causal_pairs(256) * 256)


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_zoo_parameters_are_fake():
    model, _ = build_model("llama3-8b")
    assert all(isinstance(p, FakeTensor) for p in model.parameters())


# ----------------------------------------------------------------- vision and VLM


@pytest.mark.parametrize(
    ("name", "layers", "heads", "tokens"),
    [("vit-b16", 12, 12, 197), ("vit-l14", 24, 16, 257)],
)
def test_vit_attention_is_dense_and_analytic(name, layers, heads, tokens):
    wl = traced(name, batch=2)
    (count, att), = attention(wl)  # fmt: skip
    assert count == layers
    assert (att.spec.q_len, att.spec.kv_len, att.spec.mask) == (tokens, tokens, FullMask())
    assert attention_flops(wl) == pytest.approx(layers * 4 * 2 * heads * tokens**2 * 64)
    assert wl.tokens == 2 * tokens


def test_vit_image_size_changes_the_grid():
    wl = traced("vit-b16", image_size=384)
    (_c, att), = attention(wl)  # fmt: skip
    assert att.spec.q_len == (384 // 16) ** 2 + 1


def test_vlm_llava_style_vision_then_causal_text():
    wl = traced("vlm-llava-style", seq=32)
    (cv, vision), (ct, text) = attention(wl)
    assert (cv, vision.spec.q_len, vision.spec.mask, vision.spec.q_heads) == (
        24, 577, FullMask(), 16,
    )  # fmt: skip
    n = 576 + 32
    assert (ct, text.spec.q_len, text.spec.mask, text.spec.q_heads) == (32, n, CausalMask(), 32)
    expected = 24 * 4 * 16 * 577**2 * 64 + 32 * 2 * 32 * causal_pairs(n) * 256
    assert attention_flops(wl) == pytest.approx(expected)
    assert wl.tokens == n


def test_vlm_decode_runs_the_decoder_only():
    wl = traced("vlm-llava-style", phase="decode", kv_len=700)
    ((count, att),) = attention(wl)
    assert (count, att.spec.q_len, att.spec.kv_len) == (32, 1, 701)


def test_nat_tiny_neighborhood_live_fraction_is_exact():
    wl = traced("nat-tiny", batch=2)
    atts = attention(wl)
    grids, heads, depths = (56, 28, 14, 7), (2, 4, 8, 16), (2, 2, 6, 2)
    assert [(c, a.spec.q_heads) for c, a in atts] == list(zip(depths, heads, strict=True))
    expected = 0.0
    for (count, att), g, h in zip(atts, grids, heads, strict=True):
        assert att.spec.mask == NeighborhoodMask(spatial=(g, g), window=(7, 7))
        n = g * g
        assert att.spec.live_pairs == n * 49  # every query sees exactly a 7x7 window
        assert att.spec.density == pytest.approx(49 / n)
        expected += count * 2 * 2 * h * n * 49 * (32 + 32)
    assert attention_flops(wl) == pytest.approx(expected)


# ----------------------------------------------------------------- BitNet, lightning


def test_bitnet_ternary_layers_and_gqa_attention():
    wl = traced("bitnet-b1.58-2b", seq=32)
    layer = next(b for b in wl.blocks if b.count == 30)
    tern = [op for op in layer.ops if isinstance(op, GemmOp) and op.weight_dtype == "ternary"]
    h, kv, ffn, t = 2560, 5 * 128, 6912, 32
    assert len(tern) == 7 and {g.dtype for g in tern} == {"int8"}
    assert sum(g.flops() for g in tern) == pytest.approx(
        2 * t * (h * h + 2 * h * kv + h * h + 3 * h * ffn)
    )
    (count, att), = attention(wl)  # fmt: skip
    assert (count, att.spec.q_heads, att.spec.kv_heads) == (30, 20, 5)
    assert attention_flops(wl) == pytest.approx(30 * 2 * 20 * causal_pairs(32) * 256)
    head = [op for b, op in wl.flat() if isinstance(op, GemmOp) and op.weight_dtype is None]
    assert head and all(g.n == 128256 for g in head if g.weight_operand)  # LM head stays bf16


@pytest.mark.parametrize("phase", ["prefill", "decode"])
def test_bitnet_3b_is_26_ternary_mha_layers(phase):
    # published 1bitLLM/bitnet_b1_58-3B config: hidden 3200, FFN 8640, 26 layers, 32 heads (MHA)
    seq, kv = (64, 0) if phase == "prefill" else (1, 511)
    wl = traced("bitnet-b1.58-3b", seq=seq, phase=phase, kv_len=kv)
    layer = next(b for b in wl.blocks if b.count > 1)
    assert (layer.name, layer.count) == ("model.layers", 26)
    tern = [op for op in layer.ops if isinstance(op, GemmOp) and op.weight_dtype == "ternary"]
    h, ffn = 3200, 8640
    assert len(tern) == 7 and {g.dtype for g in tern} == {"int8"}  # q k v o gate up down
    assert sum(g.flops() for g in tern) == pytest.approx(2 * seq * (4 * h * h + 3 * h * ffn))
    # ternary weights at 1.6 bits: 4*h*h + 3*h*ffn weights per layer
    assert sum(g.io_bytes().weights for g in tern) == pytest.approx(
        (4 * h * h + 3 * h * ffn) * 1.6 / 8
    )
    (count, att), = attention(wl)  # fmt: skip
    s = att.spec
    assert (count, s.q_heads, s.kv_heads, s.head_dim_qk, s.phase) == (26, 32, 32, 100, phase)
    assert (s.q_len, s.kv_len) == (seq, kv + seq)
    pairs = causal_pairs(64) if phase == "prefill" else 512
    assert attention_flops(wl) == pytest.approx(26 * 2 * 32 * pairs * 200)
    head = [op for b, op in wl.flat() if isinstance(op, GemmOp) and op.weight_dtype is None]
    assert head and all(g.n == 32002 for g in head if g.weight_operand)  # LM head stays bf16


def test_bitnet_3b_edge_stores_its_lm_head_in_int8():
    wl = traced("bitnet-b1.58-3b-edge", seq=1, phase="decode", kv_len=15)
    ref = traced("bitnet-b1.58-3b", seq=1, phase="decode", kv_len=15)
    head = [op for b, op in wl.flat() if isinstance(op, GemmOp) and op.weight_dtype != "ternary"]
    assert [(g.n, g.k, g.dtype, g.weight_dtype) for g in head] == [(32002, 3200, "int8", "int8")]
    assert head[0].io_bytes().weights == 32002 * 3200  # half the released 16-bit head
    # the decoder layers are those of the released model
    layers = [b for b in wl.blocks if b.count > 1]
    assert layers == [b for b in ref.blocks if b.count > 1]


def test_weights_int8_stores_every_non_ternary_linear_as_w8a8():
    small = {"num_hidden_layers": 2}
    ref = build_workload("llama3-8b", seq=16, overrides=small)
    w8 = build_workload("llama3-8b", seq=16, overrides=small, weights="int8")
    gemms = [op for _, op in w8.flat() if isinstance(op, GemmOp) and op.weight_operand]
    ref_gemms = [op for _, op in ref.flat() if isinstance(op, GemmOp) and op.weight_operand]
    assert len(gemms) == len(ref_gemms) > 0
    assert {(g.dtype, g.weight_dtype) for g in gemms} == {("int8", "int8")}
    # same shapes, half the weight bytes of bf16
    assert [(g.m, g.n, g.k) for g in gemms] == [(g.m, g.n, g.k) for g in ref_gemms]
    assert sum(g.io_bytes().weights for g in gemms) == pytest.approx(
        sum(g.io_bytes().weights for g in ref_gemms) / 2
    )
    assert w8.meta["weights"] == "int8" and "weights" not in ref.meta
    # ternary layers stay ternary: on BitNet only the LM head changes
    bit = traced("bitnet-b1.58-3b", seq=1, phase="decode", kv_len=7, weights="int8")
    edge = traced("bitnet-b1.58-3b-edge", seq=1, phase="decode", kv_len=7)
    assert [op for _, op in bit.flat()] == [op for _, op in edge.flat()]


def test_an_unknown_weight_format_is_one_line():
    with pytest.raises(WorkloadError, match=r"weights 'int4' is unknown; expected one of int8"):
        traced("llama3-8b", seq=16, weights="int4")


def test_bitnet_parameter_counts_share_the_tied_embedding():
    from attnsim.workloads.zoo import parameter_count

    # 3B: 26 * (4*3200**2 + 3*3200*8640 + 2*3200) + 32002*3200 (tied head) + 3200
    assert parameter_count("bitnet-b1.58-3b") == (
        26 * (4 * 3200**2 + 3 * 3200 * 8640 + 2 * 3200)
        + 32002 * 3200
        + 3200
        + 26 * 7  # one ternary scale per linear layer
    )
    assert parameter_count("bitnet-b1.58-2b") == pytest.approx(2.41e9, rel=0.01)


def _lightning_flops(seq: int, d: int, chunk: int) -> float:
    total = 0.0
    for start in range(0, seq, chunk):
        c = min(chunk, seq - start)
        total += 4 * c * c * d + 4 * c * d * d + c * c + d * d + 2 * c * d
    return total


@pytest.mark.parametrize("phase", ["prefill", "decode"])
def test_lightning_llm_linear_attention(phase):
    seq = 200 if phase == "prefill" else 1
    wl = traced("lightning-llm", seq=seq, phase=phase, kv_len=0 if phase == "prefill" else 500)
    lin = [(b.count, op) for b, op in wl.flat() if isinstance(op, LinearAttentionOp)]
    ((count, op),) = lin
    assert (count, op.heads, op.head_dim, op.seq_len, op.chunk, op.decay, op.phase) == (
        24, 8, 128, seq, 64, True, phase,
    )  # fmt: skip
    per_head = _lightning_flops(seq, 128, 64) if phase == "prefill" else 5 * 128 * 128
    assert op.flops() == pytest.approx(8 * per_head)
    assert attention(wl) == []


# ----------------------------------------------------------------- every model


@pytest.mark.slow
@pytest.mark.parametrize("name", [e.name for e in list_models()])
def test_every_model_traces_both_phases_and_round_trips(name, tmp_path):
    entry = next(e for e in list_models() if e.name == name)
    for phase in entry.phases:
        wl = build_workload(name, seq=16, phase=phase, kv_len=64 if phase == "decode" else 0)
        assert wl.total_flops() > 0
        assert wl.meta["unrecovered_masks"] == 0
        path = save_workload(wl, tmp_path / f"{name}-{phase}.json")
        assert load_workload(path) == wl


def test_bad_requests_list_every_problem():
    with pytest.raises(WorkloadError, match="unknown") as info:
        build_workload("llama3-7b")
    assert "llama3-8b" in str(info.value)
    with pytest.raises(WorkloadError) as info:
        build_workload("vit-b16", batch=0, phase="decode", image_size=100, dtype="int3")
    lines = info.value.problems
    assert len(lines) == 4
    assert any("batch 0" in x for x in lines) and any("patch size 16" in x for x in lines)
    with pytest.raises(WorkloadError, match="kv_len 0 with phase decode"):
        build_workload("llama3-8b", phase="decode")
    with pytest.raises(WorkloadError, match="not a field of LlamaConfig"):
        build_workload("llama3-8b", seq=8, overrides={"num_layerz": 2})


def test_overrides_shrink_a_model():
    wl = build_workload("llama3-8b", seq=8, overrides={"num_hidden_layers": 3})
    assert [b.count for b in wl.blocks if b.name == "model.layers"] == [3]
    assert math.isclose(attention_flops(wl), 3 * 2 * 32 * causal_pairs(8) * 256, rel_tol=1e-12)


# ----------------------------------------------------------------- variant models


def test_fnet_base_mixes_with_one_fft_per_layer():
    wl = traced("fnet-base", seq=512)
    layer = next(b for b in wl.blocks if b.count == 12)
    (fft,) = [op for op in layer.ops if op.kind == "fft"]
    assert fft.lengths == (512, 768) and fft.batch == 1
    assert fft.flops() == pytest.approx(5 * 512 * 768 * math.log2(512 * 768))
    assert attention(wl) == []


def test_linformer_base_projects_keys_with_a_shared_weight():
    wl = traced("linformer-base", seq=512)
    layer = next(b for b in wl.blocks if b.count == 12)
    # torch folds E @ K over (batch, head, channel): one GEMM (K^T E^T) per projection,
    # m = heads * head_dim, E^T the weight operand, read once
    proj = [op for op in layer.ops if isinstance(op, GemmOp) and op.k == 512 and op.n == 128]
    assert [(g.m, g.batch, g.weight_operand) for g in proj] == [(12 * 64, 1, "b")] * 2
    assert all(g.io_bytes().weights == 128 * 512 * 2 for g in proj)
    (count, att), = attention(wl)  # fmt: skip
    assert (count, att.spec.q_len, att.spec.kv_len, att.spec.mask) == (12, 512, 128, FullMask())
    assert attention_flops(wl) == pytest.approx(12 * 4 * 12 * 512 * 128 * 64)


def test_kat_s_has_two_group_rational_activations_per_block():
    from attnsim.workloads.ops_variants import GroupRationalOp

    wl = traced("kat-s")
    block = next(b for b in wl.blocks if b.count == 12)
    rats = [op for op in block.ops if isinstance(op, GroupRationalOp)]
    assert [(r.rows, r.cols, r.groups) for r in rats] == [(197, 384, 8), (197, 1536, 8)]
    assert sum(r.flops() for r in rats) == 197 * (384 + 1536) * 20


def test_sdict_vlm_mixes_image_and_text_without_attention():
    from attnsim.workloads.ops_variants import SpectralDictionaryMixerOp
    from attnsim.workloads.zoo import parameter_count

    wl = traced("sdict-vlm", seq=32)
    layer = next(b for b in wl.blocks if b.count == 28)
    (mix,) = [op for op in layer.ops if isinstance(op, SpectralDictionaryMixerOp)]
    assert (mix.seq, mix.dim, mix.atoms, mix.active) == (196 + 32, 2048, 256, 16)
    assert attention(wl) == []
    assert parameter_count("sdict-vlm") == pytest.approx(1.1e9, rel=0.05)  # the published size
