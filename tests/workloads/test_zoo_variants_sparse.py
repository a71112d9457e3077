"""Zoo entries of the routed and differential variants: the traced workload holds the
variant's op or mask with the published counts (heads, layers, routed heads, clusters)."""

from __future__ import annotations

import functools

import pytest
import torch
from attnsim.workloads.custom_ops import differential_attention
from attnsim.workloads.errors import WorkloadError
from attnsim.workloads.masks import FullMask, NeighborhoodMask
from attnsim.workloads.masks_sparse import CausalBlockMask, ClusterMask
from attnsim.workloads.ops import AttentionOp
from attnsim.workloads.ops_variants import DifferentialAttentionOp, MixtureOfHeadsAttentionOp
from attnsim.workloads.zoo import build_workload, get_model, parameter_count
from attnsim.workloads.zoo.variants_sparse import local_block_mask


@functools.cache
def traced(name: str, seq: int | None = None, **overrides: int):
    return build_workload(name, seq=seq, overrides=overrides)


def ops_of(workload, cls):
    """(count, op) of every op of type ``cls``, with block repetition."""
    return [(b.count, op) for b, op in workload.flat() if isinstance(op, cls)]


# ----------------------------------------------------------------- MoH-ViT-B


def test_moh_vit_b_routes_the_published_head_shares():
    wl = traced("moh-vit-b")
    moh = ops_of(wl, MixtureOfHeadsAttentionOp)
    # stage 3: 23 blocks, 4 shared + 8 routed of 16 heads; stage 4: 5 blocks, 5 + 16 of 32
    got = sorted((n, op.active_heads, op.spec.q_heads, op.spec.q_len) for n, op in moh)
    assert got == [(5, 21, 32, 49), (23, 12, 16, 196)]
    assert all(op.spec.head_dim_qk == 24 and isinstance(op.spec.mask, FullMask) for _, op in moh)
    # stage 3 attends the 7x7 pooled keys (196 tokens pooled by 2)
    assert {op.spec.kv_len for _, op in moh} == {49}


def test_moh_vit_b_aggregated_attention_is_pooled_plus_3x3_window():
    wl = traced("moh-vit-b")
    att = ops_of(wl, AttentionOp)
    pooled = sorted(
        (n, op.spec.q_heads, op.spec.q_len) for n, op in att if isinstance(op.spec.mask, FullMask)
    )
    assert pooled == [(5, 4, 3136), (5, 8, 784)]
    window = [(n, op) for n, op in att if isinstance(op.spec.mask, NeighborhoodMask)]
    assert sorted((n, op.spec.q_heads) for n, op in window) == [(5, 4), (5, 8), (23, 16)]
    assert all(op.spec.mask.window == (3, 3) for _, op in window)
    assert (
        sum(n for n, _ in att) + sum(n for n, _ in ops_of(wl, MixtureOfHeadsAttentionOp))
        == 5 + 5 + 5 + 5 + 23 + 23 + 5
    )


def test_moh_vit_b_parameters_match_transnext_base():
    # TransNeXt-Base: 89.7M (arXiv 2311.17132, Table 1); MoH adds the routers only
    assert parameter_count("moh-vit-b") == pytest.approx(89.7e6, rel=0.02)


# ----------------------------------------------------------------- DIFF Transformer


def test_diff_transformer_3b_is_28_differential_layers():
    wl = traced("diff-transformer-3b", seq=32)
    ((count, op),) = ops_of(wl, DifferentialAttentionOp)
    assert count == 28
    s = op.spec
    assert (s.q_heads, s.kv_heads, op.noise_heads) == (12, 12, 12)
    assert (s.head_dim_qk, s.head_dim_v, s.q_len, s.kv_len) == (128, 256, 32, 32)
    assert s.mask.kind == "causal"
    assert ops_of(wl, AttentionOp) == []


def test_diff_transformer_3b_parameters_follow_the_config():
    layer = 4 * 3072**2 + 3 * 3072 * 8192 + 4 * 128 + 256 + 2 * 3072
    assert parameter_count("diff-transformer-3b") == 28 * layer + 2 * 100288 * 3072 + 3072


def test_grouped_differential_attention_by_override():
    wl = traced("diff-transformer-3b", seq=16, layers=2, noise_heads=4)
    ((count, op),) = ops_of(wl, DifferentialAttentionOp)
    assert (count, op.spec.q_heads, op.noise_heads) == (2, 12, 4)
    with pytest.raises(WorkloadError, match="noise_heads dividing heads"):
        build_workload("diff-transformer-3b", seq=8, overrides={"noise_heads": 5})


def test_differential_attention_reference_is_the_difference_of_two_maps():
    g = torch.Generator().manual_seed(0)
    q1, k1, v = (torch.randn(1, 4, 6, 8, generator=g) for _ in range(3))
    q2, k2 = (torch.randn(1, 2, 6, 8, generator=g) for _ in range(2))
    lam = torch.tensor(0.3)
    out = differential_attention(q1, k1, q2, k2, v, lam, True)
    causal = torch.ones(6, 6, dtype=torch.bool).tril()

    def softmax_map(q, k):
        return (q @ k.transpose(-1, -2) / 8**0.5).masked_fill(~causal, float("-inf")).softmax(-1)

    noise = softmax_map(q2, k2).repeat_interleave(2, dim=1)  # each noise head serves 2 heads
    want = softmax_map(q1, k1) @ v - 0.3 * noise @ v
    torch.testing.assert_close(out, want)


# ----------------------------------------------------------------- Routing Transformer


def test_routing_transformer_local_and_routing_heads():
    wl = traced("routing-transformer", seq=2048)
    att = ops_of(wl, AttentionOp)
    local = [(n, op) for n, op in att if isinstance(op.spec.mask, CausalBlockMask)]
    routed = [(n, op) for n, op in att if isinstance(op.spec.mask, ClusterMask)]
    # 21 layers of 8 local heads, then the last layer: 6 local + 2 routing heads
    assert sorted((n, op.spec.q_heads) for n, op in local) == [(1, 6), (21, 8)]
    ((n, op),) = routed
    assert (n, op.spec.q_heads, op.spec.mask.cluster, op.spec.mask.causal) == (1, 2, 512, True)
    assert all(o.spec.head_dim_qk == 129 for _, o in att)
    # the 2 routing heads score their tokens against 16 centroids each
    scores = [op for b, op in wl.flat() if op.kind == "gemm" and getattr(op, "n", 0) == 16]
    assert [(s.batch, s.m, s.k) for s in scores] == [(2, 2048, 129)]


def test_routing_transformer_local_mask_is_block_and_previous_block():
    mask = local_block_mask(1024, 256)
    live = mask.dense(1024, 1024)
    assert live[300, 256] and live[300, 0] and live[300, 300] and not live[300, 301]
    assert not live[600, 255] and live[600, 256]
    # every query past the first block sees 256 + its offset in the block + 1 keys
    assert live.sum() == 256 * 257 // 2 + 3 * (256 * 256 + 256 * 257 // 2)


def test_routing_transformer_parameters_follow_the_hparams():
    layer = 3 * 1032**2 + 3 * 1032 * 4096 + 4 * 1032
    want = 22 * layer + 2 * 16 * 129 + 32768 * 1032 + 2 * 1032
    assert parameter_count("routing-transformer") == want


def test_entries_name_their_variant_op():
    for name, op in (
        ("moh-vit-b", "mixture_of_heads"),
        ("diff-transformer-3b", "differential_attention"),
        ("routing-transformer", "masked_attention"),
    ):
        assert op in get_model(name).description


def test_unknown_override_is_refused():
    with pytest.raises(WorkloadError, match="override 'depth' is unknown"):
        build_workload("routing-transformer", seq=8, overrides={"depth": 2})


def test_every_variant_names_zoo_models_that_exist():
    from attnsim.workloads.variants import VARIANTS

    named = {m for v in VARIANTS.values() for m in v.zoo}
    assert {"moh-vit-b", "diff-transformer-3b", "routing-transformer"} <= named
    for model in named:
        assert get_model(model).name == model


def test_sqat_m_reduces_query_heads_and_matches_its_card() -> None:
    """SQAT-m (ReactiveAI/SQAT-m): 8 layers of causal attention with 8 query heads and 4
    K/V heads of 16 (a 16-head split of dim 256); ~10.7M parameters on its card."""
    from attnsim.workloads.ops import AttentionOp
    from attnsim.workloads.zoo import build_workload, parameter_count

    w = build_workload("sqat-m", seq=256)
    att = [(b.count, op) for b, op in w.flat() if isinstance(op, AttentionOp)]
    assert [n for n, _ in att] == [8]
    s = att[0][1].spec
    assert (s.q_heads, s.kv_heads, s.head_dim_qk, s.q_len) == (8, 4, 16, 256)
    assert type(s.mask).__name__ == "CausalMask"
    q_proj = next(op for _, op in w.flat() if op.name.endswith("q.mm"))
    assert (q_proj.k, q_proj.n) == (256, 128)  # the reduced query projection
    assert abs(parameter_count("sqat-m") - 10.7e6) / 10.7e6 < 0.02
