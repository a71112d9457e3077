"""BigBird-RoBERTa base, the public model of block-sparse attention, in plain torch from its
published configuration (random weights, nothing downloaded).

**bigbird-roberta-base** (Zaheer et al. 2020, arXiv 2007.14062, BigBird-ITC base: the
pretraining hyperparameters of its appendix; the published ``google/bigbird-roberta-base``
config): 12 post-norm encoder layers, hidden 768, 12 heads of 64, GELU FFN 3072, vocab
50358, 4096 positions, 2 token types, a tanh pooler; block size 64 with, per query block,
the 2 global blocks (first and last), a window of 3 blocks (itself and its neighbours) and
3 random blocks. The global blocks attend every key block. The published model has about
128M parameters (BigBirdModel: 127.5M here).

Attention is ``attnsim::masked_attention`` with an explicit ``BlockSparseMask`` layout
(:func:`bigbird_layout`) rather than transformers' BigBird, whose gather-based block code
would trace as dozens of gathers and GEMMs without the pattern. Live blocks at ``n``
blocks (``n > 5 + 2 r``): ``2 n`` for the global rows, 4 for rows 1 and ``n - 2`` (the
window meets a global block), 5 for every other row, plus ``r`` random blocks in each of
the ``n - 2`` non-global rows — 622 of 64 x 64 blocks (15.2%) at 4096 tokens.

*Assumptions:* random blocks are drawn uniformly without replacement from the key blocks
not already live in the row (the paper's random attention; the released code draws from
the non-global blocks outside the window and has edge cases near the ends that we do not
reproduce), one layout per layer for all its heads (the released code draws per head: the
same count, so the same work for a block-sparse kernel), seeded by ``seed`` and the layer
index. Like the released code, sequences of at most ``(5 + 2 r)`` blocks use full
attention. A sequence that is not a multiple of the block leaves the last block ragged
(the released code pads it; padding work is not counted).
"""

from __future__ import annotations

import json
from typing import Any, cast

import numpy as np
import torch
from attnsim.workloads.custom_ops import masked_attention
from attnsim.workloads.errors import WorkloadError
from attnsim.workloads.masks import BlockSparseMask, FullMask, MaskPattern
from attnsim.workloads.zoo.registry import ModelEntry, TraceInputs, TraceRequest, register_model
from torch import Tensor, nn
from torch.nn import functional as F

__all__ = ["BIGBIRD_BASE", "BigBird", "bigbird_layout", "bigbird_live_blocks", "bigbird_mask"]

#: BigBird-ITC base (arXiv 2007.14062; HF ``google/bigbird-roberta-base`` config.json).
BIGBIRD_BASE: dict[str, Any] = {
    "layers": 12,
    "dim": 768,
    "heads": 12,
    "ffn": 3072,
    "vocab": 50358,
    "positions": 4096,
    "block": 64,
    "random_blocks": 3,
    "seed": 0,
}


def bigbird_layout(n: int, random_blocks: int, rng: np.random.Generator) -> np.ndarray:
    """BigBird-ITC block layout ``(n, n)`` bool: global first/last blocks, a 3-block
    window, ``random_blocks`` random key blocks per non-global query block."""
    if n <= 5 + 2 * random_blocks:
        raise WorkloadError(
            f"zoo.bigbird-roberta-base: {n} blocks; expected more than 5 + 2 * random_blocks "
            f"({5 + 2 * random_blocks}) for a block-sparse layout"
        )
    grid = np.zeros((n, n), dtype=bool)
    grid[[0, -1], :] = True  # global query blocks
    grid[:, [0, -1]] = True  # global key blocks
    for i in range(1, n - 1):
        grid[i, i - 1 : i + 2] = True
        free = np.flatnonzero(~grid[i])
        grid[i, rng.choice(free, size=random_blocks, replace=False)] = True
    return grid


def bigbird_live_blocks(n: int, random_blocks: int) -> int:
    """Live blocks of :func:`bigbird_layout` at ``n`` blocks (the analytic count)."""
    return 2 * n + 2 * 4 + (n - 4) * 5 + (n - 2) * random_blocks


def bigbird_mask(seq: int, block: int, random_blocks: int, seed: int, layer: int) -> MaskPattern:
    """The IR mask of one BigBird layer over ``seq`` tokens (full when too short)."""
    n = -(-seq // block)
    if n <= 5 + 2 * random_blocks:
        return FullMask()
    grid = bigbird_layout(n, random_blocks, np.random.default_rng([seed, layer]))
    layout = tuple(tuple(bool(x) for x in row) for row in grid.tolist())
    return BlockSparseMask(block_q=block, block_k=block, layout=layout)


class BigBirdLayer(nn.Module):
    """Post-norm encoder layer (RoBERTa layout) with block-sparse self-attention."""

    def __init__(self, dim: int, heads: int, ffn: int) -> None:
        super().__init__()
        self.heads, self.head_dim = heads, dim // heads
        self.query = nn.Linear(dim, dim)
        self.key = nn.Linear(dim, dim)
        self.value = nn.Linear(dim, dim)
        self.out = nn.Linear(dim, dim)
        self.norm1 = nn.LayerNorm(dim, eps=1e-12)
        self.fc1 = nn.Linear(dim, ffn)
        self.fc2 = nn.Linear(ffn, dim)
        self.norm2 = nn.LayerNorm(dim, eps=1e-12)

    def forward(self, x: Tensor, mask: str) -> Tensor:
        b, n, c = x.shape

        def split(t: Tensor) -> Tensor:
            return t.reshape(b, n, self.heads, self.head_dim).transpose(1, 2)

        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        o = masked_attention(q, k, v, mask, self.head_dim**-0.5)
        x = self.norm1(x + self.out(o.transpose(1, 2).reshape(b, n, c)))
        return self.norm2(x + self.fc2(F.gelu(self.fc1(x))))


class BigBird(nn.Module):
    """BigBird encoder over token ids: embeddings, layers, tanh pooler of the first token."""

    def __init__(self, layers: int, dim: int, heads: int, ffn: int, vocab: int, positions: int, block: int, random_blocks: int, seed: int) -> None:  # fmt: skip
        super().__init__()
        if dim % heads:
            raise WorkloadError(
                f"zoo.bigbird-roberta-base: dim {dim}, heads {heads}; expected dim a multiple "
                f"of heads"
            )
        self.block, self.random_blocks, self.seed = block, random_blocks, seed
        self.word = nn.Embedding(vocab, dim)
        self.position = nn.Embedding(positions, dim)
        self.token_type = nn.Embedding(2, dim)
        self.embed_norm = nn.LayerNorm(dim, eps=1e-12)
        self.layers = nn.ModuleList(BigBirdLayer(dim, heads, ffn) for _ in range(layers))
        self.pooler = nn.Linear(dim, dim)

    def forward(self, ids: Tensor) -> tuple[Tensor, Tensor]:
        n = ids.shape[1]
        pos = torch.arange(n, device=ids.device)
        x = self.embed_norm(self.word(ids) + self.position(pos) + self.token_type.weight[0])
        for i, layer in enumerate(self.layers):
            mask = bigbird_mask(n, self.block, self.random_blocks, self.seed, i)
            x = layer(x, json.dumps(mask.to_dict()))
        return x, torch.tanh(self.pooler(x[:, 0]))


def _build(req: TraceRequest) -> nn.Module:
    dims = dict(BIGBIRD_BASE)
    for key, value in req.overrides.items():
        if key not in dims:
            raise WorkloadError(
                f"zoo.bigbird-roberta-base: override {key!r} is unknown; expected one of "
                f"{', '.join(dims)}"
            )
        dims[key] = value
    return BigBird(**dims)


def _inputs(model: nn.Module, req: TraceRequest) -> TraceInputs:
    positions = cast(BigBird, model).position.num_embeddings
    if req.seq > positions:
        raise WorkloadError(
            f"zoo.bigbird-roberta-base: seq {req.seq} exceeds the {positions} positions; "
            f"expected seq <= {positions}"
        )
    ids = torch.zeros(req.batch, req.seq, dtype=torch.long)
    return TraceInputs((ids,), {}, tokens=req.batch * req.seq)


register_model(
    ModelEntry(
        name="bigbird-roberta-base",
        family="block-sparse-encoder",
        description="BigBird-RoBERTa base (ITC): 12 layers, hidden 768, 12 heads, FFN 3072, vocab "
        "50358; blocks of 64: 2 global, window 3, 3 random (attnsim::masked_attention, "
        "block_sparse)",
        build=_build,
        inputs=_inputs,
        default_seq=4096,
        phases=("prefill",),
    )
)
