"""Zoo models of the routed and differential attention variants, in plain torch from their
published configurations (random weights, nothing downloaded): MoH-ViT-B, DIFF
Transformer 3B, the Routing Transformer of PG-19 and SQAT-m.

* **moh-vit-b** (Jin et al. 2024, arXiv 2410.11842, MoH-ViT-B with 75% of the heads;
  sizes from the authors' release, ``SkyworkAI/MoH``, ``MoH-ViT/transnext.py``,
  ``moh_transnext_base_75``): TransNeXt-Base — four stages of dims 96/192/384/768,
  4/8/16/32 heads of 24, depths 5/5/23/5, convolutional-GLU MLP ratios 8/8/4/4,
  overlapping patch embeddings (7x7 stride 4, then 3x3 stride 2), 224 px; shared heads
  4/8/4/5 and routed heads 0/0/8/16 per stage: stages 1-2 weight all their heads, stage 3
  activates 4 + 8 of 16 heads per token, stage 4 5 + 16 of 32. Routed attention is
  ``attnsim::mixture_of_heads_attention`` (``active_heads`` = shared + routed).
  Stages 1-3 use TransNeXt's aggregated attention: keys pooled by 8/4/2 (a 7x7 grid at
  224 px) plus a 3x3 window at full resolution. *Assumptions:* the two key sets share one
  softmax in TransNeXt; here they are two ops whose outputs add (pooled keys by SDPA or the
  MoH op, the 3x3 window by ``attnsim::neighborhood_attention_2d`` over every head) —
  the same pairs and FLOPs within the 3x3 window's routing share; cosine similarity,
  query embedding and learnable tokens are left out (elementwise, under 0.1% of the
  FLOPs). TransNeXt-Base has 89.7M parameters (TransNeXt paper, arXiv 2311.17132, Table 1).
* **diff-transformer-3b** (Ye et al. 2024, arXiv 2410.05258, the 3B model of Section 3.1,
  Appendix hyperparameter table): 28 layers, hidden 3072, 12 differential heads (each two
  128-wide query/key maps and a 256-wide value; ``heads = hidden / (2 * 128)``), SwiGLU
  FFN 8192, vocabulary 100,288, RMSNorm, per-head RMSNorm of the output scaled by
  ``1 - lambda_init``, ``lambda`` re-parameterised by four vectors per layer. Attention is
  ``attnsim::differential_attention`` (``noise_heads`` = 12: the Differential
  Transformer; the override ``noise_heads`` = a divisor of 12 gives Grouped Differential
  Attention, Lim et al. 2025, whose paper gives no released configuration of its own).
  *Sources:* the sizes are the paper's appendix table as we read it (not re-checked
  against the PDF here; the 3072 hidden size matches public re-implementations).
  *Assumptions:* untied input/output embeddings (the paper does not say; as LLaMA);
  rotary embeddings left out (elementwise); prompt length 4096 (the paper's training
  length for this model).
* **routing-transformer** (Roy et al. 2021, arXiv 2003.05997, the 22-layer PG-19 model,
  test perplexity 33.2; sizes from the authors' hparams set ``pg19_local_cluster8k`` in
  ``google-research/routing_transformer/sparse_transformer.py``): 22 decoder layers,
  hidden 1032, 8 heads of 129, GEGLU FFN 4096, shared query/key projection
  (``share_qk``), embedding shared with the softmax, 8192 tokens. Local heads attend
  their 256-token query block and the previous block causally (``query_shape`` 256,
  ``memory_flange`` 256: an exact ``causal_block`` mask); the last layer
  (``sparsity_skip_first`` 21) has 6 local and 2 routing heads, 16 k-means centroids and
  clusters of 512 tokens (``cluster`` mask via ``attnsim::masked_attention``), plus the
  centroid scores (a GEMM). *Assumptions:* vocabulary 32768 (the released vocabulary file
  is ``vocab.pg19_length8k.32768.subwords``; subword building aims at that size); the
  relative position embeddings (513 offsets) are left out. The release README states
  200M parameters; these hparams give 383M (22 x 15.9M per layer + 33.8M embedding) —
  the README's figure is not reproduced from the hparams and is not asserted.
* **sqat-m** (Filipek 2025, arXiv 2510.01817, Sparse Query Attention; the released
  research model ``ReactiveAI/SQAT-m``, its model card): 8 decoder layers, dim 256,
  "16 heads for the dimension split" (head dim 16) of which 8 query heads and 4 key/value
  heads are used, SwiGLU FFN 768, RoPE, RMSNorm, vocabulary 10k, 1024 tokens, ~10.7M
  trainable parameters. The query and output projections are 256 -> 128 -> 256 (what
  makes SQA cheaper than GQA); attention is causal SDPA with ``enable_gqa``.
  *Assumptions:* untied embeddings (the card does not say); RoPE left out (elementwise).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import torch
from attnsim.workloads.custom_ops import (
    differential_attention,
    masked_attention,
    mixture_of_heads_attention,
    neighborhood_attention_2d,
)
from attnsim.workloads.errors import WorkloadError
from attnsim.workloads.masks_sparse import CausalBlockMask, ClusterMask
from attnsim.workloads.zoo.registry import (
    ModelEntry,
    TraceInputs,
    TraceRequest,
    override_dims,
    register_model,
)
from torch import Tensor, nn
from torch.nn import functional as F

__all__ = ["DIFF_3B", "MOH_VIT_B", "ROUTING_PG19", "SQAT_M"]

MOH_VIT_B: dict[str, Any] = {
    "dims": (96, 192, 384, 768),
    "heads": (4, 8, 16, 32),
    "depths": (5, 5, 23, 5),
    "mlp_ratios": (8, 8, 4, 4),
    "sr_ratios": (8, 4, 2, 1),
    "shared": (4, 8, 4, 5),
    "routed": (0, 0, 8, 16),
    "window": 3,
    "num_classes": 1000,
}
DIFF_3B: dict[str, Any] = {
    "layers": 28, "dim": 3072, "heads": 12, "noise_heads": 12, "ffn": 8192, "vocab": 100288,
}  # fmt: skip
SQAT_M: dict[str, Any] = {
    "layers": 8, "dim": 256, "split_heads": 16, "q_heads": 8, "kv_heads": 4, "ffn": 768,
    "vocab": 10000,
}  # fmt: skip
ROUTING_PG19: dict[str, Any] = {
    "layers": 22,
    "dim": 1032,
    "heads": 8,
    "routing_heads": 2,
    "routing_layers": 1,
    "clusters": 16,
    "cluster_window": 512,
    "block": 256,
    "ffn": 4096,
    "vocab": 32768,
}


# ------------------------------------------------------------------ MoH-ViT-B (TransNeXt-B)


class ConvGlu(nn.Module):
    """TransNeXt's convolutional GLU: ``fc2(GELU(dwconv3x3(a)) * b)`` with ``[a, b] = fc1(x)``."""

    def __init__(self, dim: int, ratio: int) -> None:
        super().__init__()
        hidden = int(2 * dim * ratio / 3)
        self.fc1 = nn.Linear(dim, 2 * hidden)
        self.dwconv = nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor, h: int, w: int) -> Tensor:
        a, gate = self.fc1(x).chunk(2, dim=-1)
        b, n, c = a.shape
        a = self.dwconv(a.transpose(1, 2).reshape(b, c, h, w)).flatten(2).transpose(1, 2)
        return self.fc2(F.gelu(a) * gate)


class MohAggregatedAttention(nn.Module):
    """MoH over TransNeXt attention: pooled keys (``sr > 1``) plus a 3x3 window, or full
    attention (``sr == 1``); heads gated per token (shared heads always, ``routed`` of the
    others by a top-k router)."""

    def __init__(
        self, dim: int, heads: int, sr: int, shared: int, routed: int, window: int
    ) -> None:
        super().__init__()
        self.heads, self.head_dim, self.sr = heads, dim // heads, sr
        self.shared, self.routed, self.window = shared, routed, window
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.proj = nn.Linear(dim, dim)
        self.cpb_fc1 = nn.Linear(2, 512)  # continuous relative position bias MLP
        self.cpb_fc2 = nn.Linear(512, heads)
        if sr > 1:
            self.sr_conv = nn.Conv2d(dim, dim, 1)
            self.sr_norm = nn.LayerNorm(dim, eps=1e-6)
        self.wg_shared = nn.Linear(dim, shared, bias=False)
        if routed:
            self.wg = nn.Linear(dim, heads - shared, bias=False)
            self.wg_mix = nn.Linear(dim, 2, bias=False)

    def _gates(self, x: Tensor) -> Tensor:
        """Per-token head weights ``(B, heads, N)``: zero outside the active heads."""
        shared = F.softmax(self.wg_shared(x), dim=-1) * self.shared
        if not self.routed:
            return shared.transpose(1, 2)
        scores = F.softmax(self.wg(x), dim=-1)
        top = scores.topk(self.routed, dim=-1)
        routed = torch.zeros_like(scores).scatter(-1, top.indices, top.values)
        routed = routed / routed.sum(-1, keepdim=True) * self.routed
        mix = F.softmax(self.wg_mix(x), dim=-1) * 2
        gates = torch.cat([shared * mix[..., :1], routed * mix[..., 1:]], dim=-1)
        return gates.transpose(1, 2)

    def _heads(self, t: Tensor) -> Tensor:
        b, n, _ = t.shape
        return t.reshape(b, n, self.heads, self.head_dim).transpose(1, 2)

    def forward(self, x: Tensor, h: int, w: int) -> Tensor:
        b, n, c = x.shape
        q = self._heads(self.q(x))
        gates = self._gates(x)
        if self.sr > 1:
            grid = x.transpose(1, 2).reshape(b, c, h, w)
            pooled = F.adaptive_avg_pool2d(grid, (max(1, h // self.sr), max(1, w // self.sr)))
            pooled = F.gelu(self.sr_norm(self.sr_conv(pooled).flatten(2).transpose(1, 2)))
        else:
            pooled = x
        k, v = (self._heads(t) for t in self.kv(pooled).chunk(2, dim=-1))
        if self.routed:
            o = mixture_of_heads_attention(q, k, v, gates, self.shared + self.routed, False)
        else:
            o = F.scaled_dot_product_attention(q, k, v) * gates[..., None]
        if self.sr > 1:  # the 3x3 window at full resolution, every head
            lk, lv = self.kv(x).chunk(2, dim=-1)  # the same projection
            grid5 = [t.reshape(b, h, w, self.heads, self.head_dim).permute(0, 3, 1, 2, 4) for t in (q.transpose(1, 2).reshape(b, n, c), lk, lv)]  # fmt: skip
            win = [self.window, self.window]
            local = neighborhood_attention_2d(
                *grid5, win, [1, 1], [False, False], self.head_dim**-0.5
            )
            o = o + local.reshape(b, self.heads, n, self.head_dim) * gates[..., None]
        return self.proj(o.transpose(1, 2).reshape(b, n, c))


class MohBlock(nn.Module):
    """Pre-norm TransNeXt block with MoH attention."""

    def __init__(self, dim: int, heads: int, ratio: int, sr: int, shared: int, routed: int, window: int) -> None:  # fmt: skip
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = MohAggregatedAttention(dim, heads, sr, shared, routed, window)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = ConvGlu(dim, ratio)

    def forward(self, x: Tensor, h: int, w: int) -> Tensor:
        x = x + self.attn(self.norm1(x), h, w)
        return x + self.mlp(self.norm2(x), h, w)


class MohStage(nn.Module):
    """Overlapping patch embedding, then ``depth`` MoH blocks, then a LayerNorm."""

    def __init__(self, cin: int, dim: int, depth: int, first: bool, **block: int) -> None:
        super().__init__()
        kernel, stride = (7, 4) if first else (3, 2)
        self.embed = nn.Conv2d(cin, dim, kernel, stride=stride, padding=kernel // 2)
        self.embed_norm = nn.LayerNorm(dim, eps=1e-6)
        self.blocks = nn.ModuleList(MohBlock(dim, **block) for _ in range(depth))
        self.norm = nn.LayerNorm(dim, eps=1e-6)

    def forward(self, x: Tensor) -> Tensor:
        x = self.embed(x)
        b, c, h, w = x.shape
        t = self.embed_norm(x.flatten(2).transpose(1, 2))
        for block in self.blocks:
            t = block(t, h, w)
        return self.norm(t).transpose(1, 2).reshape(b, c, h, w)


class MohViT(nn.Module):
    """MoH-ViT: TransNeXt with Mixture-of-Head attention, mean pooling, 1000-class head."""

    def __init__(self, dims: tuple[int, ...], heads: tuple[int, ...], depths: tuple[int, ...], mlp_ratios: tuple[int, ...], sr_ratios: tuple[int, ...], shared: tuple[int, ...], routed: tuple[int, ...], window: int, num_classes: int) -> None:  # fmt: skip
        super().__init__()
        stages, cin = [], 3
        for i, dim in enumerate(dims):
            stages.append(
                MohStage(cin, dim, depths[i], i == 0, heads=heads[i], ratio=mlp_ratios[i],
                         sr=sr_ratios[i], shared=shared[i], routed=routed[i], window=window)
            )  # fmt: skip
            cin = dim
        self.stages = nn.ModuleList(stages)
        self.head = nn.Linear(dims[-1], num_classes)

    def forward(self, pixels: Tensor) -> Tensor:
        x = pixels
        for stage in self.stages:
            x = stage(x)
        return self.head(x.flatten(2).mean(-1))


# ------------------------------------------------------------------ DIFF Transformer


class RmsNorm(nn.Module):
    """RMSNorm over the last axis (learned scale)."""

    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class DiffAttention(nn.Module):
    """Multi-head differential attention (Ye et al. 2024; grouped noise heads, Lim et al.)."""

    def __init__(self, dim: int, heads: int, noise_heads: int, depth: int) -> None:
        super().__init__()
        if dim % (2 * heads) or heads % noise_heads:
            raise WorkloadError(
                f"zoo.diff-transformer-3b: dim {dim}, heads {heads}, noise_heads {noise_heads}; "
                f"expected dim a multiple of 2*heads and noise_heads dividing heads"
            )
        self.heads, self.noise, self.d = heads, noise_heads, dim // heads // 2
        self.q1 = nn.Linear(dim, heads * self.d, bias=False)
        self.k1 = nn.Linear(dim, heads * self.d, bias=False)
        self.q2 = nn.Linear(dim, noise_heads * self.d, bias=False)
        self.k2 = nn.Linear(dim, noise_heads * self.d, bias=False)
        self.v = nn.Linear(dim, dim, bias=False)
        self.out = nn.Linear(dim, dim, bias=False)
        self.lambda_init = 0.8 - 0.6 * math.exp(-0.3 * depth)
        self.lambdas = nn.Parameter(torch.zeros(4, self.d))  # lambda_q1, lambda_k1, _q2, _k2
        self.subln = RmsNorm(2 * self.d)

    def forward(self, x: Tensor) -> Tensor:
        b, n, c = x.shape

        def split(t: Tensor, h: int) -> Tensor:
            return t.reshape(b, n, h, -1).transpose(1, 2)

        lq1, lk1, lq2, lk2 = self.lambdas.unbind(0)
        lam = torch.exp((lq1 * lk1).sum()) - torch.exp((lq2 * lk2).sum()) + self.lambda_init
        o = differential_attention(
            split(self.q1(x), self.heads), split(self.k1(x), self.heads),
            split(self.q2(x), self.noise), split(self.k2(x), self.noise),
            split(self.v(x), self.heads), lam, True,
        )  # fmt: skip
        o = self.subln(o) * (1 - self.lambda_init)
        return self.out(o.transpose(1, 2).reshape(b, n, c))


class DiffLayer(nn.Module):
    """Pre-norm decoder layer: differential attention, then a SwiGLU FFN."""

    def __init__(self, dim: int, heads: int, noise_heads: int, ffn: int, depth: int) -> None:
        super().__init__()
        self.norm1 = RmsNorm(dim)
        self.attn = DiffAttention(dim, heads, noise_heads, depth)
        self.norm2 = RmsNorm(dim)
        self.gate = nn.Linear(dim, ffn, bias=False)
        self.up = nn.Linear(dim, ffn, bias=False)
        self.down = nn.Linear(ffn, dim, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.norm1(x))
        h = self.norm2(x)
        return x + self.down(F.silu(self.gate(h)) * self.up(h))


class _TokenDecoder(nn.Module):
    """A decoder over token ids: embedding, ``layers``, RMSNorm and an LM head; returns
    the logits of the last token."""

    def __init__(self, vocab: int, dim: int, layers: Sequence[nn.Module]) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.layers = nn.ModuleList(layers)
        self.norm = RmsNorm(dim)
        self.lm_head = nn.Linear(dim, vocab, bias=False)

    def forward(self, ids: Tensor) -> Tensor:
        x = self.embed(ids)
        for layer in self.layers:
            x = layer(x)
        return self.lm_head(self.norm(x[:, -1:]))


class DiffTransformer(_TokenDecoder):
    """DIFF Transformer decoder over token ids; logits of the last token."""

    def __init__(self, layers: int, dim: int, heads: int, noise_heads: int, ffn: int, vocab: int) -> None:  # fmt: skip
        blocks = [DiffLayer(dim, heads, noise_heads, ffn, depth) for depth in range(layers)]
        super().__init__(vocab, dim, blocks)


# ------------------------------------------------------------------ Routing Transformer


def local_block_mask(seq: int, block: int) -> CausalBlockMask:
    """Each query block attends its own block (causally) and the previous one."""
    nb = -(-seq // block)
    layout = tuple(tuple(j == i - 1 for j in range(nb)) for i in range(nb))
    return CausalBlockMask(block=block, layout=layout)


class RoutingLayer(nn.Module):
    """Pre-norm decoder layer: local heads (block-local causal) and, when ``routing``,
    routing heads attending their k-means cluster; shared query/key projection; GEGLU."""

    def __init__(self, dim: int, heads: int, routing: int, clusters: int, ffn: int) -> None:
        super().__init__()
        self.heads, self.routing, self.d = heads, routing, dim // heads
        self.norm1 = nn.LayerNorm(dim)
        self.qk = nn.Linear(dim, dim, bias=False)  # share_qk: keys are the queries
        self.v = nn.Linear(dim, dim, bias=False)
        self.out = nn.Linear(dim, dim, bias=False)
        if routing:
            self.centroids = nn.Parameter(torch.zeros(routing, clusters, self.d))
        self.norm2 = nn.LayerNorm(dim)
        self.wi = nn.Linear(dim, 2 * ffn, bias=False)
        self.wo = nn.Linear(ffn, dim, bias=False)

    def forward(self, x: Tensor, local_mask: str, cluster_mask: str) -> Tensor:
        b, n, c = x.shape
        h = self.norm1(x)
        qk = self.qk(h).reshape(b, n, self.heads, self.d).transpose(1, 2)
        v = self.v(h).reshape(b, n, self.heads, self.d).transpose(1, 2)
        loc = self.heads - self.routing
        scale = self.d**-0.5
        outs = [masked_attention(qk[:, :loc], qk[:, :loc], v[:, :loc], local_mask, scale)]
        if self.routing:
            rq = qk[:, loc:]
            # scores of every token against its head's centroids (the k-means assignment)
            tokens = rq.transpose(0, 1).reshape(self.routing, b * n, self.d)
            _ = tokens @ self.centroids.transpose(1, 2)
            outs.append(masked_attention(rq, rq, v[:, loc:], cluster_mask, scale))
        o = torch.cat(outs, dim=1).transpose(1, 2).reshape(b, n, c)
        x = x + self.out(o)
        a, g = self.wi(self.norm2(x)).chunk(2, dim=-1)
        return x + self.wo(F.gelu(g) * a)


class RoutingTransformer(nn.Module):
    """Routing Transformer decoder over token ids (embedding shared with the softmax)."""

    def __init__(self, layers: int, dim: int, heads: int, routing_heads: int, routing_layers: int, clusters: int, cluster_window: int, block: int, ffn: int, vocab: int) -> None:  # fmt: skip
        super().__init__()
        self.block, self.window = block, cluster_window
        self.embed = nn.Embedding(vocab, dim)
        self.layers = nn.ModuleList(
            RoutingLayer(dim, heads, routing_heads if i >= layers - routing_layers else 0, clusters, ffn)
            for i in range(layers)
        )  # fmt: skip
        self.norm = nn.LayerNorm(dim)

    def forward(self, ids: Tensor) -> Tensor:
        n = ids.shape[1]
        local = json.dumps(local_block_mask(n, self.block).to_dict())
        cluster = json.dumps(ClusterMask(cluster=min(self.window, n), causal=True).to_dict())
        x = self.embed(ids)
        for layer in self.layers:
            x = layer(x, local, cluster)
        return self.norm(x[:, -1:]) @ self.embed.weight.t()


# ------------------------------------------------------------------ SQAT-m


class SqaLayer(nn.Module):
    """Pre-norm decoder layer with Sparse Query Attention (fewer query heads than the
    dimension split) and a SwiGLU FFN."""

    def __init__(self, dim: int, split_heads: int, q_heads: int, kv_heads: int, ffn: int) -> None:
        super().__init__()
        if dim % split_heads or q_heads % kv_heads:
            raise WorkloadError(
                f"zoo.sqat-m: dim {dim}, split_heads {split_heads}, q_heads {q_heads}, "
                f"kv_heads {kv_heads}; expected split_heads dividing dim and kv_heads dividing q_heads"
            )
        self.d, self.hq, self.hkv = dim // split_heads, q_heads, kv_heads
        self.norm1 = RmsNorm(dim)
        self.q = nn.Linear(dim, q_heads * self.d, bias=False)
        self.k = nn.Linear(dim, kv_heads * self.d, bias=False)
        self.v = nn.Linear(dim, kv_heads * self.d, bias=False)
        self.o = nn.Linear(q_heads * self.d, dim, bias=False)
        self.norm2 = RmsNorm(dim)
        self.gate = nn.Linear(dim, ffn, bias=False)
        self.up = nn.Linear(dim, ffn, bias=False)
        self.down = nn.Linear(ffn, dim, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        b, n, _ = x.shape
        h = self.norm1(x)
        q = self.q(h).reshape(b, n, self.hq, self.d).transpose(1, 2)
        k = self.k(h).reshape(b, n, self.hkv, self.d).transpose(1, 2)
        v = self.v(h).reshape(b, n, self.hkv, self.d).transpose(1, 2)
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
        x = x + self.o(a.transpose(1, 2).reshape(b, n, self.hq * self.d))
        h = self.norm2(x)
        return x + self.down(F.silu(self.gate(h)) * self.up(h))


class SqaTransformer(_TokenDecoder):
    """SQAT decoder over token ids; logits of the last token."""

    def __init__(self, layers: int, dim: int, split_heads: int, q_heads: int, kv_heads: int, ffn: int, vocab: int) -> None:  # fmt: skip
        blocks = [SqaLayer(dim, split_heads, q_heads, kv_heads, ffn) for _ in range(layers)]
        super().__init__(vocab, dim, blocks)


# ------------------------------------------------------------------ registration


def _text_inputs(model: nn.Module, req: TraceRequest) -> TraceInputs:
    ids = torch.zeros(req.batch, req.seq, dtype=torch.long)
    return TraceInputs((ids,), {}, tokens=req.batch * req.seq)


def _build_moh(req: TraceRequest) -> nn.Module:
    return MohViT(**override_dims("moh-vit-b", MOH_VIT_B, dict(req.overrides)))


def _moh_inputs(model: nn.Module, req: TraceRequest) -> TraceInputs:
    size = int(req.image_size or 224)
    pixels = torch.zeros(req.batch, 3, size, size, dtype=req.torch_dtype)
    tokens = (size // 4) ** 2
    return TraceInputs((pixels,), {}, tokens=req.batch * tokens, meta={"seq": tokens})


def _build_diff(req: TraceRequest) -> nn.Module:
    return DiffTransformer(**override_dims("diff-transformer-3b", DIFF_3B, dict(req.overrides)))


def _build_sqat(req: TraceRequest) -> nn.Module:
    return SqaTransformer(**override_dims("sqat-m", SQAT_M, dict(req.overrides)))


def _build_routing(req: TraceRequest) -> nn.Module:
    return RoutingTransformer(
        **override_dims("routing-transformer", ROUTING_PG19, dict(req.overrides))
    )


for _entry in (
    ModelEntry("moh-vit-b", "moh-vision",
               "MoH-ViT-B (75% heads): TransNeXt-Base (dims 96-768, 4-32 heads, depths 5/5/23/5), "
               "stage 3 routes 4+8 of 16 heads, stage 4 5+16 of 32 (attnsim::mixture_of_heads_attention)",
               _build_moh, _moh_inputs, default_seq=3136, phases=("prefill",), vision=True,
               default_image_size=224, patch=32, text=False),
    ModelEntry("diff-transformer-3b", "differential-llm",
               "DIFF Transformer 3B: 28 layers, hidden 3072, 12 differential heads (2x128 q/k, 256 v), "
               "FFN 8192, vocab 100288 (attnsim::differential_attention)",
               _build_diff, _text_inputs, default_seq=4096, phases=("prefill",)),
    ModelEntry("routing-transformer", "routing-llm",
               "Routing Transformer (PG-19): 22 layers, hidden 1032, 8 heads; local 256-blocks, last "
               "layer 2 routing heads over 16 clusters of 512 (attnsim::masked_attention)",
               _build_routing, _text_inputs, default_seq=8192, phases=("prefill",)),
    ModelEntry("sqat-m", "sqa-llm",
               "SQAT-m (Sparse Query Attention research model): 8 layers, dim 256, 8 query / 4 KV "
               "heads of 16 (of a 16-head split), SwiGLU 768, vocab 10k",
               _build_sqat, _text_inputs, default_seq=1024, phases=("prefill",)),
):  # fmt: skip
    register_model(_entry)
