"""Ops: analytic FLOPs and compulsory bytes per kind, validation, registry."""

from __future__ import annotations

import math

import pytest
from attnsim.workloads import (
    OP_KINDS,
    AttentionOp,
    AttentionSpec,
    CausalMask,
    ElementwiseOp,
    EmbeddingOp,
    FftOp,
    FullMask,
    GemmOp,
    LinearAttentionOp,
    NormOp,
    SlidingWindowMask,
    SoftmaxOp,
    UnknownOp,
    WorkloadError,
    register_op,
)


def attn(b=2, hq=8, hkv=8, sq=256, sk=256, d=64, dv=None, mask=None, phase="prefill", dtype="fp16"):
    spec = AttentionSpec(b, hq, hkv, sq, sk, d, d if dv is None else dv, phase, mask or FullMask())
    return AttentionOp("attn", dtype, spec)


def test_dense_attention_flops_are_4bhssd() -> None:
    op = attn(b=2, hq=8, sq=256, sk=512, d=64)
    assert op.flops() == 4 * 2 * 8 * 256 * 512 * 64


def test_causal_attention_flops_follow_triangle() -> None:
    op = attn(b=1, hq=4, sq=1024, sk=1024, d=128, mask=CausalMask())
    assert op.flops() == 2 * 4 * (1024 * 1025 // 2) * (128 + 128)
    assert op.flops() / attn(b=1, hq=4, sq=1024, sk=1024, d=128).flops() == pytest.approx(
        0.5, abs=1e-3
    )


def test_window_attention_flops_exact() -> None:
    n, w = 512, 32
    op = attn(b=1, hq=1, sq=n, sk=n, d=16, mask=SlidingWindowMask(w - 1))
    pairs = (w - 1) * w // 2 + (n - w + 1) * w
    assert op.flops() == 2 * pairs * 32


def test_attention_bytes_read_kv_for_kv_heads_only() -> None:
    op = attn(b=2, hq=8, hkv=2, sq=100, sk=300, d=64, dv=32)
    b = op.io_bytes()
    q = 2 * 8 * 100 * 64
    kv = 2 * 2 * 300 * (64 + 32)
    o = 2 * 8 * 100 * 32
    assert b.inputs == 2 * (q + kv) and b.outputs == 2 * o and b.weights == 0
    assert op.spec.group_size == 4


def test_query_head_reduction_flops_follow_q_heads_bytes_follow_kv_heads() -> None:
    op = attn(b=1, hq=2, hkv=8, sq=64, sk=64, d=32)
    assert op.spec.group_size == 1 and op.spec.kv_per_query_head == 4
    assert op.flops() == 4 * 1 * 2 * 64 * 64 * 32
    assert op.io_bytes().inputs == 2 * (2 * 64 * 32 + 8 * 64 * 64)


def test_decode_attention() -> None:
    op = attn(b=4, hq=32, hkv=8, sq=1, sk=8192, d=128, mask=CausalMask(), phase="decode")
    assert op.spec.live_pairs == 8192
    assert op.flops() == 4 * 4 * 32 * 8192 * 128


def test_gemm_flops_and_ternary_weights() -> None:
    g = GemmOp(
        "ffn", "int8", m=128, n=4096, k=1024, batch=2, weight_operand="b", weight_dtype="ternary"
    )
    assert g.flops() == 2 * 2 * 128 * 4096 * 1024
    b = g.io_bytes()
    assert b.inputs == 2 * 128 * 1024  # int8 activations, per batch
    assert b.weights == pytest.approx(1024 * 4096 * 1.6 / 8)  # ternary, read once
    assert b.outputs == 2 * 128 * 4096
    plain = GemmOp("bmm", "fp16", 4, 5, 6, batch=3).io_bytes()
    assert plain.inputs == 2 * 3 * (4 * 6 + 6 * 5) and plain.weights == 0
    a_w = GemmOp("g", "fp16", 4, 5, 6, weight_operand="a").io_bytes()
    assert a_w.weights == 2 * 4 * 6 and a_w.inputs == 2 * 6 * 5


def test_softmax_norm_elementwise() -> None:
    assert SoftmaxOp("s", "fp32", 10, 20).flops() == 5 * 200
    assert SoftmaxOp("s", "fp32", 10, 20).io_bytes().total == 2 * 4 * 200
    assert NormOp("n", "bf16", 4, 8, "rmsnorm").flops() == 4 * 32
    assert NormOp("n", "bf16", 4, 8, "layernorm").io_bytes().weights == 2 * 16
    e = ElementwiseOp(
        "gelu", "fp16", numel=1000, n_inputs=2, flops_per_element=8.0, function="gelu"
    )
    assert e.flops() == 8000 and e.io_bytes().inputs == 4000 and e.io_bytes().outputs == 2000


def test_fft_flops_5nlog2n_per_signal() -> None:
    f = FftOp("mix", "fp32", batch=2, lengths=(512, 256), channels=3)
    n = 512 * 256
    assert f.flops() == pytest.approx(5 * n * math.log2(n) * 6)
    assert f.io_bytes().inputs == 4 * 2 * n * 6  # complex = two fp32
    assert FftOp("one", "fp32", 1, (1,)).flops() == 0


def test_linear_attention_chunked_formula() -> None:
    op = LinearAttentionOp(
        "la", "bf16", batch=2, heads=3, seq_len=100, head_dim=16, chunk=32, decay=False
    )
    per_head = sum(4 * c * c * 16 + 4 * c * 16 * 16 for c in (32, 32, 32, 4))
    assert op.flops() == per_head * 6
    dec = LinearAttentionOp("la", "bf16", 1, 1, 1, 16, 32, True, "decode")
    assert dec.flops() == 5 * 16 * 16
    assert dec.io_bytes().inputs == 2 * (3 * 16 + 256)


def test_embedding_and_unknown() -> None:
    e = EmbeddingOp("emb", "fp16", num_tokens=10, dim=8, vocab=4)
    assert e.flops() == 0 and e.io_bytes().weights == 2 * 4 * 8 and e.io_bytes().inputs == 80
    u = UnknownOp("x", "fp16", "aten.weird", 12.0, 4.0)
    assert u.flops() == 0 and u.io_bytes().total == 16


def test_validation_messages() -> None:
    with pytest.raises(WorkloadError, match=r"GemmOp.m: 0 is too small; expected an integer >= 1"):
        GemmOp("g", "fp16", 0, 1, 1)
    with pytest.raises(WorkloadError, match=r"GemmOp.weight_operand: 'c' is not allowed"):
        GemmOp("g", "fp16", 1, 1, 1, weight_operand="c")
    with pytest.raises(WorkloadError, match=r"GemmOp.weight_dtype: given without weight_operand"):
        GemmOp("g", "fp16", 1, 1, 1, weight_dtype="ternary")
    with pytest.raises(WorkloadError, match=r"NormOp.dtype: unknown dtype 'half'"):
        NormOp("n", "half", 1, 1)
    with pytest.raises(WorkloadError, match=r"AttentionSpec.kv_heads: 3 does not divide q_heads 8"):
        AttentionSpec(1, 8, 3, 4, 4, 8, 8)
    with pytest.raises(WorkloadError, match=r"AttentionSpec.q_heads: 3 does not divide kv_heads 8"):
        AttentionSpec(1, 3, 8, 4, 4, 8, 8)
    with pytest.raises(WorkloadError, match=r"AttentionSpec.phase: 'train' is unknown"):
        AttentionSpec(1, 1, 1, 4, 4, 8, 8, "train")
    with pytest.raises(WorkloadError, match=r"AttentionSpec.mask: SharedPrefixMask: q_len=4"):
        from attnsim.workloads import SharedPrefixMask

        AttentionSpec(1, 1, 1, 4, 4, 8, 8, "prefill", SharedPrefixMask(1, 2, 2))


def test_registry_refuses_duplicates() -> None:
    assert {
        "gemm",
        "attention",
        "softmax",
        "norm",
        "elementwise",
        "fft",
        "linear_attention",
        "embedding",
        "unknown",
        # workloads/ops_variants.py, tested in tests/workloads/test_variant_ops.py
        "low_rank_attention",
        "cs_attention",
        "mixture_of_heads",
        "differential_attention",
        "spectral_dictionary",
        "haar_wavelet",
        "graph_wavelet",
        "group_rational",
        "mask_setup",
        "gathered_attention",
    } == set(OP_KINDS)
    with pytest.raises(ValueError, match="op kind 'gemm' is already registered"):
        register_op(type("G2", (GemmOp,), {}))
