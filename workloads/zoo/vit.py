"""Vision Transformers (transformers ``ViTModel``, SDPA attention, no pooler).

ViT-B/16 and ViT-L/14 at 224 px (the configs of the original ViT paper / CLIP's
ViT-L/14): ``(image/patch)**2`` patch tokens plus a class token, full attention.  Vision
encoders have no decode phase.  ``image_size`` changes the grid (a multiple of the
patch size).
"""

from __future__ import annotations

from typing import Any

import torch
from attnsim.workloads.zoo.hf import SDPA, apply_overrides
from attnsim.workloads.zoo.registry import ModelEntry, TraceInputs, TraceRequest, register_model
from torch import nn

__all__ = ["VIT_B16", "VIT_L14", "vit_inputs"]

#: ViT-Base/16 at 224 px.
VIT_B16: dict[str, Any] = {
    "hidden_size": 768,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "intermediate_size": 3072,
    "patch_size": 16,
    "image_size": 224,
}
#: ViT-Large/14 at 224 px.
VIT_L14: dict[str, Any] = {
    "hidden_size": 1024,
    "num_hidden_layers": 24,
    "num_attention_heads": 16,
    "intermediate_size": 4096,
    "patch_size": 14,
    "image_size": 224,
}


def vit_inputs(model: nn.Module, req: TraceRequest) -> TraceInputs:
    """``pixel_values`` of ``batch`` square images of ``image_size`` pixels."""
    cfg: Any = model.config
    size = int(req.image_size or cfg.image_size)
    patch = int(cfg.patch_size)
    pixels = torch.zeros(req.batch, 3, size, size, dtype=req.torch_dtype)
    n = (size // patch) ** 2 + 1
    return TraceInputs((pixels,), {}, tokens=req.batch * n, meta={"seq": n})


def _builder(dims: dict[str, Any], where: str) -> Any:
    def build(req: TraceRequest) -> nn.Module:
        from transformers import ViTConfig, ViTModel

        cfg = ViTConfig(**dims, **SDPA)
        if req.image_size is not None:
            cfg.image_size = req.image_size
        cfg = apply_overrides(where, cfg, req.overrides)
        return ViTModel(cfg, add_pooling_layer=False)

    return build


register_model(
    ModelEntry(
        name="vit-b16",
        family="vit",
        description="ViT-B/16 at 224 px: 12 layers, hidden 768, 12 heads, MLP 3072, 197 tokens "
        "(transformers ViTModel, SDPA)",
        build=_builder(VIT_B16, "vit-b16"),
        inputs=vit_inputs,
        default_seq=197,
        phases=("prefill",),
        vision=True,
        default_image_size=224,
        patch=16,
        text=False,
    )
)
register_model(
    ModelEntry(
        name="vit-l14",
        family="vit",
        description="ViT-L/14 at 224 px: 24 layers, hidden 1024, 16 heads, MLP 4096, 257 tokens "
        "(transformers ViTModel, SDPA)",
        build=_builder(VIT_L14, "vit-l14"),
        inputs=vit_inputs,
        default_seq=257,
        phases=("prefill",),
        vision=True,
        default_image_size=224,
        patch=14,
        text=False,
    )
)
