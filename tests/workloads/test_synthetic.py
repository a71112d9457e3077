"""Synthetic generators: shapes, FLOPs, determinism, round trip."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from attnsim.workloads import AttentionOp, FftOp, LinearAttentionOp, WorkloadError
from attnsim.workloads.serialize import load_workload, save_workload
from attnsim.workloads.synthetic import (
    block_sparse_attention,
    causal_attention,
    decode_attention,
    dense_attention,
    fnet_mixer,
    gemm_workload,
    gqa_attention,
    linear_attention,
    linformer_attention,
    mqa_attention,
    neighborhood_attention,
    query_head_reduction_attention,
    shared_prefix_attention,
    sliding_window_attention,
)


def only_attention(w) -> AttentionOp:  # type: ignore[no-untyped-def]
    (op,) = [op for _, op in w.flat()]
    assert isinstance(op, AttentionOp)
    return op


def test_dense_and_causal() -> None:
    w = dense_attention(2, 8, 512, 64)
    assert w.total_flops() == 4 * 2 * 8 * 512 * 512 * 64
    assert w.tokens == 1024
    c = causal_attention(2, 8, 512, 64)
    assert c.total_flops() == 2 * 2 * 8 * (512 * 513 // 2) * 128


def test_gqa_mqa_and_query_head_reduction() -> None:
    g = only_attention(gqa_attention(1, 32, 8, 128, 64))
    assert g.spec.group_size == 4
    m = mqa_attention(1, 16, 128, 64)
    assert only_attention(m).spec.kv_heads == 1 and m.meta["generator"] == "mqa"
    r = only_attention(query_head_reduction_attention(1, 4, 16, 128, 64, causal=False))
    assert r.flops() == 4 * 4 * 128 * 128 * 64
    with pytest.raises(WorkloadError, match="expected fewer query heads than K/V heads"):
        query_head_reduction_attention(1, 8, 8, 16, 8)
    with pytest.raises(WorkloadError, match="expected kv_heads <= q_heads"):
        gqa_attention(1, 4, 8, 16, 8)


def test_decode_reads_the_cache() -> None:
    op = only_attention(decode_attention(8, 32, 4096, 128, kv_heads=8))
    assert op.spec.phase == "decode" and op.spec.q_len == 1
    assert op.flops() == 4 * 8 * 32 * 4096 * 128
    kv_bytes = 2 * 8 * 8 * 4096 * 256
    assert op.io_bytes().inputs == pytest.approx(kv_bytes + 2 * 8 * 32 * 128)
    win = only_attention(decode_attention(1, 1, 4096, 64, window=128))
    assert win.spec.live_pairs == 128


def test_sliding_window() -> None:
    op = only_attention(sliding_window_attention(1, 1, 1000, 64, 100))
    assert op.spec.live_pairs == 99 * 100 // 2 + 901 * 100
    sym = only_attention(sliding_window_attention(1, 1, 1000, 64, 101, causal=False))
    assert sym.spec.mask.dense(1000, 1000)[500].sum() == 101
    with pytest.raises(WorkloadError, match=r"window: 2000 is outside \[1, 1000\]"):
        sliding_window_attention(1, 1, 1000, 64, 2000)


def test_neighborhood_2d_and_3d() -> None:
    op = only_attention(neighborhood_attention(1, 4, (32, 32), (7, 7), 64, dilation=(2, 2)))
    assert op.spec.q_len == 1024 and op.spec.live_pairs == 1024 * 49
    op3 = only_attention(
        neighborhood_attention(
            1, 4, (8, 16, 16), (3, 5, 5), 64, stride=(1, 5, 5), causal=(True, False, False)
        )
    )
    assert op3.spec.q_len == 8 * 16 * 16


def test_block_sparse_deterministic_with_seed_in_meta() -> None:
    a = block_sparse_attention(1, 2, 1000, 64, 0.25, block=50, seed=3)
    b = block_sparse_attention(1, 2, 1000, 64, 0.25, block=50, seed=3)
    c = block_sparse_attention(1, 2, 1000, 64, 0.25, block=50, seed=4)
    assert a == b and a != c
    assert a.meta["seed"] == 3
    assert a.meta["density"] == pytest.approx(0.25)
    with pytest.raises(WorkloadError, match=r"density: 1.5 is outside \(0, 1\]"):
        block_sparse_attention(1, 1, 100, 8, 1.5)


def test_shared_prefix() -> None:
    op = only_attention(shared_prefix_attention(1, 8, 1000, 4, 100, 64))
    assert op.spec.q_len == 1400
    assert op.spec.live_pairs == 1000 * 1001 // 2 + 4 * (100 * 1000 + 100 * 101 // 2)


def test_linear_fnet_linformer_gemm() -> None:
    la = [op for _, op in linear_attention(1, 8, 4096, 64, chunk=128).flat()][0]
    assert isinstance(la, LinearAttentionOp)
    assert la.flops() == 8 * 32 * (4 * 128 * 128 * 64 + 4 * 128 * 64 * 64)
    (fft,) = [op for _, op in fnet_mixer(2, 512, 768).flat()]
    assert isinstance(fft, FftOp)
    n = 512 * 768
    assert fft.flops() == pytest.approx(2 * 5 * n * math.log2(n))
    (lin,) = [op for _, op in linformer_attention(1, 12, 4096, 64, 256).flat()]
    assert lin.kind == "low_rank_attention"
    assert lin.projection_flops() == 2 * (2 * 12) * 256 * 64 * 4096
    assert lin.attention_spec().kv_len == 256
    assert lin.flops() == 2 * (2 * 12) * 256 * 64 * 4096 + 4 * 12 * 4096 * 256 * 64
    # the layer-wise shared projection (256 x 4096) is read once, not once per head
    assert lin.io_bytes().weights == 256 * 4096 * 2
    g = gemm_workload(
        64, 128, 256, batch=2, dtype="int8", weight_operand="b", weight_dtype="ternary"
    )
    assert g.total_flops() == 2 * 2 * 64 * 128 * 256


def test_every_generator_round_trips(tmp_path: Path) -> None:
    ws = [
        dense_attention(1, 2, 16, 8),
        causal_attention(1, 2, 16, 8),
        gqa_attention(1, 4, 2, 16, 8),
        query_head_reduction_attention(1, 2, 4, 16, 8),
        decode_attention(1, 2, 64, 8),
        sliding_window_attention(1, 2, 32, 8, 4),
        neighborhood_attention(1, 2, (6, 6), (3, 3), 8, dilation=(2, 1), stride=(1, 3)),
        block_sparse_attention(1, 2, 64, 8, 0.5, block=16, seed=1),
        shared_prefix_attention(1, 2, 8, 2, 4, 8),
        linear_attention(1, 2, 64, 8),
        fnet_mixer(1, 16, 8),
        linformer_attention(1, 2, 64, 8, 16),
        gemm_workload(4, 4, 4),
    ]
    for i, w in enumerate(ws):
        p = tmp_path / f"{i}.json"
        save_workload(w, p)
        assert load_workload(p) == w
