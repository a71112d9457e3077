"""The per-tile schedule of warp-specialised attention (sim/lowering/sm_schedule.py): the
shared pipes are never over-used, overlap never loses to running one after the other,
the structures of FlashAttention-3 and -4 behave as their code says, and the results
are deterministic."""

from __future__ import annotations

import pytest
from attnsim.sim.lowering.sm_schedule import (
    GroupBlockWork,
    Job,
    SmRates,
    TileLoads,
    fair_rates,
    simulate_blocks,
    tile_schedule,
)
from hypothesis import given, settings
from hypothesis import strategies as st

CLK = 1.83e9
#: an H100 SM at the sustained wgmma rate (ops/s, bytes/s, results/s, instructions/s)
RATES = SmRates(
    tensor_ops_s=4096 * 0.8467 * CLK,
    smem_bytes_s=128 * CLK,
    mufu_s=16 * CLK,
    fma_s=128 * CLK,
    alu_s=64 * CLK,
    issue_s=128 * CLK,
)


def work(rows: int = 64, bc: int = 128, d: int = 128, scale: float = 1.0) -> GroupBlockWork:
    """One warpgroup's key block of ``rows x bc`` scores; ``scale`` multiplies the
    softmax's instructions."""
    s = rows * bc * scale
    return GroupBlockWork(
        gemm0_ops=2.0 * rows * bc * d,
        gemm1_ops=2.0 * rows * bc * d,
        gemm0_smem=(rows * d + bc * d) * 2.0,
        gemm1_smem=bc * d * 2.0,
        max_alu=s,
        max_fma=0.0,
        exp_mufu=s,
        exp_fma=2 * s,
        convert_alu=0.5 * s,
        convert_fma=0.0,
        convert_smem=0.0,
        rescale_fma=rows * d * scale,
    )


def per_block_loads(w: GroupBlockWork, groups: int) -> dict[str, float]:
    """Seconds each pipe must work per key block of the whole tile."""
    r = RATES
    return {
        "tensor": groups * (w.gemm0_ops + w.gemm1_ops) / r.tensor_ops_s,
        "smem": groups * (w.gemm0_smem + w.gemm1_smem + w.convert_smem) / r.smem_bytes_s,
        "mufu": groups * w.exp_mufu / r.mufu_s,
        "alu": groups * (w.max_alu + w.convert_alu) / r.alu_s,
        "fma": groups * (w.exp_fma + w.rescale_fma + w.max_fma + w.convert_fma) / r.fma_s,
    }


def serial_s(w: GroupBlockWork, groups: int, blocks: int) -> float:
    """Every job of every group one after the other, each at its stand-alone speed."""
    r = RATES
    gemm = max(w.gemm0_ops / r.tensor_ops_s, w.gemm0_smem / r.smem_bytes_s) + max(
        w.gemm1_ops / r.tensor_ops_s, w.gemm1_smem / r.smem_bytes_s
    )
    soft = (
        max(w.max_alu / RATES.alu_s, w.max_fma / RATES.fma_s)
        + max(w.exp_mufu / RATES.mufu_s, w.exp_fma / RATES.fma_s)
        + w.convert_alu / RATES.alu_s
        + w.rescale_fma / RATES.fma_s
    )
    return groups * blocks * (gemm + soft)


def test_fair_rates_share_a_pipe_and_give_the_rest_back():
    a = Job({"mufu": 2.0}, "a")
    b = Job({"mufu": 2.0, "fma": 1.0}, "b")
    c = Job({"fma": 4.0}, "c")
    ra, rb, rc = fair_rates([a, b, c])
    # a and b split the MUFU: each at half its stand-alone speed
    assert ra == pytest.approx(0.5 / 2.0) and rb == pytest.approx(0.5 / 2.0)
    # b uses half of the FMA pipe's share at that speed; c gets the rest (3/4 of it)
    assert rc == pytest.approx(0.75 / 4.0)
    assert fair_rates([Job({}, "empty")]) == [float("inf")]


@settings(max_examples=25, deadline=None)
@given(
    groups=st.sampled_from([1, 2, 3]),
    bc=st.sampled_from([64, 128, 176]),
    d=st.sampled_from([64, 128, 256]),
    scale=st.floats(0.1, 4.0),
    blocks=st.integers(1, 9),
    variant=st.sampled_from(["warpgroup_mma", "single_issuer_mma"]),
    barrier=st.booleans(),
    stages=st.integers(1, 3),
)
def test_no_pipe_is_over_used_and_overlap_never_loses(
    groups, bc, d, scale, blocks, variant, barrier, stages
):
    w = work(bc=bc, d=d, scale=scale)
    loads = TileLoads(k_bytes=bc * d * 2.0, v_bytes=bc * d * 2.0, stages=stages)
    t = simulate_blocks(RATES, w, groups, blocks, variant, barrier, loads=loads)
    load_s = (loads.k_bytes + loads.v_bytes) / RATES.smem_bytes_s
    for pipe, load in per_block_loads(w, groups).items():
        extra = load_s if pipe == "smem" else 0.0
        assert t >= blocks * (load + extra) * (1 - 1e-9), pipe
    load_s *= blocks
    assert t <= (serial_s(w, groups, blocks) + load_s) * (1 + 1e-9)


def test_ping_pong_hides_a_short_softmax_under_the_other_warpgroups_gemms():
    # head dim 128: the softmax takes ~40% of a warpgroup's GEMM time; with two
    # warpgroups taking turns the tensor cores stay busy (FlashAttention-3 Sec. 3.1)
    w = work(bc=128, d=128)
    sched = tile_schedule(RATES, w, 2, "warpgroup_mma", True)
    tensor = per_block_loads(w, 2)["tensor"]
    assert sched.period_s == pytest.approx(tensor, rel=1e-6)
    # one warpgroup alone overlaps only the second GEMM with its softmax
    alone = tile_schedule(RATES, w, 1, "warpgroup_mma", False)
    assert alone.period_s > per_block_loads(w, 1)["tensor"] * 1.05


def test_a_long_softmax_sets_the_pace():
    w = work(bc=128, d=64, scale=3.0)  # three times the softmax: the MUFU is the bottleneck
    sched = tile_schedule(RATES, w, 2, "warpgroup_mma", True)
    loads = per_block_loads(w, 2)
    assert sched.period_s >= loads["mufu"] * (1 - 1e-9)
    assert sched.period_s > loads["tensor"] * 1.2


def test_the_fill_is_what_the_first_and_last_blocks_add():
    w = work()
    sched = tile_schedule(RATES, w, 2, "warpgroup_mma", True)
    for n in (5, 8):
        exact = simulate_blocks(RATES, w, 2, n, "warpgroup_mma", True)
        assert sched.fill_s + n * sched.period_s == pytest.approx(exact, rel=1e-6)
    assert simulate_blocks(RATES, w, 2, 0) == 0.0


def test_schedules_are_deterministic():
    w = work(bc=192, d=64)
    runs = {simulate_blocks(RATES, w, 3, 7, "warpgroup_mma", True) for _ in range(3)}
    assert len(runs) == 1
