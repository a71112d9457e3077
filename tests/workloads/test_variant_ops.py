"""Variant ops (workloads/ops_variants.py): FLOPs and compulsory bytes against analytic
counts written out here, serialisation, and one-line errors."""

from __future__ import annotations

import math

import pytest
from attnsim.workloads import WorkloadError
from attnsim.workloads.masks import CausalMask, FullMask, SlidingWindowMask
from attnsim.workloads.masks_sparse import VerticalSlashMask
from attnsim.workloads.ops import op_from_dict
from attnsim.workloads.ops_variants import (
    CompressedSensingAttentionOp,
    DifferentialAttentionOp,
    GatheredAttentionOp,
    GraphWaveletOp,
    GroupRationalOp,
    HaarWaveletMixerOp,
    LowRankAttentionOp,
    MaskSetupOp,
    MixtureOfHeadsAttentionOp,
    SpectralDictionaryMixerOp,
)
from attnsim.workloads.spec import AttentionSpec

B, H, N, D = 2, 4, 1024, 64
BF16 = 2  # bytes


def causal(n: int) -> int:
    return n * (n + 1) // 2


def test_linformer_counts_and_a_shared_projection_read_once() -> None:
    op = LowRankAttentionOp("lin", "bf16", B, H, N, N, proj=128, head_dim=D, head_dim_v=D)
    # projections E K, F V: 2*k*n*d each per (sequence, head); attention over n x k pairs
    assert op.flops() == B * H * (2 * 128 * N * D * 2 + 2 * N * 128 * (D + D))
    io = op.io_bytes()
    assert io.inputs == BF16 * B * H * (N * D + 2 * N * D)
    assert io.outputs == BF16 * B * H * N * D
    assert io.weights == BF16 * 128 * N  # layer-wise sharing: one matrix, once per op
    kv = LowRankAttentionOp("l", "bf16", B, H, N, N, 128, D, D, share="kv")
    head = LowRankAttentionOp("l", "bf16", B, H, N, N, 128, D, D, share="headwise")
    assert (kv.io_bytes().weights, head.io_bytes().weights) == (
        BF16 * 2 * 128 * N,
        BF16 * 2 * H * 128 * N,
    )


def test_csat_counts_state_the_recovery() -> None:
    m, iters = 256, 7
    op = CompressedSensingAttentionOp("cs", "bf16", B, H, N, m, D, iters=iters)
    measure = 3 * 2 * m * N * D
    attend = 2 * m * m * 2 * D
    ista = iters * (2 * 2 * m * N * D + 4 * N * D)
    assert op.flops() == B * H * (measure + attend + ista)
    assert op.recovery_flops() == B * H * ista
    io = op.io_bytes()
    assert (io.inputs, io.outputs, io.weights) == (
        BF16 * 3 * B * H * N * D, BF16 * B * H * N * D, BF16 * m * N,
    )  # fmt: skip


def test_moh_work_is_exact_for_any_routing() -> None:
    spec = AttentionSpec(B, H, H, N, N, D, D, mask=CausalMask())
    op = MixtureOfHeadsAttentionOp("moh", "bf16", spec, active_heads=3)
    # every token attends its causal keys once per selected head
    assert op.flops() == 2 * B * 3 * causal(N) * (D + D)
    assert op.rows_per_head == math.ceil(N * 3 / H)
    io = op.io_bytes()
    assert io.inputs == BF16 * (B * 3 * N * D + B * H * N * 2 * D)
    assert io.outputs == BF16 * B * 3 * N * D


def test_grouped_differential_counts() -> None:
    spec = AttentionSpec(B, 8, 8, N, N, D, D, mask=CausalMask())
    op = DifferentialAttentionOp("gda", "bf16", spec, noise_heads=2)
    pairs = B * causal(N)
    # scores for 8 signal + 2 noise heads, two value products per signal head, combine
    assert op.flops() == 2 * pairs * D * (8 + 2) + 2 * pairs * D * 2 * 8 + 2 * B * 8 * N * D
    io = op.io_bytes()
    assert io.inputs == BF16 * (B * (8 + 2) * N * D + B * 8 * N * 2 * D + B * 2 * N * D)
    diff = DifferentialAttentionOp("diff", "bf16", spec, noise_heads=8)  # DIFF Transformer
    assert diff.flops() > op.flops()


def test_spectral_dictionary_counts() -> None:
    op = SpectralDictionaryMixerOp("sd", "bf16", B, N, dim=256, atoms=64, active=8)
    # rfft(x), rfft(s), irfft and the complex product, per channel
    fft = 3 * 2.5 * N * math.log2(N) * 256 + 6 * (N // 2 + 1) * 256
    coef = 2 * N * 256 * 64
    synth = N * 64 + 4 * N * 8 * 256
    assert op.flops() == pytest.approx(B * (fft + coef + synth))
    assert op.io_bytes().weights == BF16 * (3 * 64 * 256 + 256 * 64)


def test_haar_counts_are_linear() -> None:
    op = HaarWaveletMixerOp("h", "bf16", B, 1000, dim=32, levels=3)
    # levels give 500, 250, 125 pairs: 8 ops per pair and channel (analysis + synthesis)
    assert op.level_pairs() == [500, 250, 125]
    assert op.flops() == 8 * 32 * (500 + 250 + 125) * B
    assert op.io_bytes().weights == BF16 * 4 * 3 * 32


def test_graph_wavelet_counts() -> None:
    op = GraphWaveletOp("g", "bf16", B, nodes=100, dim=16, nnz=300, scales=4, order=3)
    spmm = 3 * (2 * 300 * 16 + 2 * 100 * 16)
    combine = 2 * 4 * 100 * 16
    assert op.flops() == B * (spmm + combine)
    csr = 300 * 8 + 101 * 4
    assert op.io_bytes().inputs == BF16 * B * 100 * 16 + B * csr
    assert op.io_bytes().weights == BF16 * (4 * 4 + 4 * 16)


def test_group_rational_counts() -> None:
    op = GroupRationalOp("r", "bf16", rows=10, cols=64, groups=8)
    assert op.ops_per_element == 2 * 5 + 2 * 4 + 2 == 20
    assert op.flops() == 10 * 64 * 20
    assert op.io_bytes().weights == 4 * 8 * (5 + 1 + 4)  # fp32 coefficients


def test_mask_setup_counts() -> None:
    op = MaskSetupOp("m", "bool", pairs=4096 * 4096, index_bytes=1234.0)
    assert op.flops() == 4 * 4096 * 4096
    assert op.io_bytes().total == 1234.0


@pytest.mark.parametrize(
    "op",
    [
        LowRankAttentionOp("l", "fp16", 1, 2, 64, 64, 8, 16, 16, "kv"),
        CompressedSensingAttentionOp("c", "fp16", 1, 2, 64, 8, 16, 3),
        MixtureOfHeadsAttentionOp("m", "fp16", AttentionSpec(1, 4, 4, 8, 8, 4, 4), 2),
        DifferentialAttentionOp("d", "fp16", AttentionSpec(1, 4, 4, 8, 8, 4, 4, mask=CausalMask()), 2),
        SpectralDictionaryMixerOp("s", "fp16", 1, 64, 8, 4, 2),
        HaarWaveletMixerOp("h", "fp16", 1, 64, 8, 2),
        GraphWaveletOp("g", "fp16", 1, 16, 8, 40),
        GroupRationalOp("r", "fp16", 4, 16),
        MaskSetupOp("k", "bool", 64, 8.0, materialized=False),
        GatheredAttentionOp("g", "fp16", AttentionSpec(1, 4, 4, 8, 8, 4, 4, mask=VerticalSlashMask((0,), (0, 1)))),
    ],
)  # fmt: skip
def test_round_trip_and_describe(op) -> None:
    assert op_from_dict(op.to_dict()) == op
    assert op.describe()


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: LowRankAttentionOp("l", "fp16", 1, 2, 64, 64, 128, 16, 16),
         r"LowRankAttentionOp.proj: 128 exceeds kv_len 64; expected 1 <= proj <= kv_len"),
        (lambda: LowRankAttentionOp("l", "fp16", 1, 2, 64, 64, 8, 16, 16, "heads"),
         r"LowRankAttentionOp.share: 'heads' is not allowed; expected one of layer, kv, headwise"),
        (lambda: CompressedSensingAttentionOp("c", "fp16", 1, 2, 64, 65, 16),
         r"measurements: 65 exceeds seq 64"),
        (lambda: MixtureOfHeadsAttentionOp("m", "fp16", AttentionSpec(1, 4, 4, 8, 8, 4, 4), 5),
         r"active_heads: 5 exceeds the 4 heads"),
        (lambda: MixtureOfHeadsAttentionOp(
            "m", "fp16", AttentionSpec(1, 4, 4, 8, 8, 4, 4, mask=SlidingWindowMask(2)), 2),
         r"spec.mask: sliding_window; expected a full or causal mask"),
        (lambda: DifferentialAttentionOp("d", "fp16", AttentionSpec(1, 4, 4, 8, 8, 4, 4), 3),
         r"noise_heads: 3 does not divide the 4 signal heads"),
        (lambda: SpectralDictionaryMixerOp("s", "fp16", 1, 64, 8, 4, 5), r"active: 5 exceeds atoms 4"),
        (lambda: HaarWaveletMixerOp("h", "fp16", 1, 4, 8, 5), r"levels: 5 halves 4 tokens below one"),
        (lambda: GraphWaveletOp("g", "fp16", 1, 4, 8, 17), r"nnz: 17 exceeds nodes\*\*2 = 16"),
        (lambda: GroupRationalOp("r", "fp16", 4, 10, groups=4), r"groups: 4 does not divide cols 10"),
        (lambda: MaskSetupOp("k", "bool", 0, 1.0), r"MaskSetupOp.pairs: 0 is too small"),
        (lambda: GatheredAttentionOp("g", "fp16", AttentionSpec(1, 4, 4, 8, 8, 4, 4)),
         r"GatheredAttentionOp.spec.mask: full; expected a vertical_slash mask"),
        (lambda: op_from_dict({"kind": "haar_wavelet", "name": "h", "dtype": "fp16", "batch": 1,
                               "seq": 8, "dim": 2}), r"op.levels: missing"),
    ],
)  # fmt: skip
def test_bad_ops_are_one_line_errors(build, message) -> None:
    with pytest.raises(WorkloadError, match=message):
        build()


def test_full_mask_moh_is_allowed() -> None:
    op = MixtureOfHeadsAttentionOp(
        "m", "fp16", AttentionSpec(1, 4, 4, 8, 8, 4, 4, mask=FullMask()), 2
    )
    assert op.flops() == 2 * 2 * 64 * 8
