"""How a model's weights are stored where it runs: the zoo traces the released model,
and ``weights="int8"`` stores every linear layer that is not already ternary as an int8
accelerator would (W8A8: per-output-channel absmax int8 weights, per-token int8
activations, :class:`workloads.custom_ops.Int8Linear`, traced as
``GemmOp(weight_dtype="int8")``).

Why: a target with no 16-bit datapath runs such a layer in int8 either way, but if the
trace keeps 16-bit weights the simulator must stream them from DRAM as stored and quantise
them on chip every step (a stated precision change). A deployment quantises them once,
offline, and streams half the bytes. BitNet's LM head, the one non-ternary matmul of its
decode step, is the case that matters (``bitnet-b1.58-3b-edge``). ASSUMPTION: per-channel
absmax int8 (SmoothQuant-style W8A8 without the smoothing, which changes no shape or
byte count).
"""

from __future__ import annotations

from attnsim.workloads.custom_ops import Int8Linear, TernaryLinear
from torch import nn

__all__ = ["WEIGHT_FORMATS", "store_weights"]

#: Weight formats ``store_weights`` knows (None: as released).
WEIGHT_FORMATS = ("int8",)


def store_weights(model: nn.Module, weights: str | None) -> int:
    """Replace every ``nn.Linear`` of ``model`` (not a ``TernaryLinear``) by a layer that
    stores ``weights``; returns how many were replaced. A tied LM head gets its own int8
    copy; the embedding keeps the 16-bit table it looks rows up in."""
    if weights is None:
        return 0
    if weights not in WEIGHT_FORMATS:
        raise ValueError(f"weights {weights!r}; expected one of {', '.join(WEIGHT_FORMATS)}")
    count = 0
    for name, child in list(model.named_children()):
        if isinstance(child, nn.Linear) and not isinstance(child, TernaryLinear):
            layer = Int8Linear(child.in_features, child.out_features, bias=child.bias is not None)
            setattr(model, name, layer)
            count += 1
        else:
            count += store_weights(child, weights)
    return count
