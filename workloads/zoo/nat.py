"""NAT-Tiny: a Neighborhood Attention Transformer (Hassani et al., 2023), in plain torch.

NAT-Tiny dims: a convolutional tokenizer (two 3x3 stride-2 convolutions: 224 px -> a
56x56 grid of 64 channels), four stages of depths (2, 2, 6, 2) with 2, 4, 8, 16 heads of
32 channels, 7x7 neighborhoods, MLP ratio 3, a 3x3 stride-2 convolution between stages
(56 -> 28 -> 14 -> 7 grids), LayerNorms, mean pooling and a 1000-class head.  Attention
is :class:`workloads.custom_ops.NeighborhoodAttention2D`, which traces to
``AttentionOp`` with a ``NeighborhoodMask`` (the last stage's 7x7 window on a 7x7 grid is
full attention).  ``image_size`` must be a multiple of 32 and at least 224 (so the
last grid holds a 7x7 window).
"""

from __future__ import annotations

from typing import Any

import torch
from attnsim.workloads.custom_ops import NeighborhoodAttention2D
from attnsim.workloads.errors import WorkloadError
from attnsim.workloads.zoo.registry import ModelEntry, TraceInputs, TraceRequest, register_model
from torch import Tensor, nn

__all__ = ["NAT", "NAT_TINY"]

#: NAT-Tiny.
NAT_TINY: dict[str, Any] = {
    "dim": 64,
    "depths": (2, 2, 6, 2),
    "heads": (2, 4, 8, 16),
    "window": 7,
    "mlp_ratio": 3.0,
    "num_classes": 1000,
}


class NATBlock(nn.Module):
    """Pre-norm neighborhood attention + MLP over a ``(B, X, Y, C)`` map."""

    def __init__(self, dim: int, heads: int, window: int, mlp_ratio: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = NeighborhoodAttention2D(dim, heads, (window, window))
        self.norm2 = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.fc2(self.act(self.fc1(self.norm2(x))))


class NATStage(nn.Module):
    """``depth`` blocks, then (except the last stage) a stride-2 downsampling convolution."""

    def __init__(
        self, dim: int, depth: int, heads: int, window: int, mlp_ratio: float, downsample: bool
    ) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(NATBlock(dim, heads, window, mlp_ratio) for _ in range(depth))
        self.down = (
            nn.Conv2d(dim, 2 * dim, 3, stride=2, padding=1, bias=False) if downsample else None
        )
        self.down_norm = nn.LayerNorm(2 * dim) if downsample else None

    def forward(self, x: Tensor) -> Tensor:
        for block in self.blocks:
            x = block(x)
        if self.down is not None and self.down_norm is not None:
            x = self.down(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
            x = self.down_norm(x)
        return x


class NAT(nn.Module):
    """Neighborhood Attention Transformer for ``(B, 3, H, W)`` images."""

    def __init__(
        self,
        dim: int,
        depths: tuple[int, ...],
        heads: tuple[int, ...],
        window: int,
        mlp_ratio: float,
        num_classes: int,
    ) -> None:
        super().__init__()
        self.stem1 = nn.Conv2d(3, dim // 2, 3, stride=2, padding=1)
        self.stem2 = nn.Conv2d(dim // 2, dim, 3, stride=2, padding=1)
        self.stem_norm = nn.LayerNorm(dim)
        self.stages = nn.ModuleList(
            NATStage(dim * 2**i, d, h, window, mlp_ratio, i < len(depths) - 1)
            for i, (d, h) in enumerate(zip(depths, heads, strict=True))
        )
        final = dim * 2 ** (len(depths) - 1)
        self.norm = nn.LayerNorm(final)
        self.head = nn.Linear(final, num_classes)

    def forward(self, pixels: Tensor) -> Tensor:
        x = self.stem2(self.stem1(pixels)).permute(0, 2, 3, 1)
        x = self.stem_norm(x)
        for stage in self.stages:
            x = stage(x)
        x = self.norm(x).mean(dim=(1, 2))
        return self.head(x)


def _build(req: TraceRequest) -> nn.Module:
    dims = dict(NAT_TINY)
    for key, value in req.overrides.items():
        if key not in dims:
            raise WorkloadError(
                f"zoo.nat-tiny: override {key!r} is unknown; expected one of {', '.join(dims)}"
            )
        dims[key] = value
    return NAT(**dims)


def _inputs(model: nn.Module, req: TraceRequest) -> TraceInputs:
    size = int(req.image_size or 224)
    if size < 224:
        raise WorkloadError(
            f"zoo.nat-tiny: image_size {size} leaves the last stage smaller than its 7x7 "
            "window; expected a multiple of 32 that is >= 224"
        )
    pixels = torch.zeros(req.batch, 3, size, size, dtype=req.torch_dtype)
    grid = size // 4
    return TraceInputs((pixels,), {}, tokens=req.batch * grid * grid, meta={"seq": grid * grid})


register_model(
    ModelEntry(
        name="nat-tiny",
        family="na-vision",
        description="NAT-Tiny: 2-D neighborhood attention (7x7 windows), depths 2/2/6/2, "
        "dim 64 -> 512, 224 px (attnsim::neighborhood_attention_2d)",
        build=_build,
        inputs=_inputs,
        default_seq=3136,
        phases=("prefill",),
        vision=True,
        default_image_size=224,
        patch=32,
        text=False,
    )
)
