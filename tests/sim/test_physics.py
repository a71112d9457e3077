"""Physics invariants (sim/physics.py): every op of every result moves at least its
compulsory bytes, no level or engine runs above its peak, no op beats its roofline.

``simulate`` checks each distinct op as it runs it, so a property test that simulates
random ops on every target and family without an error is a test of the invariants;
the unit tests below show that each invariant is really checked (its message)."""

from __future__ import annotations

import dataclasses

import pytest
from attnsim.hwconfigs import HardwareConfigError, list_targets, load_hardware
from attnsim.sim import simulate
from attnsim.sim.engine.kernel_sim import KernelRun
from attnsim.sim.physics import (
    PhysicsError,
    check_op,
    compulsory_bytes,
    peak_bandwidth,
    roofline_s,
)
from attnsim.workloads import (
    BlockSparseMask,
    CausalMask,
    ElementwiseOp,
    FftOp,
    FullMask,
    GemmOp,
    LinearAttentionOp,
    NeighborhoodMask,
    NormOp,
    SlidingWindowMask,
    SoftmaxOp,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from simkit import attention, one_op

GPU_TARGETS = ["h100-sxm5-80gb", "h200-sxm-141gb", "b200", "a100-sxm4-80gb", "rtx-4090"]


@pytest.mark.parametrize("target", ["h100-sxm5-80gb", "h200-sxm-141gb", "b200"])
def test_a_gemv_reads_every_weight_byte_and_stays_under_the_hbm_peak(target):
    """The regression of issue #9: with TMA multicast a batch-1 GEMV read half of its
    weights from HBM and ran at 5.9 TB/s on a 3.35 TB/s part."""
    hw = load_hardware(target)
    op = GemmOp("g", "bf16", m=1, n=65536, k=8192, weight_operand="b")
    r = simulate(hw, one_op(op))
    weights = op.io_bytes().weights
    assert r.bytes["hbm"] >= weights
    assert r.bytes["hbm"] / r.latency_s <= hw.memory_level("hbm").bandwidth_bytes_per_s
    assert r.ops[0].family == "gemm-tma-multicast"


def test_multicast_still_halves_cache_reads_of_b_when_tiles_pair_up(h100):
    op = GemmOp("g", "bf16", m=4096, n=4096, k=4096, weight_operand="b")
    tiled = simulate(h100, one_op(op), family="gemm-tiled")
    multicast = simulate(h100, one_op(op), family="gemm-tma-multicast")
    assert multicast.bytes["l2"] < tiled.bytes["l2"]
    assert multicast.bytes["hbm"] >= op.io_bytes().total


def test_compulsory_bytes_of_attention_count_only_live_queries_and_keys():
    # a causal window over 256 tokens: decode at 8k needs the last 256 keys only
    op = attention(
        heads=4, kv_heads=1, seq=1, kv_seq=8192, phase="decode", mask=SlidingWindowMask(255)
    )
    reads, writes = compulsory_bytes(op)
    q = 4 * 1 * 128 * 2
    assert reads == q + 1 * 256 * 256 * 2
    assert writes == op.io_bytes().outputs
    full = attention(heads=4, seq=1024)
    assert compulsory_bytes(full) == (full.io_bytes().inputs, full.io_bytes().outputs)


def _run(**overrides: object) -> KernelRun:
    base = KernelRun(
        name="k",
        time_s=1e-3 + 5e-6,
        launch_s=5e-6,
        tiles=1,
        distinct_tiles=1,
        jobs=1,
        engine_busy_s={"tensor": 1e-3},
        read_bytes={"hbm": 1e9, "l2": 1e9},
        write_bytes={"hbm": 1e6, "l2": 1e6},
        ops={("matmul", "fp16"): 1e12},
        flops=1e12,
        shared_level_busy_s={},
    )
    return dataclasses.replace(base, **overrides)  # type: ignore[arg-type]


OP = GemmOp("proj", "fp16", m=512, n=512, k=512, weight_operand="b")


def test_a_consistent_run_passes(h100):
    check_op(h100, OP, [_run()], 132)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"read_bytes": {"hbm": 1.0, "l2": 1e9}}, "reads fewer hbm bytes than its inputs"),
        ({"write_bytes": {"hbm": 0.0}}, "writes fewer hbm bytes than its outputs"),
        ({"read_bytes": {"hbm": 5e9, "l2": 5e9}}, "moves hbm bytes faster than its peak"),
        ({"read_bytes": {"hbm": 1e9, "l2": 1e11}}, "moves l2 bytes faster than its peak"),
        (  # a per-unit level: its bandwidth is per SM, the check multiplies by 132
            {"read_bytes": {"hbm": 1e9, "l2": 1e9, "smem": 4e10}},
            r"moves smem bytes faster than its peak \(132 instances\)",
        ),
        ({"engine_busy_s": {"tensor": 0.2}}, "keeps engine 'tensor' busy more than all"),
        ({"ops": {("matmul", "fp16"): 2e15}}, "runs matmul fp16 faster than the device's peak"),
        ({"time_s": 5e-6}, "does work in no time"),
    ],
)
def test_each_invariant_is_checked(h100, overrides, message):
    with pytest.raises(PhysicsError, match=message) as err:
        check_op(h100, OP, [_run(**overrides)], 132)
    assert "gemm op 'proj' on h100-sxm5-80gb" in str(err.value)


def test_a_per_unit_level_may_move_what_all_its_instances_can(h100):
    # 132 SMs x 234.24 GB/s of shared memory for 1 ms: 3.09e10 B is within the peak
    check_op(h100, OP, [_run(read_bytes={"hbm": 1e9, "l2": 1e9, "smem": 3.0e10})], 132)


def test_the_roofline_is_checked(h100):
    op = GemmOp("big", "fp16", m=8192, n=8192, k=8192)
    io = op.io_bytes()
    fast = _run(
        time_s=2e-4,  # 4e8 bytes at 2 TB/s: under the HBM peak; 1.1e12 flops: not possible
        launch_s=0.0,
        read_bytes={"hbm": io.inputs},
        write_bytes={"hbm": io.outputs},
        engine_busy_s={},
        ops={},
    )
    with pytest.raises(PhysicsError, match="runs faster than its roofline"):
        check_op(h100, op, [fast], 132)
    # every engine at its best rate at once: tensor cores plus FMA lanes (an upper bound)
    peak = h100.peak("matmul", "fp16") + h100.peak("vector", "fp16") + h100.peak("exp", "fp32")
    assert roofline_s(h100, op) == pytest.approx(op.flops() / peak)


def test_simulate_checks_every_distinct_op(h100, monkeypatch):
    import sys

    sim_module = sys.modules["attnsim.sim.simulate"]

    real = sim_module.kernel_totals

    def halved(kernel, *args, **kw):
        totals = real(kernel, *args, **kw)
        reads = {k: v / 2 for k, v in totals.read_bytes.items()}
        return dataclasses.replace(totals, read_bytes=reads)

    monkeypatch.setattr(sim_module, "kernel_totals", halved)
    op = GemmOp("w_down", "bf16", m=1, n=4096, k=4096, weight_operand="b")
    with pytest.raises(PhysicsError, match="gemm op 'w_down'.*reads fewer hbm bytes"):
        simulate(h100, one_op(op))


def test_checked_peaks_are_the_datasheets():
    """A sustained fraction never raises a checked peak: the schema refuses one above 1
    (the RTX 4090's GEMM that beats its datasheet holds its fraction at 1)."""
    hw = load_hardware("rtx-4090")
    assert hw.calibration["tensor_sustained_fraction"] == 1.0
    dram = hw.memory[-1]
    assert peak_bandwidth(hw, dram) == dram.bandwidth_bytes_per_s
    with pytest.raises(HardwareConfigError, match="tensor_sustained_fraction: 1.09 is above 1"):
        load_hardware("rtx-4090", {"calibration.tensor_sustained_fraction": 1.09})


# ---- every op of every result, on every target and family ---------------------------

TARGETS = {name: load_hardware(name) for name in GPU_TARGETS + ["host-cpu-example"]}

masks = st.one_of(
    st.just(FullMask()),
    st.just(CausalMask()),
    st.integers(1, 3000).map(lambda w: SlidingWindowMask(left=w)),
    st.integers(-200, 200).map(lambda r: SlidingWindowMask(left=300, right=r)),
    st.integers(0, 2**31).map(
        lambda seed: BlockSparseMask(
            128,
            128,
            tuple(
                tuple(bool((seed >> ((i * 4 + j) % 31)) & 1) or i == j for j in range(4))
                for i in range(4)
            ),
        )
    ),
)


@st.composite
def attention_ops(draw: st.DrawFn, dtype: str):
    mask = draw(masks)
    if isinstance(mask, BlockSparseMask):
        seq, kv_seq = 512, 512
    else:
        seq = draw(st.sampled_from([1, 64, 300, 1024, 2048]))
        kv_seq = draw(st.sampled_from([seq, 2 * seq, 4096]))
    heads = draw(st.sampled_from([1, 4, 8]))
    kv_heads = draw(st.sampled_from([h for h in (1, 2, 4, 8) if heads % h == 0]))
    phase = "decode" if seq <= 4 and draw(st.booleans()) else "prefill"
    return attention(
        batch=draw(st.integers(1, 3)),
        heads=heads,
        kv_heads=kv_heads,
        seq=seq,
        kv_seq=kv_seq,
        head_dim=draw(st.sampled_from([32, 64, 128])),
        mask=mask,
        phase=phase,
        dtype=dtype,
    )


@st.composite
def other_ops(draw: st.DrawFn, dtype: str):
    kind = draw(st.sampled_from(["gemm", "softmax", "norm", "elementwise", "fft", "linear"]))
    if kind == "gemm":
        return GemmOp(
            "g",
            dtype,
            m=draw(st.sampled_from([1, 7, 128, 1000, 4096])),
            n=draw(st.sampled_from([64, 1000, 4096])),
            k=draw(st.sampled_from([16, 1000, 4096])),
            batch=draw(st.integers(1, 3)),
            weight_operand=draw(st.sampled_from(["a", "b", None])),
        )
    if kind == "softmax":
        return SoftmaxOp("s", dtype, rows=draw(st.integers(1, 5000)), cols=4096)
    if kind == "norm":
        return NormOp("n", dtype, rows=draw(st.integers(1, 5000)), cols=4096, norm="rmsnorm")
    if kind == "elementwise":
        return ElementwiseOp("e", dtype, numel=draw(st.integers(1, 10**7)), n_inputs=2)
    if kind == "fft":
        return FftOp("f", "fp32", batch=2, lengths=(draw(st.sampled_from([64, 4096, 1 << 20])),))
    return LinearAttentionOp("la", dtype, 1, 4, draw(st.sampled_from([64, 4096])), 64)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_simulated_op_satisfies_the_invariants(data):
    name = data.draw(st.sampled_from(sorted(TARGETS)))
    hw = TARGETS[name]
    dtype = "fp32" if hw.kind == "cpu" else data.draw(st.sampled_from(["fp16", "bf16"]))
    op = data.draw(st.one_of(attention_ops(dtype), other_ops(dtype)))
    family = data.draw(st.sampled_from([None, *hw.kernel_families]))
    r = simulate(hw, one_op(op), family=family, check_capacity=False)  # raises PhysicsError
    (o,) = r.ops
    reads, writes = compulsory_bytes(op)
    assert o.bytes[hw.memory[-1].name] >= (reads + writes) * (1 - 1e-9)
    assert o.latency_s >= roofline_s(hw, op) * (1 - 1e-9)


def test_neighborhood_attention_satisfies_the_invariants(h100):
    mask = NeighborhoodMask(spatial=(32, 32), window=(7, 7), stride=(2, 2))
    simulate(h100, one_op(attention(heads=4, seq=1024, head_dim=64, mask=mask)))


def test_all_bundled_targets_are_covered():
    assert set(GPU_TARGETS) | {"host-cpu-example"} <= set(list_targets())
