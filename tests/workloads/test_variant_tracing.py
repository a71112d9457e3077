"""Variant semantics survive tracing: attnsim:: custom ops, FlexAttention masks built in
the forward (one setup op), SDPA with a boolean mask, and attnsim.trace on a user's
module; the custom ops' reference implementations against torch."""

from __future__ import annotations

import json
import math

import pytest
import torch
from attnsim.workloads import WorkloadError
from attnsim.workloads.custom_ops import (
    GroupRational,
    HaarWaveletMixer,
    MaskedAttention,
    MixtureOfHeadsAttention,
    group_rational,
    haar_wavelet_mixer,
    masked_attention,
    mixture_of_heads_attention,
)
from attnsim.workloads.masks import CausalMask
from attnsim.workloads.masks_sparse import (
    BlockTopKMask,
    ClusterMask,
    PowerMask,
    VerticalSlashMask,
)
from attnsim.workloads.ops import AttentionOp
from attnsim.workloads.ops_variants import (
    GroupRationalOp,
    HaarWaveletMixerOp,
    MaskSetupOp,
    MixtureOfHeadsAttentionOp,
)
from attnsim.workloads.tracing import trace_model
from torch import nn

import attnsim
from attnsim.cli.main import main


def ops_of(w, cls):
    return [(b.count, op) for b, op in w.flat() if isinstance(op, cls)]


# ------------------------------------------------------------------ reference numerics


@pytest.mark.parametrize(
    "mask", [CausalMask(), PowerMask(block=4), ClusterMask(cluster=8), VerticalSlashMask((0,), (0, 1))]
)  # fmt: skip
def test_masked_attention_matches_sdpa_with_the_dense_mask(mask) -> None:
    torch.manual_seed(0)
    q, k, v = (torch.randn(1, 2, 32, 8, dtype=torch.float64) for _ in range(3))
    out = masked_attention(q, k, v, json.dumps(mask.to_dict()), 0.25)
    dense = torch.from_numpy(mask.dense(32, 32))
    ref = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=dense, scale=0.25)
    torch.testing.assert_close(out, ref)


def test_moh_reference_is_gated_attention() -> None:
    torch.manual_seed(1)
    q, k, v = (torch.randn(2, 4, 16, 8, dtype=torch.float64) for _ in range(3))
    gate = torch.rand(2, 4, 16, dtype=torch.float64)
    out = mixture_of_heads_attention(q, k, v, gate, 2, True)
    ref = (
        torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True) * gate[..., None]
    )
    torch.testing.assert_close(out, ref)


def test_group_rational_reference() -> None:
    x = torch.linspace(-2, 2, 16, dtype=torch.float64).reshape(1, 16)
    num = torch.tensor([[0.1, 1.0, 0.5, 0.0, 0.0, 0.2]] * 2, dtype=torch.float64)
    den = torch.tensor([[0.3, 0.0, 0.1, 0.0]] * 2, dtype=torch.float64)
    p = 0.1 + x + 0.5 * x**2 + 0.2 * x**5
    q = 0.3 * x + 0.1 * x**3
    torch.testing.assert_close(group_rational(x, num, den), p / (1 + q.abs()))


def test_haar_mixer_identity_and_a_level_by_hand() -> None:
    x = torch.randn(2, 13, 4, dtype=torch.float64)
    assert torch.allclose(HaarWaveletMixer(4, 3).double()(x), x)
    # one level, analysis weights 1, synthesis (1, 0): every pair becomes its sum
    coeffs = torch.tensor([[1.0, 1.0, 1.0, 0.0]], dtype=torch.float64)[..., None].expand(1, 4, 4)
    y = haar_wavelet_mixer(x[:, :12], coeffs.contiguous(), 1)
    pair = x[:, 0:12:2] + x[:, 1:12:2]
    torch.testing.assert_close(y[:, 0::2], pair)
    torch.testing.assert_close(y[:, 1::2], pair)


# ------------------------------------------------------------------ tracing


def test_any_ir_mask_survives_tracing_through_masked_attention() -> None:
    mask = BlockTopKMask(block=64, k=4, seed=2)
    w = attnsim.trace(MaskedAttention(256, 4, mask, kv_heads=2), torch.zeros(2, 2048, 256))
    ((count, att),) = ops_of(w, AttentionOp)
    s = att.spec
    assert (s.mask, s.batch, s.q_heads, s.kv_heads, s.q_len) == (mask, 2, 4, 2, 2048)
    assert att.flops() == 2 * 2 * 4 * mask.live_pairs(2048, 2048) * (64 + 64)


def test_mixture_of_heads_module_traces_to_its_op() -> None:
    w = attnsim.trace(MixtureOfHeadsAttention(256, 8, active_heads=3), torch.zeros(1, 512, 256))
    ((_, moh),) = ops_of(w, MixtureOfHeadsAttentionOp)
    assert (moh.active_heads, moh.spec.q_heads, moh.spec.mask) == (3, 8, CausalMask())
    assert moh.flops() == 2 * 3 * (512 * 513 // 2) * 64


def test_kat_and_lmwt_modules_trace_to_one_op_each() -> None:
    model = nn.Sequential(
        GroupRational(8), nn.Linear(64, 256), GroupRational(8), nn.Linear(256, 64)
    )
    w = attnsim.trace(model, torch.zeros(4, 100, 64))
    rats = [op for _, op in ops_of(w, GroupRationalOp)]
    assert [(r.rows, r.cols, r.groups, r.flops()) for r in rats] == [
        (400, 64, 8, 400 * 64 * 20), (400, 256, 8, 400 * 256 * 20),
    ]  # fmt: skip
    w = attnsim.trace(HaarWaveletMixer(32, 4), torch.zeros(2, 1000, 32))
    ((_, haar),) = ops_of(w, HaarWaveletMixerOp)
    assert (haar.batch, haar.seq, haar.dim, haar.levels) == (2, 1000, 32, 4)


class _FlexLayer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.q = nn.Linear(64, 64)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from torch.nn.attention.flex_attention import create_block_mask, flex_attention

        n = x.shape[1]
        bm = create_block_mask(
            lambda b, h, q, kv: (q >= kv) & (q - kv < 256), None, None, n, n, device="cpu"
        )
        q = self.q(x).reshape(1, n, 4, 16).transpose(1, 2)
        return flex_attention(q, q, q, block_mask=bm).transpose(1, 2).reshape(1, n, 64)


class _FlexModel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.ModuleList([_FlexLayer() for _ in range(3)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return x


def test_create_block_mask_in_the_forward_is_one_setup_op_per_call() -> None:
    w = trace_model(_FlexModel(), (torch.zeros(1, 1024, 64),))
    ((layer),) = [b for b in w.blocks if b.count == 3]
    kinds = [op.kind for op in layer.ops]
    assert kinds.count("mask_setup") == 1
    # setup, q projection, attention, and the output copy -- not dozens of mask kernels
    assert len(kinds) <= 5, kinds
    (setup,) = [op for op in layer.ops if isinstance(op, MaskSetupOp)]
    nb = 1024 // 128
    assert setup.pairs == 1024 * 1024
    assert setup.index_bytes == 4 * 2 * (nb + nb * nb + nb + nb * nb)
    (att,) = [op for op in layer.ops if isinstance(op, AttentionOp)]
    assert att.spec.live_pairs == sum(min(i + 1, 256) for i in range(1024))  # the mask survives
    assert w.meta["unrecovered_masks"] == 0


def test_sdpa_with_a_boolean_variant_mask_keeps_the_pattern() -> None:
    mask = PowerMask(block=32)
    dense = torch.from_numpy(mask.dense(512, 512))

    class M(nn.Module):
        def forward(self, q: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
            return torch.nn.functional.scaled_dot_product_attention(q, q, q, attn_mask=m)

    w = attnsim.trace(M(), (torch.zeros(1, 2, 512, 32), dense))
    ((_, att),) = ops_of(w, AttentionOp)
    assert att.spec.live_pairs == mask.live_pairs(512, 512)
    np_layout = att.spec.mask.dense(512, 512)
    assert (np_layout == mask.dense(512, 512)).all()


def test_trace_refuses_what_it_cannot_trace() -> None:
    with pytest.raises(WorkloadError, match="trace: model is a int; expected a zoo model name"):
        attnsim.trace(3)
    with pytest.raises(WorkloadError, match="inputs given with a zoo model name"):
        attnsim.trace("llama3-8b", (torch.zeros(1),))
    with pytest.raises(WorkloadError, match="trace: phase 'train' is unknown"):
        attnsim.trace(nn.Linear(2, 2), torch.zeros(1, 2), phase="train")


def test_cli_traces_a_user_module(tmp_path, capsys) -> None:
    src = tmp_path / "mine.py"
    src.write_text(
        "import torch\n"
        "from attnsim.workloads.custom_ops import MaskedAttention\n"
        "from attnsim.workloads.masks_sparse import ClusterMask\n"
        "def build():\n"
        "    return MaskedAttention(128, 2, ClusterMask(cluster=64)), torch.zeros(1, 512, 128)\n"
        "def broken():\n"
        "    return 3\n"
    )
    out = tmp_path / "w.json"
    assert main(["trace", f"{src}:build", "-o", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    w = attnsim.api.as_workload(out)
    ((_, att),) = ops_of(w, AttentionOp)
    assert att.spec.mask == ClusterMask(cluster=64)
    for spec, message in (
        (f"{src}:nope", "has no function 'nope'"),
        (f"{src}:broken", r"broken\(\) returned int; expected \(module, inputs\)"),
        (f"{tmp_path}/missing.py:build", "does not exist"),
        ("no_such_package_xyz:build", "cannot import no_such_package_xyz"),
    ):
        assert main(["trace", spec, "-o", str(tmp_path / "x.json")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("attnsim: error: ")
        assert __import__("re").search(message, err[0]), err[0]


def test_setup_op_pairs_follow_batch_and_heads() -> None:
    from attnsim.workloads.tracing.recorder import _mask_setup_op

    op = _mask_setup_op("m", {"B": 2, "H": 4, "Q_LEN": 300, "KV_LEN": 500, "BLOCK_SIZE": 128,
                              "Q_BLOCK_SIZE": 128, "KV_BLOCK_SIZE": 128})  # fmt: skip
    nq, nk = math.ceil(300 / 128), math.ceil(500 / 128)
    assert op.pairs == 2 * 4 * 300 * 500
    assert op.index_bytes == 4 * 2 * 4 * 2 * (nq + nq * nk + nk + nk * nq)
