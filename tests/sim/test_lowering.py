"""Lowering: tiles, masks, GQA, decode, GEMM and family choice, on a toy GPU and H100."""

from __future__ import annotations

import dataclasses
import math

import pytest
from attnsim.sim import LoweringError, simulate
from attnsim.sim.lowering import (
    FAMILIES,
    LoweringFamily,
    TargetView,
    choose_family,
    register_family,
)
from attnsim.sim.lowering.attention_fused import FLASH_ATTENTION_3, lower_fused_attention
from attnsim.sim.lowering.registry import LoweringOptions
from attnsim.workloads import (
    CausalMask,
    ElementwiseOp,
    FftOp,
    GemmOp,
    LinearAttentionOp,
    NeighborhoodMask,
    NormOp,
    SlidingWindowMask,
    SoftmaxOp,
)
from simkit import attention, one_op


def test_dense_prefill_has_one_tile_per_head_and_query_block(toy_gpu):
    op = attention(batch=2, heads=4, seq=1024)
    tasks = lower_fused_attention(op, TargetView(toy_gpu), LoweringOptions(), FLASH_ATTENTION_3)
    (kernel,) = tasks.kernels
    assert tasks.notes["block_q"] == 128
    assert kernel.num_tiles == 2 * 4 * (1024 // 128)
    assert kernel.distinct_tiles == 1


def test_causal_tiles_differ_per_query_block_and_skip_dead_blocks(toy_gpu):
    op = attention(heads=2, seq=1024, mask=CausalMask())
    tasks = lower_fused_attention(op, TargetView(toy_gpu), LoweringOptions(), FLASH_ATTENTION_3)
    (kernel,) = tasks.kernels
    assert kernel.distinct_tiles == 8
    # query block i walks i full key blocks plus its diagonal block
    names = sorted({t.name for t, _ in kernel.runs})
    assert any("(7 full + 1 partial" in n for n in names)
    assert any("(0 full + 1 partial" in n for n in names)
    # longest first within each head
    assert "(7 full" in kernel.runs[0][0].name


def test_user_block_sizes_are_used_and_checked(toy_gpu):
    op = attention(seq=1024)
    r = simulate(toy_gpu, one_op(op), options=LoweringOptions(block_q=64, block_k=32))
    assert r.ops[0].notes["block_q"] == 64 and r.ops[0].notes["block_k"] == 32
    with pytest.raises(LoweringError, match="no flash-attention-3 tile fits"):
        simulate(toy_gpu, one_op(op), options=LoweringOptions(block_q=1024, block_k=1024))


def test_hbm_traffic_is_at_least_compulsory(toy_gpu):
    for mask in (None, CausalMask(), SlidingWindowMask(left=256)):
        op = attention(batch=2, heads=4, kv_heads=2, seq=2048, mask=mask)
        r = simulate(toy_gpu, one_op(op))
        io = op.io_bytes()
        assert r.bytes["hbm"] >= io.inputs + io.outputs - 1.0


def test_kv_fits_in_cache_means_compulsory_kv_traffic(toy_gpu):
    # 1 head, 2048 tokens, d=128 fp16: K+V = 1 MiB < 4 MiB L2
    op = attention(heads=1, seq=2048)
    r = simulate(toy_gpu, one_op(op))
    assert r.ops[0].notes["kv_dram_fraction"] < 0.2
    io = op.io_bytes()
    lse = 2048 * 4
    assert r.bytes["hbm"] == pytest.approx(io.inputs + io.outputs + lse, rel=1e-6)


def test_kv_larger_than_cache_reaches_dram_more(toy_gpu):
    """At 1k tokens a head's 512 KiB of K/V stays in the 4 MiB L2 between waves: DRAM
    sees it once. At 32k (16 MiB per head, 32 waves of 8 slots per head) later waves
    miss: DRAM moves many times the compulsory bytes, but less than every tile reading
    its own copy (the tiles of a wave share one stream)."""

    def dram_over_compulsory(seq: int) -> float:
        op = attention(heads=8, seq=seq)
        r = simulate(toy_gpu, one_op(op))
        return r.bytes["hbm"] / op.io_bytes().total

    assert dram_over_compulsory(1024) == pytest.approx(1.0, rel=0.01)
    assert 5.0 < dram_over_compulsory(32768) < 32768 / 128


def test_gqa_moves_less_dram_traffic_than_mha(toy_gpu):
    mha = simulate(toy_gpu, one_op(attention(heads=16, kv_heads=16, seq=8192)))
    gqa = simulate(toy_gpu, one_op(attention(heads=16, kv_heads=2, seq=8192)))
    assert gqa.bytes["hbm"] < mha.bytes["hbm"]


def test_decode_splits_kv_and_reduces(h100):
    op = attention(
        batch=1, heads=32, kv_heads=8, seq=1, kv_seq=32768, phase="decode", mask=CausalMask()
    )
    r = simulate(h100, one_op(op))
    o = r.ops[0]
    assert o.notes["rows_per_tile"] == 4
    assert o.notes["splits"] > 1
    assert o.kernels[-1] == "split-kv reduce"
    # decode is memory-bound: K/V streamed once from HBM
    kv = 8 * 32768 * 256 * 2
    assert r.bytes["hbm"] >= kv
    assert o.bound == "hbm"


def test_unfused_round_trips_scores_through_dram(toy_gpu):
    op = attention(heads=4, seq=2048)
    fused = simulate(toy_gpu, one_op(op))
    unfused = simulate(toy_gpu, one_op(op), family="unfused")
    scores = 4 * 2048 * 2048 * 2
    assert unfused.bytes["hbm"] >= 4 * scores  # S written, read, P written, read
    assert unfused.latency_s > fused.latency_s


def test_gemm_flops_and_weight_dtype(toy_gpu):
    op = GemmOp("proj", "fp16", m=4096, n=4096, k=4096, weight_operand="b")
    r = simulate(toy_gpu, one_op(op))
    assert r.flops == pytest.approx(2 * 4096**3)
    assert 0 < r.tflops_per_s <= 7.5 * 8
    ternary = GemmOp(
        "proj", "fp16", m=1, n=4096, k=4096, weight_operand="b", weight_dtype="ternary"
    )
    fp16 = GemmOp("proj", "fp16", m=1, n=4096, k=4096, weight_operand="b")
    # decode GEMV is weight-bound: ternary weights (1.6 bits) move 10x fewer bytes
    assert (
        simulate(toy_gpu, one_op(ternary)).bytes["hbm"]
        < simulate(toy_gpu, one_op(fp16)).bytes["hbm"] / 5
    )


def test_skinny_gemm_spreads_k_over_the_machine(h100):
    """One 128x128 output tile with K = 65536: stream-K shares the K iterations among
    many SMs (one kernel); with stream-K off, split-K does (a reduction kernel follows);
    with both off only small output tiles can spread it, and it is slower."""
    op = GemmOp("g", "bf16", m=128, n=128, k=65536, weight_operand="b")
    r = simulate(h100, one_op(op))
    assert r.ops[0].notes["stream_k_workers"] > 1
    no_stream = simulate(h100, one_op(op), options=LoweringOptions(disable=frozenset({"stream_k"})))
    assert no_stream.ops[0].notes["split_k"] > 1
    assert no_stream.ops[0].kernels[-1].endswith("split-k reduce")
    neither = simulate(
        h100, one_op(op), options=LoweringOptions(disable=frozenset({"stream_k", "split_k"}))
    )
    assert neither.latency_s > max(r.latency_s, no_stream.latency_s)


def test_unknown_mechanisms_are_refused(h100):
    op = GemmOp("g", "bf16", m=128, n=128, k=128)
    with pytest.raises(
        LoweringError, match="unknown mechanism 'stream-k' \\(did you mean 'stream_k'"
    ):
        simulate(h100, one_op(op), options=LoweringOptions(disable=frozenset({"stream-k"})))


def test_memory_bound_ops_stream_their_bytes(toy_gpu):
    for op in (
        SoftmaxOp("s", "fp16", rows=4096, cols=4096),
        NormOp("n", "bf16", rows=8192, cols=4096, norm="rmsnorm"),
        ElementwiseOp("e", "fp16", numel=1 << 24, n_inputs=2, function="add"),
    ):
        r = simulate(toy_gpu, one_op(op))
        io = op.io_bytes()
        assert r.bytes["hbm"] == pytest.approx(io.total, rel=1e-9)
        bw = 0.025e12 * 8
        assert r.latency_s >= io.total / bw
        assert r.ops[0].bound == "hbm"


def test_fft_passes_grow_when_the_transform_does_not_fit(toy_gpu):
    small = simulate(toy_gpu, one_op(FftOp("f", "fp32", batch=8, lengths=(1024,))))
    big = simulate(toy_gpu, one_op(FftOp("f", "fp32", batch=1, lengths=(1 << 22,))))
    assert small.ops[0].notes["passes"] == 1
    assert big.ops[0].notes["passes"] >= 2


def test_linear_attention_scales_linearly(toy_gpu):
    def t(n: int) -> float:
        return simulate(
            toy_gpu, one_op(LinearAttentionOp("la", "fp16", 1, 8, n, 128, chunk=64))
        ).latency_s

    assert t(16384) / t(8192) == pytest.approx(2.0, rel=0.1)


def test_neighborhood_mask_lowers(toy_gpu):
    mask = NeighborhoodMask(
        spatial=(64, 64), window=(7, 7), dilation=(1, 1), stride=(1, 1), causal=(False, False)
    )
    op = attention(heads=4, seq=64 * 64, head_dim=64, mask=mask)
    r = simulate(toy_gpu, one_op(op))
    dense = simulate(toy_gpu, one_op(attention(heads=4, seq=64 * 64, head_dim=64)))
    assert r.latency_s < dense.latency_s


def test_family_choice_and_errors(toy_gpu, h100):
    view = TargetView(h100)
    assert choose_family(attention(), view).name == "flash-attention-3"
    assert choose_family(attention(), view, "triton-bundled").name == "triton-bundled"
    gemm = GemmOp("g", "fp16", 64, 64, 64)
    # a requested attention family leaves GEMMs to their own best family
    assert choose_family(gemm, view, "triton-bundled").name.startswith("gemm")
    with pytest.raises(
        LoweringError,
        match="unknown kernel family 'flash-atention-3' \\(did you mean 'flash-attention-3'\\?\\)",
    ):
        choose_family(attention(), view, "flash-atention-3")
    cpu_like = dataclasses.replace(toy_gpu, kernel_families=("unfused",))
    with pytest.raises(LoweringError, match="does not run kernel family 'flash-attention-3'"):
        choose_family(attention(), TargetView(cpu_like), "flash-attention-3")


def test_registry_refuses_duplicates():
    with pytest.raises(ValueError, match="already registered"):
        register_family(
            LoweringFamily("gemm-tiled", frozenset({"gemm"}), FAMILIES["gemm-tiled"].lower)
        )


def test_capacity_check(toy_gpu):
    # 16 GiB of HBM; a 64k x 64k fp16 weight is 8 GiB, three of them do not fit
    w = GemmOp("w", "fp16", m=1, n=65536, k=65536, weight_operand="b")
    from attnsim.workloads import Block, Workload

    wl = Workload("big", (Block("layer", (w,), 3),))
    with pytest.raises(
        LoweringError, match=r"needs 24\.0 GiB in hbm .* but toy-gpu-8 has 16\.0 GiB"
    ):
        simulate(toy_gpu, wl)


def test_repeated_blocks_are_simulated_once(toy_gpu):
    from attnsim.workloads import Block, Workload

    layer = (attention(heads=4, seq=1024), GemmOp("o", "fp16", 1024, 512, 512, weight_operand="b"))
    once = simulate(toy_gpu, Workload("w", (Block("layer", layer, 1),)))
    many = simulate(toy_gpu, Workload("w", (Block("layer", layer, 32),)))
    assert many.latency_s == pytest.approx(32 * once.latency_s)
    assert many.stats["distinct_ops"] == once.stats["distinct_ops"] == 2
    assert many.bytes["hbm"] == pytest.approx(32 * once.bytes["hbm"])
    assert math.isclose(many.energy.compute_j, 32 * once.energy.compute_j, rel_tol=1e-9)
