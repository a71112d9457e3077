"""Zoo entries of sliding-window (Mistral 7B) and block-sparse (BigBird) attention: the
traced workload carries the variant's exact mask at the published sizes."""

from __future__ import annotations

import dataclasses
import functools
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import pytest
import torch
from attnsim.workloads import zoo
from attnsim.workloads.errors import WorkloadError
from attnsim.workloads.masks import BlockSparseMask, CausalMask, FullMask, SlidingWindowMask
from attnsim.workloads.ops import AttentionOp
from attnsim.workloads.serialize import load_workload
from attnsim.workloads.variants import list_variants
from attnsim.workloads.zoo import build_workload, get_model, parameter_count
from attnsim.workloads.zoo.bigbird import bigbird_layout, bigbird_live_blocks, bigbird_mask
from attnsim.workloads.zoo.variants_hf import ir_attention_forward

from attnsim.cli.main import main


@functools.cache
def traced(name: str, seq: int, phase: str = "prefill", kv_len: int = 0, **overrides: int):
    return build_workload(name, seq=seq, phase=phase, kv_len=kv_len, overrides=overrides)


def attention(workload):
    """(count, op) of every attention op, with block repetition."""
    return [(b.count, op) for b, op in workload.flat() if isinstance(op, AttentionOp)]


def with_mask(op: AttentionOp, mask) -> AttentionOp:
    return dataclasses.replace(op, spec=dataclasses.replace(op.spec, mask=mask))


# ----------------------------------------------------------------- Mistral 7B


def test_mistral_window_above_4096_tokens_is_a_4096_token_sliding_window():
    wl = traced("mistral-7b", 8192, num_hidden_layers=2)
    att = attention(wl)
    assert [n for n, _ in att] == [2]
    op = att[0][1]
    s = op.spec
    assert (s.q_heads, s.kv_heads, s.q_len, s.kv_len, s.head_dim_qk) == (32, 8, 8192, 8192, 128)
    assert s.mask == SlidingWindowMask(left=4095, right=0)
    # query i sees min(i + 1, 4096) keys
    assert s.mask.live_pairs(8192, 8192) == 4096 * 4097 // 2 + 4096 * 4096
    assert op.flops() < 0.76 * with_mask(op, CausalMask()).flops()
    assert wl.meta["unrecovered_masks"] == 0


def test_mistral_mask_is_built_by_no_kernels():
    wl = traced("mistral-7b", 8192, num_hidden_layers=2)
    names = [op.name for _, op in wl.flat()]
    assert not [n for n in names if "mask" in n and not n.endswith("masked_attention")]
    assert not [op for _, op in wl.flat() if type(op).__name__ == "MaskSetupOp"]
    # transformers' SDPA path builds the window from index compares in MistralModel's own
    # scope (model.sub, model.compare, model.logical, ...); here only the position add is left
    top = [n for n in names if n.startswith("model.") and n.count(".") == 1]
    assert top == ["model.add"]


def test_mistral_attention_output_is_not_copied():
    """The attention op writes its output in the query's layout (as SDPA's kernels do), so
    transposing it back to (B, N, H*D) traces no copy kernel."""
    wl = traced("mistral-7b", 8192, num_hidden_layers=2)
    assert not [op.name for _, op in wl.flat() if "clone" in op.name or "copy" in op.name]


def test_mistral_up_to_the_window_costs_what_causal_costs():
    op = attention(traced("mistral-7b", 2048, num_hidden_layers=1))[0][1]
    assert op.spec.mask == SlidingWindowMask(left=4095)
    assert op.flops() == with_mask(op, CausalMask()).flops()


@pytest.mark.parametrize(("kv_len", "keys"), [(8192, 4096), (100, 101)])
def test_mistral_decode_reads_at_most_the_window(kv_len, keys):
    op = attention(traced("mistral-7b", 1, "decode", kv_len, num_hidden_layers=1))[0][1]
    assert (op.spec.q_len, op.spec.kv_len, op.spec.phase) == (1, keys, "decode")
    assert op.spec.mask.live_pairs(1, keys) == keys


def test_mistral_window_matches_transformers_mask_semantics():
    from transformers.masking_utils import sliding_window_causal_mask_function

    fn = sliding_window_causal_mask_function(3)
    zero = torch.tensor(0)
    theirs = fn(zero, zero, torch.arange(8)[:, None], torch.arange(8)[None, :]).numpy()
    assert theirs.sum() == 3 * 8 - 3  # the window holds 3 tokens, the query included
    assert (SlidingWindowMask(left=3 - 1).dense(8, 8) == theirs).all()


def test_mistral_attention_function_computes_windowed_attention():
    torch.manual_seed(0)
    q, k, v = torch.randn(1, 4, 10, 8), torch.randn(1, 2, 10, 8), torch.randn(1, 2, 10, 8)
    module = torch.nn.Module()
    out, _ = ir_attention_forward(module, q, k, v, None, scaling=0.3, sliding_window=3)
    i, j = torch.arange(10)[:, None], torch.arange(10)[None, :]
    live = (j <= i) & (j > i - 3)
    kk, vv = k.repeat_interleave(2, 1), v.repeat_interleave(2, 1)
    ref = torch.nn.functional.scaled_dot_product_attention(q, kk, vv, attn_mask=live, scale=0.3)
    assert out.shape == (1, 10, 4, 8)
    torch.testing.assert_close(out, ref.transpose(1, 2))


def test_mistral_parameters_match_the_published_7_24b():
    assert parameter_count("mistral-7b") == pytest.approx(7.24e9, rel=0.01)


def test_mistral_bad_override_is_named():
    with pytest.raises(WorkloadError, match="'num_layerz' is not a field of MistralConfig"):
        build_workload("mistral-7b", seq=8, overrides={"num_layerz": 2})


# ----------------------------------------------------------------- BigBird


def test_bigbird_layout_density_is_the_analytic_count_at_4096_tokens():
    wl = traced("bigbird-roberta-base", 4096, layers=2)
    att = attention(wl)
    assert [n for n, _ in att] == [1, 1]  # one layout per layer
    grids = []
    for _, op in att:
        s, m = op.spec, op.spec.mask
        assert (s.q_heads, s.q_len, s.kv_len, s.head_dim_qk) == (12, 4096, 4096, 64)
        assert isinstance(m, BlockSparseMask) and (m.block_q, m.block_k) == (64, 64)
        assert m.grid.shape == (64, 64)
        # 2 global rows of 64, rows 1 and 62 with 4, 60 rows with 5, 62 rows x 3 random
        assert bigbird_live_blocks(64, 3) == 2 * 64 + 2 * 4 + 60 * 5 + 62 * 3 == 622
        assert int(m.grid.sum()) == 622
        assert m.density(4096, 4096) == pytest.approx(622 / 4096)
        assert op.flops() == pytest.approx(622 / 4096 * with_mask(op, FullMask()).flops())
        grids.append(m.grid)
    assert (grids[0] != grids[1]).any()  # random blocks differ between layers


def test_bigbird_layout_rows_hold_global_window_and_random_blocks():
    grid = bigbird_layout(64, 3, np.random.default_rng(7))
    assert grid[[0, -1]].all() and grid[:, [0, -1]].all()
    for i in range(1, 63):
        assert grid[i, i - 1 : i + 2].all()
    assert grid[2:-2].sum(axis=1).tolist() == [8] * 60
    assert grid[[1, -2]].sum(axis=1).tolist() == [7, 7]
    assert (bigbird_layout(64, 3, np.random.default_rng(7)) == grid).all()


def test_bigbird_short_sequences_use_full_attention():
    # at most 5 + 2*3 = 11 blocks of 64: the released code switches to full attention
    assert bigbird_mask(704, 64, 3, 0, 0) == FullMask()
    assert isinstance(bigbird_mask(705, 64, 3, 0, 0), BlockSparseMask)
    op = attention(traced("bigbird-roberta-base", 512, layers=1))[0][1]
    assert op.spec.mask == FullMask()


def test_bigbird_parameters_match_the_published_128m():
    assert parameter_count("bigbird-roberta-base") == pytest.approx(128e6, rel=0.02)


def test_bigbird_bad_input_is_named():
    with pytest.raises(WorkloadError, match="override 'layerz' is unknown"):
        build_workload("bigbird-roberta-base", seq=64, overrides={"layerz": 2})
    with pytest.raises(WorkloadError, match="seq 5000 exceeds the 4096 positions"):
        build_workload("bigbird-roberta-base", seq=5000, overrides={"layers": 1})
    with pytest.raises(WorkloadError, match="dim 768, heads 7; expected dim a multiple"):
        build_workload("bigbird-roberta-base", seq=64, overrides={"heads": 7})
    with pytest.raises(WorkloadError, match="11 blocks; expected more than"):
        bigbird_layout(11, 3, np.random.default_rng(0))


# ----------------------------------------------------------------- variants table and CLI


def test_variants_name_the_zoo_entries():
    zoo_of = {v.name: v.zoo for v in list_variants()}
    assert zoo_of["sliding-window"] == ("mistral-7b",)
    assert zoo_of["block-sparse"] == ("bigbird-roberta-base",)
    for names in zoo_of.values():
        for name in names:
            get_model(name)


@pytest.mark.parametrize(("name", "seq"), [("mistral-7b", "32"), ("bigbird-roberta-base", "1024")])
def test_trace_cli_writes_the_model(name, seq, tmp_path):
    out = tmp_path / f"{name}.json"
    assert main(["trace", name, "--seq", seq, "-o", str(out)]) == 0
    wl = load_workload(out)
    assert wl.meta["model"] == name and attention(wl)


def test_trace_list_shows_both(capsys, monkeypatch):
    mine = [get_model("mistral-7b"), get_model("bigbird-roberta-base")]
    monkeypatch.setattr(zoo, "list_models", lambda: mine)
    assert main(["trace", "--list"]) == 0
    out = capsys.readouterr().out
    assert "mistral-7b" in out and "7.24B" in out
    assert "bigbird-roberta-base" in out and "127.47M" in out
