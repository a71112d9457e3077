"""Workload IR: ops, attention specs, mask patterns, workloads and their file format.

Hardware-independent by design: everything here is data plus counting (FLOPs, compulsory
bytes, live pairs of a mask); how a target runs it is ``sim/``'s business.
"""

from .dtypes import DTYPES, INDEX_DTYPES, PRECISIONS, nbytes, storage_bits
from .errors import WorkloadError
from .masks import (
    MASKS,
    BlockSparseMask,
    CausalMask,
    FullMask,
    MaskPattern,
    NeighborhoodMask,
    SharedPrefixMask,
    SlidingWindowMask,
    mask_from_dict,
    register_mask,
)
from .ops import (
    OP_KINDS,
    AttentionOp,
    ElementwiseOp,
    EmbeddingOp,
    FftOp,
    GemmOp,
    LinearAttentionOp,
    NormOp,
    Op,
    OpBytes,
    SoftmaxOp,
    UnknownOp,
    op_from_dict,
    register_op,
)
from .serialize import load_workload, save_workload
from .spec import AttentionSpec
from .workload import Block, Workload

__all__ = [
    "DTYPES",
    "INDEX_DTYPES",
    "MASKS",
    "OP_KINDS",
    "PRECISIONS",
    "AttentionOp",
    "AttentionSpec",
    "Block",
    "BlockSparseMask",
    "CausalMask",
    "EmbeddingOp",
    "ElementwiseOp",
    "FftOp",
    "FullMask",
    "GemmOp",
    "LinearAttentionOp",
    "MaskPattern",
    "NeighborhoodMask",
    "NormOp",
    "Op",
    "OpBytes",
    "SharedPrefixMask",
    "SlidingWindowMask",
    "SoftmaxOp",
    "UnknownOp",
    "Workload",
    "WorkloadError",
    "mask_from_dict",
    "nbytes",
    "op_from_dict",
    "register_mask",
    "register_op",
    "load_workload",
    "save_workload",
    "storage_bits",
]

# variant masks and ops register themselves in MASKS / OP_KINDS on import
from . import masks_sparse as _masks_sparse  # noqa: E402,F401
from . import ops_variants as _ops_variants  # noqa: E402,F401
from . import variants as _variants  # noqa: E402,F401
