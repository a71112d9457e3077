"""BitNet b1.58 decoders whose linear layers are ternary: 2B4T and the 3B reproduction.

**bitnet-b1.58-2b** (BitNet b1.58 2B4T).

Dims follow transformers' ``BitNetConfig`` defaults, which are those of the published
``microsoft/bitnet-b1.58-2B-4T`` config: hidden 2560, 30 layers, 20 heads / 5 KV heads
(head dim 128), FFN 6912 with squared ReLU, vocab 128256, RoPE theta 500000, sub-layer
RMSNorms before the attention output and FFN down projections; plus the model card's
4096-token context and tied input/output embeddings (about 2.4B parameters).  Every ``nn.Linear`` inside the decoder layers
is replaced by :class:`workloads.custom_ops.TernaryLinear` (int8 activations, weights in
{-1, 0, 1} with one scale), which traces as ``GemmOp(weight_dtype="ternary")``; the
embedding and LM head stay in the model dtype, as in BitNet.

**bitnet-b1.58-3b** (the b1.58 paper's 3B model as released by 1bitLLM,
``1bitLLM/bitnet_b1_58-3B`` ``config.json``: ``model_type: llama``): hidden 3200, 26 layers,
32 heads with 32 KV heads (multi-head attention, head dim 100), FFN 8640 with the SiLU
gate of Llama, vocab 32002, 2048-token context, RoPE theta 10000, tied embeddings,
``weight_bits: 1`` (ternary) and ``input_bits: 8`` (int8 activations).  Built as a
transformers ``LlamaForCausalLM`` from those numbers with every decoder linear layer
ternarised the same way (about 3.3B parameters).

**bitnet-b1.58-3b-edge**: the same model as an int8 edge accelerator stores it. The LM head
is the one non-ternary matmul of a decode step; an accelerator without a 16-bit datapath
runs it in int8, and would not stream 16-bit weights from DRAM only to quantise them on
chip every token, so its weights are stored quantised offline (ASSUMPTION: per-output-
channel absmax int8, :class:`workloads.custom_ops.Int8Linear`, traced as
``GemmOp(weight_dtype="int8")``; the released model's LM head is the 16-bit tied
embedding). The embedding lookup keeps the 16-bit table (one row per token). The same as
``bitnet-b1.58-3b`` traced with ``weights="int8"`` (:mod:`workloads.zoo.deploy`), under a
name of its own for the VitaLLM benchmark.
"""

from __future__ import annotations

from typing import Any

from attnsim.workloads.custom_ops import TernaryLinear
from attnsim.workloads.zoo.deploy import store_weights
from attnsim.workloads.zoo.hf import SDPA, apply_overrides
from attnsim.workloads.zoo.llama import causal_lm_inputs
from attnsim.workloads.zoo.registry import ModelEntry, TraceRequest, register_model
from torch import nn

__all__ = ["BITNET_3B", "ternarize"]

#: BitNet b1.58 3B, the published ``1bitLLM/bitnet_b1_58-3B`` config (Llama architecture).
BITNET_3B: dict[str, Any] = {
    "hidden_size": 3200,
    "intermediate_size": 8640,
    "num_hidden_layers": 26,
    "num_attention_heads": 32,
    "num_key_value_heads": 32,
    "hidden_act": "silu",
    "vocab_size": 32002,
    "max_position_embeddings": 2048,
    "rms_norm_eps": 1e-5,
    "rope_theta": 10000.0,
    "tie_word_embeddings": True,
    "attention_bias": False,
}


def ternarize(module: nn.Module) -> int:
    """Replace every ``nn.Linear`` below ``module`` by a ``TernaryLinear``; returns how many."""
    count = 0
    for name, child in list(module.named_children()):
        if isinstance(child, nn.Linear):
            setattr(
                module,
                name,
                TernaryLinear(child.in_features, child.out_features, bias=child.bias is not None),
            )
            count += 1
        else:
            count += ternarize(child)
    return count


def _tie(model: nn.Module) -> None:
    """Share the LM head with the input embedding when the config ties them.

    transformers ties them during weight initialisation, which fake building skips
    (:func:`workloads.tracing.build_fake`), so the parameters would count twice.
    """
    cfg = getattr(model, "config", None)
    if getattr(cfg, "tie_word_embeddings", False):
        model.lm_head.weight = model.model.embed_tokens.weight  # type: ignore[union-attr]


def _build(req: TraceRequest) -> nn.Module:
    from transformers import BitNetConfig, BitNetForCausalLM

    cfg = BitNetConfig(max_position_embeddings=4096, tie_word_embeddings=True, **SDPA)
    apply_overrides("bitnet-b1.58-2b", cfg, req.overrides)
    model = BitNetForCausalLM(cfg)
    _tie(model)
    ternarize(model.model.layers)
    return model


register_model(
    ModelEntry(
        name="bitnet-b1.58-2b",
        family="ternary-llm",
        description="BitNet b1.58 2B4T: 30 layers, hidden 2560, 20 heads / 5 KV heads, FFN 6912 "
        "(ReLU^2), ternary linear layers via attnsim::ternary_linear",
        build=_build,
        inputs=causal_lm_inputs,
        default_seq=2048,
    )
)


def _build_3b(req: TraceRequest) -> nn.Module:
    from transformers import LlamaConfig, LlamaForCausalLM

    dims = dict(BITNET_3B)
    rope_theta = dims.pop("rope_theta")
    cfg = LlamaConfig(
        **dims, rope_parameters={"rope_type": "default", "rope_theta": rope_theta}, **SDPA
    )
    apply_overrides("bitnet-b1.58-3b", cfg, req.overrides)
    model = LlamaForCausalLM(cfg)
    _tie(model)
    ternarize(model.model.layers)
    return model


register_model(
    ModelEntry(
        name="bitnet-b1.58-3b",
        family="ternary-llm",
        description="BitNet b1.58 3B (1bitLLM release): 26 layers, hidden 3200, 32 heads (MHA, "
        "head dim 100), FFN 8640 (SiLU gate), vocab 32002, ternary linear layers with int8 "
        "activations via attnsim::ternary_linear",
        build=_build_3b,
        inputs=causal_lm_inputs,
        default_seq=2048,
    )
)


def _build_3b_edge(req: TraceRequest) -> nn.Module:
    model = _build_3b(req)
    store_weights(model, "int8")  # the decoder layers are ternary: this is the LM head
    return model


register_model(
    ModelEntry(
        name="bitnet-b1.58-3b-edge",
        family="ternary-llm",
        description="BitNet b1.58 3B as an int8 edge accelerator stores it: ternary decoder "
        "layers, LM head in int8 (per-channel absmax, attnsim::int8_linear)",
        build=_build_3b_edge,
        inputs=causal_lm_inputs,
        default_seq=2048,
    )
)
