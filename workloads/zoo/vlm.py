"""A LLaVA-style vision-language model with LLaVA-1.5-7B dims.

LLaVA-1.5-7B = CLIP ViT-L/14 at 336 px (24 layers, hidden 1024, 16 heads, MLP 4096,
577 tokens) + a two-layer GELU MLP projector (1024 -> 4096 -> 4096) + Vicuna-7B (a Llama
2 7B decoder: 32 layers, hidden 4096, 32 heads, MLP 11008, vocab 32000).  The image's
576 patch features (the penultimate CLIP layer, class token dropped, as LLaVA does; the
whole tower runs, as transformers' LLaVA runs it) are projected and placed *before* the
``seq`` text tokens, so a prefill feeds ``576 + seq`` tokens to the decoder under one
causal mask.  Decode runs the decoder alone: the image is already in the ``kv_len``
cached tokens.

The wrapper is written here rather than using ``LlavaForConditionalGeneration`` because
that class scatters image features at image-token positions found in the token ids: a
data-dependent step that a fake tensor cannot take.
"""

from __future__ import annotations

from typing import Any

import torch
from attnsim.workloads.zoo.hf import SDPA, apply_overrides
from attnsim.workloads.zoo.llama import causal_lm_inputs
from attnsim.workloads.zoo.registry import ModelEntry, TraceInputs, TraceRequest, register_model
from torch import nn

__all__ = ["CLIP_L14_336", "VICUNA_7B", "LlavaStyle"]

#: CLIP ViT-L/14 at 336 px (LLaVA-1.5's vision tower).
CLIP_L14_336: dict[str, Any] = {
    "hidden_size": 1024,
    "intermediate_size": 4096,
    "num_hidden_layers": 24,
    "num_attention_heads": 16,
    "patch_size": 14,
    "image_size": 336,
    "projection_dim": 768,
}
#: Vicuna-7B v1.5 (Llama 2 7B dims).
VICUNA_7B: dict[str, Any] = {
    "hidden_size": 4096,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "num_key_value_heads": 32,
    "intermediate_size": 11008,
    "vocab_size": 32000,
    "max_position_embeddings": 4096,
    "rms_norm_eps": 1e-5,
}


class LlavaStyle(nn.Module):
    """CLIP vision tower -> MLP projector -> Llama decoder, image tokens first."""

    def __init__(self, vision_config: Any, text_config: Any, feature_layer: int = -2) -> None:
        super().__init__()
        from transformers import CLIPVisionModel, LlamaForCausalLM

        self.vision_tower = CLIPVisionModel(vision_config)
        self.projector = nn.Sequential(
            nn.Linear(vision_config.hidden_size, text_config.hidden_size),
            nn.GELU(),
            nn.Linear(text_config.hidden_size, text_config.hidden_size),
        )
        self.language_model = LlamaForCausalLM(text_config)
        self.feature_layer = feature_layer

    @property
    def config(self) -> Any:
        """The decoder's config (what the KV cache follows)."""
        return self.language_model.config

    def forward(
        self,
        input_ids: torch.Tensor,
        pixel_values: torch.Tensor | None = None,
        past_key_values: Any = None,
        use_cache: bool = True,
        logits_to_keep: int = 1,
    ) -> Any:
        embeds = self.language_model.get_input_embeddings()(input_ids)
        if pixel_values is not None:
            vision = self.vision_tower(pixel_values, output_hidden_states=True)
            features = vision.hidden_states[self.feature_layer][:, 1:]
            embeds = torch.cat([self.projector(features), embeds], dim=1)
        return self.language_model(
            inputs_embeds=embeds,
            past_key_values=past_key_values,
            use_cache=use_cache,
            logits_to_keep=logits_to_keep,
        )


def _build(req: TraceRequest) -> nn.Module:
    from transformers import CLIPVisionConfig, LlamaConfig

    vision = CLIPVisionConfig(**CLIP_L14_336, **SDPA)
    if req.image_size is not None:
        vision.image_size = req.image_size
    text = LlamaConfig(**VICUNA_7B, **SDPA)
    text_over = {k: v for k, v in req.overrides.items() if not k.startswith("vision_")}
    vision_over = {
        k[len("vision_") :]: v for k, v in req.overrides.items() if k.startswith("vision_")
    }
    apply_overrides("vlm-llava-style", text, text_over)
    apply_overrides("vlm-llava-style", vision, vision_over)
    return LlavaStyle(vision, text)


def _inputs(model: nn.Module, req: TraceRequest) -> TraceInputs:
    call = causal_lm_inputs(model, req)
    if req.phase == "decode":
        return call
    size = int(req.image_size or 336)
    tower: Any = model.vision_tower
    patch = int(tower.config.patch_size)
    image_tokens = (size // patch) ** 2
    call.kwargs["pixel_values"] = torch.zeros(req.batch, 3, size, size, dtype=req.torch_dtype)
    call.tokens = req.batch * (image_tokens + req.seq)
    call.meta = {"image_tokens": image_tokens}
    return call


register_model(
    ModelEntry(
        name="vlm-llava-style",
        family="vlm",
        description="LLaVA-1.5-7B dims: CLIP ViT-L/14-336 (576 image tokens) + 2-layer MLP "
        "projector + Vicuna-7B decoder; image tokens then text tokens",
        build=_build,
        inputs=_inputs,
        default_seq=64,
        vision=True,
        default_image_size=336,
        patch=14,
    )
)
