"""Tests of the FakeTensorMode tracer (workloads.tracing) on small hand-written modules."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from attnsim.workloads.masks import (
    BlockSparseMask,
    CausalMask,
    FullMask,
    NeighborhoodMask,
    SlidingWindowMask,
)
from attnsim.workloads.ops import (
    AttentionOp,
    ElementwiseOp,
    EmbeddingOp,
    FftOp,
    GemmOp,
    LinearAttentionOp,
    NormOp,
    SoftmaxOp,
    UnknownOp,
)
from attnsim.workloads.tracing import build_fake, find_repeated_lists, trace_model, unknown_ops
from attnsim.workloads.tracing.maskinfer import classify_dense
from torch import nn
from torch._subclasses.fake_tensor import FakeTensor


def ops_of(workload, kind=None):
    out = [op for _b, op in workload.flat()]
    return [o for o in out if kind is None or isinstance(o, kind)]


def only_attention(workload) -> AttentionOp:
    att = ops_of(workload, AttentionOp)
    assert len(att) == 1, att
    return att[0]


class Sdpa(nn.Module):
    """Calls SDPA with a mask produced by ``make_mask(q_len, kv_len)`` inside the model."""

    def __init__(self, make_mask=None, is_causal=False, enable_gqa=False) -> None:
        super().__init__()
        self.make_mask = make_mask
        self.is_causal = is_causal
        self.enable_gqa = enable_gqa
        self.proj = nn.Linear(16, 16)

    def forward(self, q, k, v, mask=None):
        if mask is None and self.make_mask is not None:
            mask = self.make_mask(q.shape[-2], k.shape[-2])
        return F.scaled_dot_product_attention(
            self.proj(q), k, v, attn_mask=mask, is_causal=self.is_causal, enable_gqa=self.enable_gqa
        )


def trace_sdpa(module, q_len=48, kv_len=48, heads=4, kv_heads=None, mask=None):
    q = torch.zeros(2, heads, q_len, 16)
    k = torch.zeros(2, kv_heads or heads, kv_len, 16)
    args = (q, k, k) if mask is None else (q, k, k, mask)
    return trace_model(module, args)


# ----------------------------------------------------------------- attention and masks


def test_is_causal_becomes_causal_mask():
    att = only_attention(trace_sdpa(Sdpa(is_causal=True)))
    assert att.spec.mask == CausalMask()
    assert (att.spec.batch, att.spec.q_heads, att.spec.q_len, att.spec.kv_len) == (2, 4, 48, 48)
    assert att.flops() == pytest.approx(2 * 2 * 4 * (48 * 49 // 2) * 32)


def test_bool_tril_mask_built_inside_model_is_recovered_as_causal():
    def tril(q, k):
        return torch.ones(q, k, dtype=torch.bool).tril()

    wl = trace_sdpa(Sdpa(tril))
    assert only_attention(wl).spec.mask == CausalMask()
    assert wl.meta["unrecovered_masks"] == 0


def test_float_additive_causal_mask_is_recovered():
    def additive(q, k):
        idx = torch.arange(q)
        return torch.zeros(q, k).masked_fill(idx[None, :] > idx[:, None], float("-inf"))

    assert only_attention(trace_sdpa(Sdpa(additive))).spec.mask == CausalMask()


def test_sliding_window_mask_from_arange_is_recovered():
    def window(q, k):
        i = torch.arange(q)[:, None]
        j = torch.arange(k)[None, :]
        return (j <= i) & (j > i - 8)

    att = only_attention(trace_sdpa(Sdpa(window)))
    assert att.spec.mask == SlidingWindowMask(left=7, right=0)
    dense = att.spec.mask.dense(48, 48)
    assert att.spec.live_pairs == int(dense.sum())


def test_arbitrary_input_mask_becomes_exact_block_sparse():
    gen = torch.Generator().manual_seed(0)
    mask = torch.rand(48, 48, generator=gen) > 0.6
    wl = trace_sdpa(Sdpa(), mask=mask)
    att = only_attention(wl)
    assert isinstance(att.spec.mask, BlockSparseMask)
    assert att.spec.live_pairs == int(mask.sum())  # exact density
    assert np.array_equal(att.spec.mask.dense(48, 48), mask.numpy())


def test_block_structured_mask_keeps_its_block_size():
    blocks = torch.tensor([[1, 0, 1], [0, 1, 0], [1, 1, 1]], dtype=torch.bool)
    mask = blocks.repeat_interleave(32, 0).repeat_interleave(32, 1)
    att = only_attention(trace_sdpa(Sdpa(), q_len=96, kv_len=96, mask=mask))
    assert isinstance(att.spec.mask, BlockSparseMask)
    assert att.spec.mask.block_q == 32
    assert att.spec.live_pairs == int(mask.sum())


def test_mask_derived_from_data_is_counted_unrecovered():
    class DataMask(nn.Module):
        def forward(self, q, k, v):
            mask = (q.sum(-1, keepdim=True) > 0) & (k.sum(-1)[:, :, None, :] > 0)
            return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)

    wl = trace_sdpa(DataMask())
    assert only_attention(wl).spec.mask == FullMask()
    assert wl.meta["unrecovered_masks"] == 1


def test_gqa_via_enable_gqa():
    att = only_attention(trace_sdpa(Sdpa(is_causal=True, enable_gqa=True), heads=8, kv_heads=2))
    assert (att.spec.q_heads, att.spec.kv_heads) == (8, 2)


def test_gqa_via_repeat_kv_expand_is_detected_and_copy_not_recorded():
    class RepeatKV(nn.Module):
        def forward(self, q, k, v):
            b, h, s, d = k.shape
            k = k[:, :, None].expand(b, h, 4, s, d).reshape(b, h * 4, s, d)
            v = v[:, :, None].expand(b, h, 4, s, d).reshape(b, h * 4, s, d)
            return F.scaled_dot_product_attention(q, k, v, is_causal=True)

    wl = trace_sdpa(RepeatKV(), heads=8, kv_heads=2)
    att = only_attention(wl)
    assert (att.spec.q_heads, att.spec.kv_heads) == (8, 2)
    assert "aten.clone" not in unknown_ops(wl)


@pytest.mark.parametrize(
    "call",
    [
        lambda q, k: torch.ops.aten._scaled_dot_product_efficient_attention(
            q, k, k, None, False, 0.0, True
        ),
        lambda q, k: torch.ops.aten._scaled_dot_product_flash_attention(q, k, k, 0.0, True),
        lambda q, k: torch.ops.aten._scaled_dot_product_cudnn_attention(
            q, k, k, None, False, 0.0, True
        ),
        lambda q, k: torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(q, k, k, 0.0, True),
    ],
    ids=["efficient", "flash", "cudnn", "flash_for_cpu"],
)
def test_every_sdpa_backend_op_is_recorded_with_is_causal(call):
    class Backend(nn.Module):
        def forward(self, q, k):
            return call(q, k)[0]

    q = torch.zeros(1, 4, 32, 16)
    att = only_attention(trace_model(Backend(), (q, q)))
    assert att.spec.mask == CausalMask()
    assert (att.spec.q_heads, att.spec.q_len, att.spec.head_dim_qk) == (4, 32, 16)


def test_decode_phase_is_inferred_from_query_length_one():
    att = only_attention(trace_sdpa(Sdpa(), q_len=1, kv_len=100))
    assert att.spec.phase == "decode"
    assert (att.spec.q_len, att.spec.kv_len) == (1, 100)


def test_classify_dense_exactness():
    rng = np.random.default_rng(1)
    for live in (
        np.tril(np.ones((20, 20), dtype=bool)),
        np.ones((5, 9), dtype=bool),
        rng.random((37, 53)) > 0.5,
    ):
        pattern, exact = classify_dense(live)
        assert exact
        assert pattern.live_pairs(*live.shape) == int(live.sum())
        assert np.array_equal(pattern.dense(*live.shape), live)


# ----------------------------------------------------------------- FlexAttention


def _flex_module():
    from torch.nn.attention.flex_attention import flex_attention

    class Flex(nn.Module):
        def forward(self, q, k, v, block_mask):
            return flex_attention(q, k, v, block_mask=block_mask)

    return Flex()


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_flex_attention_causal_block_mask():
    from torch.nn.attention.flex_attention import create_block_mask

    bm = create_block_mask(lambda b, h, q, kv: q >= kv, None, None, 256, 256, device="cpu")
    q = torch.zeros(1, 2, 256, 16)
    att = only_attention(trace_model(_flex_module(), (q, q, q, bm)))
    assert att.spec.mask == CausalMask()


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_flex_attention_block_layout_without_mask_mod():
    from torch.nn.attention.flex_attention import BlockMask

    # 3x3 blocks of 128: block-diagonal plus block (2, 0)
    kv_num = torch.tensor([[[1, 1, 2]]], dtype=torch.int32)
    kv_idx = torch.tensor([[[[0, 0, 0], [1, 0, 0], [0, 2, 0]]]], dtype=torch.int32)
    bm = BlockMask.from_kv_blocks(kv_num, kv_idx, BLOCK_SIZE=128)
    q = torch.zeros(1, 2, 384, 16)
    att = only_attention(trace_model(_flex_module(), (q, q, q, bm)))
    assert isinstance(att.spec.mask, BlockSparseMask)
    assert att.spec.live_pairs == 4 * 128 * 128


# ----------------------------------------------------------------- other ops


def test_gemm_weight_operand_and_unknown_ops_are_listed():
    class Mixed(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(32, 64)
            self.emb = nn.Embedding(100, 32)

        def forward(self, ids, x):
            y = self.fc(x + self.emb(ids))
            y = torch.softmax(y, dim=-1)
            z = torch.bmm(y, y.transpose(1, 2))  # activation x activation
            return torch.cumsum(z, dim=-1), torch.sort(z, dim=-1).values

    wl = trace_model(Mixed(), (torch.zeros(2, 8, dtype=torch.long), torch.zeros(2, 8, 32)))
    gemms = ops_of(wl, GemmOp)
    assert [(g.m, g.n, g.k, g.batch, g.weight_operand) for g in gemms] == [
        (16, 64, 32, 1, "b"),
        (8, 8, 64, 2, None),
    ]
    assert ops_of(wl, EmbeddingOp)[0].vocab == 100
    assert ops_of(wl, SoftmaxOp)[0].cols == 64
    listed = unknown_ops(wl)
    assert listed["aten.cumsum"] == 1 and listed["aten.sort"] == 1
    assert "aten.cumsum:1" in wl.meta["unknown_ops"]
    assert all(u.input_bytes > 0 for u in ops_of(wl, UnknownOp))


def test_views_are_skipped_and_counted():
    class Views(nn.Module):
        def forward(self, x):
            return x.view(4, 8).t().transpose(0, 1).unsqueeze(0).expand(3, 4, 8)[1:]

    wl = trace_model(Views(), (torch.zeros(32),))
    assert ops_of(wl) == []
    assert wl.meta["skipped_ops"] >= 4


class DecomposedRMSNorm(nn.Module):
    """transformers-style RMSNorm (pow/mean/rsqrt/mul), folded by class name."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        var = x.float().pow(2).mean(-1, keepdim=True)
        return self.weight * (x * torch.rsqrt(var + 1e-6)).to(x.dtype)


def test_norms_fold_to_one_norm_op():
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.rms = DecomposedRMSNorm(32)
            self.ln = nn.LayerNorm(32)

        def forward(self, x):
            return self.ln(self.rms(x))

    x = torch.zeros(2, 5, 32)
    wl = trace_model(Net(), (x,))
    assert ops_of(wl) == [
        NormOp(name="rms.rmsnorm", dtype="fp32", rows=10, cols=32, norm="rmsnorm"),
        NormOp(name="ln.layernorm", dtype="fp32", rows=10, cols=32, norm="layernorm"),
    ]
    raw = trace_model(Net(), (x,), fold_norms=False)
    assert len(ops_of(raw, ElementwiseOp)) >= 4
    assert [o.norm for o in ops_of(raw, NormOp)] == ["layernorm"]


def test_fft_and_convolution():
    class Spectral(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 4, stride=4)

        def forward(self, img, x):
            y = self.conv(img)
            return y, torch.fft.fft2(x.to(torch.complex64)).real, torch.fft.rfft(x, dim=-1)

    wl = trace_model(Spectral(), (torch.zeros(2, 3, 16, 16), torch.zeros(2, 64, 32)))
    conv = ops_of(wl, GemmOp)[0]
    assert (conv.m, conv.n, conv.k, conv.weight_operand) == (2 * 4 * 4, 8, 3 * 16, "b")
    ffts = ops_of(wl, FftOp)
    assert [f.lengths for f in ffts] == [(64, 32), (32,)]
    assert ffts[0].batch == 2 and ffts[1].batch == 2 * 64


# ----------------------------------------------------------------- custom ops


def test_custom_ops_trace_to_their_ir_ops():
    from attnsim.workloads.custom_ops import (
        LightningAttention,
        NeighborhoodAttention2D,
        TernaryLinear,
    )

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.na = NeighborhoodAttention2D(32, 2, (5, 3), (2, 1))
            self.la = LightningAttention(32, 2, chunk=16)
            self.tl = TernaryLinear(32, 48)

        def forward(self, img, seq):
            out, _state = self.la(seq)
            return self.na(img), out, self.tl(seq)

    wl = trace_model(Net(), (torch.zeros(1, 12, 9, 32), torch.zeros(2, 40, 32)))
    att = only_attention(wl)
    assert att.spec.mask == NeighborhoodMask(
        spatial=(12, 9), window=(5, 3), dilation=(2, 1), stride=(1, 1), causal=(False, False)
    )
    lin = ops_of(wl, LinearAttentionOp)[0]
    assert (lin.batch, lin.heads, lin.seq_len, lin.head_dim, lin.chunk, lin.decay) == (
        2, 2, 40, 16, 16, True,
    )  # fmt: skip
    tern = [g for g in ops_of(wl, GemmOp) if g.weight_dtype == "ternary"]
    assert [(g.m, g.n, g.k, g.dtype) for g in tern] == [(80, 48, 32, "int8")]


@pytest.mark.parametrize(
    ("spatial", "window", "dilation", "causal"),
    [((9, 10), (3, 5), (2, 1), (False, False)), ((7, 8), (7, 3), (1, 2), (False, True)),
     ((12, 6), (5, 5), (1, 1), (True, True))],
)  # fmt: skip
def test_neighborhood_op_mask_matches_ir_mask(spatial, window, dilation, causal):
    from attnsim.workloads.custom_ops import neighborhood_mask_2d

    ours = neighborhood_mask_2d(spatial, window, dilation, causal).numpy()
    ir = NeighborhoodMask(spatial=spatial, window=window, dilation=dilation, causal=causal)
    n = spatial[0] * spatial[1]
    assert np.array_equal(ours, ir.dense(n, n))


def test_lightning_attention_matches_quadratic_reference_and_carries_state():
    from attnsim.workloads.custom_ops import lightning_attention

    gen = torch.Generator().manual_seed(0)
    q, k, v = torch.randn(3, 2, 3, 37, 8, generator=gen, dtype=torch.float64).unbind(0)
    lam = torch.tensor([0.9, 0.5, 1.0], dtype=torch.float64)
    out, state = lightning_attention(q, k, v, lam, None, 8)
    idx = torch.arange(37)
    decay = lam[:, None, None] ** (idx[:, None] - idx[None, :]).clamp(min=0) * (
        idx[:, None] >= idx[None, :]
    )
    ref = ((q @ k.transpose(-1, -2)) * decay) @ v
    torch.testing.assert_close(out, ref)
    o1, s1 = lightning_attention(q[:, :, :20], k[:, :, :20], v[:, :, :20], lam, None, 7)
    o2, s2 = lightning_attention(q[:, :, 20:], k[:, :, 20:], v[:, :, 20:], lam, s1, 5)
    torch.testing.assert_close(torch.cat([o1, o2], 2), ref)
    torch.testing.assert_close(s2, state)


def test_ternary_linear_is_exact_integer_arithmetic():
    from attnsim.workloads.custom_ops import TernaryLinear

    gen = torch.Generator().manual_seed(0)
    layer = TernaryLinear.from_float(torch.randn(6, 16, generator=gen))
    assert set(layer.weight.unique().tolist()) <= {-1, 0, 1}
    x = torch.randn(3, 16, generator=gen, dtype=torch.float64)
    absmax = x.abs().amax(-1, keepdim=True)
    xq = torch.round(x * 127 / absmax).to(torch.int64)
    ref = (xq @ layer.weight.to(torch.int64).t()).to(torch.float64) * absmax / 127
    ref = ref * layer.weight_scale.double()
    torch.testing.assert_close(layer(x), ref)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_int8_linear_is_exact_w8a8_integer_arithmetic(seed):
    from attnsim.workloads.custom_ops import Int8Linear

    gen = torch.Generator().manual_seed(seed)
    w = torch.randn(7, 24, generator=gen, dtype=torch.float64) * (1 + seed)
    layer = Int8Linear.from_float(w, bias=torch.randn(7, generator=gen))
    q = layer.weight.to(torch.int64)
    assert q.abs().max() == 127  # per-channel absmax: every row reaches the full range
    # the stored int8 weights dequantise to within half a step of the float weights
    deq = q.double() * layer.weight_scale.double()[:, None]
    assert (deq - w).abs().le(layer.weight_scale.double()[:, None] / 2 + 1e-12).all()
    x = torch.randn(5, 24, generator=gen, dtype=torch.float64)
    absmax = x.abs().amax(-1, keepdim=True)
    xq = torch.round(x * 127 / absmax).to(torch.int64)
    ref = (xq @ q.t()).to(torch.float64) * absmax / 127 * layer.weight_scale.double()
    torch.testing.assert_close(layer(x), ref + layer.bias.double())
    # and it approximates the float layer it quantises (W8A8 error, a few percent)
    exact = x @ w.t() + layer.bias.double()
    assert (layer(x) - exact).norm() / exact.norm() < 0.05


def test_int8_linear_traces_as_a_gemm_with_int8_weights():
    from attnsim.workloads.custom_ops import Int8Linear

    layer = Int8Linear(16, 40, bias=False)
    wl = trace_model(layer, (torch.zeros(3, 16),))
    (op,) = [op for _, op in wl.flat()]
    assert isinstance(op, GemmOp)
    assert (op.m, op.n, op.k, op.dtype, op.weight_dtype) == (3, 40, 16, "int8", "int8")
    assert op.io_bytes().weights == 16 * 40  # one byte per stored weight


# ----------------------------------------------------------------- layers and memory


class Layer(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.fc = nn.Linear(16, dim)
        self.back = nn.Linear(dim, 16)

    def forward(self, x):
        return x + self.back(F.gelu(self.fc(x)))


def test_identical_layers_become_one_block_and_different_ones_split():
    class Stack(nn.Module):
        def __init__(self, widths) -> None:
            super().__init__()
            self.layers = nn.ModuleList(Layer(w) for w in widths)

        def forward(self, x):
            for layer in self.layers:
                x = layer(x)
            return x

    x = torch.zeros(4, 16)
    same = trace_model(Stack([32] * 5), (x,))
    assert [(b.name, b.count) for b in same.blocks] == [("layers", 5)]
    mixed = trace_model(Stack([32, 32, 64, 32]), (x,))
    assert [(b.name, b.count) for b in mixed.blocks] == [
        ("layers[0:2]", 2),
        ("layers[2:3]", 1),
        ("layers[3:4]", 1),
    ]
    assert mixed.total_flops() == pytest.approx(
        sum(b.count * sum(op.flops() for op in b.ops) for b in mixed.blocks)
    )
    assert find_repeated_lists(Stack([8, 8])) == {"layers": 2}


def test_build_fake_allocates_nothing_and_real_models_trace_the_same():
    model, _mode = build_fake(lambda: nn.Sequential(nn.Linear(4096, 4096), nn.ReLU()))
    assert all(isinstance(p, FakeTensor) for p in model.parameters())
    real = nn.Sequential(nn.Linear(64, 32), nn.ReLU())
    fake, _ = build_fake(lambda: nn.Sequential(nn.Linear(64, 32), nn.ReLU()))
    x = torch.zeros(3, 64)
    assert ops_of(trace_model(real, (x,))) == ops_of(trace_model(fake, (x,)))
    assert all(not isinstance(p, FakeTensor) for p in real.parameters())  # left untouched


# ----------------------------------------------------------------- masks built by transformers


def _tiny_hf(cls_name: str, **extra):
    import transformers

    config_cls = getattr(transformers, cls_name.replace("ForCausalLM", "Config"))
    cfg = config_cls(
        hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
        intermediate_size=128, vocab_size=100, attn_implementation="sdpa", **extra,
    )  # fmt: skip
    model, _ = build_fake(lambda: getattr(transformers, cls_name)(cfg))
    return model


def test_transformers_sliding_window_mask_is_recovered():
    model = _tiny_hf("MistralForCausalLM", sliding_window=8)
    ids = torch.zeros(1, 40, dtype=torch.long)
    wl = trace_model(model, (), {"input_ids": ids, "use_cache": False})
    att = ops_of(wl, AttentionOp)
    assert len(att) == 1 and wl.blocks[1].count == 2
    assert att[0].spec.mask == SlidingWindowMask(left=7, right=0)
    assert (att[0].spec.q_heads, att[0].spec.kv_heads) == (4, 2)
    assert wl.meta["unrecovered_masks"] == 0


def test_padding_mask_that_differs_per_sequence_is_the_union_and_noted():
    model = _tiny_hf("LlamaForCausalLM")
    padding = torch.ones(2, 16, dtype=torch.long)
    padding[1, :4] = 0  # left padding of the second sequence
    ids = torch.zeros(2, 16, dtype=torch.long)
    wl = trace_model(model, (), {"input_ids": ids, "attention_mask": padding, "use_cache": False})
    (att,) = {op.spec.mask for op in ops_of(wl, AttentionOp)}
    assert att == CausalMask()  # union over the batch: the unpadded sequence
    notes = [k for k in wl.meta if k.startswith("mask_density.")]
    assert notes and wl.meta[notes[0]] == pytest.approx(136 / 256)


def test_large_irregular_mask_falls_back_to_a_conservative_block_layout():
    gen = torch.Generator().manual_seed(3)
    mask = torch.rand(1024, 1024, generator=gen) > 0.99
    wl = trace_sdpa(Sdpa(), q_len=1024, kv_len=1024, mask=mask)
    att = only_attention(wl)
    assert isinstance(att.spec.mask, BlockSparseMask) and att.spec.mask.block_q == 64
    dense = att.spec.mask.dense(1024, 1024)
    assert dense[mask.numpy()].all()  # every live pair is inside a live block
    assert wl.meta["mask_density.attention"] == pytest.approx(float(mask.float().mean()))
