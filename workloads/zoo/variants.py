"""Zoo models built on the attention variants, in plain torch from published configurations
(random weights, nothing downloaded): FNet-Base, Linformer-Base, KAT-S and SDict-VLM.

* **fnet-base** (Lee-Thorp et al. 2022, BERT-Base sizes as in the paper): 12 layers,
  hidden 768, FFN 3072, vocab 32000, 512 tokens; the token mixer is ``Re(fft2(x))`` over
  (sequence, hidden) — traced as an ``FftOp``.
* **linformer-base** (Wang et al. 2020, the RoBERTa-Base sizes of its experiments): 12
  layers, hidden 768, 12 heads, FFN 3072, vocab 50265, 512 tokens, projected length
  ``k = 128`` with layer-wise sharing (one ``k x n`` matrix per layer for K and V of every
  head, the paper's most shared setting). ``E @ K`` traces as one GEMM per projection
  (torch folds batch, heads and channels: ``K^T E^T`` with ``E^T`` the weight, read once),
  then SDPA over ``k`` keys; inputs shorter than 512 use the leading part of ``E``.
* **kat-s** (Yang & Wang 2024, KAT-S): ViT-S/16 sizes — 12 blocks, dim 384, 6 heads,
  224 px, MLP ratio 4 — with the MLP's activations replaced by group-rational KAN
  activations (8 groups, orders (5, 4)) before each linear layer, via
  ``attnsim::group_rational``; attention is SDPA.
* **sdict-vlm** (Kiruluta & Burity 2025, SDict-VLM): image patches (16 px) linearly
  projected to ``d`` with a learned 2-D position code, text tokens embedded, both mixed by
  ``layers`` blocks of the spectral dictionary mixer (``attnsim::spectral_dictionary_mixer``)
  and an MLP, an LM head on the text. *Assumption:* the paper gives the 1.1B total but no
  per-layer table; ``d = 2048``, 28 layers, FFN 8192, vocab 32000, 256 atoms with 16 per
  token give 1.1B parameters and are what is built.
"""

from __future__ import annotations

from typing import Any

import torch
from attnsim.workloads.custom_ops import GroupRational, SpectralDictionaryMixer
from attnsim.workloads.zoo.registry import (
    ModelEntry,
    TraceInputs,
    TraceRequest,
    override_dims,
    register_model,
)
from torch import Tensor, nn

__all__ = ["FNET_BASE", "KAT_S", "LINFORMER_BASE", "SDICT_VLM"]

FNET_BASE: dict[str, Any] = {"layers": 12, "dim": 768, "ffn": 3072, "vocab": 32000}
LINFORMER_BASE: dict[str, Any] = {
    "layers": 12, "dim": 768, "heads": 12, "ffn": 3072, "vocab": 50265, "proj": 128,
}  # fmt: skip
KAT_S: dict[str, Any] = {
    "depth": 12,
    "dim": 384,
    "heads": 6,
    "mlp_ratio": 4,
    "patch": 16,
    "groups": 8,
}
SDICT_VLM: dict[str, Any] = {
    "layers": 28, "dim": 2048, "ffn": 8192, "vocab": 32000, "atoms": 256, "active": 16, "patch": 16,
}  # fmt: skip


class _Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))


# ------------------------------------------------------------------ FNet


class FNetLayer(nn.Module):
    """Post-norm FNet encoder layer: Fourier mixing, then the feed-forward block."""

    def __init__(self, dim: int, ffn: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.mlp = _Mlp(dim, ffn)
        self.norm2 = nn.LayerNorm(dim)

    def forward(self, x: Tensor) -> Tensor:
        mixed = torch.fft.fft2(x.float(), dim=(-2, -1)).real.to(x.dtype)
        x = self.norm1(x + mixed)
        return self.norm2(x + self.mlp(x))


class FNet(nn.Module):
    """FNet encoder over token ids."""

    def __init__(self, layers: int, dim: int, ffn: int, vocab: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.layers = nn.ModuleList(FNetLayer(dim, ffn) for _ in range(layers))

    def forward(self, ids: Tensor) -> Tensor:
        x = self.embed(ids)
        for layer in self.layers:
            x = layer(x)
        return x


# ------------------------------------------------------------------ Linformer


class LinformerLayer(nn.Module):
    """Post-norm encoder layer with Linformer self-attention (layer-wise shared E)."""

    def __init__(self, dim: int, heads: int, ffn: int, proj: int, seq: int) -> None:
        super().__init__()
        self.heads, self.head_dim = heads, dim // heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.E = nn.Parameter(torch.empty(proj, seq))
        self.out = nn.Linear(dim, dim)
        self.norm1 = nn.LayerNorm(dim)
        self.mlp = _Mlp(dim, ffn)
        self.norm2 = nn.LayerNorm(dim)

    def forward(self, x: Tensor) -> Tensor:
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        e = self.E[: min(self.E.shape[0], n), :n]  # shorter inputs use the leading part
        k, v = torch.matmul(e, k), torch.matmul(e, v)  # (B, H, proj, d)
        o = torch.nn.functional.scaled_dot_product_attention(q, k, v)
        x = self.norm1(x + self.out(o.transpose(1, 2).reshape(b, n, c)))
        return self.norm2(x + self.mlp(x))


class Linformer(nn.Module):
    """Linformer encoder over ``seq`` token ids (the projection fixes the length)."""

    def __init__(
        self, layers: int, dim: int, heads: int, ffn: int, vocab: int, proj: int, seq: int
    ) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.layers = nn.ModuleList(
            LinformerLayer(dim, heads, ffn, proj, seq) for _ in range(layers)
        )

    def forward(self, ids: Tensor) -> Tensor:
        x = self.embed(ids)
        for layer in self.layers:
            x = layer(x)
        return x


# ------------------------------------------------------------------ KAT


class KatBlock(nn.Module):
    """Pre-norm ViT block whose MLP is a group-rational KAN (rational -> linear, twice)."""

    def __init__(self, dim: int, heads: int, mlp_ratio: int, groups: int) -> None:
        super().__init__()
        self.heads, self.head_dim = heads, dim // heads
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.act1 = GroupRational(groups)
        self.fc1 = nn.Linear(dim, dim * mlp_ratio)
        self.act2 = GroupRational(groups)
        self.fc2 = nn.Linear(dim * mlp_ratio, dim)

    def forward(self, x: Tensor) -> Tensor:
        b, n, c = x.shape
        h = self.norm1(x)
        q, k, v = self.qkv(h).reshape(b, n, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        o = torch.nn.functional.scaled_dot_product_attention(q, k, v)
        x = x + self.proj(o.transpose(1, 2).reshape(b, n, c))
        return x + self.fc2(self.act2(self.fc1(self.act1(self.norm2(x)))))


class Kat(nn.Module):
    """Kolmogorov-Arnold Transformer (ViT layout, class token, 1000-class head)."""

    def __init__(
        self, depth: int, dim: int, heads: int, mlp_ratio: int, patch: int, groups: int
    ) -> None:
        super().__init__()
        self.patch = nn.Conv2d(3, dim, patch, stride=patch)
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.blocks = nn.ModuleList(KatBlock(dim, heads, mlp_ratio, groups) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, 1000)

    def forward(self, pixels: Tensor) -> Tensor:
        x = self.patch(pixels).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1)
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x[:, 0]))


# ------------------------------------------------------------------ SDict-VLM


class SDictBlock(nn.Module):
    """Pre-norm block: spectral dictionary token mixer, then an MLP."""

    def __init__(self, dim: int, ffn: int, atoms: int, active: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.mixer = SpectralDictionaryMixer(dim, atoms, active)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = _Mlp(dim, ffn)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.mixer(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class SDictVLM(nn.Module):
    """Image patches and text tokens mixed by spectral dictionary blocks; LM head on text."""

    def __init__(
        self,
        layers: int,
        dim: int,
        ffn: int,
        vocab: int,
        atoms: int,
        active: int,
        patch: int,
        grid: int,
    ) -> None:
        super().__init__()
        self.patch = patch
        self.patch_embed = nn.Linear(3 * patch * patch, dim)
        self.pos = nn.Parameter(torch.zeros(1, grid * grid, dim))
        self.embed = nn.Embedding(vocab, dim)
        self.layers = nn.ModuleList(SDictBlock(dim, ffn, atoms, active) for _ in range(layers))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, vocab, bias=False)

    def forward(self, pixels: Tensor, ids: Tensor) -> Tensor:
        b, _, h, w = pixels.shape
        p = self.patch
        patches = pixels.reshape(b, 3, h // p, p, w // p, p).permute(0, 2, 4, 1, 3, 5)
        img = self.patch_embed(patches.reshape(b, (h // p) * (w // p), 3 * p * p)) + self.pos
        x = torch.cat([img, self.embed(ids)], dim=1)
        for layer in self.layers:
            x = layer(x)
        return self.head(self.norm(x[:, -1:]))  # next-token logits of the last text token


# ------------------------------------------------------------------ registration


def _text_inputs(model: nn.Module, req: TraceRequest) -> TraceInputs:
    ids = torch.zeros(req.batch, req.seq, dtype=torch.long)
    return TraceInputs((ids,), {}, tokens=req.batch * req.seq)


def _build_fnet(req: TraceRequest) -> nn.Module:
    return FNet(**override_dims("fnet-base", FNET_BASE, dict(req.overrides)))


def _build_linformer(req: TraceRequest) -> nn.Module:
    dims = override_dims("linformer-base", LINFORMER_BASE, dict(req.overrides))
    # E spans the longest input (512 in the paper); shorter inputs use its leading part
    return Linformer(**dims, seq=max(512, req.seq))


def _build_kat(req: TraceRequest) -> nn.Module:
    return Kat(**override_dims("kat-s", KAT_S, dict(req.overrides)))


def _kat_inputs(model: nn.Module, req: TraceRequest) -> TraceInputs:
    size = int(req.image_size or 224)
    pixels = torch.zeros(req.batch, 3, size, size, dtype=req.torch_dtype)
    tokens = (size // 16) ** 2 + 1
    return TraceInputs((pixels,), {}, tokens=req.batch * tokens, meta={"seq": tokens})


def _build_sdict(req: TraceRequest) -> nn.Module:
    size = int(req.image_size or 224)
    dims = override_dims("sdict-vlm", SDICT_VLM, dict(req.overrides))
    return SDictVLM(**dims, grid=size // dims["patch"])


def _sdict_inputs(model: nn.Module, req: TraceRequest) -> TraceInputs:
    size = int(req.image_size or 224)
    pixels = torch.zeros(req.batch, 3, size, size, dtype=req.torch_dtype)
    ids = torch.zeros(req.batch, req.seq, dtype=torch.long)
    image_tokens = (size // 16) ** 2
    return TraceInputs(
        (pixels, ids),
        {},
        tokens=req.batch * (image_tokens + req.seq),
        meta={"image_tokens": image_tokens},
    )


for _entry in (
    ModelEntry("fnet-base", "fourier-mixer",
               "FNet-Base: 12 layers, hidden 768, FFN 3072, Fourier token mixing (fft2), 512 tokens",
               _build_fnet, _text_inputs, default_seq=512, phases=("prefill",)),
    ModelEntry("linformer-base", "low-rank-attention",
               "Linformer-Base: 12 layers, hidden 768, 12 heads, FFN 3072, K/V projected to 128 "
               "(layer-wise shared), 512 tokens", _build_linformer, _text_inputs, default_seq=512,
               phases=("prefill",)),
    ModelEntry("kat-s", "kan-vision",
               "KAT-S: ViT-S/16 (12 blocks, dim 384, 6 heads, 224 px) with group-rational KAN MLPs "
               "(attnsim::group_rational)", _build_kat, _kat_inputs, default_seq=197,
               phases=("prefill",), vision=True, default_image_size=224, patch=16, text=False),
    ModelEntry("sdict-vlm", "spectral-vlm",
               "SDict-VLM: image patches + text mixed by 28 spectral dictionary blocks (dim 2048, "
               "256 atoms, 16 per token; assumed dims for the published 1.1B), no attention",
               _build_sdict, _sdict_inputs, default_seq=32, phases=("prefill",), vision=True,
               default_image_size=224, patch=16),
):  # fmt: skip
    register_model(_entry)
