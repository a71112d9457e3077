"""A small lightning-attention (linear attention) LLM in the style of TransNormerLLM.

Dims are those of a ~400M-parameter TransNormerLLM-style model (chosen here, not a
released checkpoint): hidden 1024, 24 layers, 8 heads of 128, SwiGLU FFN 2816, vocab
64000, chunk 64, fixed per-head decay.  Each layer: RMSNorm -> :class:`LightningAttention`
(``attnsim::lightning_attention``, traced as ``LinearAttentionOp``) -> residual ->
RMSNorm -> SwiGLU -> residual.  Decode carries a ``(batch, heads, 128, 128)`` state per
layer instead of a KV cache: ``kv_len`` only says how many tokens the state summarises
(it does not change the work).
"""

from __future__ import annotations

from typing import Any

import torch
from attnsim.workloads.custom_ops import LightningAttention
from attnsim.workloads.errors import WorkloadError
from attnsim.workloads.zoo.registry import ModelEntry, TraceInputs, TraceRequest, register_model
from torch import Tensor, nn

__all__ = ["LIGHTNING_SMALL", "LightningLM"]

#: The zoo's lightning-attention LLM.
LIGHTNING_SMALL: dict[str, Any] = {
    "hidden": 1024,
    "layers": 24,
    "heads": 8,
    "ffn": 2816,
    "vocab": 64000,
    "chunk": 64,
}


class LightningLayer(nn.Module):
    """One decoder layer with lightning attention and a SwiGLU FFN."""

    def __init__(self, hidden: int, heads: int, ffn: int, chunk: int) -> None:
        super().__init__()
        self.attn_norm = nn.RMSNorm(hidden)
        self.attn = LightningAttention(hidden, heads, chunk=chunk, decay=True)
        self.ffn_norm = nn.RMSNorm(hidden)
        self.gate = nn.Linear(hidden, ffn, bias=False)
        self.up = nn.Linear(hidden, ffn, bias=False)
        self.down = nn.Linear(ffn, hidden, bias=False)

    def forward(self, x: Tensor, state: Tensor | None) -> tuple[Tensor, Tensor]:
        h, new_state = self.attn(self.attn_norm(x), state)
        x = x + h
        y = self.ffn_norm(x)
        return x + self.down(torch.nn.functional.silu(self.gate(y)) * self.up(y)), new_state


class LightningLM(nn.Module):
    """Embedding, ``layers`` lightning layers, final norm, LM head (last token only)."""

    def __init__(
        self, hidden: int, layers: int, heads: int, ffn: int, vocab: int, chunk: int
    ) -> None:
        super().__init__()
        self.heads = heads
        self.head_dim = hidden // heads
        self.embed = nn.Embedding(vocab, hidden)
        self.layers = nn.ModuleList(
            LightningLayer(hidden, heads, ffn, chunk) for _ in range(layers)
        )
        self.norm = nn.RMSNorm(hidden)
        self.lm_head = nn.Linear(hidden, vocab, bias=False)

    def forward(
        self, input_ids: Tensor, states: list[Tensor] | None = None
    ) -> tuple[Tensor, list[Tensor]]:
        x = self.embed(input_ids)
        new_states = []
        for i, layer in enumerate(self.layers):
            x, s = layer(x, None if states is None else states[i])
            new_states.append(s)
        return self.lm_head(self.norm(x[:, -1:])), new_states


def _build(req: TraceRequest) -> nn.Module:
    dims = dict(LIGHTNING_SMALL)
    for key, value in req.overrides.items():
        if key not in dims:
            raise WorkloadError(
                f"zoo.lightning-llm: override {key!r} is unknown; expected one of {', '.join(dims)}"
            )
        dims[key] = value
    return LightningLM(**dims)


def _inputs(model: nn.Module, req: TraceRequest) -> TraceInputs:
    ids = torch.zeros(req.batch, req.seq, dtype=torch.long)
    states = None
    if req.phase == "decode":
        m: Any = model
        shape = (req.batch, m.heads, m.head_dim, m.head_dim)
        states = [torch.zeros(shape, dtype=req.torch_dtype) for _ in range(len(m.layers))]
    return TraceInputs((ids, states), {}, tokens=req.batch * req.seq)


register_model(
    ModelEntry(
        name="lightning-llm",
        family="linear-llm",
        description="Lightning-attention LLM (TransNormerLLM-style, ~0.4B): 24 layers, hidden "
        "1024, 8 heads, chunk 64 with decay (attnsim::lightning_attention)",
        build=_build,
        inputs=_inputs,
        default_seq=2048,
    )
)
