"""Lowering: op -> kernels of tiles for one target, by registered kernel family.

Importing this package registers every bundled family (one module each).
"""

from attnsim.sim.lowering import (  # noqa: F401  (imported to register the families)
    attention_cpu,
    attention_fused,
    attention_unfused,
    fft,
    gemm,
    linear_attention,
    memory_bound,
    natten,
    variants_attention,  # noqa: F401  (variant attention families)
    variants_mixers,  # noqa: F401  (token mixers, mask setup)
    vitallm,
)
from attnsim.sim.lowering.registry import (
    FAMILIES,
    BlockTasks,
    LoweringFamily,
    LoweringOptions,
    choose_block_family,
    choose_family,
    register_family,
)
from attnsim.sim.lowering.target import LoweringError, TargetView

__all__ = [
    "FAMILIES",
    "BlockTasks",
    "choose_block_family",
    "LoweringError",
    "LoweringFamily",
    "LoweringOptions",
    "TargetView",
    "choose_family",
    "register_family",
]
