"""Lowering of the attention variants (sim/lowering/variants_*.py): every variant runs on
the GPU targets, mask variants run on the CPU kernel's family, physics holds (no op moves
fewer DRAM bytes than it must), and each family's mechanism shows in its prediction."""

from __future__ import annotations

import functools

import pytest
from attnsim.hwconfigs import load_hardware
from attnsim.sim import simulate
from attnsim.sim.lowering import LoweringError, TargetView
from attnsim.workloads.masks import CausalMask, SlidingWindowMask
from attnsim.workloads.masks_sparse import BlockTopKMask, ClusterMask, PowerMask, VerticalSlashMask
from attnsim.workloads.ops import AttentionOp, GemmOp, Op
from attnsim.workloads.ops_variants import (
    CompressedSensingAttentionOp,
    DifferentialAttentionOp,
    HaarWaveletMixerOp,
    LowRankAttentionOp,
    MaskSetupOp,
    MixtureOfHeadsAttentionOp,
)
from attnsim.workloads.spec import AttentionSpec
from attnsim.workloads.variants import build_variant, list_variants
from attnsim.workloads.workload import Block, Workload
from hypothesis import given, settings
from hypothesis import strategies as st

H100 = "h100-sxm5-80gb"


@functools.cache
def hw(name: str):
    return load_hardware(name)


def one(op: Op) -> Workload:
    return Workload(name=op.name, blocks=(Block(name=op.name, ops=(op,)),), tokens=1, meta={})


def dram_bytes(target: str, w: Workload) -> list[tuple[Op, float, float]]:
    """(op, simulated DRAM bytes, compulsory bytes) per op."""
    r = simulate(hw(target), w, check_capacity=False)
    dram = TargetView(hw(target)).dram.name
    ops = [op for _, op in w.flat()]
    return [
        (op, o.bytes.get(dram, 0.0), op.io_bytes().total) for op, o in zip(ops, r.ops, strict=True)
    ]


SMALL = {"seq": 1024}


@pytest.mark.parametrize("name", [v.name for v in list_variants()])
@pytest.mark.parametrize("target", [H100, "a100-sxm4-80gb"])
def test_every_variant_lowers_on_gpus_and_moves_its_compulsory_bytes(
    name: str, target: str
) -> None:
    args = dict(SMALL) if name != "neighborhood" else {"spatial": "32x32"}
    w = build_variant(name, **args)
    r = simulate(hw(target), w, check_capacity=False)
    assert r.latency_s > 0
    for op, moved, compulsory in dram_bytes(target, w):
        # physics: no op moves fewer DRAM bytes than it must (0.1% for float sums)
        assert moved >= compulsory * 0.999, (op.name, moved, compulsory)


@pytest.mark.parametrize(
    "name", [v.name for v in list_variants() if "numba-flash-cpu" in v.cpu_families]
)
def test_mask_variants_run_on_the_bundled_cpu_kernel_family(name: str) -> None:
    # fp32: the host's matmul engine has no bf16 rate
    args: dict = {"seq": 1024, "heads": 8, "head_dim": 32, "dtype": "fp32"}
    if name == "neighborhood":
        args = {"spatial": "32x32", "heads": 8, "head_dim": 32, "dtype": "fp32"}
    args.update(
        {"gqa": {"kv_heads": 2}, "sqa": {"query_heads": 4, "kv_heads": 4},
         "moh": {"active_heads": 4}, "gda": {"noise_heads": 2}}.get(name, {})
    )  # fmt: skip
    w = build_variant(name, **args)
    r = simulate(hw("host-cpu-example"), w, check_capacity=False)
    families = {
        o.family
        for o in r.ops
        if o.kind in ("attention", "mixture_of_heads", "differential_attention")
    }
    assert families and all(
        f in ("numba-flash-cpu", "moh-gathered", "differential-two-pass") for f in families
    )


def test_shared_projection_weight_is_read_once_not_per_batch() -> None:
    # Linformer at B=8, H=12, n=4096, k=256 used to read ~4.7x its compulsory bytes (the
    # shared projection re-read per (sequence, head)); now within the output tile overhead.
    lin = LowRankAttentionOp("lin", "fp16", 8, 12, 4096, 4096, 256, 64, 64)
    ((_, moved, compulsory),) = dram_bytes(H100, one(lin))
    assert moved <= 1.25 * compulsory
    gemm = GemmOp("proj", "fp16", m=256, n=64, k=4096, batch=2 * 8 * 12, weight_operand="a")
    ((_, moved, compulsory),) = dram_bytes(H100, one(gemm))
    assert compulsory <= moved <= 1.25 * compulsory


def test_windowed_decode_reads_the_window() -> None:
    spec = AttentionSpec(4, 8, 8, 1, 65536, 128, 128, "decode", SlidingWindowMask(left=4095))
    ((_, moved, compulsory),) = dram_bytes(H100, one(AttentionOp("d", "bf16", spec)))
    window_kv = 4 * 8 * 4096 * 256 * 2
    assert compulsory == pytest.approx(window_kv + 2 * 4 * 8 * 128 * 2)
    assert moved < 1.2 * compulsory  # the whole 64k cache would be 16x more


def test_haar_runs_on_chip_when_a_channel_slice_fits() -> None:
    short = HaarWaveletMixerOp("h", "bf16", 1, 4096, 1024, levels=5)  # 4096*8*2*2 = 128 KiB
    long = HaarWaveletMixerOp("h", "bf16", 1, 65536, 1024, levels=5)  # 2 MiB: off chip
    view = TargetView(hw(H100))
    from attnsim.sim.lowering.variants_mixers import haar_on_chip

    assert haar_on_chip(short, view) and not haar_on_chip(long, view)
    r_short = simulate(hw(H100), one(short)).ops[0]
    r_long = simulate(hw(H100), one(long)).ops[0]
    assert r_short.notes["dram_passes"] == 1 and r_long.notes["dram_passes"] == 10
    (_, moved, compulsory), = dram_bytes(H100, one(long))  # fmt: skip
    assert moved > 2 * compulsory  # the levels cross DRAM


def test_csat_recovery_iterations_cost_time() -> None:
    times = [
        simulate(
            hw(H100), one(CompressedSensingAttentionOp("c", "bf16", 1, 16, 8192, 256, 64, it))
        ).latency_s
        for it in (0, 1, 5, 10)
    ]
    assert times[0] < times[1] < times[2] < times[3]


def test_csat_without_iterations_still_writes_its_n_by_d_output() -> None:
    # ISTA's start x = 0 is the recovered output: the n x d output is written once
    op = CompressedSensingAttentionOp("c", "bf16", 1, 16, 8192, 256, 64, 0)
    ((_, moved, compulsory),) = dram_bytes(H100, one(op))  # simulate checks the physics
    assert moved >= compulsory
    r = simulate(hw(H100), one(op)).ops[0]
    assert any("x = 0" in k for k in r.kernels)


def test_differential_attention_costs_more_than_one_map() -> None:
    spec = AttentionSpec(1, 16, 16, 4096, 4096, 64, 64, mask=CausalMask())
    base = simulate(hw(H100), one(AttentionOp("a", "bf16", spec))).latency_s
    gda = simulate(hw(H100), one(DifferentialAttentionOp("g", "bf16", spec, 4))).latency_s
    diff = simulate(hw(H100), one(DifferentialAttentionOp("g", "bf16", spec, 16))).latency_s
    # (gda's noise pass has 4 heads of wide V (256): a quarter of the tiles, which may not
    # fill the machine, so gda and diff are not ordered in general)
    assert base < gda and base < diff


@settings(max_examples=8, deadline=None)
@given(k1=st.integers(1, 16), k2=st.integers(1, 16))
def test_fewer_active_heads_are_never_slower(k1: int, k2: int) -> None:
    lo, hi = sorted((k1, k2))
    spec = AttentionSpec(1, 16, 16, 2048, 2048, 64, 64, mask=CausalMask())
    t_lo = simulate(hw(H100), one(MixtureOfHeadsAttentionOp("m", "bf16", spec, lo))).latency_s
    t_hi = simulate(hw(H100), one(MixtureOfHeadsAttentionOp("m", "bf16", spec, hi))).latency_s
    # less work is never much slower; a little can be, when the longest tile (the last
    # query rows, which see every key) sets the makespan of a single wave either way
    assert t_lo <= t_hi * 1.1


def test_materialised_mask_setup_moves_the_dense_matrix() -> None:
    eager = MaskSetupOp("m", "bool", pairs=8192 * 8192, index_bytes=4096.0, materialized=True)
    lazy = MaskSetupOp("m", "bool", pairs=8192 * 8192, index_bytes=4096.0, materialized=False)
    (_, moved_eager, _), = dram_bytes(H100, one(eager))  # fmt: skip
    (_, moved_lazy, _), = dram_bytes(H100, one(lazy))  # fmt: skip
    assert moved_eager >= 2 * 8192 * 8192 and moved_lazy < 0.01 * moved_eager


def test_edge_target_runs_variant_attention_on_its_pipeline() -> None:
    # vitallm-16nm lowers any mask through vitallm-pipeline (live key blocks per query block)
    r = simulate(hw("vitallm-16nm"), build_variant("power", seq=1024), check_capacity=False)
    (op,) = r.ops
    assert op.family == "vitallm-pipeline" and r.latency_s > 0


def test_variant_predictions_are_deterministic() -> None:
    w = build_variant("block-topk", seq=2048)
    a = simulate(hw(H100), w).latency_s
    b = simulate(hw(H100), w).latency_s
    assert a == b


@pytest.mark.parametrize(
    "mask",
    [
        PowerMask(block=16),
        BlockTopKMask(block=16, k=2),
        ClusterMask(cluster=32),
        VerticalSlashMask((0, 7), (0, 1, 33)),
    ],
)
def test_the_bundled_cpu_kernel_computes_the_variant_masks(mask) -> None:
    # the numba kernel the host-cpu family models runs these masks (partial tiles by
    # bitmap) and agrees with SDPA on the dense mask
    import numpy as np
    import torch
    from attnsim.kernels.cpu import attention_forward

    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal((1, 2, 128, 32)).astype(np.float32) for _ in range(3))
    out = attention_forward(q, k, v, mask, block_q=32, block_k=32)
    dense = torch.from_numpy(mask.dense(128, 128))
    ref = torch.nn.functional.scaled_dot_product_attention(
        *(torch.from_numpy(x) for x in (q, k, v)), attn_mask=dense
    )
    np.testing.assert_allclose(out, ref.numpy(), rtol=2e-4, atol=2e-5)


def test_vertical_slash_gather_counts_blocks_written_out() -> None:
    from attnsim.sim.lowering.variants_attention import vertical_slash_blocks

    # 256 tokens, blocks of 64: verticals (0, 100), slashes (0, 1, 70)
    m = VerticalSlashMask((0, 100), (0, 1, 70))
    # block 0 (positions 0-63): vertical 0 -> 1 gathered block; slashes 0, 1 cover keys
    # [0, 63] and [0, 62] -> merged [0, 63]: 1 block  => 2
    # block 1 (64-127): verticals 0, 100 -> 1 block; slash 70 -> [0, 57], 1 -> [63, 126],
    # 0 -> [64, 127]: merged [0, 57] and [63, 127] -> 1 + 2 blocks  => 4
    # block 2 (128-191): verticals -> 1; slash 70 -> [58, 121]: 1 block; slashes 1, 0 ->
    # [127, 190] and [128, 191] merged [127, 191], 65 keys: 2 blocks  => 4; block 3 alike
    assert vertical_slash_blocks(m, 256, 256, 64).tolist() == [2, 4, 4, 4]


def test_vertical_slash_gather_family_runs_only_its_mask() -> None:
    w = build_variant("vertical-slash", seq=4096)
    r = simulate(hw(H100), w)
    assert r.ops[0].family == "vertical-slash-gather"
    ((_, moved, compulsory),) = [  # fmt: skip
        (op, o.bytes["hbm"], op.io_bytes().total)
        for (_, op), o in zip(w.flat(), r.ops, strict=True)
    ]
    assert moved >= compulsory * 0.999
    # a plain attention op: the family refuses it (asked for by name, it is not used)
    from attnsim.sim.lowering import FAMILIES, LoweringOptions

    ((_, causal),) = build_variant("causal", seq=1024).flat()
    with pytest.raises(LoweringError, match="lowers gathered_attention ops, not attention"):
        FAMILIES["vertical-slash-gather"].lower(causal, TargetView(hw(H100)), LoweringOptions())
    r = simulate(hw(H100), build_variant("causal", seq=1024), family="vertical-slash-gather")
    assert r.ops[0].family == "flash-attention-3"
