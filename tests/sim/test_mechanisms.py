"""The mechanisms of the GPU kernel families: each has a switch
(``LoweringOptions(disable=...)``), and switching it off moves the prediction the way
the mechanism says it should. A new mechanism without a case here fails
``test_every_mechanism_is_exercised``."""

from __future__ import annotations

import math

import numpy as np
import pytest
from attnsim.hwconfigs import load_hardware
from attnsim.sim import LoweringOptions, simulate
from attnsim.sim.lowering import TargetView
from attnsim.sim.lowering.attention_fused import (
    FLASH_ATTENTION_2,
    FLASH_ATTENTION_3,
    FLASH_ATTENTION_4,
    choose_blocks,
    fa4_exp_emulation_share,
    issue_order,
    lpt_section_heads,
    tile_readers,
)
from attnsim.sim.lowering.natten import multidim_rows
from attnsim.sim.lowering.registry import MECHANISMS
from attnsim.sim.lowering.sm_pipes import sm_pipes
from attnsim.workloads import CausalMask, GemmOp, NeighborhoodMask
from simkit import attention, one_op

H100 = load_hardware("h100-sxm5-80gb")
B200 = load_hardware("b200")
A100 = load_hardware("a100-sxm4-80gb")


def _off(*names: str) -> LoweringOptions:
    return LoweringOptions(disable=frozenset(names))


def _t(hw, op, family=None, off=()):
    return simulate(hw, one_op(op), family=family, options=_off(*off), check_capacity=False)


#: mechanism -> (target, op, family, how the time moves when it is switched off)
CASES = {
    "sfu_exp": (
        H100,
        attention(batch=4, heads=16, seq=4096, head_dim=64),
        "flash-attention-2",
        "faster",
    ),
    # A100 has 64 FP32 lanes per SM: at head dim 128 the FP32 work outlasts the MUFU
    "softmax_fp32": (
        A100,
        attention(batch=4, heads=16, seq=4096, head_dim=128),
        "flash-attention-2",
        "faster",
    ),
    "overlap": (
        H100,
        attention(batch=4, heads=16, seq=4096, head_dim=64),
        "flash-attention-3",
        "slower",
    ),
    "mma_sync": (H100, attention(batch=4, heads=16, seq=4096), "flash-attention-2", "faster"),
    "operand_bandwidth": (
        B200,
        attention(batch=4, heads=16, seq=4096, head_dim=64),
        "flash-attention-4",
        "not slower",
    ),
    # FA4's software exp2 schedule emulates ~5% of the exps at head dim 128
    "exp_emulation": (
        B200,
        attention(batch=4, heads=16, seq=4096, head_dim=128),
        "flash-attention-4",
        "slower",
    ),
    "conditional_rescale": (
        B200,
        attention(batch=4, heads=16, seq=4096, head_dim=64),
        "flash-attention-4",
        "slower",
    ),
    "cta_pair": (
        B200,
        attention(batch=4, heads=16, seq=4096, head_dim=64),
        "flash-attention-4",
        "not faster",
    ),
    # NATTEN masks every visited tile: 7 instructions per score in 3-D
    "diagonal_mask": (
        B200,
        attention(
            heads=8,
            seq=16 * 16 * 16,
            head_dim=128,
            mask=NeighborhoodMask(spatial=(16, 16, 16), window=(7, 7, 7)),
        ),
        "natten-blackwell-fna",
        "faster",
    ),
    "longest_first": (
        H100,
        attention(batch=1, heads=16, seq=8192, mask=CausalMask()),
        "flash-attention-3",
        "slower",
    ),
    "pipeline_fill": (H100, attention(batch=32, heads=16, seq=512), "flash-attention-3", "faster"),
    "kv_lockstep": (
        H100,
        attention(batch=1, heads=32, kv_heads=8, seq=65536, mask=CausalMask()),
        "flash-attention-3",
        "not faster",
    ),
    "split_kv": (
        H100,
        attention(heads=32, kv_heads=8, seq=1, kv_seq=32768, phase="decode", mask=CausalMask()),
        "flash-attention-3",
        "slower",
    ),
    "split_k": (H100, GemmOp("g", "bf16", m=128, n=128, k=65536), None, "not faster"),
    "stream_k": (H100, GemmOp("g", "bf16", m=1024, n=9216, k=14336), None, "slower"),
    "natten_multidim_tiles": (
        H100,
        attention(
            heads=8, seq=128 * 128, mask=NeighborhoodMask(spatial=(128, 128), window=(33, 33))
        ),
        "natten-hopper-fna",
        "slower",
    ),
    "natten_block_sparse_fast_path": (
        H100,
        attention(
            heads=8,
            seq=128 * 128,
            mask=NeighborhoodMask(spatial=(128, 128), window=(48, 48), stride=(16, 16)),
        ),
        "natten-hopper-fna",
        "slower",
    ),
    # NATTEN's 3-D mask (7 compare/select instructions per score) on B200: the 64-lane
    # ALU pipe, not the MUFU, bounds the softmax
    "alu_pipe": (
        B200,
        attention(
            heads=8,
            seq=16 * 16 * 16,
            head_dim=128,
            mask=NeighborhoodMask(spatial=(16, 16, 16), window=(7, 7, 7)),
        ),
        "natten-blackwell-fna",
        "faster",
    ),
    "issue_slots": (
        A100,
        attention(batch=4, heads=16, seq=4096, head_dim=128),
        "flash-attention-2",
        "not slower",
    ),
    # FA3's 192x192 tile at head dim 64 (non-causal) stores P to shared memory
    "p_in_smem": (
        H100,
        attention(batch=4, heads=16, seq=4096, head_dim=64),
        "flash-attention-3",
        "faster",
    ),
    # H200-class fp8 at head dim 128: the FP8 packs of P share the XU pipe with the exps
    "fp8_convert_xu": (
        H100,
        attention(batch=4, heads=16, seq=4096, head_dim=128, dtype="fp8"),
        "flash-attention-3",
        "faster",
    ),
    "fp8_v_transpose": (
        H100,
        attention(batch=4, heads=16, seq=4096, head_dim=128, dtype="fp8"),
        "flash-attention-3",
        "not slower",
    ),
    "token_permute": (
        H100,
        attention(heads=8, seq=64 * 64, mask=NeighborhoodMask(spatial=(64, 64), window=(17, 17))),
        "natten-hopper-fna",
        "faster",
    ),
}


def test_every_mechanism_is_exercised():
    assert set(MECHANISMS) == set(CASES)
    for mechanism in MECHANISMS.values():
        assert mechanism.description and mechanism.source


@pytest.mark.parametrize("name", sorted(CASES))
def test_switching_a_mechanism_off_moves_the_prediction_its_way(name):
    hw, op, family, direction = CASES[name]
    on = _t(hw, op, family).latency_s
    off = _t(hw, op, family, off=(name,)).latency_s
    if direction == "faster":
        assert off < on * (1 - 1e-6)
    elif direction == "slower":
        assert off > on * (1 + 1e-6)
    elif direction == "not slower":
        assert off <= on * (1 + 1e-9)
    else:
        assert off >= on * (1 - 1e-9)


def test_fa2_on_hopper_runs_mma_sync_below_the_wgmma_rate():
    pipes = sm_pipes(TargetView(H100), "bf16")
    assert pipes.mma_sync_ops_s == pytest.approx(
        0.63 * H100.engines["tensor"].per_unit("matmul", "bf16")
    )
    assert pipes.mma_async_ops_s > pipes.mma_sync_ops_s
    # on Ampere mma.sync is the native instruction: the sustained rate
    ampere = sm_pipes(TargetView(A100), "bf16")
    assert ampere.mma_sync_ops_s == ampere.mma_async_ops_s


def test_sm_pipes_are_per_sm_per_clock_figures():
    """16 MUFU.EX2 and 128 FP32 lanes per clock per SM, 128 B/clk of shared memory."""
    for hw, clock in ((H100, 1.83e9), (B200, 1.855e9)):
        pipes = sm_pipes(TargetView(hw), "bf16")
        assert pipes.sfu_exp_s / clock == pytest.approx(16, rel=1e-3)
        assert pipes.operand_bytes_s / clock == pytest.approx(128, rel=2e-3)
    assert sm_pipes(TargetView(H100), "bf16").fp32_instr_s / 1.98e9 == pytest.approx(128, rel=1e-3)
    assert sm_pipes(TargetView(A100), "bf16").fp32_instr_s / 1.41e9 == pytest.approx(64, rel=1e-2)


@pytest.mark.parametrize(
    ("style", "head_dim", "causal", "tile"),
    [
        (FLASH_ATTENTION_3, 64, True, (192, 128)),
        (FLASH_ATTENTION_3, 64, False, (192, 192)),
        (FLASH_ATTENTION_3, 128, True, (128, 128)),
        (FLASH_ATTENTION_3, 128, False, (128, 176)),
        (FLASH_ATTENTION_3, 256, False, (128, 80)),
        (FLASH_ATTENTION_2, 64, False, (128, 128)),
        (FLASH_ATTENTION_2, 128, False, (128, 64)),
        # run_mha_fwd_hdim256: 64x64 where an SM has >= 192 KiB of shared memory (H100)
        (FLASH_ATTENTION_2, 256, False, (64, 64)),
        (FLASH_ATTENTION_4, 128, True, (256, 128)),
    ],
)
def test_tiles_follow_the_kernels_launch_code(style, head_dim, causal, tile):
    hw = B200 if style is FLASH_ATTENTION_4 else H100
    br, bc, resident = choose_blocks(
        style, TargetView(hw), head_dim, head_dim, 2.0, causal, LoweringOptions()
    )
    assert (br, bc) == tile
    assert resident >= 1


def test_fa2_at_head_dim_256_follows_the_shared_memory_rule_of_its_launch_code():
    # A100 (164 KiB per SM): 128x64 with 8 warps, register-limited to one tile per SM
    br, bc, resident = choose_blocks(
        FLASH_ATTENTION_2, TargetView(A100), 256, 256, 2.0, False, LoweringOptions()
    )
    assert (br, bc, resident) == (128, 64, 1)
    assert tile_readers(FLASH_ATTENTION_2, 128, 256, 164 * 1024) == 8
    # H100 (228 KiB per SM): 64x64 with 4 warps, two tiles per SM
    br, bc, resident = choose_blocks(
        FLASH_ATTENTION_2, TargetView(H100), 256, 256, 2.0, False, LoweringOptions()
    )
    assert (br, bc, resident) == (64, 64, 2)
    assert tile_readers(FLASH_ATTENTION_2, 64, 256, 228 * 1024) == 4


def test_exp_emulation_follows_flashattention_4s_schedule():
    # ex2_emu_freq 10 (non-causal, d128): 1 pair in 10, in fragments 1..2 of a row's 4
    assert fa4_exp_emulation_share(False, 128, 128) == pytest.approx(0.1 * 2 / 4)
    assert fa4_exp_emulation_share(True, 128, 128) == pytest.approx(2 / 4 / 16)
    assert fa4_exp_emulation_share(False, 256, 128) == pytest.approx(6 / 14 * 3 / 4)
    assert fa4_exp_emulation_share(False, 64, 128) == 0.0  # no schedule: every exp on MUFU
    assert fa4_exp_emulation_share(True, 128, 128, fp8=True) == pytest.approx(2 / 4 / 8)


def test_fa3_longest_first_runs_heads_in_l2_sections():
    # 8k tokens, d=128 fp16: K+V of one head = 4 MiB, 8 heads fit 32 MiB; GQA 4 -> 32
    assert lpt_section_heads(8192 * 256 * 2, 4) == 32
    assert lpt_section_heads(131072 * 256 * 2, 1) == 1  # 64 MiB per head: one at a time
    tiles = ["long", "short"]
    runs = issue_order("longest_first", tiles, np.array([1, 5]), heads=6, section=4)  # type: ignore[arg-type]
    assert [(t, n) for t, n in runs] == [("short", 4), ("long", 4), ("short", 2), ("long", 2)]


def test_causal_tiles_of_a_persistent_kernel_pay_the_epilogue_only():
    op = attention(batch=4, heads=16, seq=2048)
    fa3 = simulate(H100, one_op(op), family="flash-attention-3")
    fa2 = simulate(H100, one_op(op), family="flash-attention-2")
    assert fa3.latency_s < fa2.latency_s


@pytest.mark.parametrize(
    ("spatial", "window", "dilation", "stride", "q", "kv"),
    [
        ((16, 24), (5, 7), (1, 1), (1, 1), (4, 8), (4, 8)),
        ((16, 24), (5, 7), (2, 1), (1, 2), (4, 4), (8, 4)),
        ((12, 10, 8), (5, 3, 4), (1, 1, 1), (2, 1, 4), (2, 2, 4), (4, 2, 2)),
        ((64,), (16,), (1,), (8,), (8,), (16,)),
    ],
)
def test_multidimensional_tiles_count_exactly_what_a_brute_force_counts(
    spatial, window, dilation, stride, q, kv
):
    """Per N-d query tile: live and full key tiles and live pairs, against the dense mask
    permuted so every tile (of each dilation group) is contiguous."""
    mask = NeighborhoodMask(spatial=spatial, window=window, dilation=dilation, stride=stride)
    rows, _ = multidim_rows(mask, q, kv)
    dense = mask.dense(mask.tokens, mask.tokens)
    grid = np.arange(mask.tokens).reshape(spatial)

    def tiles(shape):
        out = []
        axes = []
        for a, n in enumerate(spatial):
            segs = []
            for g in range(dilation[a]):
                members = np.arange(g, n, dilation[a])
                segs += [members[i : i + shape[a]] for i in range(0, len(members), shape[a])]
            axes.append(segs)
        for combo in np.ndindex(*[len(s) for s in axes]):
            out.append(grid[np.ix_(*[axes[a][i] for a, i in enumerate(combo)])].ravel())
        return out

    q_tiles, kv_tiles = tiles(q), tiles(kv)
    assert len(q_tiles) == len(rows.n_full)
    for i, qt in enumerate(q_tiles):
        counts = [int(dense[np.ix_(qt, kt)].sum()) for kt in kv_tiles]
        areas = [len(qt) * len(kt) for kt in kv_tiles]
        assert rows.live_pairs[i] == sum(counts)
        assert rows.blocks[i] == sum(c > 0 for c in counts)
        assert rows.n_full[i] == sum(c == a for c, a in zip(counts, areas, strict=True))


def test_gna_stride_aligned_to_tiles_is_perfectly_block_sparse_and_cheaper():
    """Stride 16 with 16x8 query tiles: a tile's queries share one window, which starts
    on a key-tile boundary (48/2 - 16/2 = 16), so every visited key tile is full."""
    na = NeighborhoodMask(spatial=(128, 128), window=(48, 48))
    gna = NeighborhoodMask(spatial=(128, 128), window=(48, 48), stride=(16, 16))
    rows_na, sparse_na = multidim_rows(na, (16, 8), (16, 8))
    rows_gna, sparse_gna = multidim_rows(gna, (16, 8), (16, 8))
    assert not sparse_na and sparse_gna
    assert rows_gna.blocks.sum() < rows_na.blocks.sum()
    t = {
        name: simulate(
            H100, one_op(attention(heads=8, seq=128 * 128, mask=m)), family="natten-hopper-fna"
        ).latency_s
        for name, m in (("na", na), ("gna", gna))
    }
    assert t["gna"] < t["na"]


def test_neighborhood_masks_default_to_natten_on_targets_that_list_it():
    op = attention(heads=4, seq=32 * 32, mask=NeighborhoodMask(spatial=(32, 32), window=(7, 7)))
    assert simulate(H100, one_op(op)).ops[0].family == "natten-hopper-fna"
    assert simulate(H100, one_op(attention(heads=4, seq=1024))).ops[0].family == "flash-attention-3"
    r = simulate(H100, one_op(op), options=LoweringOptions(tile_shapes=((8, 16), (8, 16))))
    assert r.ops[0].notes["tiles"] == "8x16 / 8x16"
    assert r.ops[0].kernels[:3] == ("token permute Q", "token permute K", "token permute V")


def test_tile_shapes_are_checked():
    with pytest.raises(ValueError, match="tile_shapes: .*; expected two equally long tuples"):
        LoweringOptions(tile_shapes=((8, 8), (8,)))
    from attnsim.sim import LoweringError

    op = attention(heads=4, seq=32 * 32, mask=NeighborhoodMask(spatial=(32, 32), window=(7, 7)))
    with pytest.raises(LoweringError, match="tile shapes .* have 1 axes; expected 2"):
        simulate(H100, one_op(op), options=LoweringOptions(tile_shapes=((128,), (128,))))


def test_fp8_uses_its_own_measured_sustained_fraction():
    view = TargetView(H100)
    peak = H100.engines["tensor"].per_unit("matmul", "fp8")
    assert view.rate("matmul", "fp8").per_unit_ops_s == pytest.approx(
        peak * H100.calibration["tensor_sustained_fraction_fp8"]
    )
    assert (
        H100.calibration["tensor_sustained_fraction_fp8"]
        < H100.calibration["tensor_sustained_fraction"]
    )


def test_stream_k_fills_one_wave():
    op = GemmOp("g", "bf16", m=1024, n=9216, k=14336)
    r = simulate(H100, one_op(op))
    workers = r.ops[0].notes.get("stream_k_workers")
    assert workers is not None and workers % 132 == 0 or workers in (66, 33)
    assert math.isclose(r.ops[0].tiles, workers)
