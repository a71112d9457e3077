"""BitNet b1.58 2B4T: a Llama-like decoder whose linear layers are ternary.

Dims follow transformers' ``BitNetConfig`` defaults, which are those of the published
``microsoft/bitnet-b1.58-2B-4T`` config: hidden 2560, 30 layers, 20 heads / 5 KV heads
(head dim 128), FFN 6912 with squared ReLU, vocab 128256, RoPE theta 500000, sub-layer
RMSNorms before the attention output and FFN down projections; plus the model card's
4096-token context and tied input/output embeddings (about 2.4B parameters).  Every ``nn.Linear`` inside the decoder layers
is replaced by :class:`workloads.custom_ops.TernaryLinear` (int8 activations, weights in
{-1, 0, 1} with one scale), which traces as ``GemmOp(weight_dtype="ternary")``; the
embedding and LM head stay in the model dtype, as in BitNet.
"""

from __future__ import annotations

from attnsim.workloads.custom_ops import TernaryLinear
from attnsim.workloads.zoo.hf import SDPA, apply_overrides
from attnsim.workloads.zoo.llama import causal_lm_inputs
from attnsim.workloads.zoo.registry import ModelEntry, TraceRequest, register_model
from torch import nn

__all__ = ["ternarize"]


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


def _build(req: TraceRequest) -> nn.Module:
    from transformers import BitNetConfig, BitNetForCausalLM

    cfg = BitNetConfig(max_position_embeddings=4096, tie_word_embeddings=True, **SDPA)
    apply_overrides("bitnet-b1.58-2b", cfg, req.overrides)
    model = BitNetForCausalLM(cfg)
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
