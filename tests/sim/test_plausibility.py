"""Plausibility against datasheets and published kernel measurements.

Rationale. On H100 SXM5 a large dense FP16 attention forward is compute-bound: the best
kernel (FlashAttention-3) overlaps the softmax exponentials (3.9 TFLOPS of SFU) with the
matmuls, so it runs close to the sustained tensor rate; the FA3 paper (Shah et al. 2024,
Fig. 5c) measures ~640 TFLOPS (65% of the 989.4 TFLOPS dense peak) at head dim 128 and
8k tokens, and the best GEMMs reach ~80%. A prediction outside 50–85% of peak would mean
the model misses the overlap (too slow) or ignores sustained rates (too fast).

Decode of Llama-3-8B at batch 1 reads every weight once per token: no faster than HBM
bandwidth / weight bytes allows, and its work is memory-bound (every weight GEMM is
HBM-bound). Traced eagerly it is one kernel per aten op, so about half of its time is
launch overhead, as eager PyTorch decode is on real GPUs; the memory-bound claim is
about the time the GPU spends working.
"""

from __future__ import annotations

import pytest
from attnsim.sim import simulate
from simkit import attention, one_op


def test_h100_dense_fp16_attention_is_50_to_85_percent_of_peak(h100):
    op = attention(batch=2, heads=16, seq=8192, head_dim=128, dtype="fp16")
    r = simulate(h100, one_op(op))
    fraction = r.tflops_per_s * 1e12 / h100.peak("matmul", "fp16")
    assert 0.50 <= fraction <= 0.85
    assert r.ops[0].family == "flash-attention-3"
    assert r.ops[0].bound == "compute"


def test_fa2_is_slower_than_fa3_on_h100(h100):
    op = one_op(attention(batch=2, heads=16, seq=8192, head_dim=128))
    fa3 = simulate(h100, op).latency_s
    fa2 = simulate(h100, op, family="flash-attention-2").latency_s
    assert fa2 > 1.2 * fa3


@pytest.mark.slow
def test_llama3_8b_decode_is_memory_bound_and_below_the_bandwidth_bound(h100):
    from attnsim.workloads.zoo import build_workload

    w = build_workload("llama3-8b", batch=1, seq=1, phase="decode", kv_len=4096, dtype="bf16")
    r = simulate(h100, w)
    weights = sum(op.io_bytes().weights * block.count for block, op in w.flat())
    bound = h100.memory_level("hbm").bandwidth_bytes_per_s / weights
    assert r.tokens_per_s is not None
    assert r.tokens_per_s < bound
    assert r.tokens_per_s > 0.1 * bound  # and not absurdly slow either
    gemms = [o for o in r.ops if o.kind == "gemm"]
    assert gemms and all(o.bound in ("hbm", "launch") for o in gemms)
    assert any(o.bound == "hbm" for o in gemms)
    working = sum((o.latency_s - o.launch_s) * o.count for o in r.ops)
    memory = sum((o.latency_s - o.launch_s) * o.count for o in r.ops if o.bound in ("hbm", "l2"))
    assert memory / working > 0.7
