"""Llama 3 decoders (transformers ``LlamaForCausalLM``, SDPA attention).

Dims are the published Llama 3 configs; RoPE uses theta 500000 with the ``llama3``
frequency scaling of Llama 3.1 (same shapes, and 128k-token contexts are in range).
Prefill runs with an empty ``DynamicCache`` (``use_cache=True``): that is how generation
calls the model, and it lets transformers pass ``is_causal=True`` to SDPA instead of a
mask tensor.  The LM head runs on the last token only (``logits_to_keep=1``, as
generation does).  Decode runs ``seq`` (normally 1) new tokens against a cache of
``kv_len`` fake tokens: transformers appends the new K/V first, so attention has
``q_len = seq`` and ``kv_len = kv_len + seq``.
"""

from __future__ import annotations

from typing import Any

import torch
from attnsim.workloads.zoo.hf import SDPA, apply_overrides, fake_kv_cache
from attnsim.workloads.zoo.registry import ModelEntry, TraceInputs, TraceRequest, register_model
from torch import nn

__all__ = ["LLAMA3_70B", "LLAMA3_8B", "causal_lm_inputs", "llama_config"]

_ROPE = {
    "rope_type": "llama3",
    "rope_theta": 500000.0,
    "factor": 8.0,
    "low_freq_factor": 1.0,
    "high_freq_factor": 4.0,
    "original_max_position_embeddings": 8192,
}

#: Llama 3 8B (Meta's published config).
LLAMA3_8B: dict[str, Any] = {
    "hidden_size": 4096,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "head_dim": 128,
    "intermediate_size": 14336,
    "vocab_size": 128256,
    "rms_norm_eps": 1e-5,
    "max_position_embeddings": 131072,
    "tie_word_embeddings": False,
}

#: Llama 3 70B (Meta's published config).
LLAMA3_70B: dict[str, Any] = {
    **LLAMA3_8B,
    "hidden_size": 8192,
    "num_hidden_layers": 80,
    "num_attention_heads": 64,
    "num_key_value_heads": 8,
    "intermediate_size": 28672,
}


def llama_config(dims: dict[str, Any], req: TraceRequest, where: str) -> Any:
    """A ``LlamaConfig`` with SDPA attention, the request's overrides applied."""
    from transformers import LlamaConfig

    cfg = LlamaConfig(**dims, rope_parameters=dict(_ROPE), **SDPA)
    return apply_overrides(where, cfg, req.overrides)


def causal_lm_inputs(model: nn.Module, req: TraceRequest) -> TraceInputs:
    """Inputs of a transformers causal LM for a prefill or decode step (inside fake mode)."""
    cfg: Any = model.config
    ids = torch.zeros(req.batch, req.seq, dtype=torch.long)
    kv = req.kv_len if req.phase == "decode" else 0
    cache = fake_kv_cache(cfg, req.batch, kv, req.torch_dtype)
    kwargs = {
        "input_ids": ids,
        "past_key_values": cache,
        "use_cache": True,
        "logits_to_keep": 1 if req.phase == "prefill" else req.seq,
    }
    return TraceInputs((), kwargs, tokens=req.batch * req.seq)


def _builder(dims: dict[str, Any], where: str) -> Any:
    def build(req: TraceRequest) -> nn.Module:
        from transformers import LlamaForCausalLM

        return LlamaForCausalLM(llama_config(dims, req, where))

    return build


register_model(
    ModelEntry(
        name="llama3-8b",
        family="llm",
        description="Llama 3 8B: 32 layers, hidden 4096, 32 heads / 8 KV heads (GQA), head dim "
        "128, FFN 14336, vocab 128256 (transformers LlamaForCausalLM, SDPA)",
        build=_builder(LLAMA3_8B, "llama3-8b"),
        inputs=causal_lm_inputs,
        default_seq=2048,
    )
)
register_model(
    ModelEntry(
        name="llama3-70b",
        family="llm",
        description="Llama 3 70B: 80 layers, hidden 8192, 64 heads / 8 KV heads (GQA), head dim "
        "128, FFN 28672, vocab 128256 (transformers LlamaForCausalLM, SDPA)",
        build=_builder(LLAMA3_70B, "llama3-70b"),
        inputs=causal_lm_inputs,
        default_seq=2048,
    )
)
