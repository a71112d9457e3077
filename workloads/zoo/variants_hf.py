"""Zoo models of the attention variants built from transformers classes (random weights,
nothing downloaded): Mistral 7B, the public model of sliding-window attention.

* **mistral-7b** (Jiang et al. 2023, arXiv 2310.06825, Table 1; the published
  ``mistralai/Mistral-7B-v0.1`` config): 32 layers, hidden 4096, 32 heads / 8 KV heads of
  128, SwiGLU FFN 14336, vocab 32000, untied embeddings, RoPE theta 10000, causal sliding
  window of 4096 tokens, context 8192 (the default prompt here). Window semantics are transformers' (``masking_utils``: key
  ``j`` is live for query ``i`` iff ``i - 4096 < j <= i``), i.e. the window holds 4096
  tokens including the query: ``SlidingWindowMask(left=4095)``.

Why an attention implementation of our own: transformers' SDPA path hands the window to
attention as a ``(B, 1, q, kv)`` boolean tensor. The tracer recovers such a tensor only
below ``maskinfer.SHADOW_LIMIT`` elements, and the window only differs from causal once
the sequence exceeds 4096 tokens — where the tensor (>= 2**24 elements) is too large, so
the attention would be recorded as full. :data:`ATTN_IMPLEMENTATION` instead routes every
attention call to ``attnsim::masked_attention`` with the exact IR mask built from the
layer's ``sliding_window`` (or causal when the layer has none), and its mask function
builds no tensor at all (no mask-setup kernels appear in the trace).

Decode uses transformers' sliding-window cache (Mistral's rolling buffer, paper
Section 2): a cache filled with ``kv_len`` tokens keeps the last 4095, so a decode step
attends ``min(kv_len, 4095) + seq`` keys.
"""

from __future__ import annotations

import json
from typing import Any

from attnsim.workloads.custom_ops import masked_attention
from attnsim.workloads.masks import CausalMask, FullMask, MaskPattern, SlidingWindowMask
from attnsim.workloads.zoo.hf import apply_overrides
from attnsim.workloads.zoo.llama import causal_lm_inputs
from attnsim.workloads.zoo.registry import ModelEntry, TraceRequest, register_model
from torch import Tensor, nn

__all__ = ["ATTN_IMPLEMENTATION", "MISTRAL_7B", "ir_attention_forward", "mistral_config"]

#: Name of the transformers attention implementation registered here.
ATTN_IMPLEMENTATION = "attnsim_ir"
#: Config keyword selecting it (a keyword of every transformers config, as ``hf.SDPA``).
_IMPLEMENTATION: dict[str, Any] = {"attn_implementation": ATTN_IMPLEMENTATION}

#: Mistral 7B v0.1 (arXiv 2310.06825 Table 1; HF ``mistralai/Mistral-7B-v0.1`` config.json).
MISTRAL_7B: dict[str, Any] = {
    "hidden_size": 4096,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "head_dim": 128,
    "intermediate_size": 14336,
    "vocab_size": 32000,
    "rms_norm_eps": 1e-5,
    "max_position_embeddings": 32768,
    "sliding_window": 4096,
    "tie_word_embeddings": False,
}


def layer_mask(module: nn.Module, sliding_window: int | None) -> MaskPattern:
    """The IR mask of one transformers attention layer: a causal window of
    ``sliding_window`` tokens (query included), causal, or full for an encoder."""
    if sliding_window:
        return SlidingWindowMask(left=int(sliding_window) - 1)
    return CausalMask() if getattr(module, "is_causal", True) else FullMask()


def ir_attention_forward(
    module: nn.Module,
    query: Tensor,
    key: Tensor,
    value: Tensor,
    attention_mask: Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    sliding_window: int | None = None,
    **kwargs: Any,
) -> tuple[Tensor, None]:
    """A transformers attention function: ``attnsim::masked_attention`` under the layer's
    IR mask. ``query``/``key``/``value`` are ``(B, H, N, D)`` (K/V heads may divide the
    query heads); returns ``(B, N, H, D)`` as transformers expects. ``attention_mask``
    is ignored: the mask function below never builds one (no padding in these traces)."""
    mask = json.dumps(layer_mask(module, sliding_window).to_dict())
    scale = float(scaling) if scaling is not None else query.shape[-1] ** -0.5
    out = masked_attention(query, key, value, mask, scale)
    return out.transpose(1, 2).contiguous(), None


def _no_mask(*args: Any, **kwargs: Any) -> None:
    """Mask function of :data:`ATTN_IMPLEMENTATION`: the pattern travels in the op."""
    return None


def _register_implementation() -> None:
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface

    AttentionInterface.register(ATTN_IMPLEMENTATION, ir_attention_forward)
    AttentionMaskInterface.register(ATTN_IMPLEMENTATION, _no_mask)


def mistral_config(dims: dict[str, Any], req: TraceRequest, where: str) -> Any:
    """A ``MistralConfig`` using :data:`ATTN_IMPLEMENTATION`, the request's overrides applied."""
    from transformers import MistralConfig

    _register_implementation()
    cfg = MistralConfig(
        **dims,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
        **_IMPLEMENTATION,
    )
    return apply_overrides(where, cfg, req.overrides)


def _build_mistral(req: TraceRequest) -> nn.Module:
    from transformers import MistralForCausalLM

    return MistralForCausalLM(mistral_config(MISTRAL_7B, req, "mistral-7b"))


register_model(
    ModelEntry(
        name="mistral-7b",
        family="llm",
        description="Mistral 7B v0.1: 32 layers, hidden 4096, 32 heads / 8 KV heads of 128, FFN "
        "14336, vocab 32000, causal sliding window 4096 (transformers MistralForCausalLM, "
        "attnsim::masked_attention)",
        build=_build_mistral,
        inputs=causal_lm_inputs,
        default_seq=8192,
    )
)
